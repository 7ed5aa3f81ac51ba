//! An independent flattening, to compute what the connector should print.

use serde_json::{Map, Value};

/// Nested objects joined with `.`; arrays as they are.
pub fn flatten(record: &Value) -> Value {
    fn walk(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, inner) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, inner, out);
                }
            }
            Value::Object(_) => {
                out.insert(prefix.to_string(), Value::Null);
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = Map::new();
    walk("", record, &mut out);
    Value::Object(out)
}

/// JSON equality where numbers compare by value (`1` and `1.0` are the
/// same number, as JavaScript and Python servers write them).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Compares records field by field, naming the first difference.
pub fn assert_same_records(got: &[Value], want: &[Value]) {
    assert_eq!(got.len(), want.len(), "record count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(same(g, w), "record {i} differs:\n  got  {g}\n  want {w}");
    }
}

/// The `id` of every NDJSON line.
pub fn ids(ndjson: &[u8]) -> Vec<i64> {
    String::from_utf8_lossy(ndjson)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))["id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}
