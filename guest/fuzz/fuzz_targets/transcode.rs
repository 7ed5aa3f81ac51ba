//! Any bytes as a page: what the transcoder accepts is JSON, the general
//! path (page::parse, FlatOut, flatten) accepts it too, and both give the
//! same records in the same order with the same values.
#![no_main]
use apiconn_guest::config::ArrayPolicy;
use apiconn_guest::jsonpath;
use apiconn_guest::read::transcode::{Scratch, general, transcode};
use serde_json::Value;

/// The same meaning: numbers as numbers, strings holding JSON text (from
/// `arrays: json`) as that text, objects in order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => p == q || (p - q).abs() <= 1e-15 * p.abs().max(q.abs()),
                    _ => false,
                }
        }
        (Value::String(x), Value::String(y)) => {
            x == y
                || match (serde_json::from_str::<Value>(x), serde_json::from_str::<Value>(y)) {
                    (Ok(p), Ok(q)) => (p.is_array() || p.is_object()) && same(&p, &q),
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, p), (l, q))| k == l && same(p, q))
        }
        _ => a == b,
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&how, body)) = data.split_first() else { return };
    let arrays = [ArrayPolicy::Error, ArrayPolicy::Json, ArrayPolicy::Drop][(how % 3) as usize];
    let separator = [".", "_", "::", ""][(how / 3 % 4) as usize];
    let path = jsonpath::parse(["data", "", "data.items", "list[1]"][(how / 12 % 4) as usize]).unwrap();
    let Some(new) = transcode(body, &path, separator, arrays, &mut Scratch::default()) else {
        return;
    };
    assert!(serde_json::from_slice::<Value>(body).is_ok(), "accepted a body that is not JSON");
    let (out, count, dropped, doc) =
        general(body, &path, separator, arrays).expect("the general path refused what the transcoder accepted");
    assert_eq!((new.count, new.dropped), (count, dropped));
    assert_eq!(new.doc.to_string(), doc.to_string());
    let new_text = std::str::from_utf8(&new.records).expect("UTF-8 output");
    let old_text = std::str::from_utf8(&out).unwrap();
    let (a, b): (Vec<&str>, Vec<&str>) = (new_text.lines().collect(), old_text.lines().collect());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        let p: Value = serde_json::from_str(x).expect("each line is JSON");
        let q: Value = serde_json::from_str(y).unwrap();
        assert!(same(&p, &q), "{x}\nvs\n{y}");
    }
});
