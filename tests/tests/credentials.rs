//! Credentials never leave their origin and secrets never show (README,
//! "Security model"): a hostile API on one loopback port tries to move a
//! request's body, auth, signature or secret-bearing values to another
//! origin the config names, and echoes secrets back in every encoding.
//! Two ports of 127.0.0.1 are two origins.

use apiconn_tests::api::{Reply, Seen, TestApi};
use apiconn_tests::bin::{Run, config_file, run_with_env};
use apiconn_text::Masker;
use serde_json::{Value, json};

const SECRET: &str = "s3cr3t+/=&:~! 0123456789-abcdefghij";

fn read(config: Value, extra: &[&str]) -> Run {
    let path = config_file(&config.to_string(), "json");
    let mut args = vec![
        "read",
        path.to_str().unwrap(),
        "--allow-private",
        "--allow-env",
        "APICONN_SECRET_CRED",
    ];
    args.extend_from_slice(extra);
    run_with_env(&args, &[("APICONN_SECRET_CRED", SECRET)])
}

fn url(api: &TestApi) -> String {
    format!("http://127.0.0.1:{}", api.addr.port())
}

fn redirect(status: u16, to: String) -> Reply {
    let mut reply = Reply::json(status, &json!({}));
    reply.headers.push(("location".into(), to));
    reply
}

/// Every form of `SECRET` a request can carry, as the masker knows them.
fn secret_forms() -> Masker {
    let mut m = Masker::new();
    m.add(SECRET);
    m
}

#[test]
fn a_token_request_body_never_follows_a_redirect_to_another_origin() {
    let other = TestApi::start(|_| Reply::json(200, &json!({"access_token": "stolen"})));
    let other_url = url(&other);
    let to = other_url.clone();
    let token_host = TestApi::start(move |r| redirect(307, format!("{to}/token?from={}", r.path)));
    let out = read(
        json!({"source": {"name": "t", "url": other_url,
               "auth": {"type": "oauth2", "method": "POST", "token_url": format!("{}/token", url(&token_host)),
                        "client_id": "app", "client_secret": "${env:APICONN_SECRET_CRED}", "client_auth": "body"}},
               "read": {"path": "/items"}}),
        &[],
    );
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "redirect refused: {} answered 307 to send the request body to {other_url}",
            url(&token_host)
        )),
        "{}",
        out.stderr
    );
    assert!(other.seen().is_empty(), "the other origin saw nothing");
    assert_eq!(token_host.seen().len(), 1, "refused at once, not retried");
}

#[test]
fn an_api_key_body_never_follows_a_redirect_to_another_origin_but_same_origin_works() {
    // The other origin is named by the config (a values_from list).
    let other = TestApi::start(|r| match r.path.as_str() {
        "/cities" => Reply::json(200, &json!(["hz"])),
        _ => Reply::json(200, &json!([{"stolen": true}])),
    });
    let other_url = url(&other);
    let to = other_url.clone();
    let api = TestApi::start(move |r| match r.path.as_str() {
        "/leak" => redirect(308, format!("{to}/steal")),
        "/moved" => redirect(307, "/items".into()),
        _ => Reply::json(200, &json!([{"id": 1}])),
    });
    let config = |path: &str| {
        json!({"source": {"name": "t", "url": url(&api),
               "auth": {"type": "api_key", "key": "api_key", "value": "${env:APICONN_SECRET_CRED}", "add_to": "body"}},
               "read": {"method": "POST", "path": path, "body": {"q": 1},
                        "paginate": {"type": "traverse", "param": "city", "in": "body",
                                     "values_from": {"url": format!("{other_url}/cities")}}}})
    };
    let out = read(config("/leak"), &[]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "redirect refused: {} answered 308 to send the request body to {other_url}",
            url(&api)
        )),
        "{}",
        out.stderr
    );
    let stolen: Vec<Seen> = other
        .seen()
        .into_iter()
        .filter(|r| r.path == "/steal")
        .collect();
    assert!(stolen.is_empty(), "{stolen:?}");

    let same = read(config("/moved"), &[]);
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert_eq!(same.stdout, "{\"id\":1}\n");
    let items = api.seen().into_iter().find(|r| r.path == "/items").unwrap();
    assert_eq!(
        items.body_json()["api_key"],
        SECRET,
        "same origin keeps the body"
    );
}

#[test]
fn a_next_link_to_another_origin_gets_no_auth_signature_or_secret_values() {
    // The other origin is named by the config as the token host.
    let other = TestApi::start(|r| match r.path.as_str() {
        "/token" => Reply::json(200, &json!({"access_token": "tok-123456"})),
        _ => Reply::json(200, &json!([{"id": 2}])),
    });
    let next = format!("{}/page2", url(&other));
    let api = TestApi::start(move |_| {
        let mut reply = Reply::json(200, &json!([{"id": 1}]));
        reply.headers.push((
            "link".into(),
            format!("<{next}?stolen={}>; rel=\"next\"", "x"),
        ));
        reply
    });
    let out = read(
        json!({"source": {"name": "t", "url": url(&api),
               "auth": {"type": "oauth2", "method": "POST", "token_url": format!("{}/token", url(&other)),
                        "client_id": "app", "client_secret": "cs", "client_auth": "body"}},
               "read": {"path": "/items",
                        "headers": {"X-Token": "${env:APICONN_SECRET_CRED}", "X-Plain": "hello"},
                        "params": {"sig_key": "${env:APICONN_SECRET_CRED}"},
                        "signature": {"name": "sign", "location": "headers", "function": "HMAC_SHA256",
                                      "secret": "${env:APICONN_SECRET_CRED}"},
                        "paginate": {"type": "link", "from": "header"}}}),
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "{\"id\":1}\n{\"id\":2}\n");
    let first = &api.seen()[0];
    assert_eq!(first.header("authorization"), Some("Bearer tok-123456"));
    assert_eq!(first.header("x-token"), Some(SECRET));
    assert!(first.header("sign").is_some());
    let page2 = other
        .seen()
        .into_iter()
        .find(|r| r.path == "/page2")
        .unwrap();
    assert_eq!(page2.header("authorization"), None);
    assert_eq!(
        page2.header("x-token"),
        None,
        "a secret-bearing header stays home"
    );
    assert_eq!(
        page2.header("sign"),
        None,
        "no signature over the other origin's query"
    );
    assert_eq!(page2.header("x-plain"), Some("hello"));
    assert_eq!(page2.param("stolen"), Some("x"));
}

#[test]
fn secrets_echoed_by_a_server_never_show_in_any_encoding() {
    // The server echoes the request back in an error: headers, query, body,
    // JSON-escaped the way Go and Python write it, and percent-encoded.
    let api = TestApi::start(|r| {
        let echo = json!({"authorization": r.header("authorization"), "x-token": r.header("x-token"),
                           "query": r.query, "raw_query_like": format!("k={}", url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect::<String>())});
        let ascii = echo.to_string().replace('/', "\\/").replace('&', "\\u0026");
        Reply::text(
            400,
            "application/json",
            &format!(
                "{}{ascii}\u{1b}]0;pwned\u{7}\r\nerror: fake line",
                "x".repeat(10)
            ),
        )
    });
    let out = read(
        json!({"source": {"name": "t", "url": url(&api),
               "auth": {"type": "basic", "username": "alice", "password": "${env:APICONN_SECRET_CRED}"}},
               "read": {"path": "/items", "headers": {"X-Token": "${env:APICONN_SECRET_CRED}"},
                        "params": {"k": "${env:APICONN_SECRET_CRED}"}}}),
        &[],
    );
    assert_eq!(out.code, 5);
    assert!(out.stderr.contains("HTTP 400"), "{}", out.stderr);
    let mut forms = secret_forms();
    forms.add_basic("alice", SECRET);
    assert!(!forms.holds_secret(&out.stderr), "{}", out.stderr);
    assert!(out.stderr.contains("Basic ***"), "{}", out.stderr);
    // Server text cannot drive the terminal or fake a line.
    assert!(
        !out.stderr.contains('\u{1b}') && !out.stderr.contains('\r'),
        "{:?}",
        out.stderr
    );
    assert!(!out.stderr.contains("\nerror: fake line"), "{}", out.stderr);
}

#[test]
fn a_secret_cut_by_the_excerpt_is_masked_before_the_cut() {
    // 490 characters of filler put the secret across the 500-character cut.
    let api = TestApi::start(|_| {
        Reply::text(
            500,
            "text/plain",
            &format!("{}{SECRET} tail", "y".repeat(490)),
        )
    });
    let out = read(
        json!({"source": {"name": "t", "url": url(&api), "retries": 0,
               "auth": {"type": "bearer", "token": "${env:APICONN_SECRET_CRED}"}},
               "read": {"path": "/items"}}),
        &[],
    );
    assert_eq!(out.code, 5);
    assert!(!out.stderr.contains(&SECRET[..10]), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}***", "y".repeat(490))),
        "{}",
        out.stderr
    );
}

#[test]
fn a_token_found_at_run_time_is_masked_whatever_its_key() {
    let api = TestApi::start(|r| match r.path.as_str() {
        "/token" => Reply::json(200, &json!({"data": {"jwt": "eyJrun.time.token"}})),
        _ => Reply::json(
            403,
            &json!({"detail": "token not allowed", "got": r.header("authorization")}),
        ),
    });
    let config = json!({"source": {"name": "t", "url": url(&api),
        "auth": {"type": "oauth2", "method": "POST", "token_url": format!("{}/token", url(&api)),
                 "client_id": "app", "client_secret": "cs", "token_path": "data.jwt"}},
        "read": {"path": "/items"}});
    let out = read(config.clone(), &[]);
    assert_eq!(out.code, 5);
    assert!(out.stderr.contains("HTTP 403"), "{}", out.stderr);
    assert!(!out.stderr.contains("eyJrun"), "{}", out.stderr);
    assert!(out.stderr.contains("Bearer ***"), "{}", out.stderr);
    let path = config_file(&config.to_string(), "json");
    let check = run_with_env(&["check", path.to_str().unwrap(), "--allow-private"], &[]);
    let shown = format!("{}{}", check.stdout, check.stderr);
    assert!(!shown.contains("eyJrun"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
}
