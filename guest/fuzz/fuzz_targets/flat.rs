//! Any bytes as a write's NDJSON input: a line the fast path (`Flat`) takes
//! is one serde_json reads as an object of strings, numbers, booleans and
//! null, with no key twice, and the text it gives has the same values.
#![no_main]
use apiconn_guest::read::transcode::{Flat, Scratch};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// How many keys the object `line` has, repeats counted.
fn keys(line: &[u8]) -> usize {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<usize, M::Error> {
            let mut n = 0;
            while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                n += 1;
            }
            Ok(n)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(line);
    serde::Deserializer::deserialize_map(&mut de, Keys).unwrap()
}

/// Numbers as numbers: the fast path keeps the input's text.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, p), (l, q))| k == l && same(p, q))
        }
        _ => a == b,
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut scratch = Scratch::default();
    let mut flat = Flat::new(data, &mut scratch);
    let mut at = 0;
    for line in data.split(|b| *b == b'\n') {
        if let Some(got) = flat.object(at, at + line.len()) {
            let want: Value = serde_json::from_slice(line).expect("took a line that is not JSON");
            let object = want.as_object().expect("took a line that is not an object");
            assert!(object.values().all(|v| !v.is_object() && !v.is_array()));
            assert_eq!(keys(line), object.len(), "took a key twice");
            let got: Value = serde_json::from_slice(got).expect("gave text that is not JSON");
            assert!(same(&got, &want), "{got} vs {want}");
        }
        at += line.len() + 1;
    }
});
