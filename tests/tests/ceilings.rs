//! What no retry can change is tried once (README, "Reliability" and
//! "Security model"): a body over the host's size limit, and a wait the
//! server asks for that would pass the operator's `--max-timeout-ms`.

use apiconn_tests::api::{Reply, TestApi};
use apiconn_tests::bin::{Run, config_file, run};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn read(config: Value, extra: &[&str]) -> Run {
    let path = config_file(&config.to_string(), "json");
    let mut args = vec!["read", path.to_str().unwrap(), "--allow-private"];
    args.extend_from_slice(extra);
    run(&args)
}

fn source(api: &TestApi) -> Value {
    json!({"name": "t", "url": format!("http://127.0.0.1:{}", api.addr.port()), "retries": 3, "timeout_ms": 1000})
}

#[test]
fn a_body_over_the_size_limit_is_a_limit_error_tried_once() {
    let api = TestApi::start(|_| Reply::json(200, &json!([{"pad": "x".repeat(5000)}])));
    let out = read(
        json!({"source": source(&api), "read": {}}),
        &["--max-response-bytes", "1000"],
    );
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("limit reached"), "{}", out.stderr);
    assert!(
        out.stderr.contains("--max-response-bytes"),
        "{}",
        out.stderr
    );
    assert_eq!(
        api.seen().len(),
        1,
        "downloaded once, not `retries` more times"
    );
}

#[test]
fn a_retry_after_past_the_ceiling_is_not_waited_for() {
    let api = TestApi::start(|_| {
        let mut reply = Reply::json(429, &json!({"error": "slow down"}));
        reply.headers.push(("retry-after".into(), "30".into()));
        reply
    });
    // Built and warmed before the clock starts.
    apiconn_tests::bin::apiconn();
    let started = Instant::now();
    let out = read(
        json!({"source": {"name": "t", "url": format!("http://127.0.0.1:{}", api.addr.port()),
                          "retries": 3, "timeout_ms": 1000}, "read": {}}),
        &["--max-timeout-ms", "5000"],
    );
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "not retried: waiting 30000 ms more would pass the host's ceiling of 5000 ms"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(api.seen().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it did not wait: {:?}",
        started.elapsed()
    );
    // Within the ceiling, the same server's wait is honoured.
    let api = TestApi::start({
        let n = std::sync::atomic::AtomicUsize::new(0);
        move |_| {
            if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                let mut reply = Reply::json(429, &json!({}));
                reply.headers.push(("retry-after".into(), "1".into()));
                reply
            } else {
                Reply::json(200, &json!([{"id": 1}]))
            }
        }
    });
    let out = read(
        json!({"source": source(&api), "read": {}}),
        &["--max-timeout-ms", "5000"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "{\"id\":1}\n");
}
