//! Request values as the config writes them: JSON scalars, or values
//! generated for each request (README "`read`").

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

/// Request values: name → value, in configured order.
pub type Values = IndexMap<String, RequestValue>;

/// A request body as the config writes it (`read.body`): top-level keys,
/// each any JSON value (see [`generated_in`]).
pub type Body = IndexMap<String, Value>;

/// The value generated per request that `v` stands for: an object that is
/// exactly `{"timestamp": F}` or `{"random": F}` with F a string.
pub fn generated_in(v: &Value) -> Option<Generated> {
    let o = v.as_object()?;
    if o.len() != 1 || !o.values().all(Value::is_string) {
        return None;
    }
    serde_json::from_value(v.clone()).ok()
}

/// Where a value goes: the query string, a header, or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    Params,
    Headers,
    Body,
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

impl Generated {
    /// The value's format is one this component generates; the error says why not.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Generated::Timestamp(f) if f == "ms" || f == "s" => Ok(()),
            Generated::Timestamp(f) => {
                use chrono::format::{Item, StrftimeItems};
                if StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
                    Err(format!("`{f}` is not `ms`, `s` or a valid strftime format"))
                } else {
                    Ok(())
                }
            }
            Generated::Random(f) if f == "hex32" || f == "uuid" => Ok(()),
            Generated::Random(f) => match f.strip_prefix("digits:").map(str::parse::<u32>) {
                Some(Ok(n)) if (1..=64).contains(&n) => Ok(()),
                _ => Err(format!(
                    "`{f}` is not `hex32`, `uuid` or `digits:N` (N from 1 to 64)"
                )),
            },
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_formats_are_checked() {
        assert!(Generated::Random("digits:0".into()).check().is_err());
        assert!(Generated::Timestamp("%Y%Q".into()).check().is_err());
    }
}
