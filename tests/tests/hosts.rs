//! One build on every host: the same `.wasm` file reads the same
//! json-server data under the apiconn host, on Node.js through jco, and
//! (when installed: `scripts/wasmtime-cli.sh`) under the stock wasmtime
//! CLI as a `wasi:cli` command — with byte-identical output.

use apiconn_tests::bin::{config_file, root, run};
use apiconn_tests::peers::JsonServer;
use serde_json::{Value, json};
use std::process::{Command, Stdio};

/// The component file the apiconn host runs (from `apiconn --version`).
fn component() -> std::path::PathBuf {
    let out = run(&["--version"]);
    let path = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("component: "))
        .expect("a component line");
    path.into()
}

fn config(server: &JsonServer) -> Value {
    json!({"source": {"name": "hosts", "url": server.url()},
           "read": {"path": "/users", "params": {"_limit": 7}, "paginate": {"type": "page", "param": "_page"}}})
}

#[test]
fn the_same_wasm_gives_the_same_records_under_every_host() {
    let server = JsonServer::start(&root().join("examples/json-server/db.json"));
    let config = config(&server);
    let path = config_file(&config.to_string(), "json");
    let wasm = component();

    let ours = run(&["read", path.to_str().unwrap(), "--allow-private"]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert_eq!(ours.stdout.lines().count(), 20);

    // Node.js: jco transpile, then examples/node/read.mjs.
    let out_dir = root().join("tests/.jco").join(wasm.file_stem().unwrap());
    if !out_dir.join("apiconn.js").exists() {
        let status = Command::new(root().join("tests/node_modules/.bin/jco"))
            .arg("transpile")
            .arg(&wasm)
            .arg("-o")
            .arg(&out_dir)
            .args(["--name", "apiconn", "--quiet"])
            .status()
            .expect("running jco (npm ci --prefix tests installs it)");
        assert!(status.success());
        std::fs::write(out_dir.join("package.json"), "{\"type\":\"module\"}\n").unwrap();
    }
    let node = Command::new("node")
        .arg(root().join("examples/node/read.mjs"))
        .arg(&out_dir)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    assert_eq!(
        String::from_utf8(node.stdout).unwrap(),
        ours.stdout,
        "Node.js (jco) output differs"
    );

    // The stock wasmtime CLI, when scripts/wasmtime-cli.sh has installed it.
    let wasmtime = std::env::var_os("APICONN_WASMTIME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target/tools/bin/wasmtime"));
    if wasmtime.exists() {
        let mut child = Command::new(&wasmtime)
            .args(["run", "-S", "http"])
            .arg(&wasm)
            .arg("read")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(config.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            ours.stdout,
            "wasmtime CLI output differs"
        );
    } else {
        assert!(
            std::env::var_os("APICONN_WASMTIME").is_none(),
            "APICONN_WASMTIME names a missing file"
        );
        eprintln!(
            "wasmtime CLI not installed (scripts/wasmtime-cli.sh installs it and runs this test with it)"
        );
    }
}
