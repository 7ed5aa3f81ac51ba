//! Digests and custom request signatures (README "Custom signatures").
//!
//! String to sign = prefix + items joined by `separator` + suffix; an item
//! is `name` + `pair_separator` + `value` (mode `name_value`) or `value`
//! (mode `values`). Items are the query parameters and the top-level keys of
//! the body, never the signature itself; non-string values are compact JSON.

use crate::config::{Encoding, Include, SignFrom, SignFunction, SignMode, SignOrder, Signature};
use crate::request::{self, HttpRequest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::<Hmac<Sha256>>(key, data)
}

pub fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::<Hmac<Sha1>>(key, data)
}

pub fn md5(data: &[u8]) -> Vec<u8> {
    Md5::digest(data).to_vec()
}

/// The raw digest of `data` by `function` (keyed with `secret` for HMAC).
pub fn digest(function: SignFunction, secret: &[u8], data: &[u8]) -> Vec<u8> {
    use SignFunction::*;
    match function {
        MD5HEX => Md5::digest(data).to_vec(),
        SHA1HEX => Sha1::digest(data).to_vec(),
        SHA256HEX | SignFunction::SHA256 => Sha256::digest(data).to_vec(),
        SHA512HEX => Sha512::digest(data).to_vec(),
        HMAC_MD5 => hmac::<Hmac<Md5>>(secret, data),
        HMAC_SHA1 => hmac_sha1(secret, data),
        HMAC_SHA256 => hmac_sha256(secret, data),
        HMAC_SHA512 => hmac::<Hmac<Sha512>>(secret, data),
    }
}

/// The function's own encoding: Base64 for `SHA256`, lower-case hex otherwise.
pub fn default_encoding(function: SignFunction) -> Encoding {
    if function == SignFunction::SHA256 {
        Encoding::Base64
    } else {
        Encoding::Hex
    }
}

pub fn encode(bytes: &[u8], encoding: Encoding) -> String {
    match encoding {
        Encoding::Hex => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        Encoding::UpperHex => bytes.iter().map(|b| format!("{b:02X}")).collect(),
        Encoding::Base64 => STANDARD.encode(bytes),
    }
}

/// The signed items of a request, in the order they appear in it.
fn items(sig: &Signature, req: &HttpRequest) -> Vec<(String, String)> {
    let mut items = Vec::new();
    for from in &sig.content.from {
        match from {
            SignFrom::Params => {
                items.extend(
                    req.url
                        .query_pairs()
                        .map(|(k, v)| (k.into_owned(), v.into_owned())),
                );
            }
            SignFrom::Body => items.extend(request::body_items(req)),
        }
    }
    items.retain(|(name, _)| *name != sig.name);
    match &sig.content.include {
        Include::All(_) => items,
        // Listed names, in the order of the list.
        Include::Names(names) => names
            .iter()
            .filter_map(|n| items.iter().find(|(k, _)| k == n).cloned())
            .collect(),
    }
}

/// The string to sign for `req`.
pub fn string_to_sign(sig: &Signature, req: &HttpRequest) -> String {
    let c = &sig.content;
    let mut items = items(sig, req);
    match c.order {
        SignOrder::Asc => items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes())),
        SignOrder::Desc => items.sort_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes())),
        SignOrder::AsConfigured => {}
    }
    let joined: Vec<String> = items
        .into_iter()
        .map(|(k, v)| match c.mode {
            SignMode::NameValue => format!("{k}{}{v}", c.pair_separator),
            SignMode::Values => v,
        })
        .collect();
    format!("{}{}{}", c.prefix, joined.join(&c.separator), c.suffix)
}

/// Signs `req` and puts the signature where the config says.
pub fn apply(sig: &Signature, req: &mut HttpRequest) {
    let text = string_to_sign(sig, req);
    let secret = sig.secret.as_deref().unwrap_or("").as_bytes();
    let encoding = sig
        .encoding
        .unwrap_or_else(|| default_encoding(sig.function));
    let value = encode(&digest(sig.function, secret, text.as_bytes()), encoding);
    request::place(
        req,
        sig.location,
        &sig.name,
        serde_json::Value::String(value),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(b: &[u8]) -> String {
        encode(b, Encoding::Hex)
    }

    #[test]
    fn rfc_2202_and_rfc_4231_vectors() {
        use SignFunction::*;
        // RFC 2202 test case 1 and 2.
        assert_eq!(
            hex(&digest(HMAC_MD5, &[0x0b; 16], b"Hi There")),
            "9294727a3638bb1c13f48ef8158bfc9d"
        );
        assert_eq!(
            hex(&digest(HMAC_MD5, b"Jefe", b"what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex(&digest(HMAC_SHA1, &[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex(&digest(HMAC_SHA1, b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        // RFC 4231 test case 2, and test case 6 (a key longer than the block).
        assert_eq!(
            hex(&digest(
                HMAC_SHA256,
                b"Jefe",
                b"what do ya want for nothing?"
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&digest(
                HMAC_SHA512,
                b"Jefe",
                b"what do ya want for nothing?"
            )),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        assert_eq!(
            hex(&digest(
                HMAC_SHA256,
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn one_vector_per_function_computed_with_python_hashlib() {
        // guest/tests/sign_vectors.json: made by guest/tests/sign_vectors.py.
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../tests/sign_vectors.json")).unwrap();
        let mut seen = 0;
        for v in vectors.as_array().unwrap() {
            let function: SignFunction = serde_json::from_value(v["function"].clone()).unwrap();
            let out = digest(
                function,
                v["secret"].as_str().unwrap().as_bytes(),
                v["data"].as_str().unwrap().as_bytes(),
            );
            assert_eq!(
                encode(&out, default_encoding(function)),
                v["expected"].as_str().unwrap(),
                "{v}"
            );
            seen += 1;
        }
        assert_eq!(seen, 9, "one vector per function");
    }

    fn signature(v: serde_json::Value) -> Signature {
        serde_json::from_value(v).unwrap()
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest {
            method: "GET",
            url: url::Url::parse(url).unwrap(),
            headers: vec![],
            body: None,
        }
    }

    #[test]
    fn the_example_of_the_spec() {
        let sig = signature(
            json!({"name": "sign", "location": "params", "function": "HMAC_SHA256", "secret": "secret"}),
        );
        let mut req = get("http://h/x?timestamp=1700000000000&appKey=demo&nonce=abc123");
        assert_eq!(
            string_to_sign(&sig, &req),
            "appKey=demo&nonce=abc123&timestamp=1700000000000"
        );
        apply(&sig, &mut req);
        assert_eq!(
            req.url.query_pairs().find(|(k, _)| k == "sign").unwrap().1,
            "344928792a6e25b04aeebbe76ae584b20abe86173ca268af4446d388cb80ebd3"
        );
    }

    #[test]
    fn content_rules() {
        let req = HttpRequest {
            method: "POST",
            url: url::Url::parse("http://h/x?b=2&a=1&sign=old").unwrap(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(br#"{"z":"last","n":5,"o":{"k":true}}"#.to_vec()),
        };
        let s = |content: serde_json::Value| {
            string_to_sign(
                &signature(
                    json!({"name": "sign", "location": "headers", "function": "MD5HEX", "content": content}),
                ),
                &req,
            )
        };
        assert_eq!(s(json!({})), r#"a=1&b=2&n=5&o={"k":true}&z=last"#);
        assert_eq!(
            s(json!({"order": "desc"})),
            r#"z=last&o={"k":true}&n=5&b=2&a=1"#
        );
        assert_eq!(
            s(json!({"order": "as_configured", "from": ["body"]})),
            r#"z=last&n=5&o={"k":true}"#
        );
        assert_eq!(
            s(
                json!({"include": ["z", "a"], "order": "as_configured", "mode": "values", "separator": "|"})
            ),
            "last|1"
        );
        assert_eq!(
            s(
                json!({"include": ["a", "b"], "pair_separator": ":", "separator": ",", "prefix": "K", "suffix": "S"})
            ),
            "Ka:1,b:2S"
        );
        let sig = signature(
            json!({"name": "X-Sign", "location": "headers", "function": "SHA256", "encoding": "HEX", "content": {"include": ["a"]}}),
        );
        let mut r = req.clone();
        apply(&sig, &mut r);
        // SHA-256 of "a=1", upper-case hex.
        assert_eq!(
            r.header("x-sign").unwrap(),
            encode(&Sha256::digest(b"a=1"), Encoding::UpperHex)
        );
    }
}
