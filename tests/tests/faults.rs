//! Reads and writes under injected faults (tests/src/faults.rs): each fault
//! type alone and all mixed, at 10 % of requests with a fixed seed.

use apiconn_tests::bin::{Run, apiconn, cache_dir, config_file, run};
use apiconn_tests::faults::{ALL, Fault, FaultyApi};
use serde_json::{Value, json};
use std::process::{Command, Stdio};

const TOTAL: u64 = 20_000;
const PAGE: u64 = 1_000;

fn read_config(api: &FaultyApi, retries: u32) -> Value {
    json!({"source": {"name": "faulty", "url": api.url(), "retries": retries, "timeout_ms": 700},
           "read": {"path": "/items", "params": {"size": PAGE}, "records": "items",
                    "paginate": {"type": "page", "param": "page"}}})
}

fn ids(out: &Run) -> Vec<u64> {
    out.stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn read_under(faults: &[Fault], seed: u64) -> (Run, FaultyApi) {
    let api = FaultyApi::start(TOTAL, faults, 100, seed);
    let path = config_file(&read_config(&api, 5).to_string(), "json");
    let out = run(&["read", path.to_str().unwrap(), "--allow-private"]);
    (out, api)
}

#[test]
fn each_fault_alone_then_all_mixed_every_record_exactly_once() {
    let mut cases: Vec<(String, Vec<Fault>)> =
        ALL.iter().map(|f| (format!("{f:?}"), vec![*f])).collect();
    cases.push(("mixed".into(), ALL.to_vec()));
    for (i, (name, faults)) in cases.iter().enumerate() {
        let (out, api) = read_under(faults, 7 + i as u64);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert_eq!(
            ids(&out),
            (1..=TOTAL).collect::<Vec<_>>(),
            "{name}: every record once, in order"
        );
        let (requests, faulted) = api.counts();
        assert!(
            faulted >= 1,
            "{name}: the seed injected no fault in {requests} requests"
        );
        eprintln!("{name}: {faulted} faults in {requests} requests");
    }
}

#[test]
fn when_retries_run_out_the_error_names_request_and_fault_and_the_state_finishes_the_job() {
    let api = FaultyApi::start(TOTAL, &[Fault::Status(503)], 1000, 1);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let path = config_file(&read_config(&api, 2).to_string(), "json");
    let args = [
        "read",
        path.to_str().unwrap(),
        "--allow-private",
        "--state",
        state.to_str().unwrap(),
    ];
    let failed = run(&args);
    assert_eq!(failed.code, 5);
    assert!(
        failed.stderr.contains(&format!(
            "HTTP 503: GET {}/items (after 3 tries): {{\"error\":\"injected\"}}",
            api.url()
        )),
        "{}",
        failed.stderr
    );
    api.heal();
    let rerun = run(&args);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let mut all = ids(&failed);
    all.extend(ids(&rerun));
    assert_eq!(all, (1..=TOTAL).collect::<Vec<_>>());
}

#[test]
fn writes_under_mixed_faults_store_every_record_exactly_once() {
    let faults = [
        Fault::Status(500),
        Fault::Status(503),
        Fault::TooManySeconds,
        Fault::ResetMidBody,
        Fault::StallFirstByte,
        Fault::StallMidBody,
    ];
    let api = FaultyApi::start(0, &faults, 100, 42);
    let config = json!({"source": {"name": "store", "url": api.url(), "retries": 5, "timeout_ms": 700},
                        "write": {"path": "/store", "mode": "batch", "batch_size": 50}});
    let path = config_file(&config.to_string(), "json");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let input: String = (1..=5_000)
        .map(|i| format!("{{\"id\":{i},\"v\":\"{i}\"}}\n"))
        .collect();
    let mut child = Command::new(apiconn())
        .args([
            "write",
            path.to_str().unwrap(),
            "--allow-private",
            "--report",
            report.to_str().unwrap(),
        ])
        .env("APICONN_CACHE_DIR", cache_dir())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        (
            counts["read"].as_u64(),
            counts["sent"].as_u64(),
            counts["failed"].as_u64()
        ),
        (Some(5000), Some(5000), Some(0))
    );
    let (stored, duplicates) = api.stored();
    assert_eq!(stored.len(), 5000, "every record stored once");
    assert!((1..=5000).all(|i| stored[&i]["v"].as_str() == Some(i.to_string().as_str())));
    let (requests, faulted) = api.counts();
    assert!(faulted >= 3, "{faulted} faults in {requests} requests");
    eprintln!(
        "{faulted} faults in {requests} requests; {duplicates} retried duplicates dropped by key"
    );
}
