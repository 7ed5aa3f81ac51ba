//! Typed output fields (`read.fields`, `write.fields`): pick, rename, convert.

use crate::config::FieldType;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};

/// Converts one value to `kind`; `null` stays `null`. The error says why.
/// `text` is a JSON array or object.
fn is_json_text(text: &str) -> bool {
    let t = text.trim_start();
    (t.starts_with('[') || t.starts_with('{')) && serde_json::from_str::<Value>(text).is_ok()
}

pub fn convert(value: &Value, kind: FieldType) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let fail = |what: &str| Err(format!("{value} is not {what}"));
    match kind {
        FieldType::String => Ok(Value::String(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        // An array or object already written as JSON text (`arrays: "json"`
        // flattens arrays that way) is kept as it is, not encoded twice.
        FieldType::Json => Ok(Value::String(match value {
            Value::String(s) if is_json_text(s) => s.clone(),
            other => other.to_string(),
        })),
        FieldType::Long => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
                _ => fail("a whole number"),
            },
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Value::from(i)),
                Err(_) => fail("a whole number"),
            },
            _ => fail("a whole number"),
        },
        FieldType::Double => match value {
            Value::Number(_) => Ok(value.clone()),
            Value::String(s) => match s.trim().parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => Ok(Value::Number(n)),
                None => fail("a number"),
            },
            _ => fail("a number"),
        },
        FieldType::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Value::Bool(false)),
            _ => fail("a boolean"),
        },
        FieldType::Date => match value {
            // Epoch milliseconds.
            Value::Number(n) => match n.as_i64().and_then(DateTime::<Utc>::from_timestamp_millis) {
                Some(t) => Ok(Value::String(
                    t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                )),
                None => fail("a date (epoch milliseconds)"),
            },
            Value::String(s) => normalize_date(s.trim()).map(Value::String).ok_or_else(|| {
                format!("{value} is not a date (RFC 3339, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)")
            }),
            _ => fail("a date"),
        },
    }
}

fn normalize_date(s: &str) -> Option<String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.format("%Y-%m-%d %H:%M:%S%.f").to_string());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// One output field: where its value comes from, its type, its name.
pub struct Spec<'a> {
    pub from: &'a str,
    pub kind: FieldType,
    pub to: &'a str,
}

/// The record with only `specs`, in their order, converted; a missing key is
/// `null`. The error names the field.
pub fn project(record: &Map<String, Value>, specs: &[Spec]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for spec in specs {
        let v = record.get(spec.from).unwrap_or(&Value::Null);
        let converted = convert(v, spec.kind).map_err(|e| format!("field `{}`: {e}", spec.from))?;
        out.insert(spec.to.to_string(), converted);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions() {
        use FieldType::*;
        assert_eq!(convert(&json!(12), String).unwrap(), json!("12"));
        assert_eq!(convert(&json!("12"), Long).unwrap(), json!(12));
        assert_eq!(convert(&json!(12.0), Long).unwrap(), json!(12));
        assert!(
            convert(&json!(12.5), Long)
                .unwrap_err()
                .contains("whole number")
        );
        assert!(convert(&json!("x"), Long).is_err());
        assert_eq!(convert(&json!("2.5"), Double).unwrap(), json!(2.5));
        assert_eq!(convert(&json!("TRUE"), Boolean).unwrap(), json!(true));
        assert!(convert(&json!("yes"), Boolean).is_err());
        assert_eq!(
            convert(&json!({"a": 1}), Json).unwrap(),
            json!(r#"{"a":1}"#)
        );
        // Already JSON text (an array under `arrays: "json"`): kept.
        assert_eq!(
            convert(&json!(r#"["a","b"]"#), Json).unwrap(),
            json!(r#"["a","b"]"#)
        );
        assert_eq!(convert(&json!("plain"), Json).unwrap(), json!(r#""plain""#));
        assert_eq!(
            convert(&json!("[not json"), Json).unwrap(),
            json!(r#""[not json""#)
        );
        assert_eq!(convert(&Value::Null, Long).unwrap(), Value::Null);
        assert_eq!(
            convert(&json!("2024-02-03"), Date).unwrap(),
            json!("2024-02-03")
        );
        assert_eq!(
            convert(&json!("2024-02-03T04:05:06+08:00"), Date).unwrap(),
            json!("2024-02-03T04:05:06+08:00")
        );
        assert_eq!(
            convert(&json!("2024-02-03 04:05:06"), Date).unwrap(),
            json!("2024-02-03 04:05:06")
        );
        assert_eq!(
            convert(&json!(0), Date).unwrap(),
            json!("1970-01-01T00:00:00Z")
        );
        assert!(convert(&json!("03/02/2024"), Date).is_err());
    }

    #[test]
    fn projection_keeps_order_renames_and_fills_nulls() {
        let rec: Map<_, _> = json!({"b": "2", "a": 1}).as_object().unwrap().clone();
        let specs = [
            Spec {
                from: "a",
                kind: FieldType::String,
                to: "first",
            },
            Spec {
                from: "b",
                kind: FieldType::Long,
                to: "b",
            },
            Spec {
                from: "c",
                kind: FieldType::Long,
                to: "c",
            },
        ];
        let out = project(&rec, &specs).unwrap();
        assert_eq!(
            Value::Object(out).to_string(),
            r#"{"first":"1","b":2,"c":null}"#
        );
        let bad = json!({"b": "x"}).as_object().unwrap().clone();
        assert_eq!(
            project(&bad, &specs).unwrap_err(),
            "field `b`: \"x\" is not a whole number"
        );
    }
}
