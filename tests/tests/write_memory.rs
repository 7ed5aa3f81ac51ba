//! Writing streams: a 1,000,000-record input is sent with the process's
//! peak RSS under 100 MB, measured by the kernel (wait4's ru_maxrss), not
//! by a clock.

use apiconn_tests::api::{Reply, TestApi};
use apiconn_tests::bin::{apiconn, cache_dir, config_file};
use serde_json::json;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const RECORDS: u64 = 1_000_000;

/// Waits for `child` and returns its exit status and peak RSS in KiB.
fn wait_with_peak_rss(child: std::process::Child) -> (std::process::ExitStatus, i64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    (std::process::ExitStatus::from_raw(status), usage.ru_maxrss)
}

#[test]
fn a_million_records_in_bounded_memory() {
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let api = TestApi::start(move |req| {
        let n = req.body_json()["rows"].as_array().map_or(0, |a| a.len()) as u64;
        counter.fetch_add(n, Ordering::Relaxed);
        Reply::json(200, &json!({"ok": true}))
    });
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("million.ndjson");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..RECORDS {
            writeln!(
                f,
                r#"{{"id":{i},"name":"record number {i}","amount":{}.25,"ok":true}}"#,
                i % 1000
            )
            .unwrap();
        }
    }
    let input_size = std::fs::metadata(&input).unwrap().len();
    assert!(
        input_size > 60_000_000,
        "the input ({input_size} bytes) is far larger than the limit"
    );
    let config = config_file(
        &json!({"source": {"name": "big", "url": api.url()},
                "write": {"mode": "batch", "batch_size": 1000, "write_path": "rows"}})
        .to_string(),
        "json",
    );
    let report = dir.path().join("report.json");
    // Piped through stdin, so the input is spooled, not read from a file.
    let mut child = std::process::Command::new(apiconn())
        .args([
            "write",
            config.to_str().unwrap(),
            "--allow-private",
            "--report",
            report.to_str().unwrap(),
        ])
        .env("APICONN_CACHE_DIR", cache_dir())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        std::io::copy(&mut std::fs::File::open(&input).unwrap(), &mut stdin).unwrap()
    });
    let (status, peak_kib) = wait_with_peak_rss(child);
    feeder.join().unwrap();
    assert!(status.success(), "apiconn write failed: {status}");
    let counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        counts,
        json!({"read": RECORDS, "sent": RECORDS, "rejected": 0, "failed": 0, "requests": 1000})
    );
    assert_eq!(received.load(Ordering::Relaxed), RECORDS);
    eprintln!(
        "peak RSS {} MiB for {} MiB of input",
        peak_kib / 1024,
        input_size >> 20
    );
    assert!(
        peak_kib < 100 * 1024,
        "peak RSS {peak_kib} KiB is not under 100 MB"
    );
}
