//! The transcoder against today's general path: same records, same order,
//! same values; and it declines whatever it does not do.

use super::*;
use crate::jsonpath;
use proptest::prelude::*;

fn path(p: &str) -> Vec<Segment> {
    jsonpath::parse(p).unwrap()
}

fn run(body: &str, p: &str, sep: &str, arrays: ArrayPolicy) -> Option<Transcoded> {
    transcode(
        body.as_bytes(),
        &path(p),
        sep,
        arrays,
        &mut Scratch::default(),
    )
}

fn lines(t: &Transcoded) -> String {
    String::from_utf8(t.records.clone()).unwrap()
}

/// Two JSON values that mean the same: numbers as numbers (the general
/// path writes a float back from an `f64`), strings that hold JSON text
/// (`arrays: json`) as that text, objects in order.
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x == y {
                return true;
            }
            match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) => p == q || (p - q).abs() <= 1e-15 * p.abs().max(q.abs()),
                _ => false,
            }
        }
        (Value::String(x), Value::String(y)) => {
            x == y
                || match (
                    serde_json::from_str::<Value>(x),
                    serde_json::from_str::<Value>(y),
                ) {
                    (Ok(p), Ok(q)) => (p.is_array() || p.is_object()) && same_value(&p, &q),
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, p), (l, q))| k == l && same_value(p, q))
        }
        _ => a == b,
    }
}

/// The transcoder's output and the general path's: the same records in
/// the same order, each with the same keys in the same order and the same
/// values; the same count, dropped arrays and document.
fn agree(new: &Transcoded, old: &(Vec<u8>, u64, u32, Value)) -> Result<(), String> {
    let (out, count, dropped, doc) = old;
    if (new.count, new.dropped) != (*count, *dropped) {
        return Err(format!(
            "count/dropped {:?} vs {:?}",
            (new.count, new.dropped),
            (count, dropped)
        ));
    }
    if serde_json::to_string(&new.doc).unwrap() != serde_json::to_string(doc).unwrap() {
        return Err(format!("doc {} vs {}", new.doc, doc));
    }
    let new_text = std::str::from_utf8(&new.records).map_err(|e| e.to_string())?;
    let old_text = std::str::from_utf8(out).map_err(|e| e.to_string())?;
    let (a, b): (Vec<&str>, Vec<&str>) = (new_text.lines().collect(), old_text.lines().collect());
    if a.len() != b.len() || !new_text.ends_with('\n') && !new_text.is_empty() {
        return Err(format!("lines:\n{new_text}\nvs\n{old_text}"));
    }
    for (x, y) in a.iter().zip(&b) {
        let p: Value = serde_json::from_str(x).map_err(|e| format!("{x}: {e}"))?;
        let q: Value = serde_json::from_str(y).map_err(|e| format!("{y}: {e}"))?;
        if !same_value(&p, &q) {
            return Err(format!("record\n{x}\nvs\n{y}"));
        }
    }
    Ok(())
}

fn check(body: &str, p: &str, sep: &str, arrays: ArrayPolicy) -> Transcoded {
    let new = run(body, p, sep, arrays).unwrap_or_else(|| panic!("declined {body}"));
    let old = general(body.as_bytes(), &path(p), sep, arrays).unwrap();
    agree(&new, &old).unwrap();
    new
}

#[test]
fn scalars_are_copied_as_the_api_sent_them() {
    let body = r#"{"page": 1, "data": [
        {"id": 12345678901234567890123, "price": 1.50, "e": 1E+2, "neg": -0,
         "s": "caf\u00e9 \/ \"q\" \ud83d\ude00 é", "t": true, "f": false, "n": null}
    ]}"#;
    let t = check(body, "data", ".", ArrayPolicy::Error);
    assert_eq!(
        lines(&t),
        concat!(
            r#"{"id":12345678901234567890123,"price":1.50,"e":1E+2,"neg":-0,"#,
            r#""s":"caf\u00e9 \/ \"q\" \ud83d\ude00 é","t":true,"f":false,"n":null}"#,
            "\n"
        )
    );
    assert_eq!(t.doc, serde_json::json!({"page": 1, "data": null}));
}

#[test]
fn nested_objects_flatten_with_the_separator() {
    let body = r#"[{"a": {"b": {"c": 1}, "d": {}}, "e": "x"}, {}, {"a": {"b": {"c": 2}, "d": {}}, "e": "y"}]"#;
    let t = check(body, "", "__", ArrayPolicy::Error);
    assert_eq!(
        lines(&t),
        "{\"a__b__c\":1,\"a__d\":null,\"e\":\"x\"}\n{}\n{\"a__b__c\":2,\"a__d\":null,\"e\":\"y\"}\n"
    );
    assert_eq!((t.count, t.doc.clone()), (3, Value::Null));
}

#[test]
fn arrays_follow_the_policy() {
    let body = r#"{"data": [{"id": 1, "tags": [ "a\"b", {"k": [1, 2.50]}, [] ], "x": {"t": []}}]}"#;
    let t = check(body, "data", ".", ArrayPolicy::Json);
    assert_eq!(
        lines(&t),
        "{\"id\":1,\"tags\":\"[\\\"a\\\\\\\"b\\\",{\\\"k\\\":[1,2.50]},[]]\",\"x.t\":\"[]\"}\n"
    );
    let t = check(body, "data", ".", ArrayPolicy::Drop);
    assert_eq!((lines(&t).as_str(), t.dropped), ("{\"id\":1}\n", 2));
    assert!(run(body, "data", ".", ArrayPolicy::Error).is_none());
    // A record whose only field is dropped is `{}`.
    let t = check(
        r#"[{"t": [1]}, {"t": [], "a": 1}]"#,
        "",
        ".",
        ArrayPolicy::Drop,
    );
    assert_eq!(lines(&t), "{}\n{\"a\":1}\n");
}

#[test]
fn the_records_path_is_followed() {
    let body = r#"{"meta": {"next": "c2", "list": [1, {"a": [2]}]}, "data": {"items": [{"a": 1}], "n": 2}, "z": [null, {"r": [{"b": 2}]}]}"#;
    let t = check(body, "data.items", ".", ArrayPolicy::Error);
    assert_eq!(lines(&t), "{\"a\":1}\n");
    assert_eq!(
        t.doc.to_string(),
        r#"{"meta":{"next":"c2","list":[1,{"a":[2]}]},"data":{"items":null,"n":2},"z":[null,{"r":[{"b":2}]}]}"#
    );
    let t = check(body, "z[1].r", ".", ArrayPolicy::Error);
    assert_eq!(lines(&t), "{\"b\":2}\n");
    // No records: a missing key, null, an index past the end, a scalar on the way.
    for p in [
        "missing",
        "data.missing",
        "z[0]",
        "z[5].r",
        "meta.next.x",
        "data.n.x",
        "meta[0]",
    ] {
        let t = check(body, p, ".", ArrayPolicy::Error);
        assert_eq!((t.count, t.records.len()), (0, 0), "{p}");
    }
    // The records key twice: the general path takes the last.
    assert!(
        run(
            r#"{"data": [{"a": 1}], "data": [{"b": 2}]}"#,
            "data",
            ".",
            ArrayPolicy::Error
        )
        .is_none()
    );
    // Twice, but only the second has records: the same as the general path.
    check(
        r#"{"data": {"x": 1}, "data": {"items": [{"b": 2}]}}"#,
        "data.items",
        ".",
        ArrayPolicy::Error,
    );
}

#[test]
fn what_it_does_not_do_is_declined() {
    let e = ArrayPolicy::Error;
    for (body, p, sep) in [
        // Not JSON, or not all of it.
        (r#"{"data": [{"a": 1}]"#, "data", "."),
        (r#"{"data": [{"a": 1}]} x"#, "data", "."),
        (r#"{"data": [{"a": 01}]}"#, "data", "."),
        (r#"{"data": [{"a": 1.}]}"#, "data", "."),
        (r#"{"data": [{"a": "\x"}]}"#, "data", "."),
        (r#"{"data": [{"a": "\ud800"}]}"#, "data", "."),
        (r#"{"data": [{"a": "\udc00"}]}"#, "data", "."),
        (r#"{"data": [{"a": tru}]}"#, "data", "."),
        ("{\"data\": [{\"a\": \"\t\"}]}", "data", "."),
        (r#"{"data": [{"a": 1,}]}"#, "data", "."),
        (r#"{"meta": [1,], "data": []}"#, "data", "."),
        // A value out of range stays the general path's error.
        (r#"{"data": [{"a": 1e999}]}"#, "data", "."),
        // Records that are not objects, one record, a key spelled with an escape.
        (r#"{"data": [1]}"#, "data", "."),
        (r#"{"data": {"a": 1}}"#, "data", "."),
        (r#"{"data": [{"\u0061": 1}]}"#, "data", "."),
        (r#"{"d\u0061ta": [{"a": 1}]}"#, "data", "."),
        // Keys that flatten alike, a key twice, a separator that needs escaping.
        (r#"{"data": [{"a.b": 1, "a": {"b": 2}}]}"#, "data", "."),
        (r#"{"data": [{"a": 1, "a": 2}]}"#, "data", "."),
        (r#"{"data": [{"a": {"b": 1}}]}"#, "data", "\""),
    ] {
        assert!(run(body, p, sep, e).is_none(), "{body}");
    }
    let deep = format!("{}{}", "[".repeat(120), "]".repeat(120));
    assert!(run(&format!(r#"{{"data": [], "x": {deep}}}"#), "data", ".", e).is_none());
    assert!(run("\u{feff}[]", "", ".", e).is_none());
    assert!(run(&"\u{e9}".repeat(3), "", ".", e).is_none());
    let bad_utf8 = b"[{\"a\": \"\xc3\x28\"}]";
    assert!(transcode(bad_utf8, &[], ".", e, &mut Scratch::default()).is_none());
    // A collision after records with other keys: caught by the full check.
    let body = r#"[{"a": {"b": 1}}, {"a": {"c": 1}}, {"a.c": 1, "a": {"c": 2}}]"#;
    assert!(run(body, "", ".", e).is_none());
}

#[test]
fn empty_and_null_records() {
    for body in [
        r#"{"data": []}"#,
        r#"{"data": null}"#,
        r#"{"data": [ ]}"#,
        "[]",
        " null ",
    ] {
        let p = if body.starts_with('{') { "data" } else { "" };
        let t = check(body, p, ".", ArrayPolicy::Error);
        assert_eq!((t.count, t.records.len()), (0, 0), "{body}");
    }
}

// Random pages, spelled every way JSON allows.

/// A JSON value as text, with the spellings the transcoder must keep.
#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Obj(Vec<(String, Node)>),
    Arr(Vec<Node>),
}

fn number() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,2})?"
}

fn string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-z .,:{}\\[\\]]{0,9}",
        1 => Just("é".to_string()),
        1 => Just("😀".to_string()),
        1 => Just("\\n".to_string()),
        1 => Just("\\\"".to_string()),
        1 => Just("\\\\".to_string()),
        1 => Just("\\/".to_string()),
        1 => Just("\\u00e9".to_string()),
        1 => Just("\\u0000".to_string()),
        1 => Just("\\ud83d\\ude00".to_string()),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|p| format!("\"{}\"", p.concat()))
}

fn scalar() -> impl Strategy<Value = Node> {
    prop_oneof![
        2 => number(),
        2 => string(),
        1 => prop_oneof![Just("true"), Just("false"), Just("null")].prop_map(String::from),
    ]
    .prop_map(Node::Text)
}

/// Keys of plain records: unique in their object, no separator, no escape.
fn plain_key() -> impl Strategy<Value = String> {
    "[a-z]{1,3}|é[a-z]"
}

/// Any key: the separator, escapes, repeats.
fn wild_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-c]{1,2}",
        1 => Just("a.b".to_string()),
        1 => Just("\\u0061".to_string()),
        1 => Just(String::new()),
    ]
}

fn tree(key: BoxedStrategy<String>, unique: bool) -> impl Strategy<Value = Node> {
    scalar().prop_recursive(4, 48, 5, move |inner| {
        let key = key.clone();
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..3).prop_map(Node::Arr),
            3 => prop::collection::vec((key, inner), 0..5).prop_map(move |kv| {
                let mut seen = std::collections::HashSet::new();
                Node::Obj(kv.into_iter().filter(|(k, _)| !unique || seen.insert(k.clone())).collect())
            }),
        ]
    })
}

fn record(key: BoxedStrategy<String>, unique: bool) -> impl Strategy<Value = Node> {
    prop::collection::vec((key.clone(), tree(key, unique)), 0..6).prop_map(move |kv| {
        let mut seen = std::collections::HashSet::new();
        Node::Obj(
            kv.into_iter()
                .filter(|(k, _)| !unique || seen.insert(k.clone()))
                .collect(),
        )
    })
}

/// The text of `node`; `ws` picks the whitespace between tokens.
fn render(node: &Node, ws: &[u8], at: &mut usize, out: &mut String) {
    let space = |out: &mut String, at: &mut usize| {
        *at += 1;
        out.push_str(
            match ws.get(*at % ws.len().max(1)).copied().unwrap_or(0) % 8 {
                0 => " ",
                1 => "\n  ",
                2 => "\t",
                3 => "\r\n",
                _ => "",
            },
        );
    };
    match node {
        Node::Text(t) => out.push_str(t),
        Node::Arr(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                space(out, at);
                render(item, ws, at, out);
                space(out, at);
            }
            out.push(']');
        }
        Node::Obj(fields) => {
            out.push('{');
            for (k, (key, value)) in fields.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                space(out, at);
                out.push_str(&format!("\"{key}\""));
                space(out, at);
                out.push(':');
                space(out, at);
                render(value, ws, at, out);
                space(out, at);
            }
            out.push('}');
        }
    }
}

/// A page: records at `data`, other values around them.
fn page(key: BoxedStrategy<String>, unique: bool) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(record(key.clone(), unique), 0..5),
        tree(key, unique),
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(records, meta, ws)| {
            let doc = Node::Obj(vec![
                ("meta".into(), meta),
                ("data".into(), Node::Arr(records)),
                ("next".into(), Node::Text("\"c2\"".into())),
            ]);
            let mut out = String::new();
            render(&doc, &ws, &mut 0, &mut out);
            out
        })
}

/// Records as values: nested objects, arrays, floats, escapes; keys that
/// cannot collide once joined with `.`.
fn value_record() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        "[a-z\"\\\n\u{e9}\u{1F600}\u{7f} ]{0,8}".prop_map(Value::from),
    ];
    let tree = leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map("[a-z]{1,4}", tree, 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn policy() -> impl Strategy<Value = ArrayPolicy> {
    prop_oneof![
        Just(ArrayPolicy::Error),
        Just(ArrayPolicy::Json),
        Just(ArrayPolicy::Drop)
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("."), Just("_"), Just("::"), Just("")]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// Whatever the transcoder accepts, the general path accepts and
    /// gives the same records.
    #[test]
    fn accepted_pages_agree_with_the_general_path(
        body in page(wild_key().boxed(), false), arrays in policy(), sep in separator(),
    ) {
        if let Some(new) = run(&body, "data", sep, arrays) {
            let old = general(body.as_bytes(), &path("data"), sep, arrays);
            prop_assert!(old.is_ok(), "accepted what the general path refuses: {body}");
            let agreed = agree(&new, &old.unwrap());
            prop_assert!(agreed.is_ok(), "{}: {body}", agreed.unwrap_err());
        }
    }

    /// Plain records (no escaped keys, none alike) under `json` or `drop`
    /// are always transcoded.
    #[test]
    fn plain_pages_are_transcoded(
        body in page(plain_key().boxed(), true),
        arrays in prop_oneof![Just(ArrayPolicy::Json), Just(ArrayPolicy::Drop)],
    ) {
        let new = run(&body, "data", "/", arrays);
        prop_assert!(new.is_some(), "declined {body}");
        let old = general(body.as_bytes(), &path("data"), "/", arrays).unwrap();
        let agreed = agree(&new.unwrap(), &old);
        prop_assert!(agreed.is_ok(), "{}: {body}", agreed.unwrap_err());
    }

    /// A page with bytes changed: accepted only if it is JSON, and then as
    /// the general path reads it.
    #[test]
    fn changed_pages_are_accepted_only_when_valid(
        body in page(plain_key().boxed(), true),
        changes in prop::collection::vec((any::<prop::sample::Index>(), prop_oneof![
            Just(b'"'), Just(b'\\'), Just(b'{'), Just(b'}'), Just(b'['), Just(b']'),
            Just(b','), Just(b':'), Just(b'0'), Just(b'.'), Just(b'e'), Just(b'-'),
            Just(b' '), Just(0u8), Just(0x1f), Just(0xc3), Just(0xa9), Just(0xff), Just(b'u'),
        ], 0..3u8), 1..4),
        arrays in policy(),
    ) {
        let mut bytes = body.into_bytes();
        for (at, byte, how) in changes {
            let k = at.index(bytes.len() + 1);
            match how {
                0 if k < bytes.len() => bytes[k] = byte,
                1 if k < bytes.len() => { bytes.remove(k); }
                _ => bytes.insert(k, byte),
            }
        }
        let p = path("data");
        if let Some(new) = transcode(&bytes, &p, ".", arrays, &mut Scratch::default()) {
            prop_assert!(serde_json::from_slice::<Value>(&bytes).is_ok(), "{:?}", String::from_utf8_lossy(&bytes));
            let old = general(&bytes, &p, ".", arrays);
            prop_assert!(old.is_ok());
            let agreed = agree(&new, &old.unwrap());
            prop_assert!(agreed.is_ok(), "{}", agreed.unwrap_err());
        }
    }

    /// Against `flatten::flatten` itself: records built as values and
    /// serialized, each line the flat map of its record, key for key.
    #[test]
    fn lines_are_flatten_of_each_record(
        records in prop::collection::vec(value_record(), 0..6),
        arrays in policy(),
    ) {
        let body = serde_json::to_string(&serde_json::json!({"data": records})).unwrap();
        let expected: Vec<_> = records.iter().map(|r| crate::flatten::flatten(r, ".", arrays)).collect();
        match run(&body, "data", ".", arrays) {
            Some(t) => {
                let text = lines(&t);
                let got: Vec<&str> = text.lines().collect();
                prop_assert_eq!(got.len(), expected.len());
                for (line, want) in got.iter().zip(expected) {
                    let (map, _) = want.unwrap();
                    let line: Value = serde_json::from_str(line).unwrap();
                    prop_assert!(same_value(&line, &Value::Object(map)));
                }
            }
            None => prop_assert!(expected.iter().any(|e| e.is_err())),
        }
    }
}

/// What [`Flat`] makes of each line of `chunk`.
fn flat_lines(chunk: &str) -> Vec<Option<String>> {
    let mut scratch = Scratch::default();
    let mut flat = Flat::new(chunk.as_bytes(), &mut scratch);
    let mut at = 0;
    chunk
        .split('\n')
        .map(|line| {
            let got = flat
                .object(at, at + line.len())
                .map(|o| String::from_utf8(o.to_vec()).unwrap());
            at += line.len() + 1;
            got
        })
        .collect()
}

#[test]
fn flat_lines_are_minified_verbatim_and_the_rest_declined() {
    let chunk = concat!(
        "{ \"id\" : 1.50, \"big\":123456789012345678901234567890,\"s\":\"\\u00e9\\/x\", \"t\":true,\"n\":null}\r\n",
        "{}\n",
        "  \n",
        "{\"a\":{\"b\":1}}\n",
        "{\"a\":{}}\n",
        "{\"a\":[1]}\n",
        "{\"a\":1,\"a\":2}\n",
        "{\"\\u0061\":1}\n",
        "{\"a\":1}{\"b\":2}\n",
        "{\"a\":\n",
        "1}\n",
        "[1]\n",
        "{\"a\":1} x",
    );
    assert_eq!(
        flat_lines(chunk),
        vec![
            Some(r#"{"id":1.50,"big":123456789012345678901234567890,"s":"\u00e9\/x","t":true,"n":null}"#.into()),
            Some("{}".into()),
            None,
            None,
            None,
            None,
            // A key twice, an escaped key: serde_json decides.
            None,
            None,
            None,
            // One object over two lines is two lines that are not records.
            None,
            None,
            None,
            None,
        ]
    );
}

/// Flat records: scalars only, keys from `key` (`unique`: none twice).
fn flat_record(key: BoxedStrategy<String>, unique: bool) -> impl Strategy<Value = Node> {
    prop::collection::vec((key, scalar()), 0..6).prop_map(move |kv| {
        let mut seen = std::collections::HashSet::new();
        Node::Obj(
            kv.into_iter()
                .filter(|(k, _)| !unique || seen.insert(k.clone()))
                .collect(),
        )
    })
}

/// The keys of the JSON object `text`, in order, repeats kept.
fn keys(text: &str) -> Vec<String> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<M: serde::de::MapAccess<'de>>(
            self,
            mut m: M,
        ) -> Result<Vec<String>, M::Error> {
            let mut out = Vec::new();
            while let Some((k, serde::de::IgnoredAny)) = m.next_entry::<String, _>()? {
                out.push(k);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde::Deserializer::deserialize_map(&mut de, Keys).unwrap()
}

/// Lines of NDJSON: records flat or not, rendered with any whitespace
/// (newlines too, which splits a record over lines), and blank lines.
pub(crate) fn ndjson() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        3 => flat_record(wild_key().boxed(), false),
        1 => record(wild_key().boxed(), false),
        1 => Just(Node::Text(String::new())),
        1 => scalar(),
    ];
    prop::collection::vec((line, prop::collection::vec(any::<u8>(), 0..8)), 0..6).prop_map(
        |lines| {
            let mut out = String::new();
            for (node, ws) in lines {
                render(&node, &ws, &mut 0, &mut out);
                out.push('\n');
            }
            out
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// A line `Flat` takes is one serde_json reads as an object of scalars,
    /// with the same keys in the same order and the same values.
    #[test]
    fn flat_lines_read_as_serde_json_reads_them(chunk in ndjson()) {
        for (line, got) in chunk.split('\n').zip(flat_lines(&chunk)) {
            let Some(got) = got else { continue };
            let want = serde_json::from_str::<Value>(line);
            prop_assert!(want.is_ok(), "took a line serde_json refuses: {line}");
            let want = want.unwrap();
            prop_assert!(want.as_object().is_some_and(|o| o.values().all(|v| !v.is_object() && !v.is_array())));
            let got: Value = serde_json::from_str(&got).unwrap();
            prop_assert!(same_value(&got, &want), "{got} vs {want}");
            // No key twice (serde_json would have kept one).
            prop_assert_eq!(keys(line).len(), want.as_object().unwrap().len());
        }
    }

    /// Flat records with plain keys, none twice, on one line each are all taken.
    #[test]
    fn plain_flat_lines_are_taken(records in prop::collection::vec(flat_record(plain_key().boxed(), true), 1..6)) {
        let chunk: Vec<String> = records.iter().map(|r| {
            let mut out = String::new();
            render(r, &[0, 2, 4], &mut 0, &mut out);
            out
        }).collect();
        let chunk = chunk.join("\n");
        for (line, got) in chunk.split('\n').zip(flat_lines(&chunk)) {
            prop_assert!(got.is_some(), "declined {line}");
        }
    }
}

/// Not a test: how fast the transcoder and the general path are natively
/// (`cargo test --release -p apiconn-guest --lib transcode::tests::speed -- --ignored --nocapture`).
#[test]
#[ignore]
fn speed() {
    let mut records = String::from("[");
    for id in 0..1000u64 {
        if id > 0 {
            records.push(',');
        }
        records.push_str(&format!(
            r#"{{"id":{id},"name":"User {id}","email":"user.{id}@example.com","active":true,"score":{}.{},"created_at":"2024-05-17T13:45:00Z","address":{{"street":"{} Harbour Road","city":"Nairobi","zip":"01234","geo":{{"lat":-12.34,"lng":123.45}}}},"company":{{"name":"Nairobi Trading 12","department":{{"name":"Research","code":"D123"}}}},"metrics":{{"visits":1234,"purchases":123,"last_seen":"2024-11-12"}}}}"#,
            id % 977, id % 89, id % 999
        ));
    }
    records.push(']');
    let body = format!(r#"{{"page":1,"total_pages":100,"data":{records}}}"#);
    let p = path("data");
    let mut scratch = Scratch::default();
    let rounds = 200;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        let t = transcode(body.as_bytes(), &p, ".", ArrayPolicy::Json, &mut scratch).unwrap();
        assert_eq!(t.count, 1000);
    }
    let new = started.elapsed();
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        let t = general(body.as_bytes(), &p, ".", ArrayPolicy::Json).unwrap();
        assert_eq!(t.1, 1000);
    }
    let old = started.elapsed();
    let mb = (body.len() * rounds) as f64 / 1e6;
    eprintln!(
        "transcode {:.0} MB/s, general {:.0} MB/s",
        mb / new.as_secs_f64(),
        mb / old.as_secs_f64()
    );
}
