//! `apiconn write` against Django REST framework under gunicorn
//! (tests/peers/django), what it stored checked in its SQLite file: nested
//! bodies from flat records, PATCH and DELETE by id, and a bulk of 1,000
//! with 3 bad records found by bisection.

use apiconn_tests::bin::{Run, apiconn, config_file};
use apiconn_tests::peers::{Django, DjangoOptions, venv_bin};
use serde_json::{Value, json};
use std::process::Command;

/// A config of `examples/django/`, pointed at `server`.
fn example(name: &str, server: &Django) -> Value {
    let path = apiconn_tests::bin::root()
        .join("examples/django")
        .join(name);
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    config["source"]["url"] = server.url().into();
    config
}

fn django(customers: u32) -> Django {
    Django::start(&DjangoOptions {
        open: true,
        customers,
        ..DjangoOptions::default()
    })
}

/// Rows of a query on the peer's SQLite file, as JSON arrays.
fn sql(server: &Django, query: &str) -> Vec<Vec<Value>> {
    let out = Command::new(venv_bin("django", "python"))
        .args([
            "-c",
            "import sqlite3,sys,json; c=sqlite3.connect(sys.argv[1]); print(json.dumps([list(r) for r in c.execute(sys.argv[2])]))",
        ])
        .arg(server.db_path())
        .arg(query)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What one write did: its run, its report and its reject file's lines.
struct Written {
    run: Run,
    report: Value,
    rejects: Vec<Value>,
}

fn write(config: &Value, records: &[Value]) -> Written {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let (report, rejects) = (
        dir.path().join("report.json"),
        dir.path().join("rejects.ndjson"),
    );
    let path = config_file(&config.to_string(), "json");
    let run: Run = Command::new(apiconn())
        .args([
            "write",
            path.to_str().unwrap(),
            "--allow-private",
            "--input",
        ])
        .arg(&input)
        .arg("--report")
        .arg(&report)
        .arg("--reject-file")
        .arg(&rejects)
        .env("APICONN_CACHE_DIR", apiconn_tests::bin::cache_dir())
        .output()
        .unwrap()
        .into();
    Written {
        report: serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap(),
        rejects: std::fs::read_to_string(&rejects)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        run,
    }
}

fn customers(server: &Django) -> Vec<Vec<Value>> {
    sql(
        server,
        "select id, name, email, city, address, tags from shop_customer order by id",
    )
}

#[test]
fn nested_writes_rebuild_the_address_and_send_json_text_as_json() {
    let server = django(0);
    let records = [
        json!({"name": "Ada", "email": "ada@example.com", "city": "London",
               "address.street": "12 St James's Square", "address.city": "London", "tags": "[\"vip\",\"new\"]"}),
        json!({"name": "Grace", "email": "grace@example.com", "city": "Arlington",
               "address.street": "1 Navy Way", "address.city": "Arlington", "tags": "[]"}),
        // `address` and `address.city` in one record: rejected, never half-merged.
        json!({"name": "Clash", "email": "clash@example.com", "address": null, "address.city": "Nowhere", "tags": "[]"}),
        json!({"name": "Edsger", "email": "edsger@example.com", "city": "Austin", "tags": "[\"go-to\"]"}),
    ];
    let config = example("nested-write.json", &server);
    let w = write(&config, &records);
    assert_eq!(w.run.code, 8, "{}", w.run.stderr);
    assert_eq!(
        w.report,
        json!({"read": 4, "sent": 3, "rejected": 1, "failed": 0, "requests": 3})
    );
    assert_eq!(w.rejects.len(), 1);
    assert_eq!(w.rejects[0]["line"], 3);
    assert_eq!(
        w.rejects[0]["reason"],
        "fields `address` and `address.city` conflict: `address` would be both a value and an object (write.nest)"
    );
    assert_eq!(
        serde_json::from_str::<Value>(w.rejects[0]["record"].as_str().unwrap()).unwrap(),
        records[2]
    );
    let rows = customers(&server);
    let got: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"name": r[1], "email": r[2], "city": r[3],
                   "address": r[4].as_str().map(|a| serde_json::from_str::<Value>(a).unwrap()),
                   "tags": serde_json::from_str::<Value>(r[5].as_str().unwrap()).unwrap()})
        })
        .collect();
    assert_eq!(
        got,
        [
            json!({"name": "Ada", "email": "ada@example.com", "city": "London",
                   "address": {"street": "12 St James's Square", "city": "London"}, "tags": ["vip", "new"]}),
            json!({"name": "Grace", "email": "grace@example.com", "city": "Arlington",
                   "address": {"street": "1 Navy Way", "city": "Arlington"}, "tags": []}),
            json!({"name": "Edsger", "email": "edsger@example.com", "city": "Austin",
                   "address": null, "tags": ["go-to"]}),
        ]
    );
    // Without `nest`, DRF ignores the flat keys it does not know: the address is lost.
    let flat = json!({"source": {"name": "drf", "url": server.url()},
        "write": {"path": "/api/page/customers/", "json_fields": ["tags"]}});
    let w = write(&flat, &records[..1]);
    assert_eq!(w.run.code, 0, "{}", w.run.stderr);
    let rows = customers(&server);
    assert_eq!(
        (rows.len(), &rows[3][1], &rows[3][4]),
        (4, &json!("Ada"), &Value::Null)
    );
}

#[test]
fn patch_by_id_changes_only_the_fields_sent() {
    let server = django(5);
    let before = customers(&server);
    let records = [
        json!({"id": 2, "city": "Oslo", "address.street": "2 Fjord Road", "address.city": "Oslo"}),
        json!({"id": 4, "name": "Renamed"}),
        json!({"name": "no id"}),
        json!({"id": 999, "name": "ghost"}),
    ];
    let config = example("patch-by-id.json", &server);
    let w = write(&config, &records);
    assert_eq!(w.run.code, 8, "{}", w.run.stderr);
    assert_eq!(
        w.report,
        json!({"read": 4, "sent": 2, "rejected": 2, "failed": 0, "requests": 3})
    );
    let lines: Vec<(i64, &str)> = w
        .rejects
        .iter()
        .map(|r| (r["line"].as_i64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines[0],
        (
            3,
            "field `id` of the path `/api/page/customers/{id}/` (write.path) is missing"
        )
    );
    assert_eq!(lines[1].0, 4);
    assert!(
        lines[1].1.starts_with("HTTP 404") && lines[1].1.contains("/api/page/customers/999/"),
        "{}",
        lines[1].1
    );
    assert!(
        lines[1].1.contains("No Customer matches the given query."),
        "{}",
        lines[1].1
    );
    let after = customers(&server);
    let mut expected = before.clone();
    expected[1][3] = json!("Oslo");
    expected[1][4] = json!(r#"{"street": "2 Fjord Road", "city": "Oslo"}"#);
    expected[3][1] = json!("Renamed");
    assert_eq!(after, expected);
    let patches: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PATCH"))
        .collect();
    assert_eq!(
        patches,
        [
            "PATCH /api/page/customers/2/ 200",
            "PATCH /api/page/customers/4/ 200",
            "PATCH /api/page/customers/999/ 404"
        ]
    );
}

#[test]
fn delete_by_id_and_a_method_per_record() {
    let server = django(6);
    let config = example("delete-by-id.json", &server);
    let w = write(&config, &[json!({"id": 1}), json!({"id": "3"})]);
    assert_eq!(w.run.code, 0, "{}", w.run.stderr);
    assert_eq!(
        w.report,
        json!({"read": 2, "sent": 2, "rejected": 0, "failed": 0, "requests": 2})
    );
    let ids = |s: &Django| -> Vec<Value> {
        sql(s, "select id from shop_customer order by id")
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    };
    assert_eq!(ids(&server), [2, 4, 5, 6]);
    // One stream of changes: the method comes from each record's `op`.
    let config = example("changes.json", &server);
    let w = write(
        &config,
        &[
            json!({"id": 2, "op": "DELETE"}),
            json!({"id": 4, "op": "patch", "name": "Four", "email": null, "city": null}),
            json!({"id": 5, "name": "Five", "email": "five@example.com", "city": "Lyon"}),
        ],
    );
    // `fields` sends null for what a record lacks: DRF refuses a null email.
    assert_eq!(w.run.code, 8, "{}", w.run.stderr);
    assert_eq!(
        w.report,
        json!({"read": 3, "sent": 2, "rejected": 1, "failed": 0, "requests": 3})
    );
    assert_eq!(w.rejects[0]["line"], 2);
    assert!(
        w.rejects[0]["reason"]
            .as_str()
            .unwrap()
            .contains("This field may not be null."),
        "{}",
        w.rejects[0]
    );
    assert_eq!(ids(&server), [4, 5, 6]);
    assert_eq!(
        sql(
            &server,
            "select name, email, city from shop_customer where id = 5"
        ),
        [[json!("Five"), json!("five@example.com"), json!("Lyon")]]
    );
    let methods: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET"))
        .collect();
    assert_eq!(
        methods,
        [
            "DELETE /api/page/customers/1/ 204",
            "DELETE /api/page/customers/3/ 204",
            "DELETE /api/page/customers/2/ 204",
            "PATCH /api/page/customers/4/ 400",
            "PUT /api/page/customers/5/ 200"
        ]
    );
}

#[test]
fn a_bulk_of_1000_with_3_bad_records_stores_997_once_and_rejects_3() {
    let server = django(0);
    let bad = [137u64, 500, 999];
    let records: Vec<Value> = (1..=1000u64)
        .map(|i| {
            let email = if bad.contains(&i) {
                format!("not an email {i}")
            } else {
                format!("bulk{i}@example.com")
            };
            json!({"name": format!("Bulk {i:04}"), "email": email, "city": (["Berlin", "Paris"][i as usize % 2])})
        })
        .collect();
    let config = example("bulk-bisect.json", &server);
    let w = write(&config, &records);
    assert_eq!(w.run.code, 8, "{}", w.run.stderr);
    let requests = w.report["requests"].as_u64().unwrap();
    assert_eq!(
        w.report,
        json!({"read": 1000, "sent": 997, "rejected": 3, "failed": 0, "requests": requests})
    );
    // The bound: at most 2·⌈log2 1000⌉ = 20 more requests per bad record.
    assert!(requests <= 1 + 3 * 20, "{requests} requests");
    assert!(
        w.run
            .stderr
            .contains("read 1000, sent 997, rejected 3, failed 0 records"),
        "{}",
        w.run.stderr
    );
    assert_eq!(
        w.rejects
            .iter()
            .map(|r| r["line"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        bad
    );
    for r in &w.rejects {
        let line = r["line"].as_u64().unwrap();
        let reason = r["reason"].as_str().unwrap();
        assert!(reason.starts_with("HTTP 400"), "{reason}");
        assert!(
            reason.ends_with(r#"{"0":{"email":["Enter a valid email address."]}}"#),
            "{reason}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(r["record"].as_str().unwrap()).unwrap(),
            records[line as usize - 1]
        );
    }
    // 997 rows, each record exactly once.
    let rows = sql(
        &server,
        "select name, email, count(*) from shop_customer group by name, email order by name",
    );
    let expected: Vec<Vec<Value>> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| !bad.contains(&(*i as u64 + 1)))
        .map(|(_, r)| vec![r["name"].clone(), r["email"].clone(), json!(1)])
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(
        sql(&server, "select count(*) from shop_customer"),
        [[json!(997)]]
    );
    // The server saw every request the report counts: the refused ones and the stored ones.
    let log = server.requests();
    assert_eq!(log.len() as u64, requests);
    assert_eq!(
        log.iter().filter(|l| l.ends_with(" 201")).count() as u64,
        requests - log.iter().filter(|l| l.ends_with(" 400")).count() as u64
    );
    assert!(
        log.iter()
            .all(|l| l.starts_with("POST /api/bulk/customers/ "))
    );
}
