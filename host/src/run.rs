//! What the commands do, as a library: prepare a config (secrets, sandbox
//! plan), then read, check or validate it in a fresh component instance.

use crate::bindings::{Problem, SandboxPlan};
use crate::egress;
use crate::runtime::{Instance, Limits, RunError, Runtime, egress_for, problem_line};
use crate::secrets::{self, Masker, SecretPolicy};
use serde_json::Value;
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
    /// `-v`: the component logs one line per request to stderr.
    pub verbose: bool,
    /// `--strict`: every warning is an error (a `response` error).
    pub strict: bool,
}

/// Why a command failed, with secrets already masked.
#[derive(Debug)]
pub enum Failure {
    /// The config is wrong: every problem, each with its path.
    Config(Vec<String>),
    /// The host failed (I/O, starting the component).
    Run(String),
    /// The component failed: its typed error (which decides the exit status).
    Failed(crate::error::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Config(problems) => apiconn_text::words::write_invalid_config(f, problems),
            Failure::Run(m) => f.write_str(m),
            Failure::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl Failure {
    /// The exit status of the `apiconn` CLI for this failure (README,
    /// "Exit statuses"): 3 config, 4 auth, 5 HTTP status, 6 transport or
    /// limit, 7 data, 1 anything else.
    pub fn exit_status(&self) -> u8 {
        match self {
            Failure::Config(_) => 3,
            Failure::Failed(e) => e.exit_status(),
            Failure::Run(m) if m.contains("forcing trap when growing memory") => 6,
            Failure::Run(_) => 1,
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
    /// Origins whose rate limit is used up, for every instance it starts.
    pauses: std::sync::Arc<egress::Pauses>,
}

pub fn prepare(mut config: Value, secrets: &SecretPolicy) -> Result<Prepared, Failure> {
    let mut masker = Masker::default();
    secrets::resolve(&mut config, secrets, &mut masker).map_err(Failure::Config)?;
    crate::logs::register(&masker);
    Ok(Prepared {
        json: config.to_string(),
        masker,
        limiter: std::sync::OnceLock::new(),
        pauses: Default::default(),
    })
}

/// A config for `apiconn validate`: its secret references checked for form
/// and permission, not read ([`secrets::check_references`]).
pub fn prepare_unresolved(mut config: Value, secrets: &SecretPolicy) -> Result<Prepared, Failure> {
    secrets::check_references(&mut config, secrets).map_err(Failure::Config)?;
    Ok(Prepared {
        json: config.to_string(),
        masker: Masker::default(),
        limiter: std::sync::OnceLock::new(),
        pauses: Default::default(),
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
            other => Failure::Failed(crate::error::Error::from_run(other, &self.masker)),
        }
    }
}

/// A new instance that may not send anything yet, told the operator's
/// grants (the config's secret values, the time ceiling).
async fn closed(rt: &Runtime, opts: &Options, secrets: &[String]) -> Result<Instance, Failure> {
    let closed = egress::Egress::closed().map_err(|e| Failure::Run(e.to_string()))?;
    let mut instance = rt
        .instance(closed, &opts.limits)
        .await
        .map_err(|e| Failure::Run(format!("starting the component: {e:#}")))?;
    instance
        .configure(secrets, &opts.limits, opts.verbose, opts.strict)
        .await
        .map_err(|e| Failure::Run(e.to_string()))?;
    Ok(instance)
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
    let mut instance = closed(rt, opts, &config.masker.values()).await?;
    let plan = instance
        .plan(&config.json, opts.env.as_deref())
        .await
        .map_err(|e| config.failure(e))?;
    tracing::debug!(
        "connector `{}`: may contact {}; timeout {} ms; rate limit {:?}",
        plan.name,
        plan.origins.join(", "),
        plan.timeout_ms,
        plan.rate_limit
    );
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
    egress.pauses = config.pauses.clone();
    *instance.egress_mut() = egress;
    Ok(instance)
}

pub async fn validate(
    rt: &Runtime,
    config: &Prepared,
    opts: &Options,
) -> Result<Vec<String>, Failure> {
    let mut instance = closed(rt, opts, &config.masker.values()).await?;
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
    let mut instance = closed(rt, &Options::default(), &[]).await?;
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
    stream: Option<&str>,
) -> Result<Vec<String>, Failure> {
    let mut instance = sandboxed(rt, config, opts).await?;
    instance
        .partitions(&config.json, opts.env.as_deref(), stream)
        .await
        .map_err(|e| config.failure(e))
}

/// The streams of a config, in its order (`read` first, as `default`).
pub async fn streams(
    rt: &Runtime,
    config: &Prepared,
    opts: &Options,
) -> Result<Vec<crate::bindings::StreamInfo>, Failure> {
    let mut instance = closed(rt, opts, &config.masker.values()).await?;
    instance
        .streams(&config.json, opts.env.as_deref())
        .await
        .map_err(|e| config.failure(e))
}
