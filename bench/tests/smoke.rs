//! The benchmark driver at tiny sizes, so it cannot rot: every step runs
//! against real processes (apiconn, the native build, curl, dlt, perf where
//! the machine has it) and the driver's own checks (record counts, equal
//! output, records stored) must hold. Nothing here is about speed.

use apiconn_tests::bin::{apiconn, root};
use apiconn_tests::peers::venv_bin;
use std::process::Command;

#[test]
fn the_whole_suite_runs_at_tiny_sizes() {
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("RESULTS.md");
    let run = Command::new(env!("CARGO_BIN_EXE_apiconn-bench"))
        .current_dir(root())
        .args(["suite", "--smoke", "--apiconn"])
        .arg(apiconn())
        .arg("--python")
        .arg(venv_bin("dlt", "python"))
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the smoke suite failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&report).unwrap();
    for heading in [
        "## Read throughput",
        "## Memory",
        "## Start-up",
        "## Density",
        "## Write throughput",
        "## Where the time goes",
        "## Targets",
    ] {
        assert!(text.contains(heading), "no {heading} in:\n{text}");
    }
    for row in [
        "| `apiconn read` (component in wasmtime) |",
        "| the same guest logic, native, hyper client |",
        "| curl, the same pages to /dev/null |",
        "| dlt `rest_api` source → JSONL files |",
        "| warm `validate`",
        "| cold `validate`",
        "| instantiation from `InstancePre`",
        "| `apiconn write` (component in wasmtime) |",
        "### Dataset A",
        "### Dataset B",
        "| read ≥ 300 MB/s end to end, dataset A |",
        "| wasm read ≥ 0.8× native, dataset B |",
        "| wasm read ≥ 40× dlt `rest_api`, dataset B |",
        "| write ≥ 100,000 records/s in batches of 7 |",
        "| cold start (empty cache) ≤ 0.5 s |",
    ] {
        assert!(text.contains(row), "no row {row} in:\n{text}");
    }
    // Every figure is a number: no NaN or inf from an empty measurement.
    assert!(!text.contains("NaN") && !text.contains(" inf "), "{text}");
}
