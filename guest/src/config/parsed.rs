//! Config strings with a grammar of their own — JSON paths, next links,
//! stop conditions, list URLs — kept with their parsed form. The config checks
//! ([`super::check`]) report a bad one with its path; loading then parses
//! each once, and the reader uses the parsed form, never the text.
//!
//! In the JSON Schema each is a plain string.

use crate::jsonpath::{self, Path};
use crate::stop::Condition;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;

/// A string of the config and what it parses to.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    text: String,
    parsed: T,
}

impl<T> Parsed<T> {
    /// The string as the config wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn get(&self) -> &T {
        &self.parsed
    }
}

/// A grammar: how a config string parses, and why it does not.
pub trait Grammar: Sized {
    fn parse(text: &str) -> Result<Self, String>;
}

impl Grammar for Path {
    fn parse(text: &str) -> Result<Path, String> {
        jsonpath::parse(text)
    }
}

impl Grammar for Condition {
    fn parse(text: &str) -> Result<Condition, String> {
        Condition::parse(text)
    }
}

/// Where a loop finds its next value (a `link`'s next URL, a `cursor`):
/// `"header"` is the `rel="next"` target of the RFC 8288 `Link` header,
/// `"header:NAME"` the response header NAME, anything else a JSON path in
/// the response body.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueAt {
    LinkHeader,
    Header(String),
    Body(Path),
}

impl Grammar for ValueAt {
    fn parse(text: &str) -> Result<ValueAt, String> {
        if text == "header" {
            return Ok(ValueAt::LinkHeader);
        }
        if let Some(name) = text.strip_prefix("header:") {
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(format!(
                    "`{text}`: write `header:NAME` with NAME a response header (`header:X-Next-Cursor`)"
                ));
            }
            return Ok(ValueAt::Header(name.to_string()));
        }
        jsonpath::parse(text).map(ValueAt::Body)
    }
}

/// A byte of an HTTP header name (RFC 9110 `tchar`).
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpUrl(pub url::Url);

impl Grammar for HttpUrl {
    fn parse(text: &str) -> Result<HttpUrl, String> {
        match url::Url::parse(text) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(HttpUrl(u)),
            _ => Err(format!("`{text}` is not an http:// or https:// URL")),
        }
    }
}

/// A JSON path into a response (`data.items`, `$.a[0]['odd.key']`).
pub type JsonPath = Parsed<Path>;

impl Default for JsonPath {
    /// The whole response.
    fn default() -> Self {
        Parsed {
            text: String::new(),
            parsed: Path::default(),
        }
    }
}

impl<T: Grammar> Parsed<T> {
    pub fn parse(text: &str) -> Result<Parsed<T>, String> {
        Ok(Parsed {
            text: text.to_string(),
            parsed: T::parse(text)?,
        })
    }
}

impl<T> Serialize for Parsed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de, T: Grammar> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Parsed::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl<T> JsonSchema for Parsed<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        String::json_schema(generator)
    }
}
