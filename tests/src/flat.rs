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
