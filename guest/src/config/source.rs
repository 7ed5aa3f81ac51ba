//! The config's `source`: where the API is and how requests to it
//! authenticate (README "`source`" and "Authentication").

use super::read::ReadMethod;
use super::values::Place;
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
