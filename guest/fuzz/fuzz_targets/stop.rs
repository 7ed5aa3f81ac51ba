//! Any stop condition: it parses or says why, and evaluates without panic.
#![no_main]
use apiconn_guest::stop::{Condition, Facts};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(c) = Condition::parse(text) {
        let response = serde_json::json!({"has_more": false, "pages": "3", "data": {"next": ""}});
        let sent = |name: &str| (name == "page").then(|| serde_json::json!(2));
        let headers = vec![("X-Total-Count".to_string(), "25".to_string())];
        let facts = Facts { response: &response, headers: &headers, request: &sent, requests: 3, records: 10 };
        let _ = c.holds(&facts);
    }
});
