//! The checkpoint (README "Checkpoints and continuous reads"): where a read
//! stands, as the opaque text of the WIT contract. It names the next
//! request, so a reader opened with it continues there; each part of the
//! reader keeps its own piece of it, and this module owns the format —
//! down to a loop's [`Position`].

use crate::error::Error;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a read stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Every request has been answered.
    pub done: bool,
    /// The traverse values, once known ([`super::router`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
    /// The traverse value the next request is for.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub index: usize,
    /// Where the inner loop stands; absent: at its start ([`super::paginator`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// Requests made so far in the current loop (the `requests` of stop conditions).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub loop_requests: u64,
    /// `read.incremental`: the value this pass asks from, and the greatest
    /// seen ([`super::cursor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_max: Option<Value>,
    /// `incremental.primary_key`: the keys of the records at `since`
    /// emitted in earlier passes, and of those at `seen_max` in this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub since_keys: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub max_keys: Vec<Value>,
    /// `incremental.window`: the window being read, `[start, end]`, and
    /// where the pass's range ends ([`super::cursor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<(Value, Value)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<Value>,
    /// This window is the only one of the partition (a partition of
    /// `admin.partitions`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_window: bool,
    /// A child stream: its parent's checkpoint after the parent batch that
    /// `values` (the parent records still to read) came from ([`super::router`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Box<Checkpoint>>,
}

/// Where a loop stands: the value its next request carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// The first request, with no loop value (single request, cursor
    /// without `start`, link).
    Start,
    /// A page number or an offset.
    Number(i64),
    Cursor(Value),
    /// A next URL, used as it is.
    Url(String),
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

impl Checkpoint {
    /// The checkpoint a reader is opened with; none: the read's start.
    pub fn parse(text: Option<&str>) -> Result<Checkpoint, Error> {
        match text {
            None => Ok(Checkpoint::default()),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                Error::config("state", format!("not a checkpoint of this connector: {e}"))
            }),
        }
    }

    /// The opaque text a batch carries.
    pub fn text(&self) -> String {
        serde_json::to_string(self).expect("checkpoint is JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_text_names_only_what_is_not_at_its_start() {
        assert_eq!(Checkpoint::default().text(), r#"{"done":false}"#);
        let c = Checkpoint {
            values: Some(vec![json!("hz")]),
            index: 1,
            position: Some(Position::Cursor(json!("c2"))),
            loop_requests: 2,
            ..Checkpoint::default()
        };
        let text = c.text();
        assert_eq!(
            text,
            r#"{"done":false,"values":["hz"],"index":1,"position":{"cursor":"c2"},"loop_requests":2}"#
        );
        assert_eq!(Checkpoint::parse(Some(&text)).unwrap(), c);
        assert_eq!(Checkpoint::parse(None).unwrap(), Checkpoint::default());
    }

    #[test]
    fn another_connector_s_state_is_a_config_error() {
        let err = Checkpoint::parse(Some(r#"{"done":false,"page":3}"#)).unwrap_err();
        assert!(
            matches!(&err, Error::Config(ps) if ps[0].path == "state"
                && ps[0].message.starts_with("not a checkpoint of this connector: unknown field `page`")),
            "{err}"
        );
    }
}
