//! The `apiconn` binary under test, built once per test run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Path of a freshly built `apiconn` (debug), building it on first use.
pub fn apiconn() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            // The whole workspace, so features unify as in `cargo test
            // --workspace` and nothing is built twice.
            .args(["build", "--quiet", "--workspace", "--bins"])
            .status()
            .expect("running cargo build --workspace --bins");
        assert!(status.success(), "cargo build --workspace --bins failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        let bin = target.join("debug/apiconn");
        // Compile the component into the cache once, not in every parallel test.
        let warm = Command::new(&bin)
            .arg("--version")
            .env("APICONN_CACHE_DIR", cache_dir())
            .output()
            .expect("running apiconn --version");
        assert!(
            warm.status.success(),
            "{}",
            String::from_utf8_lossy(&warm.stderr)
        );
        bin
    })
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Every stdout line parsed as JSON.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line {l:?} is not JSON: {e}"))
            })
            .collect()
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The component cache the tests share.
pub fn cache_dir() -> PathBuf {
    root().join("target/test-cache")
}

/// Runs `apiconn ARGS` with the tests' cache dir.
pub fn run(args: &[&str]) -> Run {
    run_with_env(args, &[])
}

pub fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(apiconn());
    cmd.args(args)
        .env("APICONN_CACHE_DIR", cache_dir())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running apiconn").into()
}

/// Writes `config` to a fresh temporary file with extension `ext`.
pub fn config_file(config: &str, ext: &str) -> tempfile::TempPath {
    let mut f = tempfile::Builder::new()
        .suffix(&format!(".{ext}"))
        .tempfile()
        .unwrap();
    std::io::Write::write_all(&mut f, config.as_bytes()).unwrap();
    f.into_temp_path()
}

/// A test fixture component from `tests/fixtures/NAME`, built once per run.
pub fn fixture(name: &str) -> Vec<u8> {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let target = root().join("target/fixtures");
    let crate_name = format!("apiconn_fixture_{name}");
    let wasm = target.join(format!("wasm32-wasip2/release/{crate_name}.wasm"));
    let mut built = BUILT.lock().unwrap();
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root().join(format!("tests/fixtures/{name}/Cargo.toml")))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("running cargo build for a fixture");
        assert!(status.success(), "building fixture {name} failed");
        built.push(name.to_string());
    }
    std::fs::read(wasm).expect("the fixture's .wasm")
}
