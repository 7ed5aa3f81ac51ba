//! OAuth 2.0 client credentials (README "Authentication"): the token
//! request, reading the token response, and when to fetch again.

use crate::config::{ClientAuth, Extra, Place, ReadMethod};
use crate::error::{Error, truncate};
use crate::jsonpath;
use crate::request::{self, HttpRequest, HttpResponse};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// The settings of `source.auth` with `type: oauth2`.
#[derive(Debug, Clone)]
pub struct Client {
    pub token_url: String,
    pub method: ReadMethod,
    pub client_id: String,
    pub client_secret: String,
    pub client_auth: ClientAuth,
    pub token_path: String,
    pub token_prefix: String,
    pub expires_in_path: String,
    pub extra: Vec<Extra>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub value: String,
    /// Epoch ms after which the token is fetched again.
    pub refresh_at_ms: Option<i64>,
}

impl Client {
    /// The token request: `grant_type=client_credentials` (form body with
    /// POST, query with GET), the client's credentials by `client_auth`,
    /// then `extra`, which overrides built-in values of the same name and place.
    pub fn token_request(&self) -> Result<HttpRequest, Error> {
        let mut url = url::Url::parse(&self.token_url)
            .map_err(|e| Error::config("source.auth.token_url", e.to_string()))?;
        let post = self.method == ReadMethod::POST;
        let fields_place = if post { Place::Body } else { Place::Params };
        let mut values: Vec<(Place, String, String)> = vec![(
            fields_place,
            "grant_type".into(),
            "client_credentials".into(),
        )];
        match self.client_auth {
            ClientAuth::Header => {
                let (id, secret) = form_encoded(&self.client_id, &self.client_secret);
                let basic = STANDARD.encode(format!("{id}:{secret}"));
                values.push((
                    Place::Headers,
                    "Authorization".into(),
                    format!("Basic {basic}"),
                ));
            }
            ClientAuth::Body => {
                values.push((fields_place, "client_id".into(), self.client_id.clone()));
                values.push((
                    fields_place,
                    "client_secret".into(),
                    self.client_secret.clone(),
                ));
            }
        }
        for e in &self.extra {
            let same = |(place, name, _): &(Place, String, String)| {
                *place == e.add_to
                    && if e.add_to == Place::Headers {
                        name.eq_ignore_ascii_case(&e.name)
                    } else {
                        *name == e.name
                    }
            };
            match values.iter_mut().find(|v| same(v)) {
                Some(v) => v.2 = e.value.clone(),
                None => values.push((e.add_to, e.name.clone(), e.value.clone())),
            }
        }
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
        let mut has_body = false;
        {
            let mut query = url.query_pairs_mut();
            for (place, name, value) in &values {
                match place {
                    Place::Params => {
                        query.append_pair(name, value);
                    }
                    Place::Body => {
                        form.append_pair(name, value);
                        has_body = true;
                    }
                    Place::Headers => {
                        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                        headers.push((name.clone(), value.clone()));
                    }
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut req = HttpRequest {
            method: if post { "POST" } else { "GET" },
            url,
            headers,
            body: None,
        };
        if post {
            req.set_header("Content-Type", "application/x-www-form-urlencoded".into());
            req.body = Some(if has_body {
                form.finish().into_bytes()
            } else {
                Vec::new()
            });
        }
        Ok(req)
    }

    /// The token in a successful token response, and when to fetch again.
    pub fn read_token(
        &self,
        req: &HttpRequest,
        resp: &HttpResponse,
        now_ms: i64,
    ) -> Result<Token, Error> {
        let doc: Value = serde_json::from_slice(&resp.body).map_err(|e| {
            Error::Auth(format!(
                "the token response of {} is not JSON ({e}): {}",
                req.describe(),
                truncate(&String::from_utf8_lossy(&resp.body), 200)
            ))
        })?;
        let at = |path: &str| {
            jsonpath::parse(path)
                .ok()
                .and_then(|p| jsonpath::get(&doc, &p).map(std::borrow::Cow::into_owned))
        };
        let value = match at(&self.token_path) {
            Some(Value::String(s)) if !s.is_empty() => {
                // A token is a secret, whatever its key is called.
                crate::grants::register(&s);
                s
            }
            _ => {
                return Err(Error::Auth(format!(
                    "the token response of {} has no token at `{}` (source.auth.token_path): {}",
                    req.describe(),
                    self.token_path,
                    truncate(&mask(&doc).to_string(), 500)
                )));
            }
        };
        let expires_in = match at(&self.expires_in_path) {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        // Fetch again a little before the token expires: a tenth of its life,
        // at least a second (servers count expiry in whole seconds) and at
        // most a minute early, but never more than half its life.
        let refresh_at_ms = expires_in.filter(|s| *s > 0.0).map(|secs| {
            let life_ms = (secs * 1000.0) as i64;
            now_ms + life_ms - (life_ms / 10).clamp(1_000, 60_000).min(life_ms / 2)
        });
        Ok(Token {
            value,
            refresh_at_ms,
        })
    }

    /// `Authorization` for data requests.
    pub fn header_value(&self, token: &Token) -> String {
        if self.token_prefix.is_empty() {
            token.value.clone()
        } else {
            format!("{} {}", self.token_prefix, token.value)
        }
    }
}

/// The client id and secret as `client_auth: header` sends them: each
/// form-urlencoded before `base64(id:secret)` (RFC 6749 section 2.3.1), so
/// a secret with `+ / = % & : ~ !` or a space reaches the server intact.
pub fn form_encoded(client_id: &str, client_secret: &str) -> (String, String) {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    (enc(client_id), enc(client_secret))
}

/// A JSON document with the values of token- and secret-like keys masked,
/// for messages and `check`.
pub fn mask(doc: &Value) -> Value {
    match doc {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let secret = lower.ends_with("token")
                        || lower.contains("secret")
                        || lower.contains("password")
                        || lower == "jwt";
                    let shown = if secret && (v.is_string() || v.is_number()) {
                        Value::from("***")
                    } else {
                        mask(v)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
        other => other.clone(),
    }
}

/// A request shown for people: credential headers and form fields masked.
pub fn show_request(req: &HttpRequest) -> Value {
    let headers: serde_json::Map<String, Value> = req
        .headers
        .iter()
        .map(|(n, v)| {
            let secret = matches!(
                n.to_ascii_lowercase().as_str(),
                "authorization" | "proxy-authorization" | "cookie" | "x-api-key"
            );
            (
                n.clone(),
                Value::from(if secret { "***" } else { v.as_str() }),
            )
        })
        .collect();
    let mut url = req.url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !pairs.is_empty() {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, if k.contains("secret") { "***" } else { v });
        }
    }
    let body: Option<Value> = req.body.as_ref().map(|_| {
        Value::Object(
            request::body_items(req)
                .into_iter()
                .map(|(k, v)| {
                    let shown = if k.contains("secret") || k.contains("password") {
                        "***".to_string()
                    } else {
                        v
                    };
                    (k, Value::from(shown))
                })
                .collect(),
        )
    });
    serde_json::json!({"method": req.method, "url": url.as_str(), "headers": headers, "body": body})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client(v: Value) -> Client {
        let a: crate::config::Auth = serde_json::from_value(v).unwrap();
        match super::super::Authenticator::new(&a, &url::Url::parse("http://api").unwrap()).oauth2()
        {
            Some(c) => c.clone(),
            None => panic!("not oauth2"),
        }
    }

    const BASE: &str = r#"{"type":"oauth2","token_url":"http://auth/token","client_id":"id","client_secret":"se cret"}"#;

    fn with(extra: Value) -> Value {
        let mut v: Value = serde_json::from_str(BASE).unwrap();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn get_with_a_basic_header_by_default() {
        let req = client(with(json!({}))).token_request().unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(
            req.url.as_str(),
            "http://auth/token?grant_type=client_credentials"
        );
        // RFC 6749 2.3.1: id and secret form-urlencoded first ("se cret" → "se+cret").
        assert_eq!(req.header("authorization"), Some("Basic aWQ6c2UrY3JldA=="));
        assert_eq!(req.body, None);
    }

    #[test]
    fn a_header_secret_with_reserved_characters_is_form_encoded_first() {
        let req = client(with(
            json!({"client_id": "my app", "client_secret": "a+/=%&:~! b"}),
        ))
        .token_request()
        .unwrap();
        let basic = req
            .header("authorization")
            .unwrap()
            .strip_prefix("Basic ")
            .unwrap();
        let decoded = String::from_utf8(STANDARD.decode(basic).unwrap()).unwrap();
        assert_eq!(decoded, "my+app:a%2B%2F%3D%25%26%3A%7E%21+b");
    }

    #[test]
    fn post_with_client_fields_in_the_form_only() {
        let req = client(with(json!({"method": "POST", "client_auth": "body"})))
            .token_request()
            .unwrap();
        assert_eq!(req.url.as_str(), "http://auth/token");
        assert_eq!(req.header("authorization"), None);
        assert_eq!(
            req.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            String::from_utf8(req.body.unwrap()).unwrap(),
            "grant_type=client_credentials&client_id=id&client_secret=se+cret"
        );
        let get = client(with(json!({"client_auth": "body"})))
            .token_request()
            .unwrap();
        assert_eq!(
            get.url.query(),
            Some("grant_type=client_credentials&client_id=id&client_secret=se+cret")
        );
    }

    #[test]
    fn extra_values_override_built_in_ones_of_the_same_name_and_place() {
        let c = client(with(json!({"method": "POST", "extra": [
            {"name": "scope", "value": "read:all", "add_to": "body"},
            {"name": "grant_type", "value": "custom", "add_to": "body"},
            {"name": "grant_type", "value": "q", "add_to": "params"},
            {"name": "authorization", "value": "Token x", "add_to": "headers"},
            {"name": "X-Tenant", "value": "t1", "add_to": "headers"}
        ]})));
        let req = c.token_request().unwrap();
        assert_eq!(
            String::from_utf8(req.body.clone().unwrap()).unwrap(),
            "grant_type=custom&scope=read%3Aall"
        );
        assert_eq!(req.url.query(), Some("grant_type=q"));
        assert_eq!(req.header("Authorization"), Some("Token x"));
        assert_eq!(req.header("x-tenant"), Some("t1"));
    }

    #[test]
    fn tokens_at_a_path_with_expiry_and_prefixes() {
        let c = client(with(
            json!({"token_path": "data.access_token", "expires_in_path": "data.ttl", "token_prefix": ""}),
        ));
        let req = c.token_request().unwrap();
        let resp = |body: Value| HttpResponse {
            status: 200,
            headers: vec![],
            body: body.to_string().into_bytes(),
        };
        let t = c
            .read_token(
                &req,
                &resp(json!({"data": {"access_token": "abc", "ttl": "100"}})),
                1_000,
            )
            .unwrap();
        assert_eq!(
            t,
            Token {
                value: "abc".into(),
                refresh_at_ms: Some(1_000 + 100_000 - 10_000)
            }
        );
        assert_eq!(c.header_value(&t), "abc");
        let long = c
            .read_token(
                &req,
                &resp(json!({"data": {"access_token": "abc", "ttl": 36000}})),
                0,
            )
            .unwrap();
        assert_eq!(long.refresh_at_ms, Some(36_000_000 - 60_000));
        let short = c
            .read_token(
                &req,
                &resp(json!({"data": {"access_token": "abc", "ttl": 3}})),
                0,
            )
            .unwrap();
        assert_eq!(short.refresh_at_ms, Some(2_000));
        let err = c
            .read_token(
                &req,
                &resp(json!({"access_token": "leak", "error": "nope"})),
                0,
            )
            .unwrap_err();
        let Error::Auth(m) = err else { panic!() };
        assert!(m.contains("has no token at `data.access_token`"), "{m}");
        assert!(
            m.contains(r#""access_token":"***""#) && !m.contains("leak"),
            "{m}"
        );
        let bearer = client(with(json!({})));
        assert_eq!(
            bearer.header_value(&Token {
                value: "t".into(),
                refresh_at_ms: None
            }),
            "Bearer t"
        );
    }
}
