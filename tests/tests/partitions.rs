//! Host scheduling: a traverse split into partitions, run up to
//! --concurrency at once, each with its own checkpoint, under one shared
//! rate limit.

use apiconn_tests::api::{Reply, TestApi};
use apiconn_tests::bin::{apiconn, cache_dir, config_file};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CITIES: [&str; 6] = ["hz", "bj", "sh", "sz", "gz", "cd"];

/// A slow weather API: three pages of two records per city, and the most
/// requests it ever had in flight at once.
fn weather_api(delay: Duration) -> (TestApi, Arc<AtomicUsize>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    let api = TestApi::start(move |r| {
        if r.path == "/cities" {
            return Reply::json(200, &json!({"ids": CITIES}));
        }
        let now = f.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(delay);
        f.fetch_sub(1, Ordering::SeqCst);
        let city = r.param("city").unwrap().to_string();
        let page: u64 = r.param("page").unwrap().parse().unwrap();
        let rows: Vec<Value> = if page <= 3 {
            (0..2)
                .map(|k| json!({"city": city, "page": page, "k": k}))
                .collect()
        } else {
            vec![]
        };
        Reply::json(200, &json!({"rows": rows}))
    });
    (api, peak)
}

fn config(api: &TestApi, extra_source: Value) -> Value {
    let mut source = json!({"name": "weather", "url": api.url()});
    for (k, v) in extra_source.as_object().unwrap() {
        source[k] = v.clone();
    }
    json!({"source": source,
           "read": {"path": "/weather", "records": "rows", "paginate": {
               "type": "traverse", "param": "city",
               "values_from": {"url": format!("{}/cities", api.url()), "extract": "ids"},
               "then": {"type": "page", "param": "page"}}}})
}

fn run_read(config: &Value, args: &[&str]) -> (i32, String, String) {
    let path = config_file(&config.to_string(), "json");
    let out = Command::new(apiconn())
        .args(["read", path.to_str().unwrap(), "--allow-private"])
        .args(args)
        .env("APICONN_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Records by city, in the order they came; every line a whole record.
fn by_city(stdout: &str) -> BTreeMap<String, Vec<(u64, u64)>> {
    let mut map: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for line in stdout.lines() {
        let r: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("a torn line {line:?}: {e}"));
        map.entry(r["city"].as_str().unwrap().into())
            .or_default()
            .push((r["page"].as_u64().unwrap(), r["k"].as_u64().unwrap()));
    }
    map
}

fn expected() -> Vec<(u64, u64)> {
    (1..=3).flat_map(|p| (0..2).map(move |k| (p, k))).collect()
}

#[test]
fn partitions_run_at_once_and_keep_their_own_order() {
    let (api, peak) = weather_api(Duration::from_millis(150));
    let started = Instant::now();
    let (code, stdout, stderr) = run_read(&config(&api, json!({})), &["--concurrency", "3"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    let got = by_city(&stdout);
    assert_eq!(got.len(), 6);
    assert!(
        got.values().all(|v| *v == expected()),
        "each city complete and in page order: {got:?}"
    );
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&peak),
        "{peak} requests at once with --concurrency 3"
    );
    // 24 requests of 150 ms: well under the 3.6 s they take one by one.
    assert!(took < Duration::from_millis(3000), "{took:?}");
}

#[test]
fn each_partition_resumes_from_its_own_checkpoint() {
    let (api, _) = weather_api(Duration::from_millis(100));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let cfg = config(&api, json!({}));
    let path = config_file(&cfg.to_string(), "json");
    let args = |p: &std::path::Path| {
        vec![
            "read".to_string(),
            p.to_str().unwrap().into(),
            "--allow-private".into(),
            "--concurrency".into(),
            "2".into(),
            "--state".into(),
            state.to_str().unwrap().into(),
        ]
    };
    let child = Command::new(apiconn())
        .args(args(&path))
        .env("APICONN_CACHE_DIR", cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(900));
    // SAFETY: a plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let first = child.wait_with_output().unwrap();
    // Cut short by SIGTERM: 143, with every partition's state saved.
    assert_eq!(
        first.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first = String::from_utf8(first.stdout).unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        saved["partitions"]
            .as_object()
            .is_some_and(|p| !p.is_empty()),
        "{saved}"
    );
    let second = Command::new(apiconn())
        .args(args(&path))
        .env("APICONN_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let both = first.clone() + &String::from_utf8(second.stdout).unwrap();
    let lines: Vec<&str> = both.lines().collect();
    assert_eq!(
        lines.len(),
        36,
        "no record lost or repeated (first run gave {})",
        first.lines().count()
    );
    assert_eq!(lines.iter().collect::<HashSet<_>>().len(), 36);
    assert!(by_city(&both).values().all(|v| *v == expected()));
}

#[test]
fn one_rate_limit_for_all_partitions_and_429_slows_down() {
    let count = Arc::new(Mutex::new(0u32));
    let refused: Arc<Mutex<HashSet<String>>> = Arc::default();
    let c = count.clone();
    let api = TestApi::start(move |r| {
        if r.path == "/cities" {
            return Reply::json(200, &json!({"ids": CITIES}));
        }
        *c.lock().unwrap() += 1;
        // The first try of every second page is told to slow down.
        let key = format!("{}/{}", r.param("city").unwrap(), r.param("page").unwrap());
        if r.param("page") == Some("2") && refused.lock().unwrap().insert(key) {
            let mut reply = Reply::json(429, &json!({"error": "slow down"}));
            reply.headers.push(("retry-after".into(), "0".into()));
            return reply;
        }
        let page: u64 = r.param("page").unwrap().parse().unwrap();
        let rows: Vec<Value> = if page <= 3 {
            (0..2)
                .map(|k| json!({"city": r.param("city").unwrap(), "page": page, "k": k}))
                .collect()
        } else {
            vec![]
        };
        Reply::json(200, &json!({"rows": rows}))
    });
    let started = Instant::now();
    let (code, stdout, stderr) = run_read(
        &config(&api, json!({"rate_limit": 20.0})),
        &["--concurrency", "6"],
    );
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert!(by_city(&stdout).values().all(|v| *v == expected()));
    let requests = *count.lock().unwrap();
    // At 20 requests per second at most, even with six partitions at once.
    let floor = Duration::from_secs_f64(f64::from(requests - 1) / 20.0);
    assert!(
        took >= floor,
        "{requests} requests in {took:?}, faster than the limit allows"
    );
}
