//! The incremental cursor (`read.incremental`, README "Checkpoints and
//! continuous reads"): the value a pass asks from, sent as a request value,
//! and the greatest value seen, which the next pass asks from. Records not
//! greater than the value asked from are skipped.

use crate::config::{Incremental, Location};
use crate::read::checkpoint::Checkpoint;
use crate::request;
use serde_json::{Map, Value};

pub struct Cursor {
    /// What the cursor follows; none: the read is not incremental, and the
    /// cursor only keeps what its checkpoint said.
    follow: Option<Follow>,
    /// The value this pass asks from.
    since: Option<Value>,
    /// The greatest value seen, in this pass or before.
    seen_max: Option<Value>,
}

/// The request value that carries the cursor, and the record field it follows.
struct Follow {
    param: String,
    location: Location,
    from_field: String,
}

impl Cursor {
    /// The cursor of the pass that `saved` is in; a finished pass's
    /// successor asks from the greatest value seen, a first pass from `start`.
    pub fn open(incremental: Option<&Incremental>, saved: &Checkpoint) -> Cursor {
        let Some(incremental) = incremental else {
            return Cursor {
                follow: None,
                since: saved.since.clone(),
                seen_max: saved.seen_max.clone(),
            };
        };
        let since = if saved.done {
            saved.seen_max.clone().or(saved.since.clone())
        } else if saved.since.is_none() && saved.seen_max.is_none() {
            incremental.start.as_ref().map(|s| s.0.clone())
        } else {
            saved.since.clone()
        };
        Cursor {
            follow: Some(Follow {
                param: incremental.param.clone(),
                location: incremental.location,
                from_field: incremental.from_field.clone(),
            }),
            since,
            seen_max: saved.seen_max.clone(),
        }
    }

    /// The read is incremental: each record goes by [`Cursor::admit`].
    pub fn follows(&self) -> bool {
        self.follow.is_some()
    }

    /// The request value of this pass: name, place, value.
    pub fn request_value(&self) -> Option<(&str, Location, &Value)> {
        let follow = self.follow.as_ref()?;
        let since = self.since.as_ref()?;
        Some((&follow.param, follow.location, since))
    }

    /// Notes the record's value; whether the record is newer than the
    /// value this pass asks from.
    pub fn admit(&mut self, record: &Map<String, Value>) -> bool {
        let Some(follow) = &self.follow else {
            return true;
        };
        let value = record.get(&follow.from_field).unwrap_or(&Value::Null);
        if !value.is_null() && self.seen_max.as_ref().is_none_or(|max| greater(value, max)) {
            self.seen_max = Some(value.clone());
        }
        self.since
            .as_ref()
            .is_none_or(|since| greater(value, since))
    }

    /// This cursor's piece of the checkpoint.
    pub fn save(&self, checkpoint: &mut Checkpoint) {
        checkpoint.since.clone_from(&self.since);
        checkpoint.seen_max.clone_from(&self.seen_max);
    }

    /// The value a partition of this pass asks from.
    pub fn since(&self) -> Option<&Value> {
        self.since.as_ref()
    }
}

/// `a > b`: as numbers when both are numeric, otherwise as text.
fn greater(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x > y,
        _ => request::text(a) > request::text(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incremental(start: Option<Value>) -> Incremental {
        serde_json::from_value(json!({"param": "since", "from_field": "id", "start": start}))
            .unwrap()
    }

    fn record(id: Value) -> Map<String, Value> {
        json!({ "id": id }).as_object().unwrap().clone()
    }

    #[test]
    fn a_pass_asks_from_start_then_from_the_greatest_value_seen() {
        let first = Cursor::open(Some(&incremental(Some(json!(3)))), &Checkpoint::default());
        assert_eq!(
            first.request_value(),
            Some(("since", Location::Params, &json!(3)))
        );
        let done = Checkpoint {
            done: true,
            since: Some(json!(3)),
            seen_max: Some(json!(9)),
            ..Checkpoint::default()
        };
        let next = Cursor::open(Some(&incremental(Some(json!(3)))), &done);
        assert_eq!(next.since(), Some(&json!(9)));
    }

    #[test]
    fn records_not_greater_than_the_value_asked_from_are_skipped() {
        let mut c = Cursor::open(Some(&incremental(Some(json!(5)))), &Checkpoint::default());
        assert!(!c.admit(&record(json!(5))));
        assert!(
            c.admit(&record(json!("10"))),
            "numeric strings compare as numbers"
        );
        assert!(!c.admit(&record(Value::Null)));
        let mut saved = Checkpoint::default();
        c.save(&mut saved);
        assert_eq!(
            (saved.since, saved.seen_max),
            (Some(json!(5)), Some(json!("10")))
        );
    }

    #[test]
    fn without_incremental_the_cursor_keeps_what_the_checkpoint_said() {
        let saved = Checkpoint {
            since: Some(json!(1)),
            ..Checkpoint::default()
        };
        let mut c = Cursor::open(None, &saved);
        assert!(!c.follows());
        assert_eq!(c.request_value(), None);
        assert!(c.admit(&record(json!(0))));
        let mut out = Checkpoint::default();
        c.save(&mut out);
        assert_eq!(out, saved);
    }
}
