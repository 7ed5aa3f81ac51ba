//! Alibaba Cloud API Gateway digest signature (README "Authentication",
//! AppKey).

use crate::config::AppkeyMethod;
use crate::request::{self, Env, HttpRequest};
use crate::sign;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The headers that are signed, in the order they are listed.
pub const SIGNED_HEADERS: [&str; 4] = [
    "x-ca-key",
    "x-ca-nonce",
    "x-ca-signature-method",
    "x-ca-timestamp",
];

/// The string to sign: method, Accept, Content-MD5, Content-Type, Date, the
/// signed headers (sorted by name, `name:value`), then the path with the
/// query and form parameters merged and sorted by key, raw values, a
/// parameter without a value written as its key alone.
pub fn string_to_sign(
    method: &str,
    headers: &[(String, String)],
    signed: &[&str],
    path: &str,
    params: &[(String, String)],
) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut out = String::new();
    for line in [
        method,
        header("accept"),
        header("content-md5"),
        header("content-type"),
        header("date"),
    ] {
        out.push_str(line);
        out.push('\n');
    }
    let mut names: Vec<&str> = signed.to_vec();
    names.sort_unstable();
    for name in names {
        out.push_str(&format!("{name}:{}\n", header(name)));
    }
    out.push_str(path);
    let mut params: Vec<&(String, String)> = params.iter().collect();
    params.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if !params.is_empty() {
        let joined: Vec<String> = params
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        out.push('?');
        out.push_str(&joined.join("&"));
    }
    out
}

pub fn signature(secret: &str, method: AppkeyMethod, text: &str) -> String {
    let mac = match method {
        AppkeyMethod::HmacSHA256 => sign::hmac_sha256(secret.as_bytes(), text.as_bytes()),
        AppkeyMethod::HmacSHA1 => sign::hmac_sha1(secret.as_bytes(), text.as_bytes()),
    };
    STANDARD.encode(mac)
}

/// Adds the `X-Ca-*` headers, `Content-MD5` for a non-form body, and the
/// signature, with a fresh timestamp and nonce.
pub fn sign(
    req: &mut HttpRequest,
    app_key: &str,
    app_secret: &str,
    method: AppkeyMethod,
    stage: Option<&str>,
    env: &mut dyn Env,
) {
    let nonce = match request::generate(&crate::config::Generated::Random("uuid".into()), env) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    let method_name = match method {
        AppkeyMethod::HmacSHA256 => "HmacSHA256",
        AppkeyMethod::HmacSHA1 => "HmacSHA1",
    };
    if req.header("accept").is_none() {
        req.set_header("Accept", "application/json".into());
    }
    req.set_header("X-Ca-Key", app_key.into());
    req.set_header("X-Ca-Timestamp", env.now_ms().to_string());
    req.set_header("X-Ca-Nonce", nonce);
    req.set_header("X-Ca-Signature-Method", method_name.into());
    if let Some(stage) = stage {
        req.set_header("X-Ca-Stage", stage.into());
    }
    let form = request::is_form(req);
    if let Some(body) = &req.body
        && !form
    {
        let md5 = STANDARD.encode(sign::md5(body));
        req.set_header("Content-MD5", md5);
    }
    let mut params: Vec<(String, String)> = req
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if form {
        params.extend(request::body_items(req));
    }
    let path = percent_encoding::percent_decode_str(req.url.path())
        .decode_utf8_lossy()
        .into_owned();
    let text = string_to_sign(req.method, &req.headers, &SIGNED_HEADERS, &path, &params);
    req.set_header("X-Ca-Signature-Headers", SIGNED_HEADERS.join(","));
    req.set_header("X-Ca-Signature", signature(app_secret, method, &text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::testing::FixedEnv;

    #[test]
    fn the_vector_of_the_spec() {
        let headers: Vec<(String, String)> = [
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("x-ca-key", "appKey"),
            ("x-ca-timestamp", "1646365291734"),
            ("x-ca-nonce", "787dd0c2-7bd8-41cd-9c19-62c05ea524a2"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let text = string_to_sign(
            "GET",
            &headers,
            &["x-ca-key", "x-ca-nonce", "x-ca-timestamp"],
            "/Third/Tools/checkSign",
            &[],
        );
        assert_eq!(
            text,
            "GET\napplication/json\n\napplication/json\n\nx-ca-key:appKey\nx-ca-nonce:787dd0c2-7bd8-41cd-9c19-62c05ea524a2\nx-ca-timestamp:1646365291734\n/Third/Tools/checkSign"
        );
        assert_eq!(
            signature("appSecret", AppkeyMethod::HmacSHA256, &text),
            "EdJSFAMOWyXZOpXhevZnjuS0ZafnwnCqaSk5hz+tXo8="
        );
    }

    #[test]
    fn query_and_form_parameters_merge_sorted_with_raw_values() {
        let text = string_to_sign(
            "POST",
            &[],
            &[],
            "/p",
            &[
                ("b".into(), "x y".into()),
                ("a".into(), "".into()),
                ("c".into(), "1&2".into()),
            ],
        );
        assert!(text.ends_with("/p?a&b=x y&c=1&2"), "{text}");
    }

    #[test]
    fn a_post_form_is_signed_with_its_fields_and_without_content_md5() {
        let mut req = HttpRequest {
            method: "POST",
            url: url::Url::parse("http://h/api/items?z=1").unwrap(),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(b"name=a+b&x=".to_vec()),
        };
        let mut env = FixedEnv {
            now_ms: 1_646_365_291_734,
            next: 0,
        };
        sign(
            &mut req,
            "k",
            "s",
            AppkeyMethod::HmacSHA1,
            Some("RELEASE"),
            &mut env,
        );
        assert_eq!(req.header("content-md5"), None);
        assert_eq!(req.header("x-ca-timestamp"), Some("1646365291734"));
        assert_eq!(req.header("x-ca-stage"), Some("RELEASE"));
        assert_eq!(
            req.header("x-ca-signature-headers"),
            Some("x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-timestamp")
        );
        let nonce = req.header("x-ca-nonce").unwrap().to_string();
        let text = format!(
            "POST\napplication/json\n\napplication/x-www-form-urlencoded\n\nx-ca-key:k\nx-ca-nonce:{nonce}\nx-ca-signature-method:HmacSHA1\nx-ca-timestamp:1646365291734\n/api/items?name=a b&x&z=1"
        );
        assert_eq!(
            req.header("x-ca-signature").unwrap(),
            signature("s", AppkeyMethod::HmacSHA1, &text)
        );
    }

    #[test]
    fn a_json_body_gets_content_md5() {
        let mut req = HttpRequest {
            method: "POST",
            url: url::Url::parse("http://h/x").unwrap(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(br#"{"a":1}"#.to_vec()),
        };
        sign(
            &mut req,
            "k",
            "s",
            AppkeyMethod::HmacSHA256,
            None,
            &mut FixedEnv { now_ms: 0, next: 0 },
        );
        // base64(md5(`{"a":1}`)), computed with Python hashlib.
        assert_eq!(req.header("content-md5"), Some("u2y1xo30ZSlByvZSo2by2A=="));
    }
}
