//! Records out of a response, and flat records out of nested ones.

use crate::config::ArrayPolicy;
use crate::jsonpath::{self, Segment};
use serde_json::{Map, Value};

/// The records at `path`: an array gives one record per element, an object
/// one record, missing or null none.
pub fn extract<'v>(doc: &'v Value, path: &[Segment]) -> Vec<&'v Value> {
    match jsonpath::get(doc, path) {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    }
}

/// Why a record cannot be flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlattenError {
    /// The record itself is not an object.
    NotAnObject(&'static str),
    /// A field holds an array under `arrays: error`.
    Array(String),
    /// Two fields flatten to the same key.
    Collision(String),
}

impl std::fmt::Display for FlattenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlattenError::NotAnObject(kind) => write!(f, "the record is {kind}, not an object"),
            FlattenError::Array(field) => write!(
                f,
                "field `{field}` is an array (set read.flatten.arrays to \"json\" or \"drop\" to accept it)"
            ),
            FlattenError::Collision(field) => {
                write!(f, "two fields flatten to the same key `{field}`")
            }
        }
    }
}

/// A flat record: nested objects become keys joined by `separator`
/// (`user.hobbies.sports`); an empty object becomes `null`. Returns the
/// record and how many array fields were dropped.
pub fn flatten(
    record: &Value,
    separator: &str,
    arrays: ArrayPolicy,
) -> Result<(Map<String, Value>, u32), FlattenError> {
    let Value::Object(fields) = record else {
        return Err(FlattenError::NotAnObject(match record {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        }));
    };
    let mut out = Map::new();
    let mut dropped = 0;
    let mut key = String::new();
    walk(fields, separator, arrays, &mut key, &mut out, &mut dropped)?;
    Ok((out, dropped))
}

fn walk(
    fields: &Map<String, Value>,
    separator: &str,
    arrays: ArrayPolicy,
    key: &mut String,
    out: &mut Map<String, Value>,
    dropped: &mut u32,
) -> Result<(), FlattenError> {
    let prefix_len = key.len();
    for (name, value) in fields {
        key.truncate(prefix_len);
        if prefix_len > 0 {
            key.push_str(separator);
        }
        key.push_str(name);
        let leaf = match value {
            Value::Object(inner) if !inner.is_empty() => {
                walk(inner, separator, arrays, key, out, dropped)?;
                continue;
            }
            Value::Object(_) => Value::Null,
            Value::Array(_) => match arrays {
                ArrayPolicy::Error => return Err(FlattenError::Array(key.clone())),
                ArrayPolicy::Drop => {
                    *dropped += 1;
                    continue;
                }
                ArrayPolicy::Json => Value::String(value.to_string()),
            },
            scalar => scalar.clone(),
        };
        if out.insert(key.clone(), leaf).is_some() {
            return Err(FlattenError::Collision(key.clone()));
        }
    }
    key.truncate(prefix_len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_arrays_objects_and_nothing() {
        let doc = json!({"data": {"list": [1, 2], "one": {"a": 1}, "none": null}});
        let p = |s| jsonpath::parse(s).unwrap();
        assert_eq!(extract(&doc, &p("data.list")).len(), 2);
        assert_eq!(extract(&doc, &p("data.one")), vec![&json!({"a": 1})]);
        assert!(extract(&doc, &p("data.none")).is_empty());
        assert!(extract(&doc, &p("data.missing")).is_empty());
        assert_eq!(extract(&doc, &p("")), vec![&doc]);
    }

    #[test]
    fn nested_objects_become_dotted_keys_in_order() {
        let rec = json!({"id": 1, "user": {"name": "a", "hobbies": {"sports": "ski"}, "x": {}}, "ok": true});
        let (flat, dropped) = flatten(&rec, ".", ArrayPolicy::Error).unwrap();
        assert_eq!(
            Value::Object(flat).to_string(),
            r#"{"id":1,"user.name":"a","user.hobbies.sports":"ski","user.x":null,"ok":true}"#
        );
        assert_eq!(dropped, 0);
        let (flat, _) = flatten(&rec, "_", ArrayPolicy::Error).unwrap();
        assert!(flat.contains_key("user_hobbies_sports"));
    }

    #[test]
    fn arrays_follow_the_policy() {
        let rec = json!({"id": 1, "user": {"tags": ["a", "b"]}});
        assert_eq!(
            flatten(&rec, ".", ArrayPolicy::Error).unwrap_err(),
            FlattenError::Array("user.tags".into())
        );
        let (flat, _) = flatten(&rec, ".", ArrayPolicy::Json).unwrap();
        assert_eq!(flat["user.tags"], json!(r#"["a","b"]"#));
        let (flat, dropped) = flatten(&rec, ".", ArrayPolicy::Drop).unwrap();
        assert_eq!(Value::Object(flat), json!({"id": 1}));
        assert_eq!(dropped, 1);
    }

    #[test]
    fn collisions_and_non_objects_are_errors() {
        let rec = json!({"a.b": 1, "a": {"b": 2}});
        assert_eq!(
            flatten(&rec, ".", ArrayPolicy::Error).unwrap_err(),
            FlattenError::Collision("a.b".into())
        );
        assert_eq!(
            flatten(&json!(3), ".", ArrayPolicy::Error).unwrap_err(),
            FlattenError::NotAnObject("a number")
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Nested objects of scalars with keys that cannot collide once joined.
    fn record() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z ]{0,8}".prop_map(Value::from),
        ];
        let tree = leaf.prop_recursive(4, 32, 5, |inner| {
            prop::collection::btree_map("[a-z]{1,4}", inner, 1..5)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        });
        prop::collection::btree_map("[a-z]{1,4}", tree, 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    /// Every scalar leaf with its path.
    fn leaves(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, inner) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}/{k}")
                    };
                    leaves(inner, &p, out);
                }
            }
            // An empty nested object is `null`; an empty record has no fields.
            Value::Object(_) if path.is_empty() => {}
            Value::Object(_) => out.push((path.to_string(), Value::Null)),
            other => out.push((path.to_string(), other.clone())),
        }
    }

    proptest! {
        #[test]
        fn every_scalar_leaf_appears_once_under_its_path(rec in record()) {
            let (flat, dropped) = flatten(&rec, "/", ArrayPolicy::Error).unwrap();
            prop_assert_eq!(dropped, 0);
            let mut expected = Vec::new();
            leaves(&rec, "", &mut expected);
            let got: Vec<(String, Value)> = flat.into_iter().collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn flattening_is_stable(rec in record()) {
            let (once, _) = flatten(&rec, ".", ArrayPolicy::Json).unwrap();
            let (twice, _) = flatten(&Value::Object(once.clone()), ".", ArrayPolicy::Json).unwrap();
            prop_assert_eq!(once, twice);
        }
    }
}
