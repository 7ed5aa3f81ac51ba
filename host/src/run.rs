//! What the commands do, as a library: prepare a config (secrets, sandbox
//! plan), then read, check or validate it in a fresh component instance.

use crate::bindings::{Batch, Problem, SandboxPlan};
use crate::egress;
use crate::runtime::{Instance, Limits, RunError, Runtime, egress_for, problem_line};
use crate::secrets::{self, Masker, SecretPolicy};
use serde_json::Value;
use std::io::Write;
use std::time::Instant;

/// What the operator decided, for every command.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub env: Option<String>,
    pub allow_private: bool,
    pub secrets: SecretPolicy,
    pub limits: Limits,
    /// `--resolve HOST:PORT:ADDR` pins.
    pub resolve: Vec<crate::egress::Pinned>,
    /// `--allow-insecure-tls`: a config may set `tls.insecure_skip_verify`.
    pub allow_insecure_tls: bool,
}

/// Why a command failed, with secrets already masked.
#[derive(Debug)]
pub enum Failure {
    /// The config is wrong: every problem, each with its path.
    Config(Vec<String>),
    /// The run failed.
    Run(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Config(problems) => {
                write!(f, "invalid config:")?;
                for p in problems {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
            Failure::Run(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Failure {}

/// A config ready for the component: secrets resolved, their values known
/// to the masker.
pub struct Prepared {
    pub json: String,
    pub masker: Masker,
    /// The run's `source.rate_limit`, shared by every instance it starts.
    limiter: std::sync::OnceLock<std::sync::Arc<egress::RateLimiter>>,
}

pub fn prepare(mut config: Value, secrets: &SecretPolicy) -> Result<Prepared, Failure> {
    let mut masker = Masker::default();
    secrets::resolve(&mut config, secrets, &mut masker).map_err(Failure::Config)?;
    crate::logs::register(&masker);
    Ok(Prepared {
        json: config.to_string(),
        masker,
        limiter: std::sync::OnceLock::new(),
    })
}

impl Prepared {
    /// A run error as the user sees it: config problems one by one, with
    /// every secret of this config masked.
    pub(crate) fn failure(&self, e: RunError) -> Failure {
        match e {
            RunError::Guest(crate::bindings::GuestError::Config(problems)) => Failure::Config(
                problems
                    .iter()
                    .map(|p| self.masker.mask(&problem_line(p)))
                    .collect(),
            ),
            other => Failure::Run(self.masker.mask(&other.to_string())),
        }
    }
}

/// A new instance that may not send anything yet.
async fn closed(rt: &Runtime, opts: &Options) -> Result<Instance, Failure> {
    let closed = egress::Egress::closed().map_err(|e| Failure::Run(e.to_string()))?;
    rt.instance(closed, &opts.limits)
        .await
        .map_err(|e| Failure::Run(format!("starting the component: {e:#}")))
}

/// What the operator's flags refuse in a config's plan (README, "Security
/// model"): each a config problem naming the flag that allows it.
fn refused_by_operator(plan: &SandboxPlan, opts: &Options) -> Vec<String> {
    let mut problems = Vec::new();
    let ceiling = opts.limits.max_timeout_ms;
    if plan.timeout_ms > ceiling {
        problems.push(format!(
            "source.timeout_ms: {} ms is above this host's ceiling of {ceiling} ms (raise it with --max-timeout-ms)",
            plan.timeout_ms
        ));
    }
    if plan.insecure_skip_verify && !opts.allow_insecure_tls {
        problems.push(
            "source.tls.insecure_skip_verify: not allowed by this host (pass --allow-insecure-tls to allow it)"
                .to_string(),
        );
    }
    problems
}

/// A new instance whose egress policy allows what this config's plan names.
pub async fn sandboxed(
    rt: &Runtime,
    config: &Prepared,
    opts: &Options,
) -> Result<Instance, Failure> {
    let mut instance = closed(rt, opts).await?;
    let plan = instance
        .plan(&config.json, opts.env.as_deref())
        .await
        .map_err(|e| config.failure(e))?;
    let refused = refused_by_operator(&plan, opts);
    if !refused.is_empty() {
        return Err(Failure::Config(refused));
    }
    if plan.insecure_skip_verify {
        tracing::warn!("source.tls.insecure_skip_verify is set: TLS certificates are not verified");
    }
    // A CA file is read like a `${file:NAME}` secret: a plain name inside
    // --secrets-dir, so an untrusted config cannot make the host read any
    // other file.
    let ca_file = match &plan.ca_file {
        None => None,
        Some(name) => Some(
            crate::secrets::secret_file(name, &opts.secrets)
                .map_err(|e| Failure::Config(vec![format!("source.tls.ca_file: {e}")]))?,
        ),
    };
    let tls = egress::tls_config(ca_file.as_deref(), plan.insecure_skip_verify)
        .map_err(|e| Failure::Config(vec![config.masker.mask(&format!("{e:#}"))]))?;
    let mut egress = egress_for(&plan, opts.allow_private, &opts.resolve, tls, &opts.limits);
    egress.limiter = plan.rate_limit.map(|rate| {
        let limiter = config
            .limiter
            .get_or_init(|| std::sync::Arc::new(egress::RateLimiter::new(rate)));
        limiter.clone()
    });
    *instance.egress_mut() = egress;
    Ok(instance)
}

pub async fn validate(
    rt: &Runtime,
    config: &Prepared,
    opts: &Options,
) -> Result<Vec<String>, Failure> {
    let mut instance = closed(rt, opts).await?;
    let problems: Vec<Problem> = instance
        .validate(&config.json, opts.env.as_deref())
        .await
        .map_err(|e| config.failure(e))?;
    if problems.is_empty() {
        let plan = instance
            .plan(&config.json, opts.env.as_deref())
            .await
            .map_err(|e| config.failure(e))?;
        return Ok(refused_by_operator(&plan, opts));
    }
    Ok(problems
        .iter()
        .map(|p| config.masker.mask(&problem_line(p)))
        .collect())
}

pub async fn check(rt: &Runtime, config: &Prepared, opts: &Options) -> Result<String, Failure> {
    let mut instance = sandboxed(rt, config, opts).await?;
    let report = instance
        .check(&config.json, opts.env.as_deref())
        .await
        .map_err(|e| config.failure(e))?;
    Ok(config.masker.mask(&report))
}

/// Counts of a finished (or failed) read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub records: u64,
    pub requests: u64,
    pub batches: u64,
}

/// Where a read starts and when it stops early.
#[derive(Default)]
pub struct ReadControl<'a> {
    /// A checkpoint to resume from.
    pub state: Option<String>,
    /// Checked after each batch: when set, the read ends there (the batch
    /// is out and its checkpoint handed over).
    pub stop: Option<&'a std::sync::atomic::AtomicBool>,
}

/// Reads every batch, writing records to `out` and flushing after each;
/// then `on_batch` sees the batch (and may save its checkpoint).
pub async fn read(
    rt: &Runtime,
    config: &Prepared,
    opts: &Options,
    control: ReadControl<'_>,
    out: &mut (dyn Write + Send),
    on_batch: &mut (dyn FnMut(&Batch, &ReadSummary) -> Result<(), Failure> + Send),
) -> Result<ReadSummary, (Failure, ReadSummary)> {
    let mut summary = ReadSummary::default();
    let mut instance = sandboxed(rt, config, opts)
        .await
        .map_err(|f| (f, summary))?;
    let reader = instance
        .open_reader(&config.json, opts.env.as_deref(), control.state.as_deref())
        .await
        .map_err(|e| (config.failure(e), summary))?;
    loop {
        let batch = match instance.next_batch(reader).await {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => return Err((config.failure(e), summary)),
        };
        out.write_all(&batch.records)
            .and_then(|_| out.flush())
            .map_err(|e| (Failure::Run(format!("writing records: {e}")), summary))?;
        summary.records += u64::from(batch.count);
        summary.requests += u64::from(batch.requests);
        summary.batches += 1;
        for w in &batch.warnings {
            tracing::warn!("{}", config.masker.mask(w));
        }
        on_batch(&batch, &summary).map_err(|f| (f, summary))?;
        if control
            .stop
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
        {
            break;
        }
    }
    Ok(summary)
}

/// A checkpoint file, replaced atomically: a temporary file beside it,
/// written and fsynced, then renamed over it (and the directory fsynced).
pub struct StateFile {
    pub path: std::path::PathBuf,
}

impl StateFile {
    pub fn load(&self) -> Result<Option<String>, Failure> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::Run(format!(
                "reading the state file {}: {e}",
                self.path.display()
            ))),
        }
    }

    pub fn save(&self, checkpoint: &str) -> Result<(), Failure> {
        let fail = |e: std::io::Error| {
            Failure::Run(format!(
                "saving the state file {}: {e}",
                self.path.display()
            ))
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(fail)?;
        tmp.write_all(checkpoint.as_bytes()).map_err(fail)?;
        tmp.write_all(b"\n").map_err(fail)?;
        tmp.as_file().sync_all().map_err(fail)?;
        tmp.persist(&self.path).map_err(|e| fail(e.error))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(fail)?;
        Ok(())
    }
}

/// `1.2s`, `340ms`.
pub fn elapsed(since: Instant) -> String {
    let d = since.elapsed();
    if d.as_secs() >= 1 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

pub async fn schema(rt: &Runtime) -> Result<String, Failure> {
    let mut instance = closed(rt, &Options::default()).await?;
    instance
        .schema()
        .await
        .map_err(|e| Failure::Run(e.to_string()))
}

/// The initial checkpoints of a read's partitions (empty: one partition).
pub async fn partitions(
    rt: &Runtime,
    config: &Prepared,
    opts: &Options,
) -> Result<Vec<String>, Failure> {
    let mut instance = sandboxed(rt, config, opts).await?;
    instance
        .partitions(&config.json, opts.env.as_deref())
        .await
        .map_err(|e| config.failure(e))
}

/// Writes each batch whole to a shared output: lines of concurrent
/// partitions never interleave within a batch.
pub struct SharedOut {
    out: std::sync::Arc<std::sync::Mutex<Box<dyn Write + Send>>>,
    pending: Vec<u8>,
}

impl SharedOut {
    pub fn new(out: std::sync::Arc<std::sync::Mutex<Box<dyn Write + Send>>>) -> SharedOut {
        SharedOut {
            out,
            pending: Vec::new(),
        }
    }
}

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let mut out = self.out.lock().expect("output lock");
        out.write_all(&self.pending)?;
        out.flush()?;
        self.pending.clear();
        Ok(())
    }
}

/// The state of a partitioned read: each partition's checkpoint, by its
/// initial checkpoint.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PartitionStates {
    pub partitions: std::collections::BTreeMap<String, String>,
}

/// Reads every partition, up to `concurrency` at once, each from its saved
/// checkpoint in `states` (or its start); `save` sees the states after
/// each batch is out. Each partition's batches stay in order.
#[allow(clippy::too_many_arguments)]
pub async fn read_partitioned(
    rt: &Runtime,
    config: &Prepared,
    opts: &Options,
    partitions: Vec<String>,
    states: &std::sync::Mutex<PartitionStates>,
    concurrency: usize,
    stop: Option<&std::sync::atomic::AtomicBool>,
    out: std::sync::Arc<std::sync::Mutex<Box<dyn Write + Send>>>,
    save: &(dyn Fn(&PartitionStates) -> Result<(), Failure> + Sync),
) -> Result<ReadSummary, (Failure, ReadSummary)> {
    use futures::StreamExt;
    let runs = futures::stream::iter(partitions)
        .map(|partition| {
            let out = out.clone();
            async move {
                let state = states
                    .lock()
                    .expect("state lock")
                    .partitions
                    .get(&partition)
                    .cloned()
                    .unwrap_or_else(|| partition.clone());
                let mut writer = SharedOut::new(out);
                let control = ReadControl {
                    state: Some(state),
                    stop,
                };
                read(rt, config, opts, control, &mut writer, &mut |batch, _| {
                    let mut states = states.lock().expect("state lock");
                    states
                        .partitions
                        .insert(partition.clone(), batch.checkpoint.clone());
                    save(&states)
                })
                .await
            }
        })
        .buffer_unordered(concurrency.max(1));
    let results: Vec<_> = runs.collect().await;
    let mut total = ReadSummary::default();
    let mut failure = None;
    for r in results {
        let s = match r {
            Ok(s) => s,
            Err((f, s)) => {
                failure.get_or_insert(f);
                s
            }
        };
        total.records += s.records;
        total.requests += s.requests;
        total.batches += s.batches;
    }
    match failure {
        None => Ok(total),
        Some(f) => Err((f, total)),
    }
}
