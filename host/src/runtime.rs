//! Loading the component (compiled once, cached on disk) and running
//! instances of it, each in its own store with its own limits.

use crate::bindings::{
    Batch, Connector, ConnectorPre, GuestError, Problem, Rejection, Report, SandboxPlan, StreamInfo,
};
use crate::egress::Egress;
use anyhow::{Context as _, Result};
use apiconn_text::words::{self, ErrorKind};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The component, as built from `guest/` and embedded in this binary.
pub const COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apiconn.wasm"));

/// The first 8 bytes of [`COMPONENT`]'s SHA-256 in hex, computed by the
/// build: the name of its cache files.
const COMPONENT_DIGEST: &str = include_str!(concat!(env!("OUT_DIR"), "/apiconn.wasm.digest"));

/// [`COMPONENT`] precompiled by the build for the build machine with
/// [`engine_config`] (empty in debug builds): a cold start loads it
/// instead of compiling, when wasmtime finds it fits the engine.
///
/// [`engine_config`]: crate::engine_config::engine_config
pub const PRECOMPILED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apiconn.cwasm"));

/// Limits of one connector instance.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_memory_bytes: usize,
    pub max_response_bytes: u64,
    /// CPU time the component may use in one call (waiting for the network
    /// or for a retry does not count).
    pub max_cpu: Duration,
    /// `--max-timeout-ms`: the longest one request may take with its
    /// retries and waits; a config's `timeout_ms` may not ask for more.
    pub max_timeout_ms: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 256 << 20,
            max_response_bytes: 64 << 20,
            max_cpu: Duration::from_secs(30),
            max_timeout_ms: 120_000,
        }
    }
}

/// How often the engine's epoch advances: the granularity of the CPU limit.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Time spent running WebAssembly in the current call: started when the
/// host calls in or a host function returns, stopped when the component
/// calls out (to wait for HTTP, a clock, ...) or returns.
#[derive(Debug, Clone)]
struct CpuMeter {
    limit: Duration,
    used: Duration,
    since: Option<std::time::Instant>,
}

impl CpuMeter {
    fn used(&self) -> Duration {
        self.used + self.since.map_or(Duration::ZERO, |s| s.elapsed())
    }
}

/// The error a call ends with when it runs past `--max-cpu-ms`.
#[derive(Debug)]
pub struct CpuLimitExceeded(pub Duration);

impl std::fmt::Display for CpuLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: the connector computed for more than {} ms in one call (raise it with --max-cpu-ms)",
            ErrorKind::Limit,
            self.0.as_millis()
        )
    }
}

impl std::error::Error for CpuLimitExceeded {}

/// The store's data: WASI with no ambient authority, wasi:http behind the
/// egress policy, and the limits.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    egress: Egress,
    limits: StoreLimits,
    cpu: CpuMeter,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

/// The engine and the pre-linked component, shared by every instance.
pub struct Runtime {
    engine: Engine,
    pre: ConnectorPre<State>,
    /// Where the component's `.wasm` file is on disk.
    pub component_path: PathBuf,
}

/// The cache directory: `$APICONN_CACHE_DIR`, else the user's cache dir.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("APICONN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("apiconn")))
        .unwrap_or_else(|| std::env::temp_dir().join("apiconn-cache"))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Whether `wasm` is the embedded [`COMPONENT`] itself.
fn is_embedded(wasm: &[u8]) -> bool {
    std::ptr::eq(wasm.as_ptr(), COMPONENT.as_ptr()) && wasm.len() == COMPONENT.len()
}

/// The precompiled [`COMPONENT`], when `wasm` is it and wasmtime finds the
/// artifact fits `engine` (same wasmtime, settings and CPU features);
/// `None`: compile or use the cache.
fn embedded(engine: &Engine, wasm: &[u8]) -> Option<Component> {
    if !is_embedded(wasm)
        || Engine::detect_precompiled(PRECOMPILED) != Some(wasmtime::Precompiled::Component)
    {
        return None;
    }
    // SAFETY: the bytes are what this binary's build wrote with
    // `precompile_component`, embedded read-only; `deserialize` checks
    // that they fit this engine and fails (safely) otherwise.
    match unsafe { Component::deserialize(engine, PRECOMPILED) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::debug!("the precompiled component does not fit this engine: {e:#}");
            None
        }
    }
}

impl Runtime {
    /// The embedded connector component.
    pub fn new() -> Result<Runtime> {
        Runtime::load(COMPONENT)
    }

    /// Any component of the `apiconn:connector` world (test fixtures, builds
    /// of your own), compiled once and cached like the embedded one.
    pub fn load(wasm: &[u8]) -> Result<Runtime> {
        let mut config = crate::engine_config::engine_config();
        // `APICONN_PROFILE=perfmap`: name the component's functions for
        // `perf` (/tmp/perf-PID.map), as `wasmtime run --profile=perfmap` does.
        if std::env::var_os("APICONN_PROFILE").is_some_and(|p| p == "perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("apiconn-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;

        let dir = cache_dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating cache dir {}", dir.display()))?;
        let digest = match is_embedded(wasm) {
            true => COMPONENT_DIGEST.to_string(),
            false => hex::encode(&Sha256::digest(wasm)[..8]),
        };
        let component_path = dir.join(format!("apiconn-{digest}.wasm"));
        if !component_path.exists() {
            write_atomically(&component_path, wasm)?;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_key = std::hash::Hasher::finish(&hasher);
        let compiled = dir.join(format!("apiconn-{digest}-{engine_key:016x}.cwasm"));
        // The cache file first: it is mapped, not copied, so a warm start
        // reads only the pages it runs. Then the embedded artifact, which
        // is copied (and written to the cache for the next start).
        // SAFETY: the file is one this program wrote with
        // `precompile_component` for this engine's configuration (the name
        // carries both hashes) in the user's own cache directory.
        let cached = unsafe { Component::deserialize_file(&engine, &compiled) };
        let component = match cached.or_else(|e| {
            let component = embedded(&engine, wasm).ok_or(e)?;
            if let Err(e) = write_atomically(&compiled, PRECOMPILED) {
                tracing::debug!("caching the precompiled component: {e:#}");
            }
            Ok::<_, wasmtime::Error>(component)
        }) {
            Ok(c) => c,
            Err(_) => {
                let started = std::time::Instant::now();
                let bytes = engine.precompile_component(wasm)?;
                write_atomically(&compiled, &bytes)
                    .with_context(|| format!("writing {}", compiled.display()))?;
                tracing::debug!("compiled the component in {:?}", started.elapsed());
                unsafe { Component::deserialize(&engine, &bytes)? }
            }
        };

        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = ConnectorPre::new(linker.instantiate_pre(&component)?)?;
        Ok(Runtime {
            engine,
            pre,
            component_path,
        })
    }

    pub async fn instance(&self, egress: Egress, limits: &Limits) -> Result<Instance> {
        let wasi = WasiCtx::builder()
            .stderr(crate::logs::GuestStderr)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = State {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            egress,
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.max_memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            cpu: CpuMeter {
                limit: limits.max_cpu,
                used: Duration::ZERO,
                since: None,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.call_hook(|mut ctx, hook| {
            let cpu = &mut ctx.data_mut().cpu;
            if hook.exiting_host() {
                cpu.since = Some(std::time::Instant::now());
            } else if let Some(since) = cpu.since.take() {
                cpu.used += since.elapsed();
            }
            Ok(())
        });
        store.epoch_deadline_callback(|ctx| {
            let cpu = &ctx.data().cpu;
            if cpu.used() > cpu.limit {
                return Err(wasmtime::Error::new(CpuLimitExceeded(cpu.limit)));
            }
            // Let other instances run, then check again a tick later.
            Ok(wasmtime::UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);
        let bindings = self.pre.instantiate_async(&mut store).await?;
        Ok(Instance { store, bindings })
    }
}

/// A failure while running the component: the component's own error, or a
/// trap (a limit, or a bug).
#[derive(Debug)]
pub enum RunError {
    Guest(GuestError),
    Trap(anyhow::Error),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Guest(e) => f.write_str(&describe(e)),
            RunError::Trap(e) => {
                if let Some(cpu) = e.chain().find_map(|c| c.downcast_ref::<CpuLimitExceeded>()) {
                    return write!(f, "{cpu}");
                }
                // The root cause, without the wasm backtrace around it.
                let text = format!("{e:#}");
                let cause = e.root_cause().to_string();
                if text.contains("forcing trap when growing memory") {
                    ErrorKind::Limit.write(
                        f,
                        "the connector needed more memory than --max-memory allows",
                    )
                } else {
                    let internal = ErrorKind::Internal;
                    write!(f, "{internal} in {e}: the connector stopped ({cause})")
                }
            }
        }
    }
}

impl std::error::Error for RunError {}

impl From<wasmtime::Error> for RunError {
    fn from(e: wasmtime::Error) -> Self {
        RunError::Trap(e.into())
    }
}

/// The component's error as a sentence.
pub fn describe(e: &GuestError) -> String {
    let (kind, message) = match e {
        GuestError::Config(problems) => {
            return words::invalid_config(problems.iter().map(problem_line));
        }
        GuestError::Auth(m) => (ErrorKind::Auth, m),
        GuestError::HttpStatus(h) => (ErrorKind::HttpStatus(h.code), &h.message),
        GuestError::Transport(m) => (ErrorKind::Transport, m),
        GuestError::Limit(m) => (ErrorKind::Limit, m),
        GuestError::Response(m) => (ErrorKind::Response, m),
        GuestError::NonCompliantRecord(m) => (ErrorKind::NonCompliantRecord, m),
        GuestError::DirtyRecords(m) => (ErrorKind::DirtyRecords, m),
        GuestError::Internal(m) => (ErrorKind::Internal, m),
    };
    kind.sentence(message)
}

pub fn problem_line(p: &Problem) -> String {
    words::problem(&p.path, &p.message)
}

/// The store, with a new CPU budget for a new call.
fn fresh(store: &mut Store<State>) -> &mut Store<State> {
    let cpu = &mut store.data_mut().cpu;
    cpu.used = Duration::ZERO;
    cpu.since = None;
    store
}

/// One instance of the component in its own store.
pub struct Instance {
    store: Store<State>,
    bindings: Connector,
}

impl Instance {
    /// Requests this instance has sent through its egress (retries,
    /// redirect hops and token requests included).
    pub fn requests_sent(&self) -> u64 {
        self.store
            .data()
            .egress
            .sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn egress_mut(&mut self) -> &mut Egress {
        &mut self.store.data_mut().egress
    }

    /// A trap, with the connector's name and the requests it had made.
    fn trapped(&self, e: wasmtime::Error) -> RunError {
        let egress = &self.store.data().egress;
        let name = if egress.name.is_empty() {
            "the connector".to_string()
        } else {
            format!("connector `{}`", egress.name)
        };
        let sent = egress.sent.load(std::sync::atomic::Ordering::Relaxed);
        RunError::Trap(anyhow::Error::from(e).context(format!("{name} after {sent} requests")))
    }

    /// Calls into the component with a fresh CPU budget; a trap becomes a
    /// [`RunError`] that names the connector.
    async fn call<T>(
        &mut self,
        f: impl AsyncFnOnce(&Connector, &mut Store<State>) -> wasmtime::Result<T>,
    ) -> Result<T, RunError> {
        let store = fresh(&mut self.store);
        match f(&self.bindings, store).await {
            Ok(value) => Ok(value),
            Err(e) => Err(self.trapped(e)),
        }
    }

    /// Like [`Instance::call`], for functions that return the component's error.
    async fn try_call<T>(
        &mut self,
        f: impl AsyncFnOnce(&Connector, &mut Store<State>) -> wasmtime::Result<Result<T, GuestError>>,
    ) -> Result<T, RunError> {
        match self.call(f).await? {
            Ok(value) => Ok(value),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// The component's error, with the egress's words for the failure of
    /// the last request (the wasi:http code the component saw has none).
    fn failed(&self, e: GuestError) -> RunError {
        let Some(detail) = self.store.data().egress.last_failure() else {
            return RunError::Guest(e);
        };
        let add = |m: String| format!("{m} ({detail})");
        RunError::Guest(match e {
            GuestError::Auth(m) => GuestError::Auth(add(m)),
            GuestError::Transport(m) => GuestError::Transport(add(m)),
            GuestError::Limit(m) => GuestError::Limit(add(m)),
            GuestError::Response(m) => GuestError::Response(add(m)),
            other => other,
        })
    }

    /// Hands the component what the operator granted: the config's secret
    /// values and the time ceiling (WIT `admin.configure`).
    pub async fn configure(
        &mut self,
        secrets: &[String],
        limits: &Limits,
        verbose: bool,
        strict: bool,
    ) -> Result<(), RunError> {
        let grants = crate::bindings::Grants {
            secrets: secrets.to_vec(),
            max_timeout_ms: limits.max_timeout_ms,
            verbose,
            strict,
        };
        self.call(async |b, s| b.apiconn_connector_admin().call_configure(s, &grants).await)
            .await
    }

    pub async fn validate(
        &mut self,
        config: &str,
        env: Option<&str>,
    ) -> Result<Vec<Problem>, RunError> {
        self.call(async |b, s| {
            b.apiconn_connector_admin()
                .call_validate(s, config, env)
                .await
        })
        .await
    }

    pub async fn plan(&mut self, config: &str, env: Option<&str>) -> Result<SandboxPlan, RunError> {
        self.try_call(async |b, s| b.apiconn_connector_admin().call_plan(s, config, env).await)
            .await
    }

    pub async fn partitions(
        &mut self,
        config: &str,
        env: Option<&str>,
        stream: Option<&str>,
    ) -> Result<Vec<String>, RunError> {
        self.try_call(async |b, s| {
            b.apiconn_connector_admin()
                .call_partitions(s, config, env, stream)
                .await
        })
        .await
    }

    /// The streams of a config, in its order.
    pub async fn streams(
        &mut self,
        config: &str,
        env: Option<&str>,
    ) -> Result<Vec<StreamInfo>, RunError> {
        self.try_call(async |b, s| {
            b.apiconn_connector_admin()
                .call_streams(s, config, env)
                .await
        })
        .await
    }

    pub async fn check(&mut self, config: &str, env: Option<&str>) -> Result<String, RunError> {
        self.try_call(async |b, s| b.apiconn_connector_admin().call_check(s, config, env).await)
            .await
    }

    pub async fn schema(&mut self) -> Result<String, RunError> {
        self.call(async |b, s| b.apiconn_connector_admin().call_config_schema(s).await)
            .await
    }

    pub async fn open_reader(
        &mut self,
        config: &str,
        env: Option<&str>,
        stream: Option<&str>,
        state: Option<&str>,
    ) -> Result<ResourceAny, RunError> {
        self.try_call(async |b, s| {
            let reader = b.apiconn_connector_source().reader();
            reader.call_open(s, config, env, stream, state).await
        })
        .await
    }

    pub async fn next_batch(&mut self, reader: ResourceAny) -> Result<Option<Batch>, RunError> {
        self.try_call(async |b, s| {
            let readers = b.apiconn_connector_source().reader();
            readers.call_next_batch(s, reader).await
        })
        .await
    }

    pub async fn open_writer(
        &mut self,
        config: &str,
        env: Option<&str>,
    ) -> Result<ResourceAny, RunError> {
        self.try_call(async |b, s| {
            let writer = b.apiconn_connector_sink().writer();
            writer.call_open(s, config, env).await
        })
        .await
    }

    pub async fn check_records(
        &mut self,
        writer: ResourceAny,
        records: &[u8],
        first_line: u64,
    ) -> Result<Vec<Rejection>, RunError> {
        self.call(async |b, s| {
            let writers = b.apiconn_connector_sink().writer();
            writers.call_check(s, writer, records, first_line).await
        })
        .await
    }

    pub async fn write_records(
        &mut self,
        writer: ResourceAny,
        records: &[u8],
        first_line: u64,
        keep_going: bool,
    ) -> Result<Report, RunError> {
        self.call(async |b, s| {
            let writers = b.apiconn_connector_sink().writer();
            writers
                .call_write(s, writer, records, first_line, keep_going)
                .await
        })
        .await
    }

    pub async fn finish_writer(&mut self, writer: ResourceAny) -> Result<Report, RunError> {
        self.call(async |b, s| {
            let writers = b.apiconn_connector_sink().writer();
            writers.call_finish(s, writer).await
        })
        .await
    }
}

/// The egress policy for a config whose plan the component gave.
pub fn egress_for(
    plan: &SandboxPlan,
    allow_private: bool,
    pinned: &[crate::egress::Pinned],
    tls: std::sync::Arc<rustls::ClientConfig>,
    limits: &Limits,
) -> Egress {
    Egress {
        allowed: plan.origins.clone(),
        allow_private,
        tls,
        timeout: Duration::from_millis(u64::from(plan.timeout_ms.max(1))),
        max_response_bytes: limits.max_response_bytes,
        pinned: pinned.to_vec(),
        limiter: None,
        pauses: Default::default(),
        max_pause: Duration::from_millis(u64::from(limits.max_timeout_ms)),
        sent: Default::default(),
        name: plan.name.clone(),
        detail: Default::default(),
    }
}
