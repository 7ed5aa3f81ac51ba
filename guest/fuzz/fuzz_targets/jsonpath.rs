//! Any JSON path against a nested document, and `put` into an empty one.
#![no_main]
use apiconn_guest::jsonpath;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let doc = serde_json::json!({"a": {"b": [1, {"c": "x"}], "d.e": null}, "list": [[], {}]});
    if let Ok(path) = jsonpath::parse(text) {
        let _ = jsonpath::get(&doc, &path);
        let _ = jsonpath::missing_key(&doc, &path);
        // Indexes make arrays that long: keep them small. A plain path
        // (keys, indexes) puts and gets back the same value.
        if jsonpath::is_plain(&path)
            && path.iter().all(|s| !matches!(s, jsonpath::Segment::Index(i) if *i > 1000))
        {
            let mut target = serde_json::Value::Null;
            jsonpath::put(&mut target, &path, serde_json::json!(1));
            assert_eq!(jsonpath::get(&target, &path).as_deref(), Some(&serde_json::json!(1)));
        }
    }
});
