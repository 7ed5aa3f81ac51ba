//! The commands that need no server: demo, --version, schema, check.

use apiconn_tests::bin::{config_file, run};
use serde_json::Value;

#[test]
fn demo_prints_the_demo_records_and_a_summary() {
    let out = run(&["demo"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = out.records();
    // 12 demo customers, 3 of them paused and filtered out by `status=active`.
    assert_eq!(records.len(), 9);
    assert_eq!(
        records[0],
        serde_json::json!({"id": 1, "name": "Customer 01", "email": "c1@example.com", "city": "Berlin",
                           "country": "DE", "tier": "team", "seats": 5, "created_at": "2024-02-11T09:00:00Z"})
    );
    assert!(records.iter().all(|r| r["id"].as_i64().unwrap() % 4 != 0));
    assert!(
        out.stderr.contains("read 9 records in 1 requests"),
        "{}",
        out.stderr
    );
}

#[test]
fn version_names_the_component_file() {
    let out = run(&["--version"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let path = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("component: "))
        .expect("a component line");
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"\0asm", "a WebAssembly file");
    // A component, not a core module: version 0x0d, layer 1.
    assert_eq!(&bytes[4..8], &[0x0d, 0x00, 0x01, 0x00]);
}

#[test]
fn schema_is_the_json_schema_of_the_config() {
    let out = run(&["schema"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let schema: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(schema["title"], "apiconn connector config");
    assert_eq!(schema["required"], serde_json::json!(["source"]));
    assert!(schema["$defs"]["Auth"]["oneOf"].is_array());
}

#[test]
fn check_shows_the_exchange_with_credentials_masked() {
    let api = apiconn_tests::api::TestApi::start(|_| {
        apiconn_tests::api::Reply::json(
            200,
            &serde_json::json!({"rows": [{"id": 1, "a": {"b": 2}}, {"id": 2}]}),
        )
    });
    let config = serde_json::json!({"source": {"name": "t", "url": api.url(), "auth": {"type": "basic", "username": "u", "password": "hunter2"}},
                                    "read": {"records": "rows"}});
    let path = config_file(&config.to_string(), "json");
    let out = run(&["check", path.to_str().unwrap(), "--allow-private"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["request"]["headers"]["Authorization"], "***");
    assert_eq!(report["response"]["status"], 200);
    assert_eq!(report["records"], 2);
    assert_eq!(
        report["first_record"],
        serde_json::json!({"id": 1, "a.b": 2})
    );
    assert!(!out.stdout.contains("hunter2") && !out.stdout.contains("dTpodW50ZXIy"));
}
