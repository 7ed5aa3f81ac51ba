//! The connector config (SPEC section 1): types, loading, validation.
//!
//! The Rust types below are the single source of truth: the JSON Schema that
//! `apiconn schema` prints is generated from them, structural validation
//! walks that schema (so it reports every mistake at once, each with its
//! path), and the semantic checks in [`check`] cover what a schema cannot say.

use crate::error::{Error, Problem};
use crate::schema_check;
use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// One connector: the API data source and what to do with it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "apiconn connector config")]
pub struct Config {
    pub source: Source,
    /// The API input component: read records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Read>,
    /// The API output component: write records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<Write>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum WriteMethod {
    #[default]
    POST,
    PUT,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// One request per record; the body is the record.
    #[default]
    Single,
    /// One request per `batch_size` records; the body is a JSON array.
    Batch,
}

/// The API output component.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Write {
    #[serde(default)]
    pub method: WriteMethod,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub params: Values,
    #[serde(default)]
    pub headers: Values,
    #[serde(default)]
    pub mode: WriteMode,
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1, max = 100000))]
    pub batch_size: u32,
    /// JSON path under which the record (single) or the array (batch) goes:
    /// `data.items` → `{"data":{"items":[…]}}`.
    #[serde(default)]
    pub write_path: String,
    /// Fields to send, renamed and converted; absent: records as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<WriteField>>,
    /// A custom signature added to every write request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

fn default_batch_size() -> u32 {
    100
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteField {
    pub from: String,
    /// Output name; default `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: FieldType,
}

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

/// Where a value goes: the query string, a header, or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    Params,
    Headers,
    Body,
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

/// A custom request signature (SPEC section 3).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The parameter or header that carries the signature.
    pub name: String,
    pub location: Place,
    pub function: SignFunction,
    /// Overrides the function's encoding: `hex`, `HEX` (upper case), `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// The key of the `HMAC_*` functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default)]
    pub content: SignContent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum SignFunction {
    MD5HEX,
    SHA1HEX,
    SHA256HEX,
    SHA512HEX,
    SHA256,
    HMAC_MD5,
    HMAC_SHA1,
    HMAC_SHA256,
    HMAC_SHA512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Encoding {
    #[serde(rename = "hex")]
    Hex,
    #[serde(rename = "HEX")]
    UpperHex,
    #[serde(rename = "base64")]
    Base64,
}

/// Which request values are signed, and how they are joined.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignContent {
    #[serde(default)]
    pub include: Include,
    #[serde(default = "default_from")]
    pub from: Vec<SignFrom>,
    #[serde(default)]
    pub mode: SignMode,
    #[serde(default)]
    pub order: SignOrder,
    #[serde(default = "ampersand")]
    pub separator: String,
    #[serde(default = "equals")]
    pub pair_separator: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub suffix: String,
}

impl Default for SignContent {
    fn default() -> Self {
        SignContent {
            include: Include::default(),
            from: default_from(),
            mode: SignMode::default(),
            order: SignOrder::default(),
            separator: ampersand(),
            pair_separator: equals(),
            prefix: String::new(),
            suffix: String::new(),
        }
    }
}

fn default_from() -> Vec<SignFrom> {
    vec![SignFrom::Params, SignFrom::Body]
}
fn ampersand() -> String {
    "&".into()
}
fn equals() -> String {
    "=".into()
}

/// `"all"` or a list of value names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Include {
    All(AllKeyword),
    Names(Vec<String>),
}

impl Default for Include {
    fn default() -> Self {
        Include::All(AllKeyword::All)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllKeyword {
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignFrom {
    Params,
    Body,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignMode {
    #[default]
    NameValue,
    Values,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignOrder {
    /// Byte order of the names.
    #[default]
    Asc,
    Desc,
    /// As the values appear in the request.
    AsConfigured,
}

impl Default for Auth {
    fn default() -> Self {
        Auth::None {}
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ReadMethod {
    #[default]
    GET,
    POST,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    #[default]
    Json,
    Form,
}

/// Request values: name → value, in configured order.
pub type Values = IndexMap<String, RequestValue>;

/// The API input component.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Read {
    #[serde(default)]
    pub method: ReadMethod,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub params: Values,
    #[serde(default)]
    pub headers: Values,
    /// Keys may be dotted paths (`a.b.c`) that build nested JSON objects.
    #[serde(default)]
    pub body: Values,
    #[serde(default)]
    pub body_format: BodyFormat,
    /// JSON path to the records in each response (`data.result`, `$.items[0].rows`);
    /// empty: the whole response.
    #[serde(default)]
    pub records: String,
    /// Absent: one request. Otherwise the loop that makes the requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paginate: Option<Paginate>,
    /// Safety cap on requests for the whole run.
    #[serde(default = "default_max_requests")]
    #[schemars(range(min = 1))]
    pub max_requests: u32,
    #[serde(default)]
    pub flatten: Flatten,
    /// Output fields, in this order; absent: every flattened field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<Field>>,
    /// Records failing `fields` conversion tolerated before the run fails.
    #[serde(default)]
    pub dirty_records: u64,
    /// A custom signature added to every data request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// Read only newer records on the next run or poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<Incremental>,
}

/// An incremental read: `param` carries the greatest `from_field` seen in
/// earlier passes (`start` before any), and records not greater than it are
/// skipped, so a later run or poll emits only newer records.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    pub param: String,
    #[serde(rename = "in", default)]
    pub location: Location,
    /// The flattened record field to follow (an id, a sequence, an update time).
    pub from_field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Scalar>,
}

fn default_max_requests() -> u32 {
    500
}

/// Where a loop puts its value: the query string or the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    #[default]
    Params,
    Body,
}

/// The loop modes of `read.paginate`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Paginate {
    /// Page numbers: `start`, `start + step`, …
    Page {
        /// The request value the loop sets (a dotted path into a JSON body with `in: body`).
        param: String,
        #[serde(rename = "in", default)]
        location: Location,
        #[serde(default = "one")]
        start: i64,
        #[serde(default = "one")]
        #[schemars(range(min = 1))]
        step: i64,
        /// Stop conditions (`response.has_more == false`); without any, the
        /// loop ends at the first page with no records.
        #[serde(default)]
        stop: Vec<String>,
    },
    /// Offsets: `start`, `start + step`, … (`step` is the page size).
    Offset {
        param: String,
        #[serde(rename = "in", default)]
        location: Location,
        #[serde(default)]
        start: i64,
        #[schemars(range(min = 1))]
        step: i64,
        #[serde(default)]
        stop: Vec<String>,
    },
    /// The next request carries the cursor read from this response; ends
    /// when it is missing, null or `""`.
    Cursor {
        param: String,
        #[serde(rename = "in", default)]
        location: Location,
        /// JSON path of the next cursor in the response.
        from: String,
        /// The first cursor; absent: the param is left out of the first request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<Scalar>,
        #[serde(default)]
        stop: Vec<String>,
    },
    /// Follows next URLs: `from: "header"` (RFC 8288 `Link: <…>; rel="next"`)
    /// or a JSON path that holds the next URL.
    Link {
        from: String,
        #[serde(default)]
        stop: Vec<String>,
    },
    /// One request per value, in order; with `then`, a loop for each value.
    Traverse {
        param: String,
        #[serde(rename = "in", default)]
        location: Location,
        /// The manual list of values.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        values: Option<Vec<Scalar>>,
        /// A list API (called without credentials) that gives the values.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        values_from: Option<ValuesFrom>,
        /// A page, offset, cursor or link loop run for each value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        then: Option<Box<Paginate>>,
    },
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValuesFrom {
    pub url: String,
    #[serde(default)]
    pub method: ReadMethod,
    #[serde(default)]
    pub params: Values,
    #[serde(default)]
    pub headers: Values,
    /// JSON path of the array of values in the response.
    #[serde(default)]
    pub extract: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flatten {
    #[serde(default = "default_separator")]
    #[schemars(length(min = 1))]
    pub separator: String,
    #[serde(default)]
    pub arrays: ArrayPolicy,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten {
            separator: default_separator(),
            arrays: ArrayPolicy::default(),
        }
    }
}

fn default_separator() -> String {
    ".".into()
}

/// What to do with a record field whose value is an array.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArrayPolicy {
    /// The run fails, naming the record and the field.
    #[default]
    Error,
    /// The array is kept as a JSON string.
    Json,
    /// The field is dropped and counted.
    Drop,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The flattened key.
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: FieldType,
    /// Output name; default `name`.
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    String,
    Long,
    Double,
    Boolean,
    Date,
    Json,
}

/// A request value: a JSON scalar, or a value generated for each request.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RequestValue {
    Generated(Generated),
    Scalar(Scalar),
}

/// Generated once per request: the same value goes on the wire and into a signature.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Generated {
    /// `ms`, `s`, or a strftime format (UTC).
    Timestamp(String),
    /// `hex32`, `uuid` or `digits:N`.
    Random(String),
}

/// A JSON string, number, boolean or null.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Scalar(pub Value);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        if v.is_array() || v.is_object() {
            return Err(serde::de::Error::custom(
                "expected a string, number, boolean or null",
            ));
        }
        Ok(Scalar(v))
    }
}

impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean", "null"] })
    }
}

/// Every origin (`scheme://host:port`) the config may contact: the
/// source and every other URL written in it. Next-page URLs are allowed
/// only on these.
pub fn origins(config: &Config) -> Result<Vec<String>, Error> {
    let mut urls = vec![("source.url", config.source.url.as_str())];
    if let Auth::Oauth2 { token_url, .. } = &config.source.auth {
        urls.push(("source.auth.token_url", token_url.as_str()));
    }
    if let Some(Paginate::Traverse {
        values_from: Some(from),
        ..
    }) = config.read.as_ref().and_then(|r| r.paginate.as_ref())
    {
        urls.push(("read.paginate.values_from.url", from.url.as_str()));
    }
    let mut origins: Vec<String> = Vec::new();
    for (path, u) in urls {
        let parsed = url::Url::parse(u).map_err(|e| Error::config(path, e.to_string()))?;
        let origin = crate::request::origin(&parsed);
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// The JSON Schema of the config, as `apiconn schema` prints it.
pub fn schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Config)).expect("schema is JSON")
}

/// Parses and validates a config: every problem at once, or the config with
/// the environment `env` merged in.
pub fn load(text: &str, env: Option<&str>) -> Result<Config, Error> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::config("", format!("config is not valid JSON: {e}")))?;
    load_value(value, env).map_err(Error::Config)
}

pub fn load_value(mut value: Value, env: Option<&str>) -> Result<Config, Vec<Problem>> {
    let schema = schema();
    let mut problems = schema_check::validate(&schema, &value);
    problems.extend(check(&value));
    if !problems.is_empty() {
        return Err(problems);
    }
    // Every environment must be valid, not just the one picked.
    let envs: Vec<String> = value["source"]["environments"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for name in &envs {
        let merged = with_environment(&value, name);
        let mut found = schema_check::validate(&schema, &merged);
        found.extend(check(&merged));
        for mut p in found {
            p.message = format!("{} (with environment `{name}`)", p.message);
            problems.push(p);
        }
    }
    match env {
        None => {}
        Some(name) if envs.iter().any(|e| e == name) => value = with_environment(&value, name),
        Some(name) => {
            let known = if envs.is_empty() {
                "none are defined".to_string()
            } else {
                format!("known: {}", envs.join(", "))
            };
            problems.push(Problem::new(
                "source.environments",
                format!("unknown environment `{name}` ({known})"),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    serde_json::from_value(value).map_err(|e| vec![Problem::new("", e.to_string())])
}

/// The config with `source.environments[name]` merged over `source`
/// (RFC 7386 merge patch: objects merge, `null` removes, anything else replaces).
fn with_environment(config: &Value, name: &str) -> Value {
    let mut merged = config.clone();
    let patch = config["source"]["environments"][name].clone();
    merge_patch(&mut merged["source"], &patch);
    merged
}

fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            merge_patch(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Semantic checks: what the schema cannot say. They read the JSON as it
/// is, skipping values of the wrong type (the schema reports those), so a
/// config's structural and semantic mistakes are reported together.
pub fn check(config: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |path: &str, message: String| problems.push(Problem::new(path, message));
    let source = &config["source"];
    if let Some(name) = source["name"].as_str()
        && let Some(c) = name.chars().find(|c| !is_name_char(*c))
    {
        problem(
            "source.name",
            format!("`{c}` is not allowed: only Chinese characters, letters, digits, `_` and `-`"),
        );
    }
    if auth_is("oauth2", source) {
        let auth = &source["auth"];
        if let Some(u) = auth["token_url"].as_str()
            && !url::Url::parse(u).is_ok_and(|u| u.scheme() == "http" || u.scheme() == "https")
        {
            problem(
                "source.auth.token_url",
                format!("`{u}` is not an http:// or https:// URL"),
            );
        }
        let get = auth["method"].as_str().is_none_or(|m| m == "GET");
        if let Some(extra) = auth["extra"].as_array() {
            for (i, e) in extra.iter().enumerate() {
                if get && e["add_to"] == "body" {
                    problem(
                        &format!("source.auth.extra[{i}].add_to"),
                        "a GET token request has no body: use `method: POST`".into(),
                    );
                }
            }
        }
        for key in ["token_path", "expires_in_path"] {
            if let Some(p) = auth[key].as_str()
                && let Err(e) = crate::jsonpath::parse(p)
            {
                problem(&format!("source.auth.{key}"), e);
            }
        }
    }
    if let Some(u) = source["url"].as_str() {
        match url::Url::parse(u) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                if u.host_str().is_none_or(str::is_empty) {
                    problem("source.url", "the URL has no host".into());
                }
            }
            Ok(u) => problem(
                "source.url",
                format!(
                    "scheme `{}` is not allowed: use http:// or https://",
                    u.scheme()
                ),
            ),
            Err(e) => problem("source.url", format!("not a URL: {e}")),
        }
    }
    let read = &config["read"];
    if read.is_object() {
        for block in ["params", "headers", "body"] {
            check_values(&read[block], &format!("read.{block}"), &mut problem);
        }
        let is_get = read["method"].as_str().is_none_or(|m| m == "GET");
        let loops = [&read["paginate"], &read["paginate"]["then"]];
        if is_get && loops.iter().any(|l| l["in"].as_str() == Some("body")) {
            problem(
                "read.paginate.in",
                "a GET request has no body: use `method: POST`".into(),
            );
        }
        if is_get && read["body"].as_object().is_some_and(|b| !b.is_empty()) {
            problem(
                "read.body",
                "a GET request has no body: use `method: POST`".into(),
            );
        }
        if let Some(path) = read["records"].as_str()
            && let Err(e) = crate::jsonpath::parse(path)
        {
            problem("read.records", e);
        }
        check_paginate(&read["paginate"], "read.paginate", &mut problem);
        let auth = &source["auth"];
        if is_get && auth["type"] == "api_key" && auth["add_to"] == "body" {
            problem(
                "source.auth.add_to",
                "a GET request has no body: use `params` or `headers`, or `read.method: POST`"
                    .into(),
            );
        }
        let sig = &read["signature"];
        if is_get && sig["location"] == "body" {
            problem(
                "read.signature.location",
                "a GET request has no body: use `params` or `headers`".into(),
            );
        }
        check_signature(sig, "read", &mut problem);
        if let Some(fields) = read["fields"].as_array() {
            let mut seen = std::collections::HashSet::new();
            for (i, f) in fields.iter().enumerate() {
                let Some(out) = f["as"].as_str().or_else(|| f["name"].as_str()) else {
                    continue;
                };
                if !seen.insert(out.to_string()) {
                    problem(
                        &format!("read.fields[{i}]"),
                        format!("output field `{out}` appears twice"),
                    );
                }
            }
        }
    }
    let write = &config["write"];
    if write.is_object() {
        for block in ["params", "headers"] {
            check_values(&write[block], &format!("write.{block}"), &mut problem);
        }
        if let Some(path) = write["write_path"].as_str()
            && let Err(e) = crate::jsonpath::parse(path)
        {
            problem("write.write_path", e);
        }
        check_signature(&write["signature"], "write", &mut problem);
    }
    if config.is_object() && !read.is_object() && !write.is_object() {
        problem(
            "",
            "the config has neither a `read` nor a `write` block".into(),
        );
    }
    problems
}

fn check_signature(sig: &Value, block: &str, problem: &mut impl FnMut(&str, String)) {
    if let Some(f) = sig["function"].as_str()
        && f.starts_with("HMAC_")
        && sig.get("secret").is_none()
    {
        problem(
            &format!("{block}.signature.secret"),
            format!("{f} needs a `secret`"),
        );
    }
}

fn auth_is(kind: &str, source: &Value) -> bool {
    source["auth"]["type"].as_str() == Some(kind)
}

fn check_paginate(p: &Value, path: &str, problem: &mut impl FnMut(&str, String)) {
    let Some(kind) = p["type"].as_str() else {
        return;
    };
    if let Some(stops) = p["stop"].as_array() {
        for (i, s) in stops.iter().enumerate() {
            if let Some(text) = s.as_str()
                && let Err(e) = crate::stop::Condition::parse(text)
            {
                problem(&format!("{path}.stop[{i}]"), e);
            }
        }
    }
    for key in ["from", "values_from.extract"] {
        let v = key.split('.').fold(p, |v, k| &v[k]);
        if let Some(text) = v.as_str()
            && !(kind == "link" && text == "header")
            && let Err(e) = crate::jsonpath::parse(text)
        {
            problem(&format!("{path}.{key}"), e);
        }
    }
    if kind == "traverse" {
        match (p.get("values"), p.get("values_from")) {
            (Some(_), Some(_)) => problem(path, "give `values` or `values_from`, not both".into()),
            (None, None) => problem(path, "a traverse needs `values` or `values_from`".into()),
            _ => {}
        }
        if let Some(u) = p["values_from"]["url"].as_str()
            && !url::Url::parse(u).is_ok_and(|u| u.scheme() == "http" || u.scheme() == "https")
        {
            problem(
                &format!("{path}.values_from.url"),
                format!("`{u}` is not an http:// or https:// URL"),
            );
        }
        let then = &p["then"];
        if then["type"].as_str() == Some("traverse") {
            problem(
                &format!("{path}.then.type"),
                "a traverse cannot run another traverse".into(),
            );
        }
        check_paginate(then, &format!("{path}.then"), problem);
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '_'
        || c == '-'
        // CJK Unified Ideographs and Extension A.
        || ('\u{4e00}'..='\u{9fff}').contains(&c)
        || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

fn check_values(values: &Value, path: &str, problem: &mut impl FnMut(&str, String)) {
    let Some(values) = values.as_object() else {
        return;
    };
    for (name, v) in values {
        if let Ok(RequestValue::Generated(g)) = serde_json::from_value::<RequestValue>(v.clone())
            && let Err(e) = crate::request::check_generated(&g)
        {
            problem(&format!("{path}.{name}"), e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match load(text, None) {
            Ok(_) => vec![],
            Err(Error::Config(ps)) => ps.iter().map(|p| p.to_string()).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_minimal_config_loads_with_defaults() {
        let c = load(
            r#"{"source":{"name":"demo","url":"http://x"},"read":{}}"#,
            None,
        )
        .unwrap();
        assert_eq!(c.source.retries, 3);
        assert_eq!(c.source.timeout_ms, 30_000);
        let read = c.read.unwrap();
        assert_eq!(read.max_requests, 500);
        assert_eq!(read.flatten.separator, ".");
        assert_eq!(read.flatten.arrays, ArrayPolicy::Error);
        assert!(matches!(c.source.auth, Auth::None {}));
    }

    #[test]
    fn every_mistake_is_reported_with_its_path() {
        let ps = problems(
            r#"{"source":{"name":"my source","url":"ftp://x","auth":{"type":"basic","username":"u","pasword":"p"},"retries":11},
                "read":{"method":"PUT","pathh":"/x","flatten":{"arrays":"keep"}},"extra":1}"#,
        );
        let expected = [
            "source.auth.pasword: unknown key (expected one of: type, username, password)",
            "source.auth: missing required key `password`",
            "source.retries: must be at most 10",
            "read.method: expected one of \"GET\", \"POST\"",
            "read.pathh: unknown key (expected one of: method, path, params, headers, body, body_format, records, paginate, max_requests, flatten, fields, dirty_records, signature, incremental)",
            "read.flatten.arrays: expected one of \"error\", \"json\", \"drop\"",
            "extra: unknown key (expected one of: source, read, write)",
            "source.name: ` ` is not allowed: only Chinese characters, letters, digits, `_` and `-`",
            "source.url: scheme `ftp` is not allowed: use http:// or https://",
        ];
        assert_eq!(ps, expected);
        // Once the structure is right, the semantic checks speak.
        let ps = problems(
            r#"{"source":{"name":"my source","url":"ftp://x"},"read":{"body":{"a":1},"params":{"t":{"timestamp":"%Q"}}}}"#,
        );
        assert_eq!(ps.len(), 4, "{ps:?}");
        assert!(ps[0].starts_with("source.name: ` ` is not allowed"));
        assert!(ps[1].starts_with("source.url: scheme `ftp`"));
        assert!(ps[2].starts_with("read.params.t: "));
        assert!(ps[3].starts_with("read.body: a GET request has no body"));
    }

    #[test]
    fn hmac_signatures_need_a_secret_in_reads_and_writes() {
        let sig = r#"{"name":"sign","location":"headers","function":"HMAC_SHA1"}"#;
        let ps = problems(&format!(
            r#"{{"source":{{"name":"a","url":"http://x"}},"read":{{"signature":{sig}}},"write":{{"signature":{sig}}}}}"#
        ));
        assert_eq!(
            ps,
            [
                "read.signature.secret: HMAC_SHA1 needs a `secret`",
                "write.signature.secret: HMAC_SHA1 needs a `secret`"
            ]
        );
    }

    #[test]
    fn unknown_auth_type_lists_the_known_ones() {
        let ps = problems(
            r#"{"source":{"name":"a","url":"http://x","auth":{"type":"kerberos"}},"read":{}}"#,
        );
        assert_eq!(
            ps,
            [
                "source.auth.type: expected one of \"none\", \"basic\", \"bearer\", \"api_key\", \"appkey\", \"oauth2\""
            ]
        );
    }

    #[test]
    fn chinese_names_are_allowed() {
        assert!(
            problems(r#"{"source":{"name":"订单_api-1","url":"http://x"},"read":{}}"#).is_empty()
        );
        let long = "a".repeat(65);
        let ps = problems(&format!(
            r#"{{"source":{{"name":"{long}","url":"http://x"}},"read":{{}}}}"#
        ));
        assert_eq!(ps, ["source.name: must be at most 64 characters"]);
    }

    #[test]
    fn environments_merge_over_the_base() {
        let text = r#"{"source":{"name":"a","url":"http://prod","auth":{"type":"bearer","token":"p"},
            "environments":{"dev":{"url":"http://dev","auth":{"token":"d"}}}},"read":{}}"#;
        let c = load(text, Some("dev")).unwrap();
        assert_eq!(c.source.url, "http://dev");
        assert!(matches!(&c.source.auth, Auth::Bearer { token } if token == "d"));
        let c = load(text, None).unwrap();
        assert_eq!(c.source.url, "http://prod");
        let err = load(text, Some("qa")).unwrap_err().to_string();
        assert!(
            err.contains("unknown environment `qa` (known: dev)"),
            "{err}"
        );
        let bad = text.replace(
            r#""url":"http://dev""#,
            r#""url":"http://dev","retries":99"#,
        );
        let err = load(&bad, None).unwrap_err().to_string();
        assert!(
            err.contains("source.retries: must be at most 10 (with environment `dev`)"),
            "{err}"
        );
    }
}
