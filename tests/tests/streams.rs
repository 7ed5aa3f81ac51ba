//! Several streams in one config (README "Several streams"), parent and
//! child streams down three levels (README "Parent and child streams"),
//! resumed after `kill -9`: a shop API on 127.0.0.1 that wants a bearer
//! token on every request.

use apiconn_tests::api::{Reply, Seen, TestApi};
use apiconn_tests::bin::{Run, apiconn, cache_dir, config_file, run};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "t0k3n-of-the-shop";

/// `%XX` decoded.
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The shop: `customers` customer ids (one with a space and a slash),
/// `invoices(customer)` invoices each, two lines per invoice.
struct Shop {
    customers: Vec<String>,
    invoices: fn(usize) -> usize,
}

impl Shop {
    fn invoice_ids(&self, c: usize) -> Vec<String> {
        (1..=(self.invoices)(c))
            .map(|k| format!("{}-i{k}", c + 1))
            .collect()
    }

    fn answer(&self, r: &Seen) -> Reply {
        if r.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return Reply::json(401, &json!({"detail": "no token"}));
        }
        let segments: Vec<String> = r.path.split('/').skip(1).map(decode).collect();
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        match seg[..] {
            ["customers"] => {
                // Two a page, `has_more` on every page.
                let page: usize = r.param("page").unwrap().parse().unwrap();
                let from = (page - 1) * 2;
                let data: Vec<Value> = self
                    .customers
                    .iter()
                    .skip(from)
                    .take(2)
                    .map(|id| json!({"id": id, "name": format!("name of {id}")}))
                    .collect();
                Reply::json(
                    200,
                    &json!({"data": data, "has_more": from + 2 < self.customers.len()}),
                )
            }
            ["customers", cid, "invoices"] => {
                let c = self.customers.iter().position(|x| x == cid).unwrap();
                // Two a page, by a cursor.
                let at: usize = r.param("cursor").map_or(0, |c| c.parse().unwrap());
                let ids = self.invoice_ids(c);
                let data: Vec<Value> = ids
                    .iter()
                    .skip(at)
                    .take(2)
                    .map(|id| json!({"id": id, "total": 10}))
                    .collect();
                let next = (at + 2 < ids.len()).then(|| (at + 2).to_string());
                Reply::json(200, &json!({"data": data, "next": next}))
            }
            ["customers", cid, "invoices", iid, "lines"] => {
                assert!(iid.starts_with(&format!(
                    "{}-",
                    self.customers.iter().position(|x| x == cid).unwrap() + 1
                )));
                let data: Vec<Value> = (1..=2)
                    .map(|n| json!({"line": format!("{iid}-l{n}"), "qty": n}))
                    .collect();
                Reply::json(200, &json!({"data": data}))
            }
            _ => Reply::json(404, &json!({"detail": r.path})),
        }
    }
}

fn shop_api(shop: Shop, delay: Duration) -> TestApi {
    TestApi::start(move |r| {
        std::thread::sleep(delay);
        shop.answer(r)
    })
}

fn three_customers() -> Shop {
    Shop {
        customers: vec!["c1".into(), "c 2/x".into(), "c3".into()],
        invoices: |c| [3, 0, 1][c],
    }
}

fn config(api: &TestApi) -> Value {
    json!({
        "source": {"name": "shop", "url": api.url(), "auth": {"type": "bearer", "token": TOKEN}},
        "streams": {
            "customers": {"path": "/customers", "records": "data",
                          "paginate": {"type": "page", "param": "page", "stop": ["response.has_more == false"]}},
            "invoices": {"parent": {"stream": "customers", "fields": {"customer_id": "id"}},
                         "path": "/customers/{customer_id}/invoices", "records": "data",
                         "paginate": {"type": "cursor", "param": "cursor", "from": "next"}},
            "lines": {"parent": {"stream": "invoices", "fields": {"customer_id": "customer_id", "invoice_id": "id"}},
                      "path": "/customers/{customer_id}/invoices/{invoice_id}/lines", "records": "data"}
        }
    })
}

fn read(config: &Value, args: &[&str]) -> Run {
    let path = config_file(&config.to_string(), "json");
    let mut all = vec!["read", path.to_str().unwrap(), "--allow-private"];
    all.extend_from_slice(args);
    run(&all)
}

fn customers() -> Vec<Value> {
    ["c1", "c 2/x", "c3"]
        .iter()
        .map(|id| json!({"id": id, "name": format!("name of {id}")}))
        .collect()
}

fn invoices() -> Vec<Value> {
    vec![
        json!({"id": "1-i1", "total": 10, "customer_id": "c1"}),
        json!({"id": "1-i2", "total": 10, "customer_id": "c1"}),
        json!({"id": "1-i3", "total": 10, "customer_id": "c1"}),
        json!({"id": "3-i1", "total": 10, "customer_id": "c3"}),
    ]
}

fn lines() -> Vec<Value> {
    invoices()
        .iter()
        .flat_map(|i| {
            (1..=2).map(move |n| {
                json!({"line": format!("{}-l{n}", i["id"].as_str().unwrap()), "qty": n,
                       "customer_id": i["customer_id"], "invoice_id": i["id"]})
            })
        })
        .collect()
}

fn tagged(stream: &str, records: Vec<Value>) -> Vec<Value> {
    records
        .into_iter()
        .map(|r| {
            let mut t = serde_json::Map::new();
            t.insert("_stream".into(), json!(stream));
            t.extend(r.as_object().unwrap().clone());
            Value::Object(t)
        })
        .collect()
}

/// The paths the API saw, in order.
fn paths(api: &TestApi) -> Vec<String> {
    api.seen()
        .iter()
        .map(|s| match s.query.is_empty() {
            true => s.path.clone(),
            false => format!(
                "{}?{}",
                s.path,
                s.query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            ),
        })
        .collect()
}

#[test]
fn every_stream_into_one_output_each_record_tagged_with_its_stream() {
    let api = shop_api(three_customers(), Duration::ZERO);
    let out = read(&config(&api), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut expected = tagged("customers", customers());
    expected.extend(tagged("invoices", invoices()));
    expected.extend(tagged("lines", lines()));
    assert_eq!(out.records(), expected);
    // `_stream` comes first on the line.
    assert!(
        out.stdout
            .starts_with(r#"{"_stream":"customers","id":"c1""#),
        "{}",
        out.stdout
    );
    // customers: 2 pages; invoices: its parent again (2) and 4 pages;
    // lines: invoices again (2 + 4) and one request per invoice (4).
    assert!(
        out.stderr.contains("read 15 records in 18 requests"),
        "{}",
        out.stderr
    );
    assert_eq!(api.seen().len(), 18);
    // The parent's value in the path is percent-encoded.
    assert!(
        paths(&api).contains(&"/customers/c%202%2Fx/invoices".to_string()),
        "{:?}",
        paths(&api)
    );
}

#[test]
fn one_stream_by_name_reads_records_as_they_are() {
    let api = shop_api(three_customers(), Duration::ZERO);
    let out = read(&config(&api), &["--stream", "invoices"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.records(),
        invoices(),
        "no `_stream` for a single stream"
    );
    // The parent is read page by page as the child needs it.
    assert_eq!(
        paths(&api),
        [
            "/customers?page=1",
            "/customers/c1/invoices",
            "/customers/c1/invoices?cursor=2",
            "/customers/c%202%2Fx/invoices",
            "/customers?page=2",
            "/customers/c3/invoices",
        ]
    );
    // Two --stream: tagged, in the config's order.
    let api = shop_api(three_customers(), Duration::ZERO);
    let out = read(
        &config(&api),
        &["--stream", "invoices", "--stream", "customers"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut expected = tagged("customers", customers());
    expected.extend(tagged("invoices", invoices()));
    assert_eq!(out.records(), expected);
    let out = read(&config(&api), &["--stream", "orders"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(
            "--stream orders: the config has no such stream (known: customers, invoices, lines)"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn output_dir_writes_one_file_per_stream_without_the_tag() {
    let api = shop_api(three_customers(), Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = read(&config(&api), &["--output-dir", out_dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let file = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(out_dir.join(format!("{name}.ndjson")))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(file("customers"), customers());
    assert_eq!(file("invoices"), invoices());
    assert_eq!(file("lines"), lines());
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["customers.ndjson", "invoices.ndjson", "lines.ndjson"]
    );
}

#[test]
fn the_state_file_holds_one_checkpoint_per_stream() {
    let api = shop_api(three_customers(), Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let out = read(
        &config(&api),
        &["--stream", "customers", "--state", state_arg],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records(), customers());
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let streams = saved["streams"].as_object().unwrap();
    assert_eq!(streams.keys().collect::<Vec<_>>(), ["customers"]);
    assert!(
        streams["customers"]
            .as_str()
            .unwrap()
            .starts_with(r#"{"done":true"#)
    );
    // All streams now: customers is done, the others run.
    let before = api.seen().len();
    let out = read(&config(&api), &["--state", state_arg]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut expected = tagged("invoices", invoices());
    expected.extend(tagged("lines", lines()));
    assert_eq!(out.records(), expected);
    assert_eq!(api.seen().len() - before, 6 + 10);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        saved["streams"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["customers", "invoices", "lines"]
    );
    // Everything done: nothing is read again.
    let before = api.seen().len();
    let out = read(&config(&api), &["--state", state_arg]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(api.seen().len(), before);
}

#[test]
fn a_state_file_from_before_streams_still_resumes_the_read_block() {
    let api = TestApi::start(|r| {
        let page: u64 = r.param("page").unwrap().parse().unwrap();
        let data: Vec<Value> = if page <= 3 {
            vec![json!({"n": page})]
        } else {
            vec![]
        };
        Reply::json(200, &json!({"data": data}))
    });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    // A checkpoint as a config of one `read` block saved it: page 3 is next.
    std::fs::write(
        &state,
        r#"{"done":false,"position":{"number":3},"loop_requests":2}"#,
    )
    .unwrap();
    let config = json!({"source": {"name": "s", "url": api.url()},
        "read": {"path": "/r", "records": "data", "paginate": {"type": "page", "param": "page"}},
        "streams": {"other": {"path": "/r", "records": "data", "params": {"page": 9}}}});
    let out = read(
        &config,
        &["--state", state.to_str().unwrap(), "--stream", "default"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records(), [json!({"n": 3})]);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        saved["streams"]["default"]
            .as_str()
            .unwrap()
            .starts_with(r#"{"done":true"#)
    );
}

#[test]
fn validate_names_each_stream_s_path() {
    let config = json!({
        "source": {"name": "shop", "url": "http://127.0.0.1:9"},
        "streams": {
            "customers": {"path": "/customers", "paginate": {"type": "page"}},
            "invoices": {"parent": {"stream": "customer", "fields": {"customer_id": "id"}},
                         "path": "/customers/{cid}/invoices"},
            "a": {"parent": {"stream": "b", "fields": {"x": "id"}}},
            "b": {"parent": {"stream": "a", "fields": {"x": "id"}}},
            "bad name": {"path": "/x"}
        }
    });
    let path = config_file(&config.to_string(), "json");
    let out = run(&["validate", path.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    for line in [
        "streams.customers.paginate: missing required key `param`",
        "streams.invoices.path: `{cid}` is not a name of `parent.fields` (known: customer_id)",
        "streams.invoices.parent.stream: no stream `customer` in `streams` (known: customers, invoices, a, b, bad name)",
        "streams.a.parent.stream: the parents go round in a circle: a → b → a",
        "streams.bad name: ` ` is not allowed in a stream name",
    ] {
        assert!(
            out.stderr.contains(line),
            "missing {line:?} in:\n{}",
            out.stderr
        );
    }
}

/// Starts `apiconn ARGS`; the stdout lines, and kills it with SIGKILL
/// once `after` lines are out (or lets it finish).
fn run_and_kill(args: &[&str], after: Option<usize>) -> (Vec<String>, bool) {
    let mut child = Command::new(apiconn())
        .args(args)
        .env("APICONN_CACHE_DIR", cache_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut killed = false;
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        if !line.ends_with('\n') {
            break;
        }
        lines.push(line.trim_end().to_string());
        line.clear();
        if Some(lines.len()) == after {
            // SAFETY: a plain kill(2) on our own child.
            assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
            killed = true;
            break;
        }
    }
    // Whatever was already written before the kill.
    let mut rest = String::new();
    while reader.read_line(&mut rest).unwrap_or(0) > 0 {
        if rest.ends_with('\n') {
            lines.push(rest.trim_end().to_string());
        }
        rest.clear();
    }
    let status = child.wait().unwrap();
    assert!(killed || status.success(), "{status:?}");
    (lines, killed)
}

#[test]
fn three_levels_resumed_after_kill_9_emit_every_remaining_record_once() {
    let shop = || Shop {
        customers: (1..=6).map(|i| format!("c{i}")).collect(),
        invoices: |c| [3, 1, 0, 4, 2, 3][c],
    };
    // The full read, for comparison.
    let api = shop_api(shop(), Duration::ZERO);
    let cfg = config(&api);
    let path = config_file(&cfg.to_string(), "json");
    let base = [
        "read",
        path.to_str().unwrap(),
        "--allow-private",
        "--stream",
        "lines",
    ];
    let (full, _) = run_and_kill(&base, None);
    assert_eq!(full.len(), 13 * 2);
    let full_requests = api.seen().len();
    // customers 3 pages; invoices 2 + 1 + 1 + 2 + 1 + 2 pages; 13 lines requests.
    assert_eq!(full_requests, 3 + 9 + 13);

    // The same read, killed three times and resumed.
    let api = shop_api(shop(), Duration::from_millis(25));
    let cfg = config(&api);
    let path = config_file(&cfg.to_string(), "json");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let args = [
        "read",
        path.to_str().unwrap(),
        "--allow-private",
        "--stream",
        "lines",
        "--state",
        state.to_str().unwrap(),
    ];
    let mut runs = Vec::new();
    for after in [3, 5, 7] {
        let (lines, killed) = run_and_kill(&args, Some(after));
        assert!(killed, "the read must outlast the kill after {after} lines");
        runs.push(lines);
    }
    let (last, _) = run_and_kill(&args, None);
    runs.push(last);
    // Each run's records are the next stretch of the full read, in order:
    // it starts where the state saved before the kill says, so it repeats
    // at most the batch that was out but not yet saved, and loses nothing.
    let mut covered = 0;
    for (i, lines) in runs.iter().enumerate() {
        if lines.is_empty() {
            continue;
        }
        let start = full
            .iter()
            .position(|l| Some(l) == lines.first())
            .unwrap_or_else(|| panic!("run {i} starts with a record of the full read: {lines:?}"));
        assert!(
            start <= covered,
            "run {i} skipped records {covered}..{start}"
        );
        assert!(covered - start <= 2, "run {i} repeats more than one batch");
        assert_eq!(lines[..], full[start..start + lines.len()], "run {i}");
        covered = start + lines.len();
    }
    assert_eq!(covered, full.len(), "the last run reads to the end");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        saved["streams"]["lines"]
            .as_str()
            .unwrap()
            .starts_with(r#"{"done":true"#)
    );
}

#[test]
fn the_parent_child_recipe_reads_three_levels() {
    let api = shop_api(three_customers(), Duration::ZERO);
    let recipe = std::fs::read_to_string(
        apiconn_tests::bin::root().join("examples/recipes/parent-child.yaml"),
    )
    .unwrap()
    .replace("http://127.0.0.1:8080", &api.url());
    let path = config_file(&recipe, "yaml");
    let out = apiconn_tests::bin::run_with_env(
        &[
            "read",
            path.to_str().unwrap(),
            "--allow-private",
            "--allow-env",
            "SHOP_TOKEN",
            "--stream",
            "lines",
        ],
        &[("SHOP_TOKEN", TOKEN)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records(), lines());
    assert_eq!(api.seen().len(), 10);
}
