//! Records out of a response, and flat records out of nested ones.

use crate::config::ArrayPolicy;
use crate::jsonpath::{self, Segment};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The records at `path`: an array gives one record per element, an object
/// one record, missing or null none.
pub fn extract<'v>(doc: &'v Value, path: &[Segment]) -> Vec<Cow<'v, Value>> {
    match jsonpath::get(doc, path) {
        None => vec![],
        Some(Cow::Borrowed(v)) => match v {
            Value::Null => vec![],
            Value::Array(items) => items.iter().map(Cow::Borrowed).collect(),
            one => vec![Cow::Borrowed(one)],
        },
        Some(Cow::Owned(v)) => match v {
            Value::Null => vec![],
            Value::Array(items) => items.into_iter().map(Cow::Owned).collect(),
            one => vec![Cow::Owned(one)],
        },
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

/// Flat records written straight as NDJSON: [`FlatOut::write`] gives the
/// same bytes as serializing [`flatten`]'s map, without building a `Value`
/// for the record or a map for its fields.
#[derive(Default)]
pub struct FlatOut {
    pub out: Vec<u8>,
    /// Where each key of the record being written is in `out`.
    keys: Vec<(usize, usize)>,
    /// The keys of the last record found free of duplicates: a record with
    /// the same keys in the same order needs no other check.
    checked: Vec<(usize, usize)>,
    sorted: Vec<(usize, usize)>,
    /// The key being built, kept for its buffer.
    key: String,
}

/// See [`FlatOut::record`].
pub struct RecordSeed<'s> {
    flat: &'s mut FlatOut,
    separator: &'s str,
    arrays: ArrayPolicy,
}

impl<'de> serde::de::DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = u32;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        use serde::de::Error;
        let FlatOut { out, keys, key, .. } = &mut *self.flat;
        keys.clear();
        key.clear();
        let mut flat = Flat {
            separator: escaped(self.separator),
            arrays: self.arrays,
            out,
            key,
            keys,
            dropped: 0,
        };
        serde::de::DeserializeSeed::deserialize(Record(&mut flat), d)?;
        let dropped = flat.dropped;
        if !self.flat.unique() {
            return Err(D::Error::custom("two keys of the record are the same"));
        }
        self.flat.out.push(b'\n');
        Ok(dropped)
    }
}

impl FlatOut {
    pub fn with_capacity(bytes: usize) -> FlatOut {
        FlatOut {
            out: Vec::with_capacity(bytes),
            ..FlatOut::default()
        }
    }

    /// Writes one record, given as JSON text, as one line. Returns the
    /// number of dropped arrays, or `None` (with `out` as it was) when the
    /// record needs [`flatten`]: it is not an object, two keys come out the
    /// same (a collision, or a key repeated in the JSON), an array meets
    /// `arrays: error`, or the text is not JSON.
    pub fn write(&mut self, raw: &str, separator: &str, arrays: ArrayPolicy) -> Option<u32> {
        use serde::de::DeserializeSeed;
        let start = self.out.len();
        let mut de = serde_json::Deserializer::from_str(raw);
        let written = self
            .record(separator, arrays)
            .deserialize(&mut de)
            .and_then(|dropped| de.end().map(|()| dropped));
        if written.is_err() {
            self.out.truncate(start);
        }
        written.ok()
    }

    /// The next record of a stream, written as one line: the value is the
    /// number of dropped arrays, and an error is where [`FlatOut::write`]
    /// gives `None` (what was written of the record is then left in `out`).
    pub fn record<'s>(&'s mut self, separator: &'s str, arrays: ArrayPolicy) -> RecordSeed<'s> {
        RecordSeed {
            flat: self,
            separator,
            arrays,
        }
    }

    /// No two keys of the record just written are the same.
    fn unique(&mut self) -> bool {
        let out = &self.out;
        let key = |&(a, b): &(usize, usize)| &out[a..b];
        let same_as_checked = self.keys.len() == self.checked.len()
            && self
                .keys
                .iter()
                .zip(&self.checked)
                .all(|(k, c)| key(k) == key(c));
        if same_as_checked {
            return true;
        }
        self.sorted.clone_from(&self.keys);
        self.sorted.sort_unstable_by(|x, y| key(x).cmp(key(y)));
        let unique = self.sorted.windows(2).all(|w| key(&w[0]) != key(&w[1]));
        if unique {
            self.checked.clone_from(&self.keys);
        }
        unique
    }
}

/// `text` as it is inside a JSON string.
fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        let quoted = serde_json::to_string(text).expect("a string is JSON");
        std::borrow::Cow::Owned(quoted[1..quoted.len() - 1].to_string())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The state of [`FlatOut::write`]: the key being built (escaped for JSON,
/// as escaping each part is escaping the whole) and where each written key
/// is in `out`.
struct Flat<'a> {
    separator: std::borrow::Cow<'a, str>,
    arrays: ArrayPolicy,
    out: &'a mut Vec<u8>,
    key: &'a mut String,
    keys: &'a mut Vec<(usize, usize)>,
    dropped: u32,
}

impl Flat<'_> {
    /// `"key":`, after a comma unless it is the record's first field.
    fn key(&mut self) {
        if !self.keys.is_empty() {
            self.out.push(b',');
        }
        self.out.push(b'"');
        let at = self.out.len();
        self.out.extend_from_slice(self.key.as_bytes());
        self.keys.push((at, self.out.len()));
        self.out.extend_from_slice(b"\":");
    }

    /// `"key":value`.
    fn entry(&mut self, value: &impl serde::Serialize) {
        self.key();
        serde_json::to_writer(&mut *self.out, value).expect("writing to a Vec");
    }
}

/// The record: `{`, its fields, `}`.
struct Record<'s, 'a>(&'s mut Flat<'a>);

impl<'de> serde::de::DeserializeSeed<'de> for Record<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Record<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.out.push(b'{');
        Fields(&mut *self.0).visit_map(map)?;
        self.0.out.push(b'}');
        Ok(())
    }
}

/// The fields of an object under the current key; the value is how many
/// were written or dropped.
struct Fields<'s, 'a>(&'s mut Flat<'a>);

impl<'de> serde::de::Visitor<'de> for Fields<'_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let prefix = self.0.key.len();
        let mut n = 0;
        while map.next_key_seed(Key(&mut *self.0, prefix))?.is_some() {
            map.next_value_seed(Field(&mut *self.0))?;
            n += 1;
        }
        self.0.key.truncate(prefix);
        Ok(n)
    }
}

/// A key: appended to the prefix, after the separator.
struct Key<'s, 'a>(&'s mut Flat<'a>, usize);

impl<'de> serde::de::DeserializeSeed<'de> for Key<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, name: &str) -> Result<(), E> {
        self.push(&escaped(name));
        Ok(())
    }
    /// A key the parser could borrow had no escapes, so needs none.
    fn visit_borrowed_str<E>(self, name: &'de str) -> Result<(), E> {
        self.push(name);
        Ok(())
    }
}

impl Key<'_, '_> {
    fn push(self, name: &str) {
        let flat = self.0;
        flat.key.truncate(self.1);
        if self.1 > 0 {
            flat.key.push_str(&flat.separator);
        }
        flat.key.push_str(name);
    }
}

/// A field's value: a leaf, or an object to walk.
struct Field<'s, 'a>(&'s mut Flat<'a>);

impl<'de> serde::de::DeserializeSeed<'de> for Field<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Field<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        if Fields(&mut *self.0).visit_map(map)? == 0 {
            self.0.entry(&());
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        use serde::de::Error;
        match self.0.arrays {
            ArrayPolicy::Error => Err(A::Error::custom("an array")),
            ArrayPolicy::Drop => {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                self.0.dropped += 1;
                Ok(())
            }
            ArrayPolicy::Json => {
                let items: Value = serde::Deserialize::deserialize(
                    serde::de::value::SeqAccessDeserializer::new(seq),
                )?;
                self.0.entry(&items.to_string());
                Ok(())
            }
        }
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.entry(&());
        Ok(())
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.entry(&v);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.entry(&v);
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.entry(&v);
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.entry(&v);
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.entry(&v);
        Ok(())
    }
    /// A string the parser could borrow had no escapes (and JSON strings
    /// hold no raw control characters), so it is written as it was.
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.0.key();
        self.0.out.push(b'"');
        self.0.out.extend_from_slice(v.as_bytes());
        self.0.out.push(b'"');
        Ok(())
    }
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
        assert_eq!(
            extract(&doc, &p("data.one")),
            vec![Cow::Owned::<Value>(json!({"a": 1}))]
        );
        assert!(extract(&doc, &p("data.none")).is_empty());
        assert!(extract(&doc, &p("data.missing")).is_empty());
        assert_eq!(extract(&doc, &p("")), vec![Cow::Borrowed(&doc)]);
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

    #[test]
    fn written_straight_declines_what_needs_the_map() {
        let mut flat = FlatOut::default();
        let mut w = |text: &str| flat.write(text, ".", ArrayPolicy::Error);
        assert_eq!(w(r#"{"a":{"b":1},"c":{}}"#), Some(0));
        // A key repeated in the JSON, a collision, an array, not an object, not JSON.
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"a.b":1,"a":{"b":2}}"#,
            r#"{"t":[1]}"#,
            "[1]",
            "3",
            r#"{"a":"#,
        ] {
            assert_eq!(w(text), None, "{text}");
        }
        // The same keys as a record found unique, in another order.
        assert_eq!(w(r#"{"c":{},"a":{"b":"\u00e9\"\/"}}"#), Some(0));
        assert_eq!(
            String::from_utf8(flat.out).unwrap(),
            "{\"a.b\":1,\"c\":null}\n{\"c\":null,\"a.b\":\"\u{e9}\\\"/\"}\n"
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

    /// Any JSON: keys that may hold the separator and collide, arrays,
    /// floats, escapes; and scalars where a record should be.
    fn wild_record() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e300f64..1e300).prop_map(Value::from),
            "[a-z\"\\\n\u{e9}\u{1F600} ]{0,8}".prop_map(Value::from),
        ];
        let tree = leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec(("[ab.]{0,3}", inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        });
        prop_oneof![
            4 => prop::collection::vec(("[ab.\"]{0,3}", tree), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            1 => any::<i64>().prop_map(Value::from),
        ]
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
        fn written_straight_is_the_map_serialized(
            recs in prop::collection::vec(wild_record(), 1..4),
            policy in 0..3u8,
            separator in prop_oneof![Just("."), Just("_"), Just("\"/")],
        ) {
            let arrays = [ArrayPolicy::Error, ArrayPolicy::Json, ArrayPolicy::Drop][policy as usize];
            let mut flat = FlatOut::default();
            let mut expected = String::new();
            for rec in recs {
                let text = rec.to_string();
                // Both paths see the record as parsed from its text (serde_json
                // does not round-trip every float exactly, but it parses alike).
                let rec: Value = serde_json::from_str(&text).unwrap();
                let before = flat.out.len();
                match (flatten(&rec, separator, arrays), flat.write(&text, separator, arrays)) {
                    (Ok((map, dropped)), Some(d)) => {
                        prop_assert_eq!(d, dropped);
                        expected.push_str(&format!("{}\n", Value::Object(map)));
                    }
                    // Declined: `flatten` decides, and nothing was written.
                    (_, None) => {
                        prop_assert_eq!(flat.out.len(), before);
                        // Never without a reason: a failure, or a separator in a key.
                        prop_assert!(flatten(&rec, separator, arrays).is_err() || text.contains(separator)
                            || text.contains("\\"));
                    }
                    (Err(e), Some(_)) => prop_assert!(false, "flatten failed ({e}) but write wrote"),
                }
            }
            prop_assert_eq!(String::from_utf8(flat.out).unwrap(), expected);
        }

        #[test]
        fn flattening_is_stable(rec in record()) {
            let (once, _) = flatten(&rec, ".", ArrayPolicy::Json).unwrap();
            let (twice, _) = flatten(&Value::Object(once.clone()), ".", ArrayPolicy::Json).unwrap();
            prop_assert_eq!(once, twice);
        }
    }
}
