//! The incremental cursor (`read.incremental`, README "Incremental
//! reads"): the value a pass asks from, sent as a request value, and the
//! greatest value seen, which the next pass asks from.
//!
//! Records not greater than the value asked from are skipped — or, with a
//! `primary_key`, records equal to it are read (`>=`) and those already
//! emitted are skipped by their key, so records that share the boundary
//! value are neither lost nor repeated. A `lookback` asks from earlier and
//! emits that stretch again; an `end` skips greater records; a `window`
//! slices the pass's range into windows, each read in turn with its
//! start and end as request values, each a checkpoint.

use crate::config::{Incremental, Location};
use crate::dates::{self, Format};
use crate::read::checkpoint::Checkpoint;
use crate::request;
use serde_json::{Map, Value};
use std::cmp::Ordering;

pub struct Cursor {
    /// What the cursor follows; none: the read is not incremental, and the
    /// cursor only keeps what its checkpoint said.
    follow: Option<Follow>,
    /// The value this pass asks from (before `lookback`).
    since: Option<Value>,
    /// The keys of the records at `since` emitted before (`primary_key`).
    since_keys: Vec<Value>,
    /// The greatest value seen, in this pass or before, and the keys of
    /// the records at it.
    seen_max: Option<Value>,
    max_keys: Vec<Value>,
    /// `window`: the window being read, and where the range ends.
    window: Option<(Value, Value)>,
    range_end: Option<Value>,
    one_window: bool,
}

/// The request value that carries the cursor, and the record field it follows.
struct Follow {
    param: String,
    location: Location,
    from_field: String,
    keys: Option<Vec<String>>,
    /// Seconds (or units of a numeric cursor).
    lookback: Option<f64>,
    end: Option<Value>,
    end_param: Option<String>,
    window: Option<f64>,
    format: Option<Format>,
}

impl Cursor {
    /// The cursor of the pass that `saved` is in; a finished pass's
    /// successor asks from the greatest value seen (the end of its range
    /// with windows), a first pass from `start`.
    pub fn open(incremental: Option<&Incremental>, saved: &Checkpoint) -> Cursor {
        let mut cursor = Cursor {
            follow: None,
            since: saved.since.clone(),
            since_keys: saved.since_keys.clone(),
            seen_max: saved.seen_max.clone(),
            max_keys: saved.max_keys.clone(),
            window: saved.window.clone(),
            range_end: saved.range_end.clone(),
            one_window: saved.one_window,
        };
        let Some(inc) = incremental else {
            return cursor;
        };
        let follow = Follow {
            param: inc.param.clone(),
            location: inc.location,
            from_field: inc.from_field.clone(),
            keys: inc
                .primary_key
                .as_ref()
                .map(|k| k.names().into_iter().map(String::from).collect()),
            lookback: inc
                .lookback
                .as_ref()
                .and_then(|l| dates::duration(&l.0).ok()),
            end: inc.end.as_ref().map(|e| e.0.clone()),
            end_param: inc.end_param.clone(),
            window: inc.window.as_ref().and_then(|w| dates::duration(&w.0).ok()),
            format: inc
                .format
                .as_deref()
                .and_then(|f| Format::named(f).ok())
                .or_else(|| inc.start.as_ref().and_then(|s| Format::of(&s.0))),
        };
        if saved.done {
            // The next pass.
            if follow.window.is_some() && saved.range_end.is_some() {
                cursor.since = saved.range_end.clone();
                cursor.since_keys = vec![];
            } else if let Some(max) = &saved.seen_max {
                cursor.since = Some(max.clone());
                cursor.since_keys = saved.max_keys.clone();
            }
            cursor.window = None;
            cursor.range_end = None;
            cursor.one_window = false;
        } else if saved.since.is_none() && saved.seen_max.is_none() {
            cursor.since = inc.start.as_ref().map(|s| s.0.clone());
        }
        cursor.follow = Some(follow);
        cursor
    }

    /// The read is incremental: each record goes by [`Cursor::admit`].
    pub fn follows(&self) -> bool {
        self.follow.is_some()
    }

    /// The pass slices its range into windows.
    pub fn windows(&self) -> bool {
        self.follow.as_ref().is_some_and(|f| f.window.is_some())
    }

    /// The lowest value this pass reads: `since`, less the lookback.
    fn lower(&self) -> Option<Value> {
        let since = self.since.as_ref()?;
        let follow = self.follow.as_ref()?;
        match follow.lookback {
            Some(back) => {
                dates::shift(since, -back, follow.format.as_ref()).or(Some(since.clone()))
            }
            None => Some(since.clone()),
        }
    }

    /// Before the pass's first request (`now_ms`: the clock): with
    /// windows, fixes the range and the first window. Whether there is
    /// anything to read.
    pub fn begin(&mut self, now_ms: i64) -> bool {
        let Some(follow) = &self.follow else {
            return true;
        };
        let Some(step) = follow.window else {
            return true;
        };
        if self.window.is_some() {
            return true;
        }
        let Some(start) = self.lower() else {
            return false;
        };
        let end = match &follow.end {
            Some(e) => e.clone(),
            None => {
                let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
                match follow.format.as_ref().or(Format::of(&start).as_ref()) {
                    Some(f) => f.write(now),
                    None => return false,
                }
            }
        };
        self.range_end = Some(end);
        self.window = self.window_from(&start, step);
        self.window.is_some()
    }

    /// The window that starts at `start`; none: the range is read.
    fn window_from(&self, start: &Value, step: f64) -> Option<(Value, Value)> {
        let end = self.range_end.as_ref()?;
        if order(start, end) != Ordering::Less {
            return None;
        }
        let format = self.follow.as_ref().and_then(|f| f.format.as_ref());
        let next = dates::shift(start, step, format)?;
        let stop = if order(&next, end) == Ordering::Less {
            next
        } else {
            end.clone()
        };
        Some((start.clone(), stop))
    }

    /// The current window is read: on to the next one. Whether there is one.
    pub fn next_window(&mut self) -> bool {
        let (Some(step), Some((_, end))) = (
            self.follow.as_ref().and_then(|f| f.window),
            self.window.as_ref(),
        ) else {
            return false;
        };
        if self.one_window {
            return false;
        }
        let end = end.clone();
        match self.window_from(&end, step) {
            Some(w) => {
                self.window = Some(w);
                true
            }
            None => false,
        }
    }

    /// The request values of this pass (or window): name, place, value.
    pub fn request_values(&self) -> Vec<(&str, Location, Value)> {
        let Some(follow) = self.follow.as_ref() else {
            return vec![];
        };
        let mut out = Vec::new();
        let (from, to) = match &self.window {
            Some((s, e)) => (Some(s.clone()), Some(e.clone())),
            None => (self.lower(), follow.end.clone()),
        };
        if let Some(from) = from {
            out.push((follow.param.as_str(), follow.location, from));
        }
        if let (Some(name), Some(to)) = (&follow.end_param, to) {
            out.push((name.as_str(), follow.location, to));
        }
        out
    }

    /// Notes the record's value; whether the record is to be emitted.
    pub fn admit(&mut self, record: &Map<String, Value>) -> bool {
        let Some(follow) = &self.follow else {
            return true;
        };
        let value = record.get(&follow.from_field).unwrap_or(&Value::Null);
        if value.is_null() {
            return self.since.is_none();
        }
        if follow
            .end
            .as_ref()
            .is_some_and(|end| order(value, end) == Ordering::Greater)
        {
            return false;
        }
        let key = follow.keys.as_ref().map(|names| key_of(record, names));
        match self.seen_max.as_ref().map(|max| order(value, max)) {
            None | Some(Ordering::Greater) => {
                self.seen_max = Some(value.clone());
                self.max_keys = key.iter().cloned().collect();
            }
            Some(Ordering::Equal) => {
                if let Some(k) = &key
                    && !self.max_keys.contains(k)
                {
                    self.max_keys.push(k.clone());
                }
            }
            Some(Ordering::Less) => {}
        }
        let Some(lower) = self.lower() else {
            return true;
        };
        match order(value, &lower) {
            Ordering::Greater => true,
            Ordering::Less => false,
            // A lookback re-reads its stretch, the boundary too.
            Ordering::Equal if follow.lookback.is_some() => true,
            Ordering::Equal => key.is_some_and(|k| !self.since_keys.contains(&k)),
        }
    }

    /// This cursor's piece of the checkpoint.
    pub fn save(&self, checkpoint: &mut Checkpoint) {
        checkpoint.since.clone_from(&self.since);
        checkpoint.seen_max.clone_from(&self.seen_max);
        checkpoint.since_keys.clone_from(&self.since_keys);
        checkpoint.max_keys.clone_from(&self.max_keys);
        checkpoint.window.clone_from(&self.window);
        checkpoint.range_end.clone_from(&self.range_end);
        checkpoint.one_window = self.one_window;
    }

    /// The value a partition of this pass asks from.
    pub fn since(&self) -> Option<&Value> {
        self.since.as_ref()
    }

    /// The initial checkpoints of a windowed pass: one per window (after
    /// [`Cursor::begin`]).
    pub fn window_partitions(&self) -> Vec<Checkpoint> {
        let mut out = Vec::new();
        let mut probe = Cursor {
            follow: None,
            since: self.since.clone(),
            since_keys: self.since_keys.clone(),
            seen_max: None,
            max_keys: vec![],
            window: self.window.clone(),
            range_end: self.range_end.clone(),
            one_window: false,
        };
        let Some(step) = self.follow.as_ref().and_then(|f| f.window) else {
            return out;
        };
        probe.follow = self.follow.as_ref().map(|f| Follow {
            param: f.param.clone(),
            location: f.location,
            from_field: f.from_field.clone(),
            keys: f.keys.clone(),
            lookback: f.lookback,
            end: f.end.clone(),
            end_param: f.end_param.clone(),
            window: Some(step),
            format: f.format.clone(),
        });
        while probe.window.is_some() {
            let mut c = Checkpoint::default();
            probe.save(&mut c);
            c.one_window = true;
            out.push(c);
            if !probe.next_window() {
                break;
            }
        }
        out
    }
}

/// The key of a record: the value of its one key field, or the values of
/// several as an array.
fn key_of(record: &Map<String, Value>, names: &[String]) -> Value {
    let get = |n: &String| record.get(n).cloned().unwrap_or(Value::Null);
    match names {
        [one] => get(one),
        many => Value::Array(many.iter().map(get).collect()),
    }
}

/// How two cursor values compare: as numbers when both are numeric, as
/// instants when both are dates, otherwise as text.
pub fn order(a: &Value, b: &Value) -> Ordering {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    }
    if let (Some(x), Some(y)) = (dates::instant(a), dates::instant(b)) {
        return x.cmp(&y);
    }
    request::text(a).cmp(&request::text(b))
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
            first.request_values(),
            [("since", Location::Params, json!(3))]
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
        assert!(c.request_values().is_empty());
        assert!(c.admit(&record(json!(0))));
        let mut out = Checkpoint::default();
        c.save(&mut out);
        assert_eq!(out, saved);
    }

    fn keyed(extra: Value) -> Incremental {
        let mut v = json!({"param": "since", "from_field": "at", "primary_key": "id"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    fn at(id: u64, at: &str) -> Map<String, Value> {
        json!({"id": id, "at": at}).as_object().unwrap().clone()
    }

    #[test]
    fn with_a_primary_key_the_boundary_is_read_and_de_duplicated() {
        let inc = keyed(json!({"start": "2024-01-01T00:00:00Z"}));
        let mut c = Cursor::open(Some(&inc), &Checkpoint::default());
        assert!(c.admit(&at(1, "2024-01-01T00:00:00Z")), ">= start");
        assert!(c.admit(&at(2, "2024-01-01T02:00:00Z")));
        assert!(
            c.admit(&at(3, "2024-01-01T02:00:00+00:00")),
            "the same instant"
        );
        let mut done = Checkpoint {
            done: true,
            ..Checkpoint::default()
        };
        c.save(&mut done);
        done.done = true;
        assert_eq!(done.max_keys, [json!(2), json!(3)]);
        let mut next = Cursor::open(Some(&inc), &done);
        assert_eq!(next.since(), Some(&json!("2024-01-01T02:00:00Z")));
        assert!(
            !next.admit(&at(2, "2024-01-01T02:00:00Z")),
            "emitted before"
        );
        assert!(
            next.admit(&at(4, "2024-01-01T02:00:00Z")),
            "new at the boundary"
        );
        assert!(!next.admit(&at(9, "2024-01-01T01:00:00Z")));
    }

    #[test]
    fn windows_cover_the_range_once_the_last_one_shorter() {
        let inc = keyed(json!({"start": "2024-01-01", "end": "2024-01-03T12:00:00Z",
                                "window": "P1D", "end_param": "until"}));
        let mut c = Cursor::open(Some(&inc), &Checkpoint::default());
        assert!(c.begin(0));
        let mut seen = vec![];
        loop {
            let v = c.request_values();
            seen.push((v[0].2.clone(), v[1].2.clone()));
            if !c.next_window() {
                break;
            }
        }
        assert_eq!(
            seen,
            [
                (json!("2024-01-01"), json!("2024-01-02")),
                (json!("2024-01-02"), json!("2024-01-03")),
                (json!("2024-01-03"), json!("2024-01-03T12:00:00Z")),
            ]
        );
        // A range already read: nothing to ask.
        let empty = keyed(json!({"start": "2024-01-05", "end": "2024-01-05", "window": "1d"}));
        assert!(!Cursor::open(Some(&empty), &Checkpoint::default()).begin(0));
    }
}
