//! Loud and debuggable (README "Warnings and `--strict`", "The request log",
//! "Exit statuses"): no silent short reads, one log line per request, exit
//! statuses that say what failed, signals and a closed stdout.

use apiconn_tests::api::{Reply, TestApi};
use apiconn_tests::bin::{apiconn, cache_dir, config_file, run, run_with_env};
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn read(config: &Value, extra: &[&str]) -> apiconn_tests::bin::Run {
    let path = config_file(&config.to_string(), "json");
    let mut args = vec!["read", path.to_str().unwrap(), "--allow-private"];
    args.extend_from_slice(extra);
    run(&args)
}

/// The stderr lines a run wrote, but for its summary line.
fn lines(stderr: &str) -> Vec<&str> {
    stderr.lines().collect()
}

/// A DRF-style API: 7 items in pages of 3 (`?page=N`), `count`, `next`,
/// `results`, and a 404 past the last page.
fn drf() -> TestApi {
    TestApi::start(|req| {
        let page: usize = req.param("page").unwrap_or("1").parse().unwrap();
        if page > 3 {
            return Reply::json(404, &json!({"detail": "Invalid page."}));
        }
        let ids: Vec<Value> = ((page - 1) * 3 + 1..=(page * 3).min(7))
            .map(|i| json!({"id": i}))
            .collect();
        let next = (page < 3).then(|| format!("http://x/items?page={}", page + 1));
        Reply::json(200, &json!({"count": 7, "next": next, "results": ids}))
    })
}

#[test]
fn a_records_path_missing_from_the_response_is_a_warning_and_strict_makes_it_an_error() {
    let api = drf();
    let mut config = json!({"source": {"name": "t", "url": api.url()},
        "read": {"path": "/items", "records": "data", "paginate": {"type": "page", "param": "page"}}});
    let warning = format!(
        "read.records `data` is not in the response of GET {}/items, so it gave no records: \
         its top-level keys are `count`, `next`, `results`; did you mean `\"records\": \"results\"`?",
        api.url()
    );
    let out = read(&config, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(lines(&out.stderr)[0], format!(" WARN {warning}"));
    let out = read(&config, &["--strict"]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "error: unusable response: {warning} (--strict or read.strict: a warning is an error)"
        )),
        "{}",
        out.stderr
    );
    // The config switch does the same.
    config["read"]["strict"] = json!(true);
    let out = read(&config, &[]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(out.stderr.contains(&warning), "{}", out.stderr);
}

#[test]
fn a_cursor_that_vanishes_while_has_more_is_true_is_a_warning() {
    let api = TestApi::start(|req| match req.param("after") {
        None => Reply::json(
            200,
            &json!({"data": [{"id": 1}], "has_more": true, "next_cursor": "c1"}),
        ),
        // The second page loses its cursor but still says there is more.
        Some(_) => Reply::json(200, &json!({"data": [{"id": 2}], "has_more": true})),
    });
    let config = json!({"source": {"name": "t", "url": api.url()},
        "read": {"path": "/items", "records": "data",
                 "paginate": {"type": "cursor", "param": "after", "from": "next_cursor"}}});
    let out = read(&config, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "{\"id\":1}\n{\"id\":2}\n");
    assert_eq!(
        lines(&out.stderr)[0],
        format!(
            " WARN the pagination ended after page 2 (GET {}/items) while the response's \
             `has_more` is true: the read may be incomplete (check read.paginate: the next \
             cursor or link was not found)",
            api.url()
        )
    );
    let out = read(&config, &["--strict"]);
    assert_eq!(out.code, 7, "{}", out.stderr);
}

#[test]
fn a_short_page_while_the_total_says_more_is_a_warning() {
    // Pages of 3, but the second page is short: the stop condition ends the
    // loop with 5 records while `total` says 9.
    let api = TestApi::start(|req| {
        let page: usize = req.param("page").unwrap().parse().unwrap();
        let n = if page == 1 { 3 } else { 2 };
        let items: Vec<Value> = (0..n).map(|i| json!({"id": page * 10 + i})).collect();
        Reply::json(200, &json!({"items": items, "total": 9}))
    });
    let config = json!({"source": {"name": "t", "url": api.url()},
        "read": {"path": "/items", "records": "items",
                 "paginate": {"type": "page", "param": "page", "stop": ["records < 3"]}}});
    let out = read(&config, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records().len(), 5);
    assert_eq!(
        lines(&out.stderr)[0],
        format!(
            " WARN the pagination ended after page 2 (GET {}/items) with 5 records while the \
             response's `total` says 9: the read may be incomplete (check read.paginate and its \
             stop conditions)",
            api.url()
        )
    );
}

#[test]
fn a_page_loop_without_a_stop_condition_that_ends_on_a_404_suggests_one_and_counts_every_request() {
    let api = drf();
    let config = json!({"source": {"name": "t", "url": api.url()},
        "read": {"path": "/items", "records": "results", "paginate": {"type": "page", "param": "page"}}});
    let out = read(&config, &[]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(out.records().len(), 7);
    assert_eq!(
        lines(&out.stderr),
        [
            "read 7 records in 4 requests before the failure".to_string(),
            format!(
                "error: HTTP 404: GET {}/items: {{\"detail\":\"Invalid page.\"}} (read.paginate \
                 has no stop condition, so the loop asked past the last page; add one, e.g. \
                 `\"stop\": [\"response.next == null\"]`)",
                api.url()
            )
        ]
    );
}

#[test]
fn the_failure_summary_counts_the_requests_of_the_failed_batch() {
    let api = TestApi::start(|_| Reply::json(503, &json!({"busy": true})));
    let config = json!({"source": {"name": "t", "url": api.url(), "retries": 2},
        "read": {"path": "/items"}});
    let out = read(&config, &[]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(api.seen().len(), 3);
    assert_eq!(
        lines(&out.stderr)[0],
        "read 0 records in 3 requests before the failure"
    );
}

#[test]
fn with_records_unset_a_response_holding_one_array_suggests_that_key() {
    let api = TestApi::start(|_| Reply::json(200, &json!({"items": [{"id": 1}], "n": 1})));
    let config = json!({"source": {"name": "t", "url": api.url()}, "read": {"path": "/items"}});
    let out = read(&config, &[]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert_eq!(
        lines(&out.stderr)[1],
        "error: non-compliant record: record 0 (item 0 of response 1): read.records is unset, so \
         the whole response is one record, and it is an object holding one array, `items`: set \
         `\"records\": \"items\"` to read its items as records"
    );
}

#[test]
fn type_json_on_an_array_already_written_as_json_is_not_encoded_twice() {
    let api = TestApi::start(|_| {
        Reply::json(
            200,
            &json!({"data": [{"id": 1, "tags": ["a", "b"], "meta": {"k": 1}}]}),
        )
    });
    let config = json!({"source": {"name": "t", "url": api.url()},
        "read": {"path": "/x", "records": "data", "flatten": {"arrays": "json"},
                 "fields": [{"name": "id", "type": "long"}, {"name": "tags", "type": "json"}, {"name": "meta.k", "type": "json"}]}});
    let out = read(&config, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "{\"id\":1,\"tags\":\"[\\\"a\\\",\\\"b\\\"]\",\"meta.k\":\"1\"}\n"
    );
}

#[test]
fn verbose_logs_one_line_per_request_with_retries_waits_records_and_the_next_page() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let api = TestApi::start(move |req| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            return Reply::json(503, &json!({"busy": 1}));
        }
        let page: usize = req.param("page").unwrap().parse().unwrap();
        let items: Vec<Value> = match page {
            1 => vec![json!({"id": 1}), json!({"id": 2})],
            _ => vec![],
        };
        Reply::json(200, &json!({"items": items}))
    });
    let config = json!({"source": {"name": "t", "url": api.url(), "retries": 2},
        "read": {"path": "/items", "records": "items", "params": {"key": "${env:LOUD_TEST_KEY}"},
                 "paginate": {"type": "page", "param": "page"}}});
    let path = config_file(&config.to_string(), "json");
    let out = run_with_env(
        &[
            "read",
            path.to_str().unwrap(),
            "--allow-private",
            "--allow-env",
            "LOUD_TEST_KEY",
            "-v",
        ],
        &[("LOUD_TEST_KEY", "k3y-s3cr3t")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("k3y-s3cr3t"), "{}", out.stderr);
    // Times vary: `in N ms`; everything else is exact.
    let shown: Vec<String> = out
        .stderr
        .lines()
        .map(|l| {
            let mut words: Vec<&str> = l.split(' ').collect();
            for i in 1..words.len().saturating_sub(1) {
                if words[i - 1] == "in"
                    && words[i].parse::<u64>().is_ok()
                    && words[i + 1].starts_with("ms")
                {
                    words[i] = "N";
                }
            }
            if l.starts_with("read ") {
                words.pop();
            }
            words.join(" ")
        })
        .collect();
    let url = format!("{}/items?key=***", api.url());
    assert_eq!(
        shown,
        [
            format!("GET {url}&page=1 -> 503, 10 bytes in N ms; retry 1 of 2 in N ms"),
            format!("GET {url}&page=1 -> 200, 29 bytes in N ms, 2 records, next: page=2"),
            format!("GET {url}&page=2 -> 200, 12 bytes in N ms, 0 records, the read is complete"),
            "read 2 records in 3 requests".to_string(),
        ],
        "{}",
        out.stderr
    );
}

#[test]
fn apiconn_log_debug_shows_apiconns_events_and_the_request_log_but_not_the_engines() {
    let api = TestApi::start(|_| Reply::json(200, &json!([{"id": 1}])));
    let config = json!({"source": {"name": "dbg", "url": api.url()}, "read": {"path": "/x"}});
    let path = config_file(&config.to_string(), "json");
    let out = run_with_env(
        &["read", path.to_str().unwrap(), "--allow-private"],
        &[("APICONN_LOG", "debug")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let origin = api.url();
    assert!(
        out.stderr.contains(&format!(
            "DEBUG connector `dbg`: may contact {origin}; timeout 30000 ms; rate limit None"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("GET {origin}/x -> 200, 10 bytes in ")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("DEBUG batch 1: 1 records in 1 requests; checkpoint "),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("wasmtime") && !out.stderr.contains("cranelift"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_shows_response_headers_masked_and_the_next_request() {
    let api = TestApi::start(|req| {
        let mut r = Reply::json(
            200,
            &json!({"results": [{"id": 1}], "next": "n", "count": 3}),
        );
        r.headers.push(("x-total-count".into(), "3".into()));
        r.headers
            .push(("set-cookie".into(), "session=abc123".into()));
        assert_eq!(req.param("page"), Some("1"));
        r
    });
    let config = json!({"source": {"name": "t", "url": api.url()},
        "read": {"path": "/items", "records": "results",
                 "paginate": {"type": "page", "param": "page", "stop": ["response.next == null"]}}});
    let path = config_file(&config.to_string(), "json");
    let out = run(&["check", path.to_str().unwrap(), "--allow-private"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["response"]["headers"]["x-total-count"], "3");
    assert_eq!(report["response"]["headers"]["set-cookie"], "***");
    assert!(!out.stdout.contains("abc123"));
    assert_eq!(
        report["next_request"],
        json!({"method": "GET", "url": format!("{}/items?page=2", api.url())})
    );
    assert_eq!(report["ok"], true);
    assert_eq!(report["warnings"], json!([]));
}

#[test]
fn check_says_what_is_wrong_instead_of_ok() {
    let api = drf();
    let config = json!({"source": {"name": "t", "url": api.url()},
        "read": {"path": "/items", "records": "data"}});
    let path = config_file(&config.to_string(), "json");
    let out = run(&["check", path.to_str().unwrap(), "--allow-private"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["records"], 0);
    assert!(
        out.stderr
            .starts_with("warning: read.records `data` is not in the response of GET"),
        "{}",
        out.stderr
    );
    let out = run(&[
        "check",
        path.to_str().unwrap(),
        "--allow-private",
        "--strict",
    ]);
    assert_eq!(out.code, 7, "{}", out.stderr);
}

mod exit_statuses {
    use super::*;

    #[test]
    fn usage_is_2_and_config_is_3() {
        assert_eq!(run(&["read"]).code, 2);
        assert_eq!(run(&["read", "x.json", "--no-such-flag"]).code, 2);
        let path = config_file(
            r#"{"source": {"name": "t", "url": "https://x.example"}, "read": {"recods": "a"}}"#,
            "json",
        );
        let out = run(&["validate", path.to_str().unwrap()]);
        assert_eq!(out.code, 3, "{}", out.stderr);
        let out = run(&["read", path.to_str().unwrap()]);
        assert_eq!(out.code, 3, "{}", out.stderr);
        // A secret the operator did not allow.
        let path = config_file(
            r#"{"source": {"name": "t", "url": "https://x.example", "auth": {"type": "bearer", "token": "${env:LOUD_NOT_ALLOWED}"}}, "read": {}}"#,
            "json",
        );
        assert_eq!(run(&["read", path.to_str().unwrap()]).code, 3);
        // A config refused by an operator flag.
        let path = config_file(
            r#"{"source": {"name": "t", "url": "https://x.example", "timeout_ms": 200000}, "read": {}}"#,
            "json",
        );
        assert_eq!(run(&["read", path.to_str().unwrap()]).code, 3);
    }

    #[test]
    fn a_405_from_the_token_endpoint_is_auth_4_and_names_the_method() {
        let api = TestApi::start(|req| match req.path.as_str() {
            "/token" if req.method == "GET" => Reply::json(405, &json!({"error": "use POST"})),
            _ => Reply::json(200, &json!([])),
        });
        let config = json!({"source": {"name": "t", "url": api.url(),
            "auth": {"type": "oauth2", "token_url": format!("{}/token", api.url()),
                     "client_id": "i", "client_secret": "loud-client-secret"}}, "read": {"path": "/x"}});
        let out = read(&config, &[]);
        assert_eq!(out.code, 4, "{}", out.stderr);
        assert!(
            out.stderr.contains(
                "(source.auth.method defaults to GET for the token request; this endpoint \
                 refused it: set `\"method\": \"POST\"` in source.auth)"
            ),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn http_status_is_5_transport_and_limits_are_6_data_is_7() {
        let api = TestApi::start(|req| match req.path.as_str() {
            "/gone" => Reply::json(410, &json!({})),
            "/html" => Reply::text(200, "text/html", "<html>"),
            // Every page differs, so only max_requests stops the loop.
            _ => Reply::json(
                200,
                &json!({"items": [{"id": req.param("p").unwrap_or("0")}]}),
            ),
        });
        let base = |path: &str| json!({"source": {"name": "t", "url": api.url(), "retries": 0}, "read": {"path": path}});
        assert_eq!(read(&base("/gone"), &[]).code, 5);
        assert_eq!(read(&base("/html"), &[]).code, 7);
        // Egress refused: a loopback target without --allow-private.
        let path = config_file(&base("/x").to_string(), "json");
        let out = run(&["read", path.to_str().unwrap()]);
        assert_eq!(out.code, 6, "{}", out.stderr);
        // A closed port.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let out = read(
            &json!({"source": {"name": "t", "url": format!("http://127.0.0.1:{port}"), "retries": 0}, "read": {}}),
            &[],
        );
        assert_eq!(out.code, 6, "{}", out.stderr);
        // max_requests.
        let mut looping = base("/x");
        looping["read"]["records"] = json!("items");
        looping["read"]["max_requests"] = json!(2);
        looping["read"]["paginate"] =
            json!({"type": "page", "param": "p", "stop": ["requests > 5"]});
        let out = read(&looping, &[]);
        assert_eq!(out.code, 6, "{}", out.stderr);
        assert!(out.stderr.contains("read.max_requests (2) reached"));
    }
}

/// Runs `apiconn ARGS`, sends `signal` once `api` has answered two
/// requests (the read is under way; its stderr is read meanwhile), and waits.
fn interrupted(api: &TestApi, args: &[&str], signal: i32) -> (i32, String) {
    let before = api.seen().len();
    let mut child = Command::new(apiconn())
        .args(args)
        .env("APICONN_CACHE_DIR", cache_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.seen().len() < before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), stderr.join().unwrap())
}

/// An endless, slow API: every page has a record and a next page.
fn endless() -> TestApi {
    TestApi::start(|req| {
        std::thread::sleep(Duration::from_millis(100));
        let page: u64 = req.param("page").unwrap_or("1").parse().unwrap();
        Reply::json(200, &json!({"items": [{"id": page}]}))
    })
}

fn endless_config(api: &TestApi) -> tempfile::TempPath {
    config_file(
        &json!({"source": {"name": "t", "url": api.url()},
                "read": {"path": "/items", "records": "items", "max_requests": 100000,
                         "paginate": {"type": "page", "param": "page"}}})
        .to_string(),
        "json",
    )
}

#[test]
fn sigint_and_sigterm_cut_a_one_shot_read_short_with_130_and_143() {
    let api = endless();
    let config = endless_config(&api);
    let args = ["read", config.to_str().unwrap(), "--allow-private"];
    let (code, stderr) = interrupted(&api, &args, libc::SIGINT);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains(", stopped by SIGINT before the end: the output is incomplete"),
        "{stderr}"
    );
    let (code, stderr) = interrupted(&api, &args, libc::SIGTERM);
    assert_eq!(code, 143, "{stderr}");
    assert!(
        stderr.contains(", stopped by SIGTERM before the end"),
        "{stderr}"
    );
    // --follow with --state: a SIGTERM between batches is the clean end.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut follow = args.to_vec();
    follow.extend(["--state", state.to_str().unwrap(), "--follow"]);
    let (code, stderr) = interrupted(&api, &follow, libc::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(", stopped by SIGTERM with the state saved"),
        "{stderr}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly_with_141() {
    let api = endless();
    let config = endless_config(&api);
    let mut child = Command::new(apiconn())
        .args(["read", config.to_str().unwrap(), "--allow-private"])
        .env("APICONN_CACHE_DIR", cache_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one line, then close the pipe.
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 9];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"{\"id\":1}\n");
    drop(out);
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert_eq!(stderr, "", "nothing about a broken pipe");
}

#[test]
fn unknown_keys_within_a_small_edit_distance_get_a_did_you_mean() {
    let path = config_file(
        r#"{"source": {"name": "t", "url": "https://x.example"}, "read": {"record": "data"}}"#,
        "json",
    );
    let out = run(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains(
            "  read.record: unknown key: did you mean `records`? (expected one of: method, path,"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_checks_secret_references_without_reading_them() {
    let path = config_file(
        r#"{"source": {"name": "t", "url": "https://x.example",
             "auth": {"type": "bearer", "token": "${env:LOUD_CI_TOKEN_NEVER_SET}"}},
            "read": {"headers": {"X-Key": "${file:key}"}}}"#,
        "json",
    );
    let p = path.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // Neither the variable nor the file exists: the config is still valid.
    let out = run(&[
        "validate",
        p,
        "--allow-env",
        "LOUD_CI_TOKEN_NEVER_SET",
        "--secrets-dir",
        d,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, format!("{p}: valid\n"));
    // Permission is checked as a read would.
    let out = run(&["validate", p]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains(&format!(
        "{p}: source.auth.token: ${{env:LOUD_CI_TOKEN_NEVER_SET}}: environment variable `LOUD_CI_TOKEN_NEVER_SET` is not allowed"
    )), "{}", out.stderr);
    assert!(out.stderr.contains(&format!(
        "{p}: read.headers.X-Key: ${{file:key}}: `key` is read from --secrets-dir DIR, and none was given"
    )), "{}", out.stderr);
    // --resolve-secrets reads them, as `read` does.
    let out = run(&[
        "validate",
        p,
        "--allow-env",
        "LOUD_CI_TOKEN_NEVER_SET",
        "--secrets-dir",
        d,
        "--resolve-secrets",
    ]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .contains("environment variable `LOUD_CI_TOKEN_NEVER_SET` is not set"),
        "{}",
        out.stderr
    );
}

#[test]
fn init_writes_the_schema_and_points_json_yaml_and_toml_configs_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let json_config = dir.path().join("orders.json");
    std::fs::write(
        &json_config,
        "{\n  \"source\": {\"name\": \"o\", \"url\": \"https://x.example\"},\n  \"read\": {}\n}\n",
    )
    .unwrap();
    let out = run(&["init", json_config.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("apiconn.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(schema["title"], "apiconn connector config");
    assert_eq!(
        std::fs::read_to_string(&json_config).unwrap(),
        "{\n  \"$schema\": \"./apiconn.schema.json\",\n  \"source\": {\"name\": \"o\", \"url\": \"https://x.example\"},\n  \"read\": {}\n}\n"
    );
    // A config naming its schema is valid.
    let out = run(&["validate", json_config.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let yaml = dir.path().join("orders.yaml");
    std::fs::write(
        &yaml,
        "source:\n  name: o\n  url: https://x.example\nread: {}\n",
    )
    .unwrap();
    assert_eq!(run(&["init", yaml.to_str().unwrap()]).code, 0);
    assert_eq!(
        std::fs::read_to_string(&yaml).unwrap(),
        "# yaml-language-server: $schema=./apiconn.schema.json\nsource:\n  name: o\n  url: https://x.example\nread: {}\n"
    );
    assert_eq!(run(&["validate", yaml.to_str().unwrap()]).code, 0);
    let toml = dir.path().join("orders.toml");
    std::fs::write(
        &toml,
        "[source]\nname = \"o\"\nurl = \"https://x.example\"\n",
    )
    .unwrap();
    assert_eq!(run(&["init", toml.to_str().unwrap()]).code, 0);
    assert!(
        std::fs::read_to_string(&toml)
            .unwrap()
            .starts_with("#:schema ./apiconn.schema.json\n[source]\n")
    );
    // Twice is once.
    let before = std::fs::read_to_string(&yaml).unwrap();
    assert_eq!(run(&["init", yaml.to_str().unwrap()]).code, 0);
    assert_eq!(std::fs::read_to_string(&yaml).unwrap(), before);
}

#[test]
fn sandbox_flags_are_shown_only_where_they_apply_and_help_has_examples() {
    let top = run(&["--help"]);
    assert_eq!(top.code, 0);
    assert!(
        top.stdout
            .contains("Examples:\n  apiconn read orders.yaml -o orders.ndjson")
    );
    assert!(
        top.stdout
            .contains("Exit statuses: 0 success, 1 internal error, 2 usage, 3 config")
    );
    assert!(!top.stdout.contains("--allow-private"), "{}", top.stdout);
    let read = run(&["read", "--help"]);
    assert!(read.stdout.contains("--allow-private") && read.stdout.contains("--strict"));
    assert!(read.stdout.contains("Examples:"));
    for quiet in ["schema", "validate", "init"] {
        let out = run(&[quiet, "--help"]);
        assert_eq!(out.code, 0);
        assert!(
            !out.stdout.contains("--allow-private"),
            "{quiet}: {}",
            out.stdout
        );
        assert!(
            !out.stdout.contains("--max-memory"),
            "{quiet}: {}",
            out.stdout
        );
    }
    // `validate` takes the ones that do not change its verdict, unshown,
    // so a script can give it the flags it gives `read`.
    let path = config_file(
        r#"{"source": {"name": "t", "url": "https://x.example"}, "read": {}}"#,
        "json",
    );
    let out = run(&[
        "--allow-private",
        "validate",
        path.to_str().unwrap(),
        "--max-memory",
        "64",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Scripts that put them before the subcommand keep working.
    let api = TestApi::start(|_| Reply::json(200, &json!([{"id": 1}])));
    let path = config_file(
        &json!({"source": {"name": "t", "url": api.url()}, "read": {}}).to_string(),
        "json",
    );
    let out = run(&["--allow-private", "read", path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "{\"id\":1}\n");
}

/// A small pty: the child's stdin, stderr (and controlling terminal) are
/// the terminal; Ctrl-C typed on it is SIGINT from the line discipline.
#[test]
fn on_a_terminal_the_progress_line_shows_and_ctrl_c_stops_with_130() {
    use std::os::unix::process::CommandExt;
    let api = endless();
    let config = endless_config(&api);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.ndjson");
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors; no name, termios or size given.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0);
    // SAFETY: the descriptors are ours; each Stdio takes its own duplicate.
    let tty = |fd: i32| unsafe { Stdio::from_raw_fd_dup(fd) };
    let mut cmd = Command::new(apiconn());
    cmd.args([
        "read",
        config.to_str().unwrap(),
        "--allow-private",
        "-o",
        output.to_str().unwrap(),
    ])
    .env("APICONN_CACHE_DIR", cache_dir())
    .stdin(tty(slave))
    .stdout(Stdio::null())
    .stderr(tty(slave));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // SAFETY: the parent's copy of the terminal end is not needed.
    unsafe { libc::close(slave) };
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reading into our own buffer from our own descriptor.
            let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 || tx.send(buf[..n as usize].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !screen.contains(" records, ") && Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            screen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    assert!(
        screen.contains(" records, ") && screen.contains(" requests, "),
        "the progress line: {screen:?}"
    );
    // Ctrl-C, typed.
    // SAFETY: writing one byte from our own buffer to our own descriptor.
    assert_eq!(
        unsafe { libc::write(master, b"\x03".as_ptr().cast(), 1) },
        1
    );
    let status = child.wait().unwrap();
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(500)) {
        screen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(status.code(), Some(130), "{screen:?}");
    assert!(
        screen.contains(", stopped by SIGINT before the end: the output is incomplete"),
        "{screen:?}"
    );
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(written.starts_with("{\"id\":1}\n"), "{written}");
}

trait FromRawFdDup {
    /// A `Stdio` of a duplicate of `fd`.
    unsafe fn from_raw_fd_dup(fd: i32) -> Stdio;
}

impl FromRawFdDup for Stdio {
    unsafe fn from_raw_fd_dup(fd: i32) -> Stdio {
        use std::os::fd::FromRawFd;
        // SAFETY: the caller owns `fd`; the duplicate is handed to the Stdio.
        unsafe { Stdio::from_raw_fd(libc::dup(fd)) }
    }
}
