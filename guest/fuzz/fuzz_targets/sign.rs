//! Signature strings from arbitrary requests: the AppKey string to sign and
//! a custom signature over the query and a form or JSON body.
#![no_main]
use apiconn_guest::auth::appkey;
use apiconn_guest::request::HttpRequest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (query, body) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(url) = url::Url::parse(&format!("http://h/p?{query}")) else { return };
    for content_type in ["application/x-www-form-urlencoded", "application/json"] {
        let req = HttpRequest {
            method: "POST",
            url: url.clone(),
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Some(body.as_bytes().to_vec()),
        };
        let params: Vec<(String, String)> = req.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let s = appkey::string_to_sign("POST", &req.headers, &appkey::SIGNED_HEADERS, req.url.path(), &params);
        assert!(s.starts_with("POST\n"));
        let sig: apiconn_guest::config::Signature = serde_json::from_value(serde_json::json!({
            "name": "sign", "location": "params", "function": "HMAC_SHA256", "secret": "k"
        }))
        .unwrap();
        let mut signed = req.clone();
        apiconn_guest::sign::apply(&sig, &mut signed);
        assert!(signed.url.query_pairs().any(|(k, _)| k == "sign"));
    }
});
