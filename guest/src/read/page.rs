//! One response body, parsed for reading in one pass: the document as a
//! `Value`, but the records at the records path kept as raw JSON text, so
//! that each is flattened straight to output ([`FlatOut`])
//! instead of being built as a `Value` first.
//!
//! The document then has `null` where the records were: a reader parses
//! this way only when nothing else (stop conditions, cursor and link
//! paths) looks at or below the records path.
//!
//! [`FlatOut`]: crate::flatten::FlatOut

use crate::config::ArrayPolicy;
use crate::error::{Error, truncate};
use crate::flatten::FlatOut;
use crate::jsonpath::Segment;
use crate::request::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A record of a page: raw text to flatten, or a value already built (a
/// single object or scalar at the records path).
#[derive(Debug)]
pub enum Record<'b> {
    Raw(&'b RawValue),
    Built(Value),
}

/// Parses `body`; the records at `path` come back apart, as
/// [`crate::flatten::extract`] would find them (an array: its items; an
/// object or scalar: itself; null or missing: none).
///
/// With `flat`, the items of an array of records are flattened into it as
/// the parse meets them, in the same pass, and do not come back; the parse
/// fails if one of them cannot be (parse again without `flat`: the record
/// then goes the general way and fails, or not, as it should).
pub fn parse<'b>(
    body: &'b [u8],
    path: &[Segment],
    flat: Option<&mut Flattening<'_>>,
) -> serde_json::Result<(Value, Vec<Record<'b>>)> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = At(path, flat).deserialize(&mut de)?;
    de.end()?;
    Ok(parsed)
}

/// Where [`parse`] flattens records to, and how.
pub struct Flattening<'f> {
    pub out: FlatOut,
    pub separator: &'f str,
    pub arrays: ArrayPolicy,
    /// Records written, and arrays dropped from them.
    pub count: u64,
    pub dropped: u32,
}

/// The value here, with `.0` the rest of the path to the records.
struct At<'p, 'f, 'g>(&'p [Segment], Option<&'f mut Flattening<'g>>);

type Parsed<'b> = (Value, Vec<Record<'b>>);

impl At<'_, '_, '_> {
    fn scalar<'b>(&self, v: Value) -> Parsed<'b> {
        if self.0.is_empty() {
            (Value::Null, vec![Record::Built(v)])
        } else {
            (v, vec![])
        }
    }
}

impl<'de> DeserializeSeed<'de> for At<'_, '_, '_> {
    type Value = Parsed<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Parsed<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_, '_, '_> {
    type Value = Parsed<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Parsed<'de>, A::Error> {
        match self.0.split_first() {
            None => {
                let one = Value::deserialize(MapAccessDeserializer::new(map))?;
                Ok((Value::Null, vec![Record::Built(one)]))
            }
            Some((Segment::Key(name), rest)) => {
                let mut doc = Map::new();
                let mut records = vec![];
                let mut seen = false;
                while let Some(key) = map.next_key::<String>()? {
                    let value = if key == *name {
                        // A repeated key: the last one's records count, so
                        // those flattened already must not.
                        if std::mem::replace(&mut seen, true) && self.1.is_some() {
                            return Err(serde::de::Error::custom(
                                "the key of the records is repeated",
                            ));
                        }
                        let (value, found) =
                            map.next_value_seed(At(rest, self.1.as_deref_mut()))?;
                        records = found;
                        value
                    } else {
                        map.next_value()?
                    };
                    doc.insert(key, value);
                }
                Ok((Value::Object(doc), records))
            }
            // The selector splits records only at a plain path (keys and indexes).
            Some((Segment::Index(_) | Segment::FromEnd(_) | Segment::All, _)) => {
                Ok((Value::deserialize(MapAccessDeserializer::new(map))?, vec![]))
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Parsed<'de>, A::Error> {
        match self.0.split_first() {
            None => match self.1 {
                Some(f) => {
                    while let Some(dropped) =
                        seq.next_element_seed(f.out.record(f.separator, f.arrays))?
                    {
                        f.count += 1;
                        f.dropped += dropped;
                    }
                    Ok((Value::Null, vec![]))
                }
                None => {
                    let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                    while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                        records.push(Record::Raw(raw));
                    }
                    Ok((Value::Null, records))
                }
            },
            Some((Segment::Index(n), rest)) => {
                let mut items = vec![];
                let mut records = vec![];
                loop {
                    let item = if items.len() == *n {
                        seq.next_element_seed(At(rest, self.1.as_deref_mut()))?.map(
                            |(value, found)| {
                                records = found;
                                value
                            },
                        )
                    } else {
                        seq.next_element()?
                    };
                    match item {
                        Some(value) => items.push(value),
                        None => break,
                    }
                }
                Ok((Value::Array(items), records))
            }
            Some((Segment::Key(_) | Segment::FromEnd(_) | Segment::All, _)) => {
                Ok((Value::deserialize(SeqAccessDeserializer::new(seq))?, vec![]))
            }
        }
    }

    fn visit_unit<E>(self) -> Result<Parsed<'de>, E> {
        Ok((Value::Null, vec![]))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Parsed<'de>, E> {
        Ok(self.scalar(Value::Bool(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Parsed<'de>, E> {
        Ok(self.scalar(Value::from(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Parsed<'de>, E> {
        Ok(self.scalar(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Parsed<'de>, E> {
        Ok(self.scalar(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Parsed<'de>, E> {
        Ok(self.scalar(Value::from(v)))
    }
}

/// Whether `a` is `b` or a path into it, or the other way round (`[-1]`
/// and `[*]` may be any index).
pub fn overlaps(a: &[Segment], b: &[Segment]) -> bool {
    a.iter().zip(b).all(|(x, y)| match (x, y) {
        (Segment::Key(x), Segment::Key(y)) => x == y,
        (Segment::Index(x), Segment::Index(y)) => x == y,
        (Segment::All, _) | (_, Segment::All) => true,
        (Segment::FromEnd(_), Segment::Key(_)) | (Segment::Key(_), Segment::FromEnd(_)) => false,
        (Segment::FromEnd(_), _) | (_, Segment::FromEnd(_)) => true,
        _ => false,
    })
}

/// The body of a response, as JSON.
pub fn parse_json(req: &HttpRequest, resp: &HttpResponse) -> Result<Value, Error> {
    serde_json::from_slice(&resp.body).map_err(|e| not_json(req, resp, e))
}

/// The error for a response whose body is not JSON.
pub fn not_json(req: &HttpRequest, resp: &HttpResponse, e: serde_json::Error) -> Error {
    Error::Response(format!(
        "{} answered {} with a body that is not JSON ({e}): {}",
        req.describe(),
        resp.status,
        truncate(&String::from_utf8_lossy(&resp.body), 200)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flatten::extract;
    use crate::jsonpath;
    use serde_json::json;

    /// What `parse` gives, as the full parse and `extract` would see it.
    fn both(doc: &Value, path: &str) -> (Value, Vec<Value>) {
        let path = jsonpath::parse(path).unwrap();
        let text = doc.to_string();
        let (rest, records) = parse(text.as_bytes(), &path, None).unwrap();
        let expected: Vec<Value> = extract(doc, &path)
            .into_iter()
            .map(std::borrow::Cow::into_owned)
            .collect();
        let got: Vec<Value> = records
            .iter()
            .map(|r| match r {
                Record::Raw(raw) => serde_json::from_str(raw.get()).unwrap(),
                Record::Built(v) => v.clone(),
            })
            .collect();
        assert_eq!(got, expected, "records at {path:?} of {doc}");
        (rest, got)
    }

    #[test]
    fn records_come_apart_as_extract_finds_them() {
        let doc = json!({"meta": {"total": 3}, "data": {"items": [{"a": 1}, {"b": [2]}], "one": {"x": 1},
                         "none": null, "n": 4}, "list": [[0], {"k": [{"z": 1}]}]});
        for path in [
            "data.items",
            "data.one",
            "data.none",
            "data.missing",
            "data.n",
            "meta.total.x",
            "list[1].k",
            "list[0]",
            "list[5]",
            "data.items[1].b",
            "list.x",
            "data[0]",
        ] {
            both(&doc, path);
        }
        let (rest, _) = both(&doc, "data.items");
        assert_eq!(rest["meta"], json!({"total": 3}));
        assert_eq!(rest["data"]["items"], Value::Null);
        assert_eq!(rest["data"]["one"], json!({"x": 1}));
        assert_eq!(both(&json!([{"a": 1}, 2]), "").1.len(), 2);
        assert_eq!(both(&json!("text"), "").1, vec![json!("text")]);
    }

    #[test]
    fn records_stay_raw_and_keys_stay_in_order() {
        let text = br#"{"z": 1, "data": [ {"b": 1, "a": 2} ], "a": true}"#;
        let path = jsonpath::parse("data").unwrap();
        let (rest, records) = parse(text, &path, None).unwrap();
        assert_eq!(rest.to_string(), r#"{"z":1,"data":null,"a":true}"#);
        assert!(matches!(&records[0], Record::Raw(r) if r.get() == r#"{"b": 1, "a": 2}"#));
        assert!(parse(br#"{"data": [1,}"#, &path, None).is_err());
        assert!(parse(br#"{"data": []} x"#, &path, None).is_err());
    }

    #[test]
    fn records_flattened_in_the_same_pass() {
        let path = jsonpath::parse("data").unwrap();
        let mut f = Flattening {
            out: FlatOut::default(),
            separator: ".",
            arrays: ArrayPolicy::Json,
            count: 0,
            dropped: 0,
        };
        let text = br#"{"data": [{"a": {"b": 1}}, {"t": [1, 2]}], "next": "c2"}"#;
        let (rest, records) = parse(text, &path, Some(&mut f)).unwrap();
        assert!(records.is_empty());
        assert_eq!(rest["next"], "c2");
        assert_eq!((f.count, f.dropped), (2, 0));
        assert_eq!(
            String::from_utf8(f.out.out.clone()).unwrap(),
            "{\"a.b\":1}\n{\"t\":\"[1,2]\"}\n"
        );
        // A record that cannot go straight fails the parse, to be parsed again.
        let repeated = br#"{"data": [{"a": 1, "a": 2}]}"#;
        assert!(parse(repeated, &path, Some(&mut f)).is_err());
        assert_eq!(parse(repeated, &path, None).unwrap().1.len(), 1);
        // So does a repeated records key: only the last one's records count.
        let twice = br#"{"data": [{"a": 1}], "data": [{"b": 2}, {"b": 3}]}"#;
        assert!(parse(twice, &path, Some(&mut f)).is_err());
        assert_eq!(parse(twice, &path, None).unwrap().1.len(), 2);
    }

    #[test]
    fn overlapping_paths() {
        let p = |s| jsonpath::parse(s).unwrap();
        assert!(overlaps(&p("data"), &p("data.items")));
        assert!(overlaps(&p("data.items"), &p("data")));
        assert!(overlaps(&p(""), &p("data")));
        assert!(!overlaps(&p("meta.total"), &p("data")));
        assert!(!overlaps(&p("data[1]"), &p("data[0].x")));
        assert!(overlaps(&p("data[-1].id"), &p("data[0]")));
        assert!(overlaps(&p("data[*].id"), &p("data")));
        assert!(!overlaps(&p("meta[-1]"), &p("data")));
    }
}
