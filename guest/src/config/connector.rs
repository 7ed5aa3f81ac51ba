//! The root of a config: one connector, its source and what to do with
//! it; the JSON Schema generated from it; the origins it may contact.

use super::read::{Paginate, Read};
use super::source::{Auth, Source};
use super::write::Write;
use crate::error::Error;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One connector: the API data source and what to do with it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "apiconn connector config")]
pub struct Config {
    /// The JSON Schema this file follows, for editors and language servers
    /// (`apiconn init` writes it); apiconn ignores it.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub source: Source,
    /// The API input component: read records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Read>,
    /// The API output component: write records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<Write>,
}

/// Every origin (`scheme://host:port`, the unit of trust for credentials
/// and egress) the config may contact: the source and every other URL
/// written in it. Next-page URLs are allowed only on these.
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
        urls.push(("read.paginate.values_from.url", from.url.text()));
    }
    let mut origins: Vec<String> = Vec::new();
    for (path, u) in urls {
        let parsed = url::Url::parse(u).map_err(|e| Error::config(path, e.to_string()))?;
        let origin = parsed.origin().ascii_serialization();
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
