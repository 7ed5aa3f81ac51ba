//! The root of a config: one connector, its source and what to do with
//! it; the JSON Schema generated from it; the origins it may contact.

use super::read::{Paginate, Read};
use super::source::{Auth, Source};
use super::write::Write;
use crate::error::Error;
use indexmap::IndexMap;
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
    /// The API input component: read records. It is the stream named
    /// `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Read>,
    /// Several named streams (endpoints) sharing `source`, each a `read`
    /// block of its own (README "Several streams"); names: letters,
    /// digits, `_` and `-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<IndexMap<String, Read>>,
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
    // A login's URLs may be paths on the source: their origin is the source's.
    let mut login_urls = Vec::new();
    if let Auth::Login(login) = &config.source.auth {
        login_urls.push(("source.auth.url", login.url.as_str()));
        if let Some(r) = &login.refresh {
            login_urls.push(("source.auth.refresh.url", r.url.as_str()));
        }
    }
    let resolved: Vec<(&str, String)> = login_urls
        .into_iter()
        .map(|(at, u)| {
            crate::auth::login::resolve_url(u, &config.source.url, at).map(|u| (at, u.to_string()))
        })
        .collect::<Result<_, _>>()?;
    urls.extend(resolved.iter().map(|(at, u)| (*at, u.as_str())));
    for (_, read) in config.all_streams() {
        if let Some(Paginate::Traverse {
            values_from: Some(from),
            ..
        }) = read.paginate.as_ref()
        {
            urls.push(("read.paginate.values_from.url", from.url.text()));
        }
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
pub fn schema() -> &'static Value {
    // Built once per instance: a run loads its config more than once (its
    // plan, then its reader), and building it took a third of a `validate`.
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::to_value(schemars::schema_for!(Config)).expect("schema is JSON")
    })
}
