//! Login-style auth (README "Authentication", `type: login`): a login call
//! that answers with a token — DRF simplejwt's `POST /api/token/`, session
//! logins with the token in a header or a cookie — its renewal through the
//! API's refresh call when it has one, and where data requests carry it.
//!
//! The Requester drives it through the same token machinery as OAuth2
//! ([`super::Authenticator::token_request`], `accept_token`,
//! `forget_token`): the token is fetched before the first data request,
//! shortly before it expires, and once after a 401.

use super::oauth2::{self, Token};
use crate::config::{Body, Login, Place, ReadMethod, TokenPlace};
use crate::error::{Error, truncate};
use crate::jsonpath;
use crate::request::{self, Env, HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::Value;
use url::Url;

/// A login's settings and what it learned: the refresh token.
#[derive(Debug, Clone)]
pub struct Session {
    config: Login,
    login_url: Url,
    refresh_url: Option<Url>,
    refresh_token: Option<String>,
}

/// A URL of the login block: absolute, or a path appended to `source.url`.
pub fn resolve_url(url: &str, source_url: &str, at: &str) -> Result<Url, Error> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Url::parse(url).map_err(|e| Error::config(at, format!("`{url}`: {e}")))
    } else {
        request::join_url(source_url, url)
            .map_err(|e| Error::config(at, e.to_string().replace("source.url: ", "")))
    }
}

impl Session {
    pub fn new(config: &Login, source_url: &str) -> Result<Session, Error> {
        let login_url = resolve_url(&config.url, source_url, "source.auth.url")?;
        let refresh_url = match &config.refresh {
            Some(r) => Some(resolve_url(&r.url, source_url, "source.auth.refresh.url")?),
            None => None,
        };
        Ok(Session {
            config: config.clone(),
            login_url,
            refresh_url,
            refresh_token: None,
        })
    }

    /// Whether the next token request is a refresh (the API has a refresh
    /// call and the login gave a refresh token), not a login.
    fn refreshing(&self) -> bool {
        self.refresh_url.is_some() && self.refresh_token.is_some()
    }

    /// What the next token request is, for messages.
    pub fn what(&self) -> &'static str {
        if self.refreshing() {
            "refresh request"
        } else {
            "login request"
        }
    }

    /// The next token request: the refresh call when there is a refresh
    /// token, else the login.
    pub fn request(&self, env: &mut dyn Env) -> Result<HttpRequest, Error> {
        if let (Some(url), Some(token), Some(r)) =
            (&self.refresh_url, &self.refresh_token, &self.config.refresh)
        {
            let token = Value::from(token.as_str());
            let (body, content_type) = request::body(
                &Body::default(),
                &[(r.field.as_str(), &token)],
                r.body_format,
                env,
            );
            return Ok(HttpRequest {
                method: "POST",
                url: url.clone(),
                headers: vec![
                    ("Accept".into(), "application/json".into()),
                    ("Content-Type".into(), content_type.into()),
                ],
                body: Some(body),
            });
        }
        let values = request::resolve(&self.config.body, env);
        let mut req = HttpRequest {
            method: "GET",
            url: self.login_url.clone(),
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
        };
        match self.config.method {
            ReadMethod::GET => request::add_query(&mut req.url, &values),
            ReadMethod::POST => {
                req.method = "POST";
                let set: Vec<(&str, &Value)> =
                    values.iter().map(|(k, v)| (k.as_str(), v)).collect();
                let (body, content_type) =
                    request::body(&Body::default(), &set, self.config.body_format, env);
                req.set_header("Content-Type", content_type.into());
                req.body = Some(body);
            }
        }
        for (name, value) in request::resolve(&self.config.headers, env) {
            req.set_header(&name, request::text(&value));
        }
        Ok(req)
    }

    /// A token request failed: a refused refresh falls back to the login
    /// (`true`: ask again); a refused login is final.
    pub fn refused(&mut self) -> bool {
        self.refreshing() && self.refresh_token.take().is_some()
    }

    /// The token of a successful login or refresh response, and when to
    /// renew it; the tokens it holds are registered with the masker.
    pub fn read_token(
        &mut self,
        req: &HttpRequest,
        resp: &HttpResponse,
        now_ms: i64,
    ) -> Result<Token, Error> {
        let refreshing = self.refreshing();
        let doc: Option<Value> = serde_json::from_slice(&resp.body).ok();
        let token_path = match (&self.config.refresh, refreshing) {
            (Some(r), true) => r.access_path.as_deref().unwrap_or(&self.config.token_path),
            _ => self.config.token_path.as_str(),
        };
        let at = |path: &str| -> Option<Value> {
            let parsed = jsonpath::parse(path).ok()?;
            jsonpath::get(doc.as_ref()?, &parsed).map(std::borrow::Cow::into_owned)
        };
        let (value, from) = if let Some(name) = &self.config.token_header {
            (
                resp.header(name).map(str::to_string),
                format!("header `{name}` (source.auth.token_header)"),
            )
        } else if let Some(name) = &self.config.token_cookie {
            (
                cookie(resp, name),
                format!("cookie `{name}` (source.auth.token_cookie)"),
            )
        } else {
            let key = if refreshing
                && self
                    .config
                    .refresh
                    .as_ref()
                    .is_some_and(|r| r.access_path.is_some())
            {
                "source.auth.refresh.access_path"
            } else {
                "source.auth.token_path"
            };
            (
                match at(token_path) {
                    Some(Value::String(s)) => Some(s),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                },
                format!("`{token_path}` ({key})"),
            )
        };
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            let shown = match &doc {
                Some(d) => oauth2::mask(d).to_string(),
                None => String::from_utf8_lossy(&resp.body).into_owned(),
            };
            return Err(Error::Auth(format!(
                "the {} response of {} has no token at {from}: {}",
                if refreshing { "refresh" } else { "login" },
                req.describe(),
                truncate(&shown, 500)
            )));
        };
        crate::grants::register(&value);
        if let Some(r) = &self.config.refresh
            && let Some(Value::String(refresh)) = at(&r.token_path)
            && !refresh.is_empty()
        {
            crate::grants::register(&refresh);
            self.refresh_token = Some(refresh);
        }
        let expires_in = match at(&self.config.expires_in_path) {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let life_ms = match (self.config.lifetime_seconds, expires_in, jwt_exp(&value)) {
            (Some(secs), _, _) => Some(i64::from(secs) * 1000),
            (None, Some(secs), _) if secs > 0.0 => Some((secs * 1000.0) as i64),
            (None, _, Some(exp)) => Some(exp * 1000 - now_ms),
            _ => None,
        };
        Ok(Token {
            value,
            refresh_at_ms: life_ms.map(|life| renew_at(now_ms, life)),
        })
    }

    /// Puts the token where the config says.
    pub fn apply(&self, req: &mut HttpRequest, token: &Token) {
        let name = self.config.name.as_deref();
        match self.config.add_to {
            TokenPlace::Headers => {
                let value = if self.config.token_prefix.is_empty() {
                    token.value.clone()
                } else {
                    format!("{} {}", self.config.token_prefix, token.value)
                };
                req.set_header(name.unwrap_or("Authorization"), value);
            }
            TokenPlace::Params => request::place(
                req,
                Place::Params,
                name.unwrap_or("token"),
                Value::from(token.value.as_str()),
            ),
            TokenPlace::Cookie => {
                let name = name
                    .or(self.config.token_cookie.as_deref())
                    .unwrap_or("token");
                let pair = format!("{name}={}", token.value);
                let value = match req.header("cookie") {
                    Some(other) => format!("{other}; {pair}"),
                    None => pair,
                };
                req.set_header("Cookie", value);
            }
        }
    }
}

/// When to renew a token of `life_ms` obtained at `now_ms`: a tenth of its
/// life early, at least a second and at most a minute, never more than
/// half its life (the rule of OAuth2 tokens). A life already over: now.
pub fn renew_at(now_ms: i64, life_ms: i64) -> i64 {
    if life_ms <= 0 {
        return now_ms;
    }
    now_ms + life_ms - (life_ms / 10).clamp(1_000, 60_000).min(life_ms / 2)
}

/// The `exp` claim (seconds since the epoch) of a JWT, read without
/// verifying it: the token is the server's, only the server checks it.
pub fn jwt_exp(token: &str) -> Option<i64> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    match &claims["exp"] {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

/// The value of cookie `name` in the response's `Set-Cookie` headers.
fn cookie(resp: &HttpResponse, name: &str) -> Option<String> {
    resp.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| {
            let pair = v.split(';').next()?.trim();
            let (n, value) = pair.split_once('=')?;
            (n.trim() == name).then(|| value.trim().trim_matches('"').to_string())
        })
}

/// Whether a login body or header name holds a credential, so that even a
/// literal value of it is masked: `password`, `secret`, `token`, `key`…
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "pass",
        "secret",
        "token",
        "key",
        "pin",
        "otp",
        "auth",
        "cookie",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
}

#[cfg(test)]
#[path = "login_tests.rs"]
mod tests;
