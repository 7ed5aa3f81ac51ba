//! The exec-source contract that Vector, Fluent Bit and Logstash rely on,
//! tested with a harness that behaves like such an engine: it spawns
//! `apiconn read`, reads stdout lines as they arrive, sends SIGTERM or
//! SIGKILL, and restarts it with the same state file.

use apiconn_tests::bin::{apiconn, cache_dir, config_file};
use apiconn_tests::peers::JsonServer;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `apiconn read`, its stdout lines arriving on a channel.
struct Engine {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    stderr: std::thread::JoinHandle<String>,
}

impl Engine {
    fn start(args: &[&str]) -> Engine {
        let mut child = Command::new(apiconn())
            .args(args)
            .env("APICONN_CACHE_DIR", cache_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            // A line without its newline (cut by SIGKILL) is not a record.
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n')
                    && tx
                        .send((Instant::now(), line.trim_end().to_string()))
                        .is_err()
                {
                    break;
                }
                line.clear();
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Engine {
            child,
            lines,
            stderr,
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: a plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Waits for the exit; every line it printed, and its stderr.
    fn finish(mut self) -> (i32, Vec<(Instant, String)>, String) {
        let status = self.child.wait().unwrap();
        let stderr = self.stderr.join().unwrap();
        let lines: Vec<_> = self.lines.iter().collect();
        (status.code().unwrap_or(-1), lines, stderr)
    }
}

fn id(line: &str) -> i64 {
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("stdout carries only records, got {line:?}: {e}"));
    v["id"].as_i64().unwrap()
}

fn items(n: i64) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"id": i, "name": format!("item {i}")}))
        .collect()
}

#[test]
fn kill_9_five_times_then_finish_loses_nothing() {
    const TOTAL: i64 = 50_000;
    const PAGE: i64 = 500;
    let server = JsonServer::serve(&json!({ "items": items(TOTAL) }));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = config_file(
        &json!({"source": {"name": "js", "url": server.url()},
                "read": {"path": "/items", "params": {"_limit": PAGE, "_delay": 40}, "paginate": {"type": "page", "param": "_page"}}})
        .to_string(),
        "json",
    );
    let args = [
        "read",
        config.to_str().unwrap(),
        "--allow-private",
        "--state",
        state.to_str().unwrap(),
    ];
    // json-server waits 40 ms per page, so the read outlasts five kills.
    // A fixed seed: the same kill points every run.
    let mut seed: u64 = 0x05ee_d0fa_91c0;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % 700 + 150
    };
    let mut all = Vec::new();
    let mut kills = 0;
    for _ in 0..5 {
        let engine = Engine::start(&args);
        // Kill once some records are out, at a random moment.
        let first = engine
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("records arrive (the read must not finish before the fifth kill)");
        all.push(first.1);
        std::thread::sleep(Duration::from_millis(next()));
        engine.signal(libc::SIGKILL);
        let (_, lines, _) = engine.finish();
        all.extend(lines.into_iter().map(|(_, l)| l));
        kills += 1;
    }
    let engine = Engine::start(&args);
    let (code, lines, stderr) = engine.finish();
    assert_eq!(code, 0, "{stderr}");
    all.extend(lines.into_iter().map(|(_, l)| l));

    let ids: Vec<i64> = all.iter().map(|l| id(l)).collect();
    let unique: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len() as i64, TOTAL, "every record, none lost");
    assert!(unique.iter().all(|i| (1..=TOTAL).contains(i)));
    let duplicates = ids.len() as i64 - TOTAL;
    assert!(
        duplicates <= kills * PAGE,
        "{duplicates} duplicates for {kills} kills: at most one batch each"
    );
    eprintln!("{kills} kills, {duplicates} duplicate records");
}

#[test]
fn follow_emits_appended_records_exactly_once_and_stops_cleanly_on_sigterm() {
    let server = JsonServer::serve(&json!({ "items": items(10) }));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = config_file(
        &json!({"source": {"name": "js", "url": server.url()},
                "read": {"path": "/items", "params": {"_limit": 4, "_sort": "id"},
                         "paginate": {"type": "page", "param": "_page"},
                         "incremental": {"param": "id_gte", "from_field": "id", "start": 0}}})
        .to_string(),
        "json",
    );
    let engine = Engine::start(&[
        "read",
        config.to_str().unwrap(),
        "--allow-private",
        "--state",
        state.to_str().unwrap(),
        "--follow",
        "--interval",
        "300ms",
    ]);
    let take = |engine: &Engine, n: usize| -> Vec<i64> {
        (0..n)
            .map(|_| {
                id(&engine
                    .lines
                    .recv_timeout(Duration::from_secs(20))
                    .expect("a record")
                    .1)
            })
            .collect()
    };
    assert_eq!(take(&engine, 10), (1..=10).collect::<Vec<_>>());
    let post = |i: i64| {
        let body = json!({"id": i, "name": format!("item {i}")}).to_string();
        let out = Command::new("curl")
            .args([
                "-s",
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
                "-d",
                &body,
                &format!("{}/items", server.url()),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
    };
    for i in 11..=15 {
        post(i);
    }
    assert_eq!(take(&engine, 5), (11..=15).collect::<Vec<_>>());
    for i in 16..=18 {
        post(i);
    }
    assert_eq!(take(&engine, 3), (16..=18).collect::<Vec<_>>());
    // Two more polls find nothing new.
    std::thread::sleep(Duration::from_millis(800));
    engine.signal(libc::SIGTERM);
    let (code, rest, stderr) = engine.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(rest.is_empty(), "no record twice: {rest:?}");
    assert!(
        stderr.contains("stopped by SIGTERM with the state saved"),
        "{stderr}"
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["seen_max"], 18);
}

#[test]
fn records_arrive_batch_by_batch_and_sigterm_mid_read_resumes_without_a_gap() {
    let server = JsonServer::serve(&json!({ "items": items(3000) }));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    // A slow API: every page waits, so the read is still going when SIGTERM comes.
    let config = config_file(
        &json!({"source": {"name": "js", "url": server.url()},
                "read": {"path": "/items", "params": {"_limit": 100, "_delay": 150}, "paginate": {"type": "page", "param": "_page"}}})
        .to_string(),
        "json",
    );
    let args = [
        "read",
        config.to_str().unwrap(),
        "--allow-private",
        "--state",
        state.to_str().unwrap(),
    ];
    let started = Instant::now();
    let engine = Engine::start(&args);
    let first: Vec<(Instant, String)> = (0..250)
        .map(|_| engine.lines.recv_timeout(Duration::from_secs(20)).unwrap())
        .collect();
    engine.signal(libc::SIGTERM);
    let (code, rest, stderr) = engine.finish();
    // A one-shot read cut short: 143 (the state is saved; the rerun goes on).
    assert_eq!(code, 143, "SIGTERM mid-read: {stderr}");
    assert!(
        stderr.contains(
            ", stopped by SIGTERM before the end: the state is saved, run again to go on"
        ),
        "{stderr}"
    );
    // Lines arrived as batches were read, not all at the end.
    assert!(
        first[0].0.duration_since(started) < first[249].0.duration_since(started),
        "batches stream"
    );
    let mut ids: Vec<i64> = first.iter().chain(&rest).map(|(_, l)| id(l)).collect();
    // The stop came after a whole batch: a multiple of the page size.
    assert_eq!(ids.len() % 100, 0, "whole batches only");
    let engine = Engine::start(&args);
    let (code, more, stderr) = engine.finish();
    assert_eq!(code, 0, "{stderr}");
    ids.extend(more.iter().map(|(_, l)| id(l)));
    assert_eq!(ids, (1..=3000).collect::<Vec<_>>(), "no gap, no duplicate");
}
