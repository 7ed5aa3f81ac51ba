//! The config's `source`: where the API is and how requests to it
//! authenticate (README "`source`" and "Authentication").

use super::read::{BodyFormat, ReadMethod};
use super::values::{Place, Values};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The API data source.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Chinese characters, letters, digits, `_` and `-`; 1–64 characters.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `http://` or `https://` base URL; `read.path` / `write.path` are appended.
    pub url: String,
    #[serde(default)]
    pub auth: Auth,
    /// Retries after a failed attempt (transport errors, 429, 5xx).
    #[serde(default = "default_retries")]
    #[schemars(range(max = 10))]
    pub retries: u32,
    /// Per-request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1))]
    pub timeout_ms: u32,
    #[serde(default)]
    pub tls: Tls,
    /// Requests per second at most, shared by all partitions of a run;
    /// the host slows down further after a 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.01))]
    pub rate_limit: Option<f64>,
    /// Overrides of the keys above, merged over the base (JSON merge patch)
    /// when the environment is picked with `--env NAME`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environments: IndexMap<String, Map<String, Value>>,
}

fn default_retries() -> u32 {
    3
}
fn default_timeout_ms() -> u32 {
    30_000
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// A PEM file of extra CA certificates: a file name inside `--secrets-dir`.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// How requests to `source.url` authenticate.
#[allow(clippy::large_enum_variant)] // one per config
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    None {},
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        username: String,
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        token: String,
    },
    /// `key=value` in the query string, a header, or the request body.
    ApiKey {
        key: String,
        value: String,
        #[serde(default = "headers")]
        add_to: Place,
    },
    /// Alibaba Cloud API Gateway digest signature (AppKey + AppSecret).
    Appkey {
        app_key: String,
        app_secret: String,
        #[serde(default)]
        signature_method: AppkeyMethod,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
    },
    /// OAuth 2.0 client credentials; every data request then carries
    /// `Authorization: <token_prefix> <token>`.
    Oauth2 {
        token_url: String,
        #[serde(default)]
        method: ReadMethod,
        client_id: String,
        client_secret: String,
        #[serde(default)]
        client_auth: ClientAuth,
        /// JSON path of the token in the token response.
        #[serde(default = "default_token_path")]
        token_path: String,
        /// Empty: the bare token.
        #[serde(default = "default_token_prefix")]
        token_prefix: String,
        #[serde(default = "default_expires_in_path")]
        expires_in_path: String,
        /// More token request values; they override built-in ones of the same name and place.
        #[serde(default)]
        extra: Vec<Extra>,
    },
    /// A login call that returns a token (DRF simplejwt's `POST /api/token/`,
    /// session logins answering with a token in a header or a cookie);
    /// every data request then carries the token. The login request is
    /// sent first, again shortly before the token expires and once after a
    /// 401 — through `refresh` when the API has a refresh call.
    Login(Login),
}

/// `source.auth` with `type: login`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The login request's URL: absolute (its origin joins the config's
    /// origins), or a path appended to `source.url`.
    pub url: String,
    #[serde(default = "post")]
    pub method: ReadMethod,
    /// `json` (dotted keys build nested objects) or `form`.
    #[serde(default)]
    pub body_format: BodyFormat,
    /// The login request's body (`POST`) or query (`GET`) values, such as
    /// `{"username": "etl", "password": "${env:API_PASSWORD}"}`.
    #[serde(default)]
    pub body: Values,
    /// Headers of the login request.
    #[serde(default)]
    pub headers: Values,
    /// JSON path of the token in the login response's body.
    #[serde(default = "default_token_path")]
    pub token_path: String,
    /// Take the token from this response header instead (`X-Auth-Token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_header: Option<String>,
    /// Take the token from this cookie of the response's `Set-Cookie`
    /// headers instead (`sessionid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_cookie: Option<String>,
    /// Where data requests carry the token: a header (`name: prefix token`),
    /// a query parameter (`name=token`), or a cookie (`Cookie: name=token`).
    #[serde(default)]
    pub add_to: TokenPlace,
    /// The header, query parameter or cookie name; default `Authorization`
    /// for a header, the `token_cookie` name for a cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Written before the token in a header, with a space; empty: the bare token.
    #[serde(default = "default_token_prefix")]
    pub token_prefix: String,
    /// JSON path of the token's lifetime in seconds in the login (and
    /// refresh) response, if the API says it there.
    #[serde(default = "default_expires_in_path")]
    pub expires_in_path: String,
    /// The token's lifetime in seconds: overrides the response's
    /// `expires_in_path` and a JWT's `exp` claim. Without any of the
    /// three, the token is renewed only after a 401.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub lifetime_seconds: Option<u32>,
    /// The API's refresh call, used to renew the token instead of logging
    /// in again (a refused refresh falls back to the login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Box<LoginRefresh>>,
}

/// The refresh call of a login (simplejwt: `POST /api/token/refresh/` with
/// `{"refresh": …}`, answering `{"access": …}`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRefresh {
    /// The refresh request's URL (`POST`): absolute, or a path appended to `source.url`.
    pub url: String,
    /// JSON path of the refresh token in the login response.
    #[serde(default = "default_refresh_path")]
    pub token_path: String,
    /// The body field that carries the refresh token.
    #[serde(default = "default_refresh_path")]
    pub field: String,
    /// `json` or `form`.
    #[serde(default)]
    pub body_format: BodyFormat,
    /// JSON path of the new token in the refresh response; default the
    /// login's `token_path`. A new refresh token at `token_path`, if the
    /// API rotates them, replaces the old one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_path: Option<String>,
}

/// Where a login token goes on data requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenPlace {
    #[default]
    Headers,
    Params,
    Cookie,
}

fn post() -> ReadMethod {
    ReadMethod::POST
}
fn default_refresh_path() -> String {
    "refresh".into()
}

fn headers() -> Place {
    Place::Headers
}
fn default_token_path() -> String {
    "access_token".into()
}
fn default_token_prefix() -> String {
    "Bearer".into()
}
fn default_expires_in_path() -> String {
    "expires_in".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum AppkeyMethod {
    #[default]
    HmacSHA256,
    HmacSHA1,
}

/// How the OAuth client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)`.
    #[default]
    Header,
    /// `client_id` and `client_secret` as form fields (query parameters with GET).
    Body,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Extra {
    pub name: String,
    pub value: String,
    #[serde(default = "params")]
    pub add_to: Place,
}

fn params() -> Place {
    Place::Params
}

impl Default for Auth {
    fn default() -> Self {
        Auth::None {}
    }
}
