//! Authentication (README "Authentication"): what a request to the data
//! source carries.
//!
//! Credentials go only to the origin of `source.url` (and the token request
//! only to the token URL): a next-page URL or a redirect to another origin
//! never receives them. Credentials are the auth block's values, the
//! custom signature, and any configured header, parameter or body value
//! that holds a secret (see [`crate::grants`]); every one of them is also
//! registered with the masker.

pub mod appkey;
pub mod login;
pub mod oauth2;

use crate::config::{Auth, Signature};
use crate::error::Error;
use crate::request::{self, Env, HttpRequest, HttpResponse, origin};
use crate::sign;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// The token exchange as `check` shows it, credentials masked.
#[derive(Debug, Clone)]
pub struct TokenExchange {
    pub request: Value,
    pub status: u16,
    pub response: Value,
}

pub struct Authenticator {
    auth: Auth,
    origin: String,
    oauth2: Option<oauth2::Client>,
    /// `type: login`: the session, or why its URLs are unusable.
    login: Option<Result<login::Session, Error>>,
    token: Option<oauth2::Token>,
    /// The last token exchange, for `check`.
    pub last_exchange: Option<TokenExchange>,
}

impl Authenticator {
    pub fn new(auth: &Auth, source_url: &url::Url) -> Self {
        register_secrets(auth);
        let oauth2 = match auth {
            Auth::Oauth2 {
                token_url,
                method,
                client_id,
                client_secret,
                client_auth,
                token_path,
                token_prefix,
                expires_in_path,
                extra,
            } => Some(oauth2::Client {
                token_url: token_url.clone(),
                method: *method,
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                client_auth: *client_auth,
                token_path: token_path.clone(),
                token_prefix: token_prefix.clone(),
                expires_in_path: expires_in_path.clone(),
                extra: extra.clone(),
            }),
            _ => None,
        };
        let login = match auth {
            Auth::Login(config) => Some(login::Session::new(config, source_url.as_str())),
            _ => None,
        };
        Authenticator {
            auth: auth.clone(),
            origin: origin(source_url),
            oauth2,
            login,
            token: None,
            last_exchange: None,
        }
    }

    pub fn oauth2(&self) -> Option<&oauth2::Client> {
        self.oauth2.as_ref()
    }

    /// Whether the data requests carry a token this authenticator obtains
    /// (OAuth2, login): it is renewed once after a 401.
    pub fn renews(&self) -> bool {
        self.oauth2.is_some() || self.login.is_some()
    }

    /// Whether a token must be fetched before the next data request.
    pub fn needs_token(&self, now_ms: i64) -> bool {
        self.renews()
            && match &self.token {
                None => true,
                Some(t) => t.refresh_at_ms.is_some_and(|at| now_ms >= at),
            }
    }

    /// What the next token request is, for messages.
    pub fn token_call(&self) -> &'static str {
        match &self.login {
            Some(Ok(session)) => session.what(),
            _ => "token request",
        }
    }

    /// The token request (the Requester sends it with the data retries).
    pub fn token_request(&self, env: &mut dyn Env) -> Result<HttpRequest, Error> {
        match (&self.oauth2, &self.login) {
            (Some(client), _) => client.token_request(),
            (_, Some(Ok(session))) => session.request(env),
            (_, Some(Err(e))) => Err(e.clone()),
            (None, None) => Err(Error::Internal(
                "a token request without a token auth".into(),
            )),
        }
    }

    /// A token request failed: whether to ask again another way (a refused
    /// refresh call falls back to the login, once).
    pub fn token_failed(&mut self) -> bool {
        match &mut self.login {
            Some(Ok(session)) => session.refused(),
            _ => false,
        }
    }

    /// Reads the token from a successful token response; remembers the
    /// exchange for `check`. A response without a token is an auth error.
    pub fn accept_token(
        &mut self,
        req: &HttpRequest,
        resp: &HttpResponse,
        now_ms: i64,
    ) -> Result<(), Error> {
        let token = match (&self.oauth2, &mut self.login) {
            (Some(client), _) => client.read_token(req, resp, now_ms),
            (_, Some(Ok(session))) => session.read_token(req, resp, now_ms),
            _ => return Ok(()),
        };
        self.last_exchange = Some(TokenExchange {
            request: oauth2::show_request(req),
            status: resp.status,
            response: serde_json::from_slice(&resp.body)
                .map(|v: Value| oauth2::mask(&v))
                .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&resp.body).into_owned())),
        });
        self.token = Some(token?);
        Ok(())
    }

    /// Drops the token, so the next request fetches a new one (after a 401).
    pub fn forget_token(&mut self) {
        self.token = None;
    }

    /// Adds credentials, then the custom signature, then the AppKey
    /// signature (which signs the final request) — all only on the source's
    /// origin. A request to any other origin (a next-page link) gets none of
    /// them, and loses every configured value that holds a secret.
    pub fn finish(&self, req: &mut HttpRequest, signature: Option<&Signature>, env: &mut dyn Env) {
        if origin(&req.url) != self.origin {
            strip_credentials(req);
            return;
        }
        self.apply(req);
        if let Some(sig) = signature {
            sign::apply(sig, req);
        }
        if let Auth::Appkey {
            app_key,
            app_secret,
            signature_method,
            stage,
        } = &self.auth
        {
            appkey::sign(
                req,
                app_key,
                app_secret,
                *signature_method,
                stage.as_deref(),
                env,
            );
        }
    }

    fn apply(&self, req: &mut HttpRequest) {
        match &self.auth {
            Auth::None {} | Auth::Appkey { .. } => {}
            Auth::Basic { username, password } => {
                let encoded = STANDARD.encode(format!("{username}:{password}"));
                req.set_header("Authorization", format!("Basic {encoded}"));
            }
            Auth::Bearer { token } => req.set_header("Authorization", format!("Bearer {token}")),
            Auth::ApiKey { key, value, add_to } => {
                request::place(req, *add_to, key, Value::from(value.as_str()))
            }
            Auth::Oauth2 { .. } => {
                if let (Some(client), Some(token)) = (&self.oauth2, &self.token) {
                    req.set_header("Authorization", client.header_value(token));
                }
            }
            Auth::Login(_) => {
                if let (Some(Ok(session)), Some(token)) = (&self.login, &self.token) {
                    session.apply(req, token);
                }
            }
        }
    }
}

/// Registers the credentials of an auth block with the masker: a literal
/// token is as secret as one from a reference.
fn register_secrets(auth: &Auth) {
    use crate::grants::{register, register_basic};
    match auth {
        Auth::None {} => {}
        Auth::Basic { username, password } => register_basic(username, password),
        Auth::Bearer { token } => register(token),
        Auth::ApiKey { value, .. } => register(value),
        Auth::Oauth2 {
            client_id,
            client_secret,
            ..
        } => {
            register(client_secret);
            let (id, secret) = oauth2::form_encoded(client_id, client_secret);
            register_basic(&id, &secret);
        }
        Auth::Appkey { app_secret, .. } => register(app_secret),
        Auth::Login(config) => {
            for (name, value) in config.body.iter().chain(config.headers.iter()) {
                if let crate::config::RequestValue::Scalar(v) = value
                    && login::is_secret_name(name)
                {
                    register(&request::text(&v.0));
                }
            }
        }
    }
}

/// Removes every header, query parameter and body value that holds a
/// credential, for a request to an origin that is not the source's.
fn strip_credentials(req: &mut HttpRequest) {
    use crate::grants::is_credential;
    req.headers.retain(|(_, v)| !is_credential(v));
    if req.url.query_pairs().any(|(_, v)| is_credential(&v)) {
        let kept: Vec<(String, String)> = req
            .url
            .query_pairs()
            .filter(|(_, v)| !is_credential(v))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        req.url.query_pairs_mut().clear().extend_pairs(&kept);
        if kept.is_empty() {
            req.url.set_query(None);
        }
    }
    let Some(body) = &req.body else {
        return;
    };
    if !is_credential(&String::from_utf8_lossy(body)) {
        return;
    }
    if request::is_form(req) {
        let kept: Vec<(String, String)> = request::body_items(req)
            .into_iter()
            .filter(|(_, v)| !is_credential(v))
            .collect();
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(&kept);
        req.body = Some(form.finish().into_bytes());
    } else {
        let doc = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(without_credentials);
        req.body = Some(doc.map(|d| d.to_string().into_bytes()).unwrap_or_default());
    }
}

/// A JSON value with every string that holds a credential removed (from
/// objects and arrays); `None` when the value itself is one.
fn without_credentials(v: Value) -> Option<Value> {
    match v {
        Value::String(s) if crate::grants::is_credential(&s) => None,
        Value::Object(map) => Some(Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| without_credentials(v).map(|v| (k, v)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(without_credentials).collect(),
        )),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::testing::FixedEnv;
    use serde_json::json;

    fn request(url: &str) -> HttpRequest {
        HttpRequest {
            method: "GET",
            url: url::Url::parse(url).unwrap(),
            headers: vec![],
            body: None,
        }
    }

    fn authenticator(auth: Value) -> Authenticator {
        let source = url::Url::parse("http://api.example:8080/v1").unwrap();
        Authenticator::new(&serde_json::from_value(auth).unwrap(), &source)
    }

    #[test]
    fn credentials_go_to_the_source_origin_only() {
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let basic = authenticator(
            json!({"type": "basic", "username": "Aladdin", "password": "open sesame"}),
        );
        let mut req = request("http://api.example:8080/v1/users?page=2");
        basic.finish(&mut req, None, &mut env);
        assert_eq!(
            req.header("authorization"),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );

        let bearer = authenticator(json!({"type": "bearer", "token": "t0k"}));
        for elsewhere in [
            "http://api.example:9090/v1",
            "https://api.example:8080/v1",
            "http://evil.example:8080/v1",
        ] {
            let mut req = request(elsewhere);
            bearer.finish(&mut req, None, &mut env);
            assert_eq!(req.header("Authorization"), None, "{elsewhere}");
        }
        let appkey = authenticator(json!({"type": "appkey", "app_key": "k", "app_secret": "s"}));
        let mut req = request("http://evil.example/v1");
        appkey.finish(&mut req, None, &mut env);
        assert_eq!(req.header("x-ca-key"), None);
    }

    #[test]
    fn another_origin_gets_no_signature_and_no_secret_bearing_values() {
        crate::grants::configure(&["s3cr3t".into()], 0);
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let auth = authenticator(
            json!({"type": "api_key", "key": "k", "value": "literal-key", "add_to": "params"}),
        );
        let signature: Signature = serde_json::from_value(json!({
            "name": "sign", "location": "headers", "function": "HMAC_SHA256", "secret": "sig-key"
        }))
        .unwrap();
        let build = |url: &str| {
            let mut req = request(url);
            req.method = "POST";
            req.set_header("Content-Type", "application/json".into());
            req.set_header("X-Token", "Bearer s3cr3t".into());
            req.set_header("X-Plain", "hello".into());
            req.body =
                Some(br#"{"q":1,"auth":{"pw":"s3cr3t","keep":2},"list":["s3cr3t",3]}"#.to_vec());
            req
        };
        let mut ours = build("http://api.example:8080/v1/x?page=2");
        auth.finish(&mut ours, Some(&signature), &mut env);
        assert_eq!(ours.header("x-token"), Some("Bearer s3cr3t"));
        assert!(ours.header("sign").is_some());
        assert_eq!(ours.url.query(), Some("page=2&k=literal-key"));

        let mut theirs = build("http://other.example:8080/v1/x?page=2&stolen=s3cr3t&k=literal-key");
        auth.finish(&mut theirs, Some(&signature), &mut env);
        assert_eq!(theirs.header("x-token"), None);
        assert_eq!(
            theirs.header("sign"),
            None,
            "no signature for another origin"
        );
        assert_eq!(theirs.header("x-plain"), Some("hello"));
        assert_eq!(
            theirs.url.query(),
            Some("page=2"),
            "the literal API key is a credential too"
        );
        assert_eq!(
            theirs.body.as_deref(),
            Some(&br#"{"q":1,"auth":{"keep":2},"list":[3]}"#[..])
        );
        // The literal credentials are masked too (the signing secret is
        // registered by the Requester: requester_tests).
        assert_eq!(crate::grants::mask("k=literal-key"), "k=***");
        crate::grants::configure(&[], 0);
    }

    #[test]
    fn api_keys_go_exactly_where_configured() {
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let key = |add_to: &str| {
            authenticator(
                json!({"type": "api_key", "key": "apikey", "value": "v1", "add_to": add_to}),
            )
        };
        let mut req = request("http://api.example:8080/x?a=1");
        key("params").finish(&mut req, None, &mut env);
        assert_eq!(req.url.query(), Some("a=1&apikey=v1"));
        assert!(req.headers.is_empty());
        let mut req = request("http://api.example:8080/x");
        key("headers").finish(&mut req, None, &mut env);
        assert_eq!(req.header("apikey"), Some("v1"));
        assert_eq!(req.url.query(), None);
        let mut req = request("http://api.example:8080/x");
        req.method = "POST";
        req.body = Some(br#"{"q":1}"#.to_vec());
        req.set_header("Content-Type", "application/json".into());
        key("body").finish(&mut req, None, &mut env);
        assert_eq!(req.body.as_deref(), Some(&br#"{"q":1,"apikey":"v1"}"#[..]));
        req.set_header("Content-Type", "application/x-www-form-urlencoded".into());
        req.body = Some(b"q=1".to_vec());
        key("body").finish(&mut req, None, &mut env);
        assert_eq!(req.body.as_deref(), Some(&b"q=1&apikey=v1"[..]));
    }
}
