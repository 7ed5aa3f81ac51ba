//! `apiconn write` against real servers: npm json-server (single mode),
//! PyPI datasette 1.0a41 (batch mode), and the test API (faults,
//! idempotency, rejects, write_path, PUT).

use apiconn_tests::api::{Reply, TestApi};
use apiconn_tests::bin::{Run, apiconn, config_file};
use apiconn_tests::peers::{Datasette, JsonServer, venv_bin};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// Runs `apiconn write CONFIG ARGS` with `input` on stdin.
fn write(config: &Value, args: &[&str], input: &str) -> Run {
    let path = config_file(&config.to_string(), "json");
    let mut child = Command::new(apiconn())
        .args(["write", path.to_str().unwrap(), "--allow-private"])
        .args(args)
        .env("APICONN_CACHE_DIR", apiconn_tests::bin::cache_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out.into()
}

fn ndjson(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

fn report(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn single_mode_into_json_server_reads_back_field_by_field() {
    let server = JsonServer::serve(&json!({"people": []}));
    let records: Vec<Value> = (1..=1000)
        .map(|i| json!({"id": i, "name": format!("person {i}"), "age": 20 + i % 50, "active": i % 3 == 0, "score": i as f64 / 8.0, "note": null}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let out = write(
        &json!({"source": {"name": "js", "url": server.url()}, "write": {"path": "/people"}}),
        &["--report", report_path.to_str().unwrap()],
        &ndjson(&records),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        report(&report_path),
        json!({"read": 1000, "sent": 1000, "rejected": 0, "failed": 0, "requests": 1000})
    );
    // Read back with the connector itself, then compare field by field.
    let back = apiconn_tests::bin::run(&[
        "read",
        config_file(
            &json!({"source": {"name": "js", "url": server.url()}, "read": {"path": "/people"}})
                .to_string(),
            "json",
        )
        .to_str()
        .unwrap(),
        "--allow-private",
    ]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    apiconn_tests::flat::assert_same_records(&back.records(), &records);
}

#[test]
fn batch_mode_into_datasette_with_a_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    let python = venv_bin("datasette-1.0a41", "python");
    let sql = |code: &str| {
        let out = Command::new(&python)
            .args(["-c", code])
            .arg(&db)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    sql(
        "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table items (id integer primary key, name text, price real, tag text)'); c.commit()",
    );
    let settings = dir.path().join("datasette.yaml");
    std::fs::write(&settings, "permissions:\n  insert-row:\n    id: root\n").unwrap();
    let secret = "datasette-signing-secret";
    let server = Datasette::start(
        "datasette-1.0a41",
        &db,
        &[
            "--secret",
            secret,
            "-c",
            settings.to_str().unwrap(),
            "--setting",
            "max_insert_rows",
            "1000",
        ],
    );
    let token = Command::new(venv_bin("datasette-1.0a41", "datasette"))
        .args(["create-token", "root", "--secret", secret])
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("dstok_"), "{token}");

    let records: Vec<Value> = (1..=10_000)
        .map(|i| json!({"id": i, "name": format!("item {i}"), "price": i as f64 / 4.0, "tag": if i % 2 == 0 { Value::Null } else { json!("odd") }}))
        .collect();
    let report_path = dir.path().join("report.json");
    let config = json!({"source": {"name": "ds", "url": server.url(), "auth": {"type": "bearer", "token": "${env:APICONN_SECRET_DS}"}},
                        "write": {"path": "/shop/items/-/insert", "mode": "batch", "batch_size": 500, "write_path": "rows"}});
    let path = config_file(&config.to_string(), "json");
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, ndjson(&records)).unwrap();
    let out: Run = Command::new(apiconn())
        .args([
            "write",
            path.to_str().unwrap(),
            "--allow-private",
            "--allow-env",
            "APICONN_SECRET_DS",
            "--input",
            input.to_str().unwrap(),
            "--report",
            report_path.to_str().unwrap(),
        ])
        .env("APICONN_CACHE_DIR", apiconn_tests::bin::cache_dir())
        .env("APICONN_SECRET_DS", &token)
        .output()
        .unwrap()
        .into();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        report(&report_path),
        json!({"read": 10000, "sent": 10000, "rejected": 0, "failed": 0, "requests": 20})
    );
    // Read back straight from the SQLite file.
    let rows: Vec<Value> = serde_json::from_str(&sql(
        "import sqlite3,sys,json; c=sqlite3.connect(sys.argv[1]); print(json.dumps([dict(zip(['id','name','price','tag'],r)) for r in c.execute('select id,name,price,tag from items order by id')]))",
    ))
    .unwrap();
    apiconn_tests::flat::assert_same_records(&rows, &records);
}

/// The test API as a careful store: it keeps each record once per
/// Idempotency-Key, loses every 7th response (stores, then answers 503),
/// and refuses the batch holding id 13.
/// What the store kept, by id.
type Stored = Arc<Mutex<HashMap<i64, Value>>>;

fn flaky_store() -> (TestApi, Stored, Arc<Mutex<u32>>) {
    let stored: Stored = Arc::default();
    let duplicates: Arc<Mutex<u32>> = Arc::default();
    let keys: Arc<Mutex<HashSet<String>>> = Arc::default();
    let count: Arc<Mutex<u32>> = Arc::default();
    let (s, d) = (stored.clone(), duplicates.clone());
    let api = TestApi::start(move |req| {
        let body = req.body_json();
        let batch = body["data"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if batch.iter().any(|r| r["id"] == 13) {
            return Reply::json(400, &json!({"error": "record 13 is invalid"}));
        }
        let key = req
            .header("idempotency-key")
            .expect("every write has an Idempotency-Key")
            .to_string();
        if keys.lock().unwrap().insert(key) {
            let mut s = s.lock().unwrap();
            for r in batch {
                assert!(
                    s.insert(r["id"].as_i64().unwrap(), r).is_none(),
                    "stored twice"
                );
            }
        } else {
            *d.lock().unwrap() += 1;
        }
        let mut n = count.lock().unwrap();
        *n += 1;
        if n.is_multiple_of(7) {
            let mut r = Reply::json(503, &json!({"error": "lost"}));
            r.headers.push(("retry-after".into(), "1".into()));
            return r;
        }
        Reply::json(200, &json!({"ok": true}))
    });
    (api, stored, duplicates)
}

#[test]
fn faults_retries_rejects_and_idempotency_account_for_every_record() {
    let (api, stored, duplicates) = flaky_store();
    let mut lines: Vec<Value> = (1..=60)
        .map(|i| json!({"id": i, "v": format!("value {i}")}))
        .collect();
    // Two non-compliant records among them.
    lines.insert(20, json!({"id": 1000, "nested": {"x": 1}}));
    lines.insert(40, json!({"id": 1001, "list": [1, 2]}));
    let dir = tempfile::tempdir().unwrap();
    let (rejects, report_path) = (
        dir.path().join("rejects.ndjson"),
        dir.path().join("report.json"),
    );
    let config = json!({"source": {"name": "store", "url": api.url(), "retries": 3},
                        "write": {"path": "/items", "mode": "batch", "batch_size": 4, "write_path": "data.items"}});
    let out = write(
        &config,
        &[
            "--reject-file",
            rejects.to_str().unwrap(),
            "--report",
            report_path.to_str().unwrap(),
        ],
        &ndjson(&lines),
    );
    // The write ran to the end, but not every record was stored.
    assert_eq!(out.code, 8, "{}", out.stderr);

    let r = report(&report_path);
    // Records 13..16 share the batch the server refused (400): rejected, not
    // failed; the lost responses were retried, so nothing failed.
    assert_eq!(
        (
            r["read"].as_u64(),
            r["sent"].as_u64(),
            r["rejected"].as_u64(),
            r["failed"].as_u64()
        ),
        (Some(62), Some(56), Some(6), Some(0))
    );
    let rejected: Vec<Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected.len(), 6);
    let rejected_ids: HashSet<i64> = rejected
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(r["record"].as_str().unwrap()).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(rejected_ids, HashSet::from([1000, 1001, 13, 14, 15, 16]));
    assert!(rejected.iter().any(|r| {
        r["line"] == 21
            && r["reason"]
                .as_str()
                .unwrap()
                .starts_with("field `nested` is an object")
    }));
    assert!(rejected.iter().any(|r| {
        r["reason"].as_str().unwrap().contains("HTTP 400")
            && r["reason"]
                .as_str()
                .unwrap()
                .contains("record 13 is invalid")
    }));

    let stored = stored.lock().unwrap();
    let expected: HashSet<i64> = (1..=60).filter(|i| !(13..=16).contains(i)).collect();
    assert_eq!(
        stored.keys().copied().collect::<HashSet<_>>(),
        expected,
        "every record once, none lost"
    );
    assert_eq!(stored[&1], json!({"id": 1, "v": "value 1"}));
    assert!(
        *duplicates.lock().unwrap() >= 1,
        "a lost response was retried and de-duplicated by its key"
    );
}

#[test]
fn without_a_reject_file_a_nested_record_stops_everything_before_sending() {
    let api = TestApi::start(|_| Reply::json(200, &json!({})));
    let input = "{\"id\":1}\n{\"id\":2,\"user\":{\"name\":\"x\"}}\n{\"id\":3}\n";
    let out = write(
        &json!({"source": {"name": "t", "url": api.url()}, "write": {}}),
        &[],
        input,
    );
    assert_eq!(out.code, 7);
    assert!(
        out.stderr
            .contains("1 non-compliant records, nothing was sent"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("line 2: field `user` is an object"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("read 3, sent 0, rejected 1, failed 2 records"),
        "{}",
        out.stderr
    );
    assert!(api.seen().is_empty());
}

#[test]
fn a_failure_without_a_reject_file_stops_the_run_and_counts_the_rest_as_failed() {
    let api = TestApi::start(|req| {
        if req.body_json()["id"] == 3 {
            Reply::json(422, &json!({"error": "no"}))
        } else {
            Reply::json(201, &json!({}))
        }
    });
    let input: String = (1..=6).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    let out = write(
        &json!({"source": {"name": "t", "url": api.url()}, "write": {}}),
        &[],
        &input,
    );
    assert_eq!(out.code, 1);
    // Record 3 was refused (rejected); 4 to 6 were never sent (failed).
    assert!(
        out.stderr
            .contains("read 6, sent 2, rejected 1, failed 3 records"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "a record was not stored, the run stopped; 4 records were not stored (pass --reject-file FILE to go on past failures): line 3: HTTP 422"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(api.seen().len(), 3);
}

#[test]
fn write_path_and_put_shape_the_request() {
    let api = TestApi::start(|_| Reply::json(200, &json!({})));
    let input = "{\"id\":1,\"n\":\"a\"}\n{\"id\":2,\"n\":\"b\"}\n{\"id\":3,\"n\":\"c\"}\n";
    let out = write(
        &json!({"source": {"name": "t", "url": api.url(), "auth": {"type": "bearer", "token": "w"}},
                "write": {"method": "PUT", "path": "/bulk", "params": {"mode": "upsert"}, "mode": "batch", "batch_size": 2, "write_path": "data.items",
                          "fields": [{"from": "id", "to": "key", "type": "string"}, {"from": "n"}],
                          "signature": {"name": "sig", "location": "headers", "function": "MD5HEX", "content": {"include": ["mode"]}}}}),
        &[],
        input,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (
            seen[0].method.as_str(),
            seen[0].path.as_str(),
            seen[0].param("mode")
        ),
        ("PUT", "/bulk", Some("upsert"))
    );
    assert_eq!(
        String::from_utf8(seen[0].body.clone()).unwrap(),
        r#"{"data":{"items":[{"key":"1","n":"a"},{"key":"2","n":"b"}]}}"#
    );
    assert_eq!(
        String::from_utf8(seen[1].body.clone()).unwrap(),
        r#"{"data":{"items":[{"key":"3","n":"c"}]}}"#
    );
    assert_eq!(seen[0].header("authorization"), Some("Bearer w"));
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    // The signature header, checked with Python's hashlib.
    let md5 = Command::new("python3")
        .args([
            "-c",
            "import hashlib;print(hashlib.md5(b'mode=upsert').hexdigest())",
        ])
        .output()
        .unwrap();
    assert_eq!(
        seen[0].header("sig"),
        Some(String::from_utf8(md5.stdout).unwrap().trim())
    );
    let key0 = seen[0].header("idempotency-key").unwrap();
    assert_eq!(key0.len(), 32);
    assert_ne!(Some(key0), seen[1].header("idempotency-key"));
}
