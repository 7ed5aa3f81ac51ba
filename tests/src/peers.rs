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
        // gunicorn 27 opens a control socket at one fixed path by default:
        // parallel servers would collide there.
        "--no-control-socket",
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

/// What the Django REST framework peer (tests/peers/django) is started with;
/// its `peer/settings.py` lists the environment variables these become.
#[derive(Debug, Clone)]
pub struct DjangoOptions {
    /// The confidential OAuth2 client-credentials application of `/o/token/`
    /// (django-oauth-toolkit stores the secret hashed).
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of its access tokens.
    pub token_seconds: u64,
    /// The simplejwt user of `/api/token/`.
    pub user: String,
    pub password: String,
    /// Lifetime of simplejwt access tokens.
    pub access_seconds: u64,
    /// The `/api/...` viewsets also answer without a JWT.
    pub open: bool,
    /// Customers 1..=N with deterministic values (customer i last updated
    /// i hours after 2024-01-01T00:00:00Z), and invoices for each.
    pub customers: u32,
    pub invoices: u32,
    /// A Django fixture (JSON) loaded instead of generated customers.
    pub fixture: Option<std::path::PathBuf>,
    /// Data requests (not the token endpoints) wait this long first.
    pub delay_ms: u64,
}

impl Default for DjangoOptions {
    fn default() -> Self {
        DjangoOptions {
            client_id: "apiconn-client".into(),
            client_secret: "apiconn-client-secret".into(),
            token_seconds: 36000,
            user: "apiconn".into(),
            password: "apiconn-password".into(),
            access_seconds: 300,
            open: false,
            customers: 0,
            invoices: 0,
            fixture: None,
            delay_ms: 0,
        }
    }
}

/// PyPI Django REST framework with django-oauth-toolkit and simplejwt
/// (tests/peers/django) under gunicorn, on a fresh SQLite file that the peer
/// migrates and seeds before it listens. Endpoints: `/o/token/` (client
/// credentials), `/api/oauth/items/` (needs its token), `/api/token/` and
/// `/api/token/refresh/` (JWT login), `/api/{page,limit,cursor}/customers/`
/// (one DRF pagination style each), `/api/customers/{id}/invoices/` and
/// `/api/bulk/customers/` (GET all, POST a list).
pub struct Django {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Django {
    pub fn start(options: &DjangoOptions) -> Django {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(venv_bin("django", "gunicorn"));
        cmd.arg("--chdir")
            .arg(root().join("tests/peers/django"))
            .args([
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--workers",
                "2",
                // Migrate and seed once, in the master, before listening.
                "--preload",
                // Else every gunicorn shares ~/.gunicorn/gunicorn.ctl.
                "--no-control-socket",
                "peer.wsgi:application",
            ])
            .env("APICONN_TEST_DB", dir.path().join("db.sqlite3"))
            .env("APICONN_TEST_CLIENT_ID", &options.client_id)
            .env("APICONN_TEST_CLIENT_SECRET", &options.client_secret)
            .env(
                "APICONN_TEST_TOKEN_SECONDS",
                options.token_seconds.to_string(),
            )
            .env("APICONN_TEST_USER", &options.user)
            .env("APICONN_TEST_PASSWORD", &options.password)
            .env(
                "APICONN_TEST_ACCESS_SECONDS",
                options.access_seconds.to_string(),
            )
            .env("APICONN_TEST_OPEN", if options.open { "1" } else { "0" })
            .env("APICONN_TEST_SEED", options.customers.to_string())
            .env("APICONN_TEST_INVOICES", options.invoices.to_string())
            .env("APICONN_TEST_LOG", dir.path().join("requests.log"))
            .env("APICONN_TEST_DELAY_MS", options.delay_ms.to_string())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("APICONN_TEST_FIXTURE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some(fixture) = &options.fixture {
            cmd.env("APICONN_TEST_FIXTURE", fixture);
        }
        let mut child = cmd.spawn().expect("starting gunicorn (django)");
        wait_for_port(port, &mut child, "django (gunicorn)");
        Django { port, child, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The peer's SQLite file, to inspect what a write stored.
    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("db.sqlite3")
    }

    /// Every request the peer answered so far, as `METHOD path status`.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for Django {
    fn drop(&mut self) {
        // The master and its workers at once: they are its process group.
        unsafe { libc::killpg(self.child.id() as libc::pid_t, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}
