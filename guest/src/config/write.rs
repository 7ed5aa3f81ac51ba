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
    PATCH,
    /// Sends no body: the record only fills the path template
    /// (`/contacts/{id}/`); `mode: single` only.
    DELETE,
}

impl WriteMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMethod::POST => "POST",
            WriteMethod::PUT => "PUT",
            WriteMethod::PATCH => "PATCH",
            WriteMethod::DELETE => "DELETE",
        }
    }

    /// `POST`, `PUT`, `PATCH` or `DELETE`, in any case.
    pub fn parse(text: &str) -> Option<WriteMethod> {
        match text.to_ascii_uppercase().as_str() {
            "POST" => Some(WriteMethod::POST),
            "PUT" => Some(WriteMethod::PUT),
            "PATCH" => Some(WriteMethod::PATCH),
            "DELETE" => Some(WriteMethod::DELETE),
            _ => None,
        }
    }
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
    /// A record field whose value (`POST`, `PUT`, `PATCH` or `DELETE`, any
    /// case) picks the method for that record; it is not sent. Missing or
    /// null: `method`. `mode: single` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_field: Option<String>,
    /// Appended to `source.url`. May be a template filled from each record
    /// (`/contacts/{id}/`: the record's `id`, percent-encoded; `{{` and `}}`
    /// are literal braces); a record without the field is rejected. A
    /// template needs `mode: single`.
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
    /// Fields (named as sent, after `fields`) whose values are JSON text,
    /// sent as the JSON they hold (`"[\"a\"]"` → `["a"]`); text that is not
    /// JSON rejects the record. `fields[].type: json` does the same per field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_fields: Vec<String>,
    /// Rebuild nested objects from flat keys split at `separator`
    /// (`address.city` → `{"address": {"city": …}}`), after `fields` and
    /// `json_fields`. A key that is also the start of another key (`a` and
    /// `a.b`), or that has an empty part, rejects the record.
    #[serde(default)]
    pub nest: bool,
    /// Where `nest` splits keys; the read side's `flatten.separator` default.
    #[serde(default = "default_separator")]
    #[schemars(length(min = 1))]
    pub separator: String,
    /// When a batch is refused with 400 or 422, split it in halves and send
    /// each again (every half with its own `Idempotency-Key`) until the
    /// refused records are found alone: only they are rejected, with the
    /// server's answer; the rest are stored. At most 2·⌈log2 n⌉ more
    /// requests per refused record in a batch of n. `mode: batch` only.
    #[serde(default)]
    pub bisect: bool,
    /// A custom signature added to every write request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

fn default_separator() -> String {
    ".".into()
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
    /// On the write side, `json` means the value is JSON text, sent as
    /// the JSON it holds.
    #[serde(rename = "type", default)]
    pub kind: FieldType,
}
