//! Authentication and signing against real servers: PyPI httpbin, npm
//! oauth2-mock-server, an independent AppKey verifier, and the test API.

use apiconn_tests::api::{Reply, TestApi};
use apiconn_tests::bin::{Run, config_file, run, run_with_env};
use apiconn_tests::peers::{self, Peer};
use serde_json::{Value, json};

fn read(config: Value) -> Run {
    let path = config_file(&config.to_string(), "json");
    run(&["read", path.to_str().unwrap(), "--allow-private"])
}

fn get_json(url: &str) -> Value {
    // A plain GET, to read a peer's own stats.
    let u = url::Url::parse(url).unwrap();
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).unwrap();
    use std::io::{Read, Write};
    // HTTP/1.0: the answer comes whole, not chunked.
    write!(s, "GET {} HTTP/1.0\r\nHost: x\r\n\r\n", u.path()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

mod httpbin {
    use super::*;

    fn source(server: &Peer, auth: Value) -> Value {
        json!({"name": "httpbin", "url": server.url(), "auth": auth})
    }

    #[test]
    fn basic_auth_is_accepted_and_a_wrong_password_is_a_clear_error() {
        let server = peers::httpbin();
        let ok = read(
            json!({"source": source(&server, json!({"type": "basic", "username": "u", "password": "p"})),
                             "read": {"path": "/basic-auth/u/p"}}),
        );
        assert_eq!(ok.code, 0, "{}", ok.stderr);
        assert_eq!(
            ok.records(),
            vec![json!({"authenticated": true, "user": "u"})]
        );
        let bad = read(
            json!({"source": source(&server, json!({"type": "basic", "username": "u", "password": "wrong"})),
                              "read": {"path": "/basic-auth/u/p"}}),
        );
        assert_eq!(bad.code, 5);
        assert!(
            bad.stderr.contains(&format!(
                "error: HTTP 401: GET {}/basic-auth/u/p",
                server.url()
            )),
            "{}",
            bad.stderr
        );
        assert!(!bad.stderr.contains("wrong"), "{}", bad.stderr);
    }

    #[test]
    fn bearer_tokens_are_accepted() {
        let server = peers::httpbin();
        let out = read(
            json!({"source": source(&server, json!({"type": "bearer", "token": "tok-123"})), "read": {"path": "/bearer"}}),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.records(),
            vec![json!({"authenticated": true, "token": "tok-123"})]
        );
        let none = read(
            json!({"source": source(&server, json!({"type": "none"})), "read": {"path": "/bearer"}}),
        );
        assert_eq!(none.code, 5);
        assert!(none.stderr.contains("HTTP 401"), "{}", none.stderr);
    }

    /// Reads httpbin's echo of one request made with an API key at `add_to`.
    fn echo(server: &Peer, add_to: &str, read_block: Value) -> Value {
        let mut read_block = read_block;
        read_block["path"] = json!("/anything");
        read_block["flatten"] = json!({"arrays": "json"});
        let out = read(
            json!({"source": source(server, json!({"type": "api_key", "key": "Apikey", "value": "k-1", "add_to": add_to})),
                              "read": read_block}),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.records().pop().unwrap()
    }

    #[test]
    fn api_keys_land_exactly_where_configured_and_nowhere_else() {
        let server = peers::httpbin();
        let q = echo(&server, "params", json!({"params": {"q": "1"}}));
        assert_eq!(q["args.Apikey"], "k-1");
        assert_eq!(q["args.q"], "1");
        assert!(q.get("headers.Apikey").is_none());
        assert_eq!(q["data"], "");

        let h = echo(&server, "headers", json!({"params": {"q": "1"}}));
        assert_eq!(h["headers.Apikey"], "k-1");
        assert!(h.get("args.Apikey").is_none());
        assert_eq!(h["data"], "");

        let j = echo(&server, "body", json!({"method": "POST", "body": {"q": 1}}));
        assert_eq!(j["json.Apikey"], "k-1");
        assert_eq!(j["json.q"], 1);
        assert!(j.get("headers.Apikey").is_none() && j.get("args.Apikey").is_none());
        assert_eq!(j["headers.Content-Type"], "application/json");

        let f = echo(
            &server,
            "body",
            json!({"method": "POST", "body": {"q": 1}, "body_format": "form"}),
        );
        assert_eq!(f["form.Apikey"], "k-1");
        assert_eq!(f["form.q"], "1");
        assert!(
            f.get("headers.Apikey").is_none()
                && f.get("args.Apikey").is_none()
                && f.get("json.Apikey").is_none()
        );
    }

    #[test]
    fn an_api_key_in_the_body_of_a_get_is_a_config_error() {
        let path = config_file(
            &json!({"source": {"name": "a", "url": "https://api.example.com", "auth": {"type": "api_key", "key": "k", "value": "v", "add_to": "body"}}, "read": {}}).to_string(),
            "json",
        );
        let out = run(&["validate", path.to_str().unwrap()]);
        assert_eq!(out.code, 3);
        assert!(
            out.stderr
                .contains("source.auth.add_to: a GET request has no body"),
            "{}",
            out.stderr
        );
    }
}

mod oauth2 {
    use super::*;

    const ID: &str = "pipeline-client";
    const SECRET: &str = "cs-8f2e1d0c";

    fn config(issuer_token_url: String, api: &Peer, auth: Value) -> Value {
        let mut a = json!({"type": "oauth2", "token_url": issuer_token_url, "client_id": ID, "client_secret": "${env:APICONN_SECRET_OAUTH}"});
        for (k, v) in auth.as_object().unwrap() {
            a[k] = v.clone();
        }
        json!({"source": {"name": "oauth", "url": api.url(), "auth": a},
               "read": {"path": "/records", "records": "records", "paginate": {"type": "page", "param": "page"}}})
    }

    fn read_with_secret(config: &Value, secret: &str) -> Run {
        let path = config_file(&config.to_string(), "json");
        run_with_env(
            &[
                "read",
                path.to_str().unwrap(),
                "--allow-private",
                "--allow-env",
                "APICONN_SECRET_OAUTH",
            ],
            &[("APICONN_SECRET_OAUTH", secret)],
        )
    }

    fn ids(out: &Run) -> Vec<i64> {
        out.records()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    }

    #[test]
    fn post_with_a_basic_header_then_every_page_carries_the_token() {
        let (issuer, api) = peers::oauth2(ID, SECRET, &[]);
        let out = read_with_secret(
            &config(
                format!("http://127.0.0.1:{issuer}/token"),
                &api,
                json!({"method": "POST"}),
            ),
            SECRET,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(&out), vec![10, 11, 20, 21, 30, 31]);
        let stats = get_json(&format!("{}/stats", api.url()));
        assert_eq!(stats["issued"], 1, "one token for all pages: {stats}");
        assert_eq!(stats["client_auth"], json!(["header"]));
        assert_eq!(stats["unauthorized"], 0);
    }

    #[test]
    fn get_with_the_client_in_the_query() {
        let (_issuer, api) = peers::oauth2(ID, SECRET, &[]);
        // The mock's token endpoint is POST-only; the harness relays GET /token to it.
        let out = read_with_secret(
            &config(
                format!("{}/token", api.url()),
                &api,
                json!({"client_auth": "body"}),
            ),
            SECRET,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(&out).len(), 6);
        let stats = get_json(&format!("{}/stats", api.url()));
        assert_eq!(stats["client_auth"], json!(["body"]));
    }

    #[test]
    fn a_nested_token_path_and_an_extra_scope() {
        let (issuer, api) = peers::oauth2(ID, SECRET, &["--nested"]);
        let out = read_with_secret(
            &config(
                format!("http://127.0.0.1:{issuer}/token"),
                &api,
                json!({"method": "POST", "client_auth": "body", "token_path": "data.access_token", "expires_in_path": "data.expires_in",
                       "extra": [{"name": "scope", "value": "records:read", "add_to": "body"}]}),
            ),
            SECRET,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.records().iter().all(|r| r["scope"] == "records:read"),
            "{}",
            out.stdout
        );
        let stats = get_json(&format!("{}/stats", api.url()));
        assert_eq!(stats["scopes"], json!(["records:read"]));
    }

    #[test]
    fn short_lived_tokens_are_fetched_again_before_they_expire() {
        // Tokens live 3 s (their `exp` counts whole seconds, so at least 2 s
        // of use); seven requests 0.7 s apart need three of them.
        let (issuer, api) = peers::oauth2(ID, SECRET, &["--ttl", "3"]);
        let mut c = config(
            format!("http://127.0.0.1:{issuer}/token"),
            &api,
            json!({"method": "POST"}),
        );
        c["read"]["params"] = json!({"delay_ms": 700, "pages": 6});
        let out = read_with_secret(&c, SECRET);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(&out).len(), 12);
        let stats = get_json(&format!("{}/stats", api.url()));
        assert!(stats["issued"].as_u64().unwrap() >= 3, "{stats}");
        assert_eq!(
            stats["unauthorized"], 0,
            "refreshed before expiry, not after a 401: {stats}"
        );
    }

    #[test]
    fn a_wrong_secret_is_an_auth_error_without_the_secret() {
        let (issuer, api) = peers::oauth2(ID, SECRET, &[]);
        let out = read_with_secret(
            &config(
                format!("http://127.0.0.1:{issuer}/token"),
                &api,
                json!({"method": "POST"}),
            ),
            "not-the-secret",
        );
        assert_eq!(out.code, 4);
        assert!(
            out.stderr
                .contains("authentication failed: the token request failed: HTTP 401"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("invalid_client"), "{}", out.stderr);
        assert!(!out.stderr.contains("not-the-secret"), "{}", out.stderr);
        let stats = get_json(&format!("{}/stats", api.url()));
        assert_eq!(stats["refused_clients"], 1, "{stats}");
    }

    #[test]
    fn check_shows_the_token_exchange_masked_and_the_first_data_response() {
        let (issuer, api) = peers::oauth2(ID, SECRET, &[]);
        let c = config(
            format!("http://127.0.0.1:{issuer}/token"),
            &api,
            json!({"method": "POST", "client_auth": "body"}),
        );
        let path = config_file(&c.to_string(), "json");
        let out = run_with_env(
            &[
                "check",
                path.to_str().unwrap(),
                "--allow-private",
                "--allow-env",
                "APICONN_SECRET_OAUTH",
            ],
            &[("APICONN_SECRET_OAUTH", SECRET)],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["auth"]["response"]["status"], 200);
        assert_eq!(report["auth"]["response"]["body"]["access_token"], "***");
        assert_eq!(report["auth"]["response"]["body"]["token_type"], "Bearer");
        assert_eq!(report["auth"]["request"]["body"]["client_secret"], "***");
        assert_eq!(report["auth"]["request"]["body"]["client_id"], ID);
        assert_eq!(report["request"]["headers"]["Authorization"], "***");
        assert_eq!(report["response"]["body"]["records"][0]["id"], 10);
        assert!(
            !out.stdout.contains(SECRET) && !out.stdout.contains("eyJ"),
            "{}",
            out.stdout
        );
    }
}

mod appkey {
    use super::*;

    fn config(server: &Peer, method: &str, read: Value) -> Value {
        json!({"source": {"name": "gw", "url": server.url(),
                          "auth": {"type": "appkey", "app_key": "204131540", "app_secret": "${env:APICONN_SECRET_APP}", "signature_method": method}},
               "read": read})
    }

    fn read_signed(config: &Value, secret: &str) -> Run {
        let path = config_file(&config.to_string(), "json");
        run_with_env(
            &[
                "read",
                path.to_str().unwrap(),
                "--allow-private",
                "--allow-env-prefix",
                "APICONN_SECRET_",
            ],
            &[("APICONN_SECRET_APP", secret)],
        )
    }

    #[test]
    fn get_query_post_form_and_post_json_verify_with_both_methods() {
        let server = peers::appkey_verifier("204131540", "gw-secret-1");
        for method in ["HmacSHA256", "HmacSHA1"] {
            for (read, expected) in [
                (
                    json!({"path": "/Third/Tools/checkSign", "params": {"b": "x y", "a": "", "n": 3}, "records": "records"}),
                    "GET",
                ),
                (
                    json!({"method": "POST", "path": "/orders/search", "params": {"z": 1}, "body": {"since": "2024-01-01", "tag": "α"}, "body_format": "form", "records": "records"}),
                    "POST",
                ),
                (
                    json!({"method": "POST", "path": "/orders/search", "body": {"filter.city": "hz", "limit": 10}, "records": "records"}),
                    "POST",
                ),
            ] {
                let out = read_signed(&config(&server, method, read.clone()), "gw-secret-1");
                assert_eq!(out.code, 0, "{method} {read}: {}", out.stderr);
                assert_eq!(
                    out.records(),
                    vec![
                        json!({"id": 1, "method": expected}),
                        json!({"id": 2, "method": expected})
                    ]
                );
            }
        }
    }

    #[test]
    fn a_wrong_secret_is_refused() {
        let server = peers::appkey_verifier("204131540", "gw-secret-1");
        let out = read_signed(
            &config(&server, "HmacSHA256", json!({"records": "records"})),
            "other-secret",
        );
        assert_eq!(out.code, 5);
        assert!(
            out.stderr.contains("HTTP 401") && out.stderr.contains("signature mismatch"),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains("other-secret"), "{}", out.stderr);
    }
}

mod signature {
    use super::*;

    /// HMAC-SHA256 hex with Python's standard library: independent of the connector.
    fn python_hmac(secret: &str, text: &str) -> String {
        let out = std::process::Command::new("python3")
            .args(["-c", "import hmac,hashlib,sys;print(hmac.new(sys.argv[1].encode(),sys.argv[2].encode(),hashlib.sha256).hexdigest())", secret, text])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn generated_values_on_the_wire_are_the_ones_signed() {
        let api = TestApi::start(|_| Reply::json(200, &json!([{"id": 1}])));
        let out = read(json!({"source": {"name": "t", "url": api.url()},
            "read": {"params": {"appKey": "demo", "timestamp": {"timestamp": "ms"}, "nonce": {"random": "hex32"}},
                     "signature": {"name": "sign", "location": "params", "function": "HMAC_SHA256", "secret": "secret"}}}));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let seen = &api.seen()[0];
        let text = format!(
            "appKey=demo&nonce={}&timestamp={}",
            seen.param("nonce").unwrap(),
            seen.param("timestamp").unwrap()
        );
        assert_eq!(seen.param("sign").unwrap(), python_hmac("secret", &text));
    }

    #[test]
    fn a_signature_header_over_a_json_body() {
        let api = TestApi::start(|_| Reply::json(200, &json!([])));
        let out = read(json!({"source": {"name": "t", "url": api.url()},
            "read": {"method": "POST", "body": {"b": 2, "a": "x"},
                     "signature": {"name": "X-Sign", "location": "headers", "function": "HMAC_SHA256", "secret": "k",
                                   "content": {"from": ["body"], "prefix": "POST&", "separator": ","}}}}));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let seen = &api.seen()[0];
        assert_eq!(
            seen.header("x-sign").unwrap(),
            python_hmac("k", "POST&a=x,b=2")
        );
    }
}

#[test]
fn credentials_never_reach_another_origin() {
    let other = TestApi::start(|_| Reply::json(200, &json!([{"id": 99}])));
    let next = format!("{}/steal", other.url());
    let api = TestApi::start(move |_| {
        let mut r = Reply::json(200, &json!([{"id": 1}]));
        r.headers
            .push(("link".into(), format!("<{next}>; rel=\"next\"")));
        r
    });
    let out = read(
        json!({"source": {"name": "t", "url": api.url(), "auth": {"type": "bearer", "token": "secret-token"}},
                          "read": {"paginate": {"type": "link", "from": "header"}}}),
    );
    assert_eq!(out.code, 6);
    assert!(
        out.stderr.contains(&format!(
            "egress refused: {} is not an origin of this config",
            other.url()
        )),
        "{}",
        out.stderr
    );
    assert!(other.seen().is_empty(), "the other origin saw nothing");
    assert_eq!(
        api.seen()[0].header("authorization"),
        Some("Bearer secret-token")
    );
}
