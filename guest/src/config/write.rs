//! The config's output side: `write` (README "`write` — the API output component").

use super::parsed::JsonPath;
use super::read::FieldType;
use super::signature::Signature;
use super::values::Values;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    pub write_path: JsonPath,
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
