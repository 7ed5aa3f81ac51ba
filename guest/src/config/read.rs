//! The config's input side: `read`, its loop (`paginate`), record
//! extraction, flattening, typed fields and incremental reads (README
//! "`read`", "Pagination", "Checkpoints and continuous reads").

use super::parsed::{HttpUrl, JsonPath, Parsed, ValueAt};
use super::signature::Signature;
use super::values::{Body, Scalar, Values};
use crate::stop::Condition;
use indexmap::IndexMap;
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
    /// The request body (`POST` only): any JSON — objects, arrays, nesting
    /// (an Elasticsearch `query` and `sort`, a GraphQL `query` and
    /// `variables`). A top-level key may be a dotted path (`a.b.c`) that
    /// builds nested objects; an object that is exactly `{"timestamp": F}`
    /// or `{"random": F}` (F a string), at any depth, is a value generated
    /// for each request. With `body_format: form`, values are scalars.
    #[serde(default)]
    pub body: Body,
    #[serde(default)]
    pub body_format: BodyFormat,
    /// JSON path to the records in each response (`data.result`, `$.items[0].rows`,
    /// `data[-1].rows` counting from the end, `data[*].attributes` taking a
    /// field of every item); empty: the whole response.
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
    /// In `streams` only: this stream is read once per record of another
    /// stream of the config, the parent (README "Parent and child streams").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Parent>,
    /// Every warning is an error (exit status 7), like `apiconn read --strict`:
    /// a records path missing from a response, a pagination that ended while
    /// the response says more, skipped dirty records, dropped array fields.
    #[serde(default)]
    pub strict: bool,
}

/// The parent of a child stream: each of its records is a partition of
/// the child. `path` placeholders `{NAME}` take the values of `fields`
/// (percent-encoded), and every field of `fields` is copied onto the
/// child's records.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Parent {
    /// The name of the parent stream in `streams`.
    pub stream: String,
    /// NAME → the parent record's (output) field whose value it takes
    /// (`customer_id: id`).
    #[schemars(length(min = 1))]
    pub fields: IndexMap<String, String>,
}

/// An incremental read: `param` carries the greatest `from_field` seen in
/// earlier passes (`start` before any), and records not greater than it are
/// skipped, so a later run or poll emits only newer records. With
/// `primary_key` records equal to it are read too (`>=`) and the ones
/// already emitted are skipped by their key.
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
    /// Flattened field(s) that identify a record: the read compares with
    /// `>=` and skips the records at the boundary value it already emitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<Keys>,
    /// Ask from this much before the value reached (`P1D`, `PT6H`, `1d`,
    /// `6h`, `30m`, `90s`; a number for numeric cursors). Records of the
    /// lookback are read and emitted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback: Option<Scalar>,
    /// The last value to read: records greater are skipped. With `window`
    /// and no `end`: the time the pass starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Scalar>,
    /// The request value that carries the end of the range (or of each window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_param: Option<String>,
    /// Slice the range into windows of this length (`P1D`, `PT1H`, `1d`,
    /// `12h`; a number for numeric cursors); each window is a partition
    /// and a checkpoint: `param` = its start, `end_param` = its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Scalar>,
    /// How computed dates are written in requests: `rfc3339`
    /// (`2024-01-02T00:00:00Z`), `date` (`2024-01-02`), `epoch` (seconds),
    /// `epoch_ms` or a strftime format; default: like `start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// One field name or several.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Keys {
    One(String),
    Several(Vec<String>),
}

impl Keys {
    pub fn names(&self) -> Vec<&str> {
        match self {
            Keys::One(k) => vec![k.as_str()],
            Keys::Several(ks) => ks.iter().map(String::as_str).collect(),
        }
    }
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
    /// Offsets: `start`, `start + step`, …
    Offset {
        param: String,
        #[serde(rename = "in", default)]
        location: Location,
        #[serde(default)]
        start: i64,
        /// The page size; absent: the value of the page-size request value
        /// (`limit_param`) in `read.params` (or `read.body` with `in: body`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1))]
        step: Option<i64>,
        /// The request value that holds the page size; absent: the one of
        /// `limit`, `_limit`, `page_size`, `pageSize`, `per_page`, `size`
        /// that the config sets (an error if none or several).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_param: Option<String>,
        #[serde(default)]
        stop: Vec<Stop>,
    },
    /// The next request carries the cursor read from this response; ends
    /// when it is missing, null or `""`.
    Cursor {
        param: String,
        #[serde(rename = "in", default)]
        location: Location,
        /// Where the next cursor is: a JSON path in the response
        /// (`meta.next_cursor`, `data[-1].id` for the last record's id,
        /// `hits.hits[-1].sort`), or `header:NAME` for a response header.
        from: Parsed<ValueAt>,
        /// The value at `from` is a next-page URL (absolute or relative);
        /// the cursor is its query parameter of this name. The request
        /// keeps the configured URL and values and sets only `param`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_param: Option<String>,
        /// The first cursor; absent: the param is left out of the first request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<Scalar>,
        #[serde(default)]
        stop: Vec<Stop>,
    },
    /// Follows next URLs: `from: "header"` (RFC 8288 `Link: <…>; rel="next"`),
    /// `header:NAME` (a response header holding the URL) or a JSON path that
    /// holds the next URL (relative URLs resolve against the request's).
    Link {
        from: Parsed<ValueAt>,
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
    /// JSON path of the array of values in the response (`ids`,
    /// `results[*].name` to pick a field out of a list of objects).
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
