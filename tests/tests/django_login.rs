//! `type: login` against DRF simplejwt under gunicorn (tests/peers/django):
//! 3-second access tokens during a slow multi-page read, renewed through
//! `/api/token/refresh/` before they expire, once after a 401, and counted
//! on the server's side.

use apiconn_tests::bin::{Run, config_file, run_with_env};
use apiconn_tests::peers::{Django, DjangoOptions};
use serde_json::{Value, json};

const PASSWORD: &str = "pa55-wörd+/=&x";

fn django() -> Django {
    Django::start(&DjangoOptions {
        password: PASSWORD.into(),
        access_seconds: 3,
        customers: 15,
        // 15 pages at 500 ms each: the read outlives several tokens.
        delay_ms: 500,
        ..DjangoOptions::default()
    })
}

/// `apiconn read examples/django/simplejwt-read.json` against `server`,
/// with `auth_extra` merged into its `source.auth`.
fn read(server: &Django, auth_extra: Value, password: &str) -> Run {
    let path = apiconn_tests::bin::root().join("examples/django/simplejwt-read.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    config["source"]["url"] = server.url().into();
    for (k, v) in auth_extra.as_object().unwrap() {
        config["source"]["auth"][k] = v.clone();
    }
    let path = config_file(&config.to_string(), "json");
    run_with_env(
        &[
            "read",
            path.to_str().unwrap(),
            "--allow-private",
            "--allow-env",
            "APICONN_SECRET_DRF_PASSWORD",
        ],
        &[
            ("APICONN_SECRET_DRF_PASSWORD", password),
            ("APICONN_LOG", "debug"),
        ],
    )
}

fn every_customer() -> Vec<Value> {
    (1..=15)
        .map(|i| json!({"id": i, "name": format!("Customer {i:03}")}))
        .collect()
}

fn count(log: &[String], line: &str) -> usize {
    log.iter().filter(|l| *l == line).count()
}

#[test]
fn three_second_tokens_are_renewed_before_they_expire_during_a_slow_read() {
    let server = django();
    let started = std::time::Instant::now();
    let out = read(&server, json!({}), PASSWORD);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records(), every_customer());
    assert!(took.as_secs_f64() > 7.5, "the read took {took:?}");
    let log = server.requests();
    // One login; renewals through the refresh call about every 2 s (the
    // JWT's exp minus a second), none after a refusal: no data request saw a 401.
    assert_eq!(count(&log, "POST /api/token/ 200"), 1, "{log:#?}");
    let refreshes = count(&log, "POST /api/token/refresh/ 200");
    let expected = (took.as_secs_f64() / 2.0).floor() as usize;
    assert!(
        (2..=expected + 1).contains(&refreshes),
        "{refreshes} refreshes in {took:?}: {log:#?}"
    );
    assert_eq!(count(&log, "GET /api/page/customers/ 200"), 15, "{log:#?}");
    assert_eq!(log.len(), 1 + refreshes + 15, "{log:#?}");
    assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);
}

#[test]
fn a_token_the_server_refuses_is_renewed_once_after_the_401() {
    let server = django();
    // The config claims an hour: the 3-second tokens are refused (401) before
    // apiconn would renew them, and each refusal is followed by one refresh.
    let out = read(&server, json!({"lifetime_seconds": 3600}), PASSWORD);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records(), every_customer());
    let log = server.requests();
    let refused = count(&log, "GET /api/page/customers/ 401");
    assert!(refused >= 2, "{log:#?}");
    assert_eq!(count(&log, "POST /api/token/ 200"), 1, "{log:#?}");
    assert_eq!(
        count(&log, "POST /api/token/refresh/ 200"),
        refused,
        "{log:#?}"
    );
    // Every 401 is followed by the refresh, then the same page again, granted.
    for (i, line) in log.iter().enumerate() {
        if line == "GET /api/page/customers/ 401" {
            assert_eq!(log[i + 1], "POST /api/token/refresh/ 200", "{log:#?}");
            assert_eq!(log[i + 2], "GET /api/page/customers/ 200", "{log:#?}");
        }
    }
    assert_eq!(count(&log, "GET /api/page/customers/ 200"), 15, "{log:#?}");
}

#[test]
fn a_wrong_password_is_an_auth_error_that_never_shows_it() {
    let server = Django::start(&DjangoOptions {
        password: PASSWORD.into(),
        ..DjangoOptions::default()
    });
    let wrong = "wrong-Pa55word";
    let out = read(&server, json!({}), wrong);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("the login request failed: HTTP 401: POST"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("No active account found with the given credentials"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(wrong), "{}", out.stderr);
    assert_eq!(server.requests(), ["POST /api/token/ 401"]);
}
