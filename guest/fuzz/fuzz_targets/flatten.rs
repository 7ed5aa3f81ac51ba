//! Any JSON document flattened under every array policy: no panic, and a
//! flat record has only scalar values.
#![no_main]
use apiconn_guest::config::ArrayPolicy;
use apiconn_guest::flatten::flatten;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    for policy in [ArrayPolicy::Error, ArrayPolicy::Json, ArrayPolicy::Drop] {
        if let Ok((flat, _)) = flatten(&doc, ".", policy) {
            assert!(flat.values().all(|v| !v.is_object() && !v.is_array()));
        }
    }
});
