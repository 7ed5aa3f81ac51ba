//! The config's input side: `read`, its loop (`paginate`), record
//! extraction, flattening, typed fields and incremental reads (README
//! "`read`", "Pagination", "Checkpoints and continuous reads").

use super::parsed::{HttpUrl, JsonPath, NextLink, Parsed};
use super::signature::Signature;
use super::values::{Scalar, Values};
use crate::stop::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    pub records: JsonPath,
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
    /// Every warning is an error (exit status 7), like `apiconn read --strict`:
    /// a records path missing from a response, a pagination that ended while
    /// the response says more, skipped dirty records, dropped array fields.
    #[serde(default)]
    pub strict: bool,
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

/// A stop condition (README "Pagination": `LEFT OP RIGHT`).
pub type Stop = Parsed<Condition>;

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
        stop: Vec<Stop>,
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
        stop: Vec<Stop>,
    },
    /// The next request carries the cursor read from this response; ends
    /// when it is missing, null or `""`.
    Cursor {
        param: String,
        #[serde(rename = "in", default)]
        location: Location,
        /// JSON path of the next cursor in the response.
        from: JsonPath,
        /// The first cursor; absent: the param is left out of the first request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<Scalar>,
        #[serde(default)]
        stop: Vec<Stop>,
    },
    /// Follows next URLs: `from: "header"` (RFC 8288 `Link: <…>; rel="next"`)
    /// or a JSON path that holds the next URL.
    Link {
        from: Parsed<NextLink>,
        #[serde(default)]
        stop: Vec<Stop>,
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
    pub url: Parsed<HttpUrl>,
    #[serde(default)]
    pub method: ReadMethod,
    #[serde(default)]
    pub params: Values,
    #[serde(default)]
    pub headers: Values,
    /// JSON path of the array of values in the response.
    #[serde(default)]
    pub extract: JsonPath,
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
