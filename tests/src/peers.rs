//! Real servers from the registries, installed by the test command
//! (`npm ci --prefix tests`), started on a free port of 127.0.0.1 and
//! stopped on drop.

use crate::bin::root;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (the listener is closed before use), never
/// the same twice in one test process, so parallel tests cannot end up
/// talking to each other's servers.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Listening, and it is ours: the child is still alive.
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{what} exited ({status}) while something else listens on port {port}");
            }
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on port {port} within 30 s");
}

/// npm `json-server` 0.17.4 serving a copy of a db file.
pub struct JsonServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl JsonServer {
    /// json-server serving `db` (an object of collections).
    pub fn serve(db: &serde_json::Value) -> JsonServer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        std::fs::write(&path, db.to_string()).unwrap();
        JsonServer::start(&path)
    }

    pub fn start(db: &Path) -> JsonServer {
        let bin = root().join("tests/node_modules/json-server/lib/cli/bin.js");
        assert!(
            bin.exists(),
            "json-server is not installed: run `npm ci --prefix tests` (scripts/test.sh does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("db.json");
        std::fs::copy(db, &copy).unwrap();
        let port = free_port();
        let mut child = Command::new("node")
            .arg(bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--quiet",
            ])
            .arg(&copy)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting node json-server");
        wait_for_port(port, &mut child, "json-server");
        JsonServer {
            port,
            child,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for JsonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python program from one of the virtualenvs that `scripts/test.sh`
/// makes from `tests/python/<name>.txt`.
pub fn venv_bin(venv: &str, program: &str) -> std::path::PathBuf {
    let bin = root()
        .join("tests/.venv")
        .join(venv)
        .join("bin")
        .join(program);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which installs tests/python/{venv}.txt",
        bin.display()
    );
    bin
}

/// PyPI `datasette` serving one SQLite file.
pub struct Datasette {
    pub port: u16,
    child: Child,
}

impl Datasette {
    pub fn start(venv: &str, db: &Path, extra: &[&str]) -> Datasette {
        let port = free_port();
        let mut child = Command::new(venv_bin(venv, "datasette"))
            .arg("serve")
            .arg(db)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting datasette");
        wait_for_port(port, &mut child, "datasette");
        Datasette { port, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Datasette {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Any server process of the tests, stopped on drop.
pub struct Peer {
    pub port: u16,
    child: Child,
}

impl Peer {
    /// Spawns `cmd` and waits until `port` accepts connections.
    pub fn spawn(mut cmd: Command, port: u16, what: &str) -> Peer {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        wait_for_port(port, &mut child, what);
        Peer { port, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PyPI `httpbin` under gunicorn.
pub fn httpbin() -> Peer {
    let port = free_port();
    let mut cmd = Command::new(venv_bin("httpbin", "gunicorn"));
    cmd.args([
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--workers",
        "2",
        "httpbin:app",
    ]);
    Peer::spawn(cmd, port, "httpbin")
}

/// npm `oauth2-mock-server` and a protected API that checks its tokens
/// (tests/peers/oauth2.mjs): (issuer, api).
pub fn oauth2(client_id: &str, client_secret: &str, args: &[&str]) -> (u16, Peer) {
    let oauth_port = free_port();
    let api_port = free_port();
    let mut cmd = Command::new("node");
    cmd.arg(root().join("tests/peers/oauth2.mjs"))
        .args([
            &oauth_port.to_string(),
            &api_port.to_string(),
            client_id,
            client_secret,
        ])
        .args(args);
    let api = Peer::spawn(cmd, api_port, "oauth2-mock-server");
    // The issuer listens before the API does.
    (oauth_port, api)
}

/// The AppKey signature verifier (tests/peers/appkey_verifier.py).
pub fn appkey_verifier(app_key: &str, app_secret: &str) -> Peer {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("tests/peers/appkey_verifier.py"))
        .args([&port.to_string(), app_key, app_secret]);
    Peer::spawn(cmd, port, "appkey verifier")
}
