//! Nested write bodies from flat records (`write.nest`): the inverse of
//! the read side's flattening, with one rule for conflicts.
//!
//! The rule: a key split at the separator must have no empty part, and no
//! key may also be the start of another key of the same record (`a` and
//! `a.b`, whatever `a` holds, `null` included) — the record is rejected,
//! never half-merged or silently overwritten.

use crate::jsonpath::{self, Segment};
use serde_json::{Map, Value};

/// The record with its keys split at `separator` into nested objects, keys
/// in the order they first appear; or why it cannot be nested.
pub fn nest(record: Map<String, Value>, separator: &str) -> Result<Map<String, Value>, String> {
    if !record.keys().any(|k| k.contains(separator)) {
        return Ok(record);
    }
    for key in record.keys() {
        if key.split(separator).any(str::is_empty) {
            return Err(format!(
                "field `{key}` has an empty part between `{separator}` separators (write.nest)"
            ));
        }
        let prefix = format!("{key}{separator}");
        if let Some(deeper) = record.keys().find(|k| k.starts_with(&prefix)) {
            return Err(format!(
                "fields `{key}` and `{deeper}` conflict: `{key}` would be both a value and an object (write.nest)"
            ));
        }
    }
    let mut doc = Value::Object(Map::new());
    for (key, value) in record {
        let path: Vec<Segment> = key
            .split(separator)
            .map(|s| Segment::Key(s.to_string()))
            .collect();
        jsonpath::put(&mut doc, &path, value);
    }
    match doc {
        Value::Object(map) => Ok(map),
        _ => unreachable!("built from an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn flat_keys_become_nested_objects_in_order() {
        let got = nest(
            map(json!({"id": 1, "address.street": "1 Main", "name": "x", "address.geo.lat": 1.5, "address.city": "Rome", "tags": ["a"]})),
            ".",
        )
        .unwrap();
        assert_eq!(
            Value::Object(got).to_string(),
            r#"{"id":1,"address":{"street":"1 Main","geo":{"lat":1.5},"city":"Rome"},"name":"x","tags":["a"]}"#
        );
        let other = nest(map(json!({"a__b": 1, "a.c": 2})), "__").unwrap();
        assert_eq!(Value::Object(other), json!({"a": {"b": 1}, "a.c": 2}));
        let flat = map(json!({"x": 1}));
        assert_eq!(nest(flat.clone(), ".").unwrap(), flat);
    }

    #[test]
    fn a_key_that_starts_another_key_rejects_the_record() {
        for r in [
            json!({"a": 1, "a.b": 2}),
            json!({"a.b": 2, "a": null}),
            json!({"a.b": 1, "a.b.c": 2}),
        ] {
            let e = nest(map(r.clone()), ".").unwrap_err();
            assert!(e.starts_with("fields `a"), "{r}: {e}");
            assert!(e.contains("would be both a value and an object"), "{e}");
        }
        assert_eq!(
            nest(map(json!({"a": 1, "a.b": 2})), ".").unwrap_err(),
            "fields `a` and `a.b` conflict: `a` would be both a value and an object (write.nest)"
        );
        // `ab` is not under `a`.
        assert!(nest(map(json!({"a": 1, "ab.c": 2})), ".").is_ok());
        for bad in ["a..b", ".a", "a."] {
            let e = nest(Map::from_iter([(bad.to_string(), json!(1))]), ".").unwrap_err();
            assert_eq!(
                e,
                format!("field `{bad}` has an empty part between `.` separators (write.nest)")
            );
        }
    }
}
