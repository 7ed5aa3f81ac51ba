//! Reads against the scriptable test API: what goes on the wire, what comes
//! out, and the errors a user gets when something is wrong.

use apiconn_tests::api::{Reply, TestApi};
use apiconn_tests::bin::{config_file, run, run_with_env};
use serde_json::{Value, json};

fn read(config: Value) -> apiconn_tests::bin::Run {
    let path = config_file(&config.to_string(), "json");
    run(&["read", path.to_str().unwrap(), "--allow-private"])
}

#[test]
fn nested_records_are_flattened_and_typed_with_get_params_and_basic_auth() {
    let api = TestApi::start(|req| {
        if req.header("authorization") != Some("Basic YWxpY2U6czNjcmV0") {
            return Reply::json(401, &json!({"error": "who are you"}));
        }
        Reply::json(
            200,
            &json!({"code": 0, "data": {"result": [
                {"id": "7", "user": {"name": "Ann", "hobbies": {"sports": "ski"}}, "joined": "2024-01-02"},
                {"id": 8, "user": {"name": "Bo", "hobbies": {}}, "joined": null}
            ]}}),
        )
    });
    let out = read(json!({
        "source": {"name": "t", "url": format!("{}/api/", api.url()),
                   "auth": {"type": "basic", "username": "alice", "password": "s3cret"}},
        "read": {"path": "/users", "params": {"since": "2024-01-01", "limit": 50, "flag": true},
                 "headers": {"X-Ts": {"timestamp": "s"}},
                 "records": "$.data.result",
                 "flatten": {"separator": "_"},
                 "fields": [{"name": "id", "type": "long"}, {"name": "user_name", "as": "name"},
                            {"name": "user_hobbies_sports", "as": "sport"}, {"name": "joined", "type": "date"}]}
    }));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "{\"id\":7,\"name\":\"Ann\",\"sport\":\"ski\",\"joined\":\"2024-01-02\"}\n{\"id\":8,\"name\":\"Bo\",\"sport\":null,\"joined\":null}\n"
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/api/users")
    );
    assert_eq!(
        req.query,
        [("since", "2024-01-01"), ("limit", "50"), ("flag", "true")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let ts: i64 = req.header("x-ts").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() < 60, "timestamp {ts} is not now ({now})");
}

#[test]
fn post_sends_a_json_body_with_nested_keys() {
    let api = TestApi::start(|_| Reply::json(200, &json!([{"id": 1}])));
    let out = read(json!({
        "source": {"name": "t", "url": api.url(), "auth": {"type": "bearer", "token": "tok"}},
        "read": {"method": "POST", "path": "search", "body": {"query.city": "Berlin", "query.limit": 10, "nonce": {"random": "hex32"}}}
    }));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "{\"id\":1}\n");
    let req = &api.seen()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), Some("Bearer tok"));
    let body = req.body_json();
    assert_eq!(body["query"], json!({"city": "Berlin", "limit": 10}));
    let nonce = body["nonce"].as_str().unwrap();
    assert!(
        nonce.len() == 32 && nonce.chars().all(|c| c.is_ascii_hexdigit()),
        "{nonce}"
    );
}

#[test]
fn an_array_field_fails_the_run_naming_record_and_field() {
    let api = TestApi::start(|_| {
        Reply::json(
            200,
            &json!({"items": [{"id": 1}, {"id": 2, "tags": {"list": ["a", "b"]}}]}),
        )
    });
    let config = json!({"source": {"name": "t", "url": api.url()}, "read": {"records": "items"}});
    let out = read(config.clone());
    assert_eq!(out.code, 7);
    assert!(
        out.stderr.contains(
            "non-compliant record: record 1 (item 1 of response 1): field `tags.list` is an array"
        ),
        "{}",
        out.stderr
    );
    // Nothing of the failed batch reached stdout.
    assert_eq!(out.stdout, "");
    // With `arrays: json` the same read succeeds.
    let mut lenient = config;
    lenient["read"]["flatten"] = json!({"arrays": "json"});
    let out = read(lenient);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "{\"id\":1}\n{\"id\":2,\"tags.list\":\"[\\\"a\\\",\\\"b\\\"]\"}\n"
    );
}

#[test]
fn a_404_is_a_clear_error_with_exit_status_5_and_no_retry() {
    let api = TestApi::start(|_| Reply::json(404, &json!({"message": "no route /nope"})));
    let out = read(json!({"source": {"name": "t", "url": api.url()}, "read": {"path": "nope"}}));
    assert_eq!(out.code, 5);
    let expected = format!(
        "error: HTTP 404: GET {}/nope: {{\"message\":\"no route /nope\"}}",
        api.url()
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    assert_eq!(api.seen().len(), 1, "a 404 is not retried");
}

#[test]
fn a_body_that_is_not_json_is_a_clear_error() {
    let api =
        TestApi::start(|_| Reply::text(200, "text/html", "<html><body>Maintenance</body></html>"));
    let out = read(json!({"source": {"name": "t", "url": api.url()}, "read": {}}));
    assert_eq!(out.code, 7);
    assert!(
        out.stderr.contains("unusable response: GET"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("with a body that is not JSON"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("<html><body>Maintenance</body></html>"),
        "{}",
        out.stderr
    );
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let calls = std::sync::atomic::AtomicU32::new(0);
    let api = TestApi::start(move |_| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            Reply::json(503, &json!({"error": "busy"}))
        } else {
            Reply::json(200, &json!([{"ok": true}]))
        }
    });
    let out = read(json!({"source": {"name": "t", "url": api.url(), "retries": 2}, "read": {}}));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "{\"ok\":true}\n");
    assert_eq!(api.seen().len(), 3);
    assert!(
        out.stderr.contains("read 1 records in 3 requests"),
        "{}",
        out.stderr
    );
}

#[test]
fn secrets_from_env_are_used_but_never_shown() {
    let api = TestApi::start(|req| {
        // A careless server that echoes the credential back in its error.
        Reply::json(
            403,
            &json!({"error": format!("token {} is revoked", req.header("authorization").unwrap_or(""))}),
        )
    });
    let config = json!({"source": {"name": "t", "url": api.url(), "auth": {"type": "bearer", "token": "${env:APICONN_SECRET_TOKEN}"}}, "read": {}});
    let path = config_file(&config.to_string(), "json");
    let out = run_with_env(
        &[
            "read",
            path.to_str().unwrap(),
            "--allow-private",
            "--allow-env-prefix",
            "APICONN_SECRET_",
        ],
        &[("APICONN_SECRET_TOKEN", "sk-live-42")],
    );
    assert_eq!(out.code, 5);
    assert_eq!(
        api.seen()[0].header("authorization"),
        Some("Bearer sk-live-42")
    );
    assert!(
        !out.stderr.contains("sk-live-42") && !out.stdout.contains("sk-live-42"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("token Bearer *** is revoked"),
        "{}",
        out.stderr
    );

    // A variable the operator did not allow is refused, by name, with the
    // flags that would allow it; the old implicit prefix is gone.
    let config = json!({"source": {"name": "t", "url": api.url(), "auth": {"type": "bearer", "token": "${env:HOME}"}}, "read": {}});
    let path = config_file(&config.to_string(), "json");
    let out = run(&["read", path.to_str().unwrap(), "--allow-private"]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .contains("source.auth.token: ${env:HOME}: environment variable `HOME` is not allowed"),
        "{}",
        out.stderr
    );
    let config = json!({"source": {"name": "t", "url": api.url(), "auth": {"type": "bearer", "token": "${env:APICONN_SECRET_TOKEN}"}}, "read": {}});
    let path = config_file(&config.to_string(), "json");
    let out = run_with_env(
        &["read", path.to_str().unwrap(), "--allow-private"],
        &[("APICONN_SECRET_TOKEN", "sk-live-42")],
    );
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("invalid config:")
            && out.stderr.contains(
                "environment variable `APICONN_SECRET_TOKEN` is not allowed (pass --allow-env APICONN_SECRET_TOKEN, or --allow-env-prefix with a prefix of it)"
            ),
        "{}",
        out.stderr
    );
    assert_eq!(
        api.seen().len(),
        1,
        "nothing was sent for the refused configs"
    );
}

#[test]
fn loopback_is_refused_without_allow_private() {
    let api = TestApi::start(|_| Reply::json(200, &json!([])));
    let path = config_file(
        &json!({"source": {"name": "t", "url": api.url()}, "read": {}}).to_string(),
        "json",
    );
    let out = run(&["read", path.to_str().unwrap()]);
    assert_eq!(out.code, 6);
    assert!(
        out.stderr.contains(
            "egress refused: 127.0.0.1 resolves to 127.0.0.1, which is not a public address"
        ),
        "{}",
        out.stderr
    );
    assert!(api.seen().is_empty(), "no connection reached the server");
}
