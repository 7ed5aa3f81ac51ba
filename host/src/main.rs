//! `apiconn`: read records from HTTP/JSON APIs as NDJSON, through one
//! sandboxed WebAssembly component. stdout carries data only; logs and
//! progress go to stderr. Exit statuses: README, "Exit statuses".

use anyhow::Context as _;
use apiconn::logs::for_people;
use apiconn::run::{self, Failure, Options, Prepared};
use apiconn::runtime::{Limits, Runtime};
use apiconn::secrets::SecretPolicy;
use apiconn::{config_file, demo};
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Instant;

const EXAMPLES: &str = "\
Examples:
  apiconn read orders.yaml -o orders.ndjson          every record to a file
  apiconn read orders.yaml -v --strict | head        each request on stderr; warnings fail the read
  apiconn read orders.yaml --state s.json --follow   poll, resuming from the saved state
  apiconn write crm.yaml -i people.ndjson --reject-file rejects.ndjson
  apiconn validate orders.yaml                       lint a config; its secrets are not read
  apiconn check orders.yaml                          one request and its response, secrets masked
  apiconn init orders.yaml                           the JSON Schema for editors, wired into the config

Exit statuses: 0 success, 1 internal error, 2 usage, 3 config, 4 auth, 5 HTTP status,
6 transport or limit, 7 data (a response or record not as expected; --strict warnings),
8 not every record stored, 130/143 stopped by SIGINT/SIGTERM, 141 stdout closed.";

const READ_EXAMPLES: &str = "\
Examples:
  apiconn read orders.yaml --allow-env API_TOKEN -o orders.ndjson
  apiconn read orders.yaml -v 2> requests.log | jq -c .
  apiconn read orders.yaml --strict            a warning (missing records path, early end) is an error
  apiconn read orders.yaml --state s.json      resume where the last run stopped
  apiconn read local.json --allow-private      an API on localhost or a private network";

const WRITE_EXAMPLES: &str = "\
Examples:
  apiconn write crm.yaml --input people.ndjson --reject-file rejects.ndjson --report report.json
  apiconn read a.yaml | apiconn write b.yaml";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  apiconn validate orders.yaml                         in CI: references are checked, not read
  apiconn validate orders.yaml --allow-env API_TOKEN   the same permissions as the read that uses it
  apiconn validate orders.yaml --resolve-secrets       read every secret too, as `read` would";

const CHECK_EXAMPLES: &str = "\
Examples:
  apiconn check orders.yaml --allow-env API_TOKEN
  apiconn check orders.yaml --env staging";

const INIT_EXAMPLES: &str = "\
Examples:
  apiconn init orders.yaml        writes apiconn.schema.json next to it and points the config at it
  apiconn init                    writes apiconn.schema.json here and prints the lines to add";

#[derive(Parser)]
#[command(
    name = "apiconn",
    about = "Read and write records of HTTP/JSON APIs, sandboxed in WebAssembly",
    disable_version_flag = true,
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Print the version and the path of the component file.
    #[arg(long, short = 'V')]
    version: bool,
}

/// Which environment of the config.
#[derive(Args, Clone, Default)]
struct EnvArg {
    /// Pick an environment of `source.environments`.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
}

/// Where `${env:…}` and `${file:…}` may reach.
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Secrets")]
struct Secrets {
    /// Let `${env:NAME}` resolve this variable (repeatable).
    #[arg(long = "allow-env", value_name = "NAME")]
    allow_env: Vec<String>,
    /// Let `${env:NAME}` resolve every variable whose name starts with
    /// PREFIX (repeatable); `--allow-env-prefix APICONN_SECRET_` is what
    /// earlier versions allowed by default.
    #[arg(long = "allow-env-prefix", value_name = "PREFIX",
          value_parser = clap::builder::NonEmptyStringValueParser::new())]
    allow_env_prefix: Vec<String>,
    /// Directory whose files `${file:NAME}` may read.
    #[arg(long, value_name = "DIR")]
    secrets_dir: Option<PathBuf>,
}

impl Secrets {
    fn policy(&self) -> SecretPolicy {
        SecretPolicy {
            allow_env: self.allow_env.clone(),
            allow_env_prefixes: self.allow_env_prefix.clone(),
            secrets_dir: self.secrets_dir.clone(),
            check_only: false,
        }
    }
}

/// What the operator lets a connector reach and use.
#[derive(Args, Clone)]
#[command(next_help_heading = "Sandbox")]
struct Sandbox {
    /// Allow loopback and private network targets.
    #[arg(long)]
    allow_private: bool,
    /// Pin HOST:PORT to ADDR, like curl's --resolve (repeatable); a pinned
    /// address is trusted as given.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<apiconn::egress::Pinned>,
    /// Let a config turn off TLS certificate verification (`source.tls.insecure_skip_verify`).
    #[arg(long)]
    allow_insecure_tls: bool,
    /// Memory cap per connector instance, in MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    max_memory: usize,
    /// Response body cap, in bytes.
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    max_response_bytes: u64,
    /// CPU time the connector may use in one call, in milliseconds (waiting does not count).
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    max_cpu_ms: u64,
    /// The most a config's `source.timeout_ms` may be, in milliseconds.
    #[arg(long, default_value_t = 120_000, value_name = "MS")]
    max_timeout_ms: u32,
}

/// The sandbox flags that do not change `validate`'s verdict: accepted
/// there and not shown, so a script can pass `validate` the flags it
/// passes `read`.
#[derive(Args, Clone)]
struct NotForValidate {
    #[arg(long, hide = true)]
    allow_private: bool,
    #[arg(long, hide = true)]
    resolve: Vec<apiconn::egress::Pinned>,
    #[arg(long, hide = true)]
    max_memory: Option<usize>,
    #[arg(long, hide = true)]
    max_response_bytes: Option<u64>,
    #[arg(long, hide = true)]
    max_cpu_ms: Option<u64>,
}

/// What a run shows on stderr.
#[derive(Args, Clone, Default)]
struct Verbose {
    /// One line per request on stderr: method, URL (secrets masked),
    /// status, bytes, records, the next page, a retry's reason and wait.
    /// `APICONN_LOG=debug` implies it.
    #[arg(long, short = 'v')]
    verbose: bool,
}

impl Verbose {
    /// The request log is on: `-v`, or `APICONN_LOG=debug`, which implies it.
    fn on(&self) -> bool {
        self.verbose || log_is_debug()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Read records to stdout (or --output) as NDJSON.
    #[command(after_help = READ_EXAMPLES)]
    Read {
        /// The connector config: .json, .yaml/.yml or .toml.
        config: PathBuf,
        /// Write the records to FILE instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Resume from and save checkpoints here (replaced atomically after each batch is out).
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// After a full read, wait --interval and read again from the saved state, until SIGTERM/SIGINT.
        #[arg(long)]
        follow: bool,
        /// How long --follow waits between reads: 500ms, 30s, 5m, 1h.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        interval: std::time::Duration,
        /// How many partitions (traverse values, date windows) run at once.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Read only this stream of the config's `streams` (repeatable); default: every stream.
        #[arg(long = "stream", value_name = "NAME")]
        streams: Vec<String>,
        /// Write each stream to DIR/<stream>.ndjson instead of one output
        /// (where several streams share one, each record starts with `_stream`).
        #[arg(long, value_name = "DIR", conflicts_with = "output")]
        output_dir: Option<PathBuf>,
        /// Every warning is an error (exit status 7): a records path missing
        /// from a response, a pagination that ended while the response says
        /// more, skipped dirty records, dropped arrays. Like `read.strict`.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        verbose: Verbose,
        #[command(flatten)]
        env: EnvArg,
        #[command(flatten)]
        secrets: Secrets,
        #[command(flatten)]
        sandbox: Sandbox,
    },
    /// Write NDJSON records from stdin (or --input) to the API.
    #[command(after_help = WRITE_EXAMPLES)]
    Write {
        /// The connector config: .json, .yaml/.yml or .toml.
        config: PathBuf,
        /// Read the records from FILE instead of stdin.
        #[arg(long, short, value_name = "FILE")]
        input: Option<PathBuf>,
        /// Where rejected and finally-failed records go, one JSON line each with the reason.
        #[arg(long)]
        reject_file: Option<PathBuf>,
        /// Write the counts as JSON: {read, sent, rejected, failed, requests}.
        #[arg(long)]
        report: Option<PathBuf>,
        #[command(flatten)]
        verbose: Verbose,
        #[command(flatten)]
        env: EnvArg,
        #[command(flatten)]
        secrets: Secrets,
        #[command(flatten)]
        sandbox: Sandbox,
    },
    /// List every config error, each with its JSON path. Secret references
    /// are checked for their form and for the permission the flags give,
    /// not read, unless --resolve-secrets.
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate {
        /// The connector config: .json, .yaml/.yml or .toml.
        config: PathBuf,
        /// Read every `${env:…}` and `${file:…}` too, as `read` would (a
        /// variable not set or a file missing is then a problem).
        #[arg(long)]
        resolve_secrets: bool,
        /// Let a config turn off TLS certificate verification (`source.tls.insecure_skip_verify`).
        #[arg(long)]
        allow_insecure_tls: bool,
        /// The most a config's `source.timeout_ms` may be, in milliseconds.
        #[arg(long, default_value_t = 120_000, value_name = "MS")]
        max_timeout_ms: u32,
        #[command(flatten)]
        env: EnvArg,
        #[command(flatten)]
        secrets: Secrets,
        #[command(flatten)]
        _ignored: NotForValidate,
    },
    /// Test the connection: one data request, shown with secrets masked,
    /// with the response's headers and the next request pagination would make.
    #[command(after_help = CHECK_EXAMPLES)]
    Check {
        /// The connector config: .json, .yaml/.yml or .toml.
        config: PathBuf,
        /// A warning is an error (exit status 7), as in `read --strict`.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        verbose: Verbose,
        #[command(flatten)]
        env: EnvArg,
        #[command(flatten)]
        secrets: Secrets,
        #[command(flatten)]
        sandbox: Sandbox,
    },
    /// Print the JSON Schema of the config.
    Schema {
        /// Print it as the Markdown config reference instead (docs/config.md).
        #[arg(long)]
        markdown: bool,
    },
    /// Wire the config's JSON Schema into editors: write the schema file
    /// and point CONFIG at it (`$schema` in JSON, a `yaml-language-server`
    /// comment in YAML, `#:schema` in TOML); without CONFIG, print the lines.
    #[command(after_help = INIT_EXAMPLES)]
    Init {
        /// The config to point at the schema.
        config: Option<PathBuf>,
        /// Where to write the schema (default: apiconn.schema.json next to
        /// CONFIG, or here).
        #[arg(long, value_name = "FILE")]
        schema_file: Option<PathBuf>,
    },
    /// Start the bundled demo API and read it with examples/demo.json.
    Demo,
}

/// Flags that took their values before the subcommand in earlier versions
/// (`apiconn --allow-private read x.json`), when they were global.
const VALUE_FLAGS: [&str; 9] = [
    "--env",
    "--resolve",
    "--allow-env",
    "--allow-env-prefix",
    "--secrets-dir",
    "--max-memory",
    "--max-response-bytes",
    "--max-cpu-ms",
    "--max-timeout-ms",
];

/// `apiconn FLAGS SUBCOMMAND ARGS` as `apiconn SUBCOMMAND FLAGS ARGS`: the
/// sandbox and secret flags now belong to the subcommands they apply to,
/// and scripts that put them first keep working.
fn hoist_leading_flags(args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if !a.starts_with("--") || matches!(a.as_ref(), "--help" | "--version") {
            break;
        }
        i += if VALUE_FLAGS.contains(&a.as_ref()) {
            2
        } else {
            1
        };
    }
    if i == 1 || i >= args.len() {
        return args;
    }
    let sub = args[i].to_string_lossy();
    if !["read", "write", "validate", "check"].contains(&sub.as_ref()) {
        return args;
    }
    let mut out = vec![args[0].clone(), args[i].clone()];
    out.extend_from_slice(&args[1..i]);
    out.extend_from_slice(&args[i + 1..]);
    out
}

/// `APICONN_LOG` asks for apiconn's debug events (which include the request log).
fn log_is_debug() -> bool {
    std::env::var("APICONN_LOG").is_ok_and(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("debug") || v.contains("trace")
    })
}

fn options(env: &EnvArg, secrets: &Secrets, sandbox: &Sandbox) -> Options {
    Options {
        env: env.env.clone(),
        allow_private: sandbox.allow_private,
        secrets: secrets.policy(),
        resolve: sandbox.resolve.clone(),
        allow_insecure_tls: sandbox.allow_insecure_tls,
        limits: Limits {
            max_memory_bytes: sandbox.max_memory << 20,
            max_response_bytes: sandbox.max_response_bytes,
            max_cpu: std::time::Duration::from_millis(sandbox.max_cpu_ms),
            max_timeout_ms: sandbox.max_timeout_ms,
        },
        verbose: false,
        strict: false,
    }
}

fn prepare(path: &Path, opts: &Options) -> Result<Prepared, Failure> {
    prepare_with(path, opts, run::prepare)
}

fn prepare_with(
    path: &Path,
    opts: &Options,
    how: fn(serde_json::Value, &SecretPolicy) -> Result<Prepared, Failure>,
) -> Result<Prepared, Failure> {
    let value = config_file::load(path).map_err(|e| Failure::Config(vec![format!("{e:#}")]))?;
    how(value, &opts.secrets).map_err(|f| match f {
        Failure::Config(ps) => Failure::Config(
            ps.into_iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect(),
        ),
        other => other,
    })
}

/// Set when a write to stdout found it closed (`apiconn read … | head`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// stdout, noting when the reader has gone.
struct Stdout;

impl Stdout {
    fn noted<T>(r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            STDOUT_CLOSED.store(true, Ordering::SeqCst);
        }
        r
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::noted(std::io::stdout().lock().write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Self::noted(std::io::stdout().lock().flush())
    }
}

/// `text` and a line feed to stdout.
fn print_out(text: &str) -> Result<(), Failure> {
    let mut out = Stdout;
    writeln!(out, "{text}")
        .and_then(|_| out.flush())
        .map_err(|e| Failure::Run(format!("writing to stdout: {e}")))
}

/// The status of a stdout closed by its reader, as a shell reports a
/// process ended by SIGPIPE.
const CLOSED_STDOUT: u8 = 141;

fn main() -> ExitCode {
    let cli = Cli::parse_from(hoist_leading_flags(std::env::args_os().collect()));
    apiconn::logs::init();
    // One thread for one instance: the component and its connections' I/O
    // take turns on it. A read waits for each response before it goes on,
    // so more threads only added a wake-up across threads for every chunk
    // of a body: 12-15 % of a read. Partitions read at once keep worker
    // threads: there a response that pauses the origin must be seen while
    // another partition's component runs (docs/decisions.md, 22).
    let partitions_at_once =
        matches!(cli.command, Some(Command::Read { concurrency, .. }) if concurrency > 1);
    let rt = match partitions_at_once {
        true => tokio::runtime::Builder::new_multi_thread(),
        false => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .expect("a tokio runtime");
    let code = match rt.block_on(main_inner(cli)) {
        Ok(code) => code,
        Err(_) if STDOUT_CLOSED.load(Ordering::SeqCst) => CLOSED_STDOUT,
        Err(e) => {
            eprintln!("{}", for_people(&format!("error: {e:#}")));
            1
        }
    };
    // Requests still in flight are not waited for.
    rt.shutdown_background();
    ExitCode::from(code)
}

async fn main_inner(cli: Cli) -> anyhow::Result<u8> {
    if cli.version {
        let rt = Runtime::new()?;
        println!("apiconn {}", env!("CARGO_PKG_VERSION"));
        println!("component: {}", rt.component_path.display());
        return Ok(0);
    }
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        Cli::command().print_help()?;
        return Ok(2);
    };
    if let Command::Init {
        config,
        schema_file,
    } = &command
    {
        let rt = Runtime::new()?;
        let schema = run::schema(&rt).await?;
        return Ok(
            match init(&schema, config.as_deref(), schema_file.as_deref()) {
                Ok(()) => 0,
                Err(f) => fail(f),
            },
        );
    }
    let rt = Runtime::new()?;
    let outcome: Result<u8, Failure> = match command {
        Command::Schema { markdown } => {
            let schema = run::schema(&rt).await?;
            match markdown {
                true => print_out(apiconn::schema_doc::render(&schema)?.trim_end()),
                false => print_out(&schema),
            }
            .map(|()| 0)
        }
        Command::Validate {
            config,
            resolve_secrets,
            allow_insecure_tls,
            max_timeout_ms,
            env,
            secrets,
            _ignored,
        } => {
            let opts = Options {
                env: env.env.clone(),
                secrets: secrets.policy(),
                allow_insecure_tls,
                limits: Limits {
                    max_timeout_ms,
                    ..Limits::default()
                },
                ..Options::default()
            };
            let how = match resolve_secrets {
                true => run::prepare,
                false => run::prepare_unresolved,
            };
            match prepare_with(&config, &opts, how) {
                Err(f) => Err(f),
                Ok(prepared) => {
                    let problems = run::validate(&rt, &prepared, &opts).await?;
                    if problems.is_empty() {
                        eprintln!("{}: valid", config.display());
                        Ok(0)
                    } else {
                        Err(Failure::Config(problems))
                    }
                }
            }
        }
        Command::Check {
            config,
            strict,
            verbose,
            env,
            secrets,
            sandbox,
        } => {
            let opts = Options {
                strict,
                verbose: verbose.on(),
                ..options(&env, &secrets, &sandbox)
            };
            match prepare(&config, &opts) {
                Err(f) => Err(f),
                Ok(prepared) => match run::check(&rt, &prepared, &opts).await {
                    Ok(report) => {
                        warn_from_report(&report);
                        print_out(&for_people(&report)).map(|()| 0)
                    }
                    Err(f) => Err(f),
                },
            }
        }
        Command::Read {
            config,
            output,
            state,
            follow,
            interval,
            concurrency,
            streams,
            output_dir,
            strict,
            verbose,
            env,
            secrets,
            sandbox,
        } => {
            let opts = Options {
                strict,
                verbose: verbose.on(),
                ..options(&env, &secrets, &sandbox)
            };
            match prepare(&config, &opts) {
                Err(f) => Err(f),
                Ok(prepared) => {
                    let state = state.map(|path| apiconn::state::StateFile { path });
                    let how = ReadHow {
                        output: output.as_deref(),
                        state,
                        follow,
                        interval,
                        concurrency,
                        streams,
                        output_dir,
                    };
                    read(&rt, &prepared, &opts, how).await
                }
            }
        }
        Command::Write {
            config,
            input,
            reject_file,
            report,
            verbose,
            env,
            secrets,
            sandbox,
        } => {
            let opts = Options {
                verbose: verbose.on(),
                ..options(&env, &secrets, &sandbox)
            };
            match prepare(&config, &opts) {
                Err(f) => Err(f),
                Ok(prepared) => {
                    write(
                        &rt,
                        &prepared,
                        &opts,
                        input.as_deref(),
                        reject_file.as_deref(),
                        report.as_deref(),
                    )
                    .await
                }
            }
        }
        Command::Demo => demo_read(&rt).await,
        Command::Init { .. } => unreachable!("handled above"),
    };
    Ok(match outcome {
        Ok(code) => code,
        Err(f) => fail(f),
    })
}

/// Says why a command failed (nothing when stdout was closed by its
/// reader: that ends quietly) and gives its exit status.
fn fail(f: Failure) -> u8 {
    if STDOUT_CLOSED.load(Ordering::SeqCst) {
        return CLOSED_STDOUT;
    }
    eprintln!("{}", for_people(&format!("error: {f}")));
    f.exit_status()
}

/// `check`'s warnings, on stderr too.
fn warn_from_report(report: &str) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(report) else {
        return;
    };
    for w in v["warnings"].as_array().into_iter().flatten() {
        if let Some(w) = w.as_str() {
            eprintln!("{}", for_people(&format!("warning: {w}")));
        }
    }
}

/// How `apiconn read` runs.
struct ReadHow<'a> {
    output: Option<&'a Path>,
    state: Option<apiconn::state::StateFile>,
    follow: bool,
    interval: std::time::Duration,
    concurrency: usize,
    streams: Vec<String>,
    output_dir: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let bad = || format!("`{text}` is not a duration like 500ms, 30s, 5m or 1h");
    let n: f64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// The first SIGTERM or SIGINT: the read ends after the current batch.
struct Stop {
    flag: Arc<AtomicBool>,
    /// The signal's number (0: none).
    signal: Arc<AtomicI32>,
}

/// Set on SIGTERM or SIGINT: the read ends after the current batch. A
/// second signal ends the process at once, with 128 + its number.
fn stop_on_signals() -> Stop {
    use tokio::signal::unix::{SignalKind, signal};
    let flag = Arc::new(AtomicBool::new(false));
    let number = Arc::new(AtomicI32::new(0));
    let (f, n) = (flag.clone(), number.clone());
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("a SIGINT handler");
        let first = tokio::select! {
            _ = term.recv() => SIGTERM,
            _ = int.recv() => SIGINT,
        };
        n.store(first, Ordering::SeqCst);
        f.store(true, Ordering::SeqCst);
        let second = tokio::select! {
            _ = term.recv() => SIGTERM,
            _ = int.recv() => SIGINT,
        };
        eprintln!("stopped at once by a second signal");
        std::process::exit(128 + second);
    });
    Stop {
        flag,
        signal: number,
    }
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

fn signal_name(n: i32) -> &'static str {
    match n {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

async fn read(
    rt: &Runtime,
    prepared: &Prepared,
    opts: &Options,
    how: ReadHow<'_>,
) -> Result<u8, Failure> {
    let started = Instant::now();
    let out: Box<dyn Write + Send> = match how.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))
                .map_err(|e| Failure::Run(format!("{e:#}")))?,
        )),
        None => Box::new(std::io::BufWriter::new(Stdout)),
    };
    // The request log and the progress line would garble each other.
    let bar = (std::io::stderr().is_terminal() && !opts.verbose).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg}").expect("static template"),
        );
        bar
    });
    let progress = |s: &apiconn::read::ReadSummary| {
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "{} records, {} requests, {}",
                s.records,
                s.requests,
                run::elapsed(started)
            ));
            bar.tick();
        }
    };
    let stop = stop_on_signals();
    let follows_state = how.follow && how.state.is_some();
    let saves_state = how.state.is_some();
    let job = apiconn::read::ReadJob {
        state: how.state,
        follow: how.follow,
        interval: how.interval,
        concurrency: how.concurrency,
        stop: stop.flag.clone(),
        progress: Some(&progress),
        streams: how.streams,
        output_dir: how.output_dir,
    };
    let result = apiconn::read::read_job(rt, prepared, opts, job, out).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if STDOUT_CLOSED.load(Ordering::SeqCst) {
        return Ok(CLOSED_STDOUT);
    }
    match result {
        Ok(total) => {
            let signal = stop.signal.load(Ordering::SeqCst);
            let (stopped, code) = match signal {
                0 => (String::new(), 0),
                // The exec-source contract: a poller stopped between batches is a clean end.
                n if follows_state => (
                    format!(", stopped by {} with the state saved", signal_name(n)),
                    0,
                ),
                n if saves_state => (
                    format!(
                        ", stopped by {} before the end: the state is saved, run again to go on",
                        signal_name(n)
                    ),
                    (128 + n) as u8,
                ),
                n => (
                    format!(
                        ", stopped by {} before the end: the output is incomplete",
                        signal_name(n)
                    ),
                    (128 + n) as u8,
                ),
            };
            eprintln!(
                "read {} records in {} requests ({}){stopped}",
                total.records,
                total.requests,
                run::elapsed(started)
            );
            Ok(code)
        }
        Err((f, total)) => {
            eprintln!(
                "read {} records in {} requests before the failure",
                total.records, total.requests
            );
            Err(f)
        }
    }
}

async fn write(
    rt: &Runtime,
    prepared: &Prepared,
    opts: &Options,
    input: Option<&Path>,
    reject_file: Option<&Path>,
    report: Option<&Path>,
) -> Result<u8, Failure> {
    let started = Instant::now();
    let rejects = match reject_file {
        None => None,
        Some(path) => Some(apiconn::write::RejectFile::new(Box::new(
            std::io::BufWriter::new(
                std::fs::File::create(path)
                    .map_err(|e| Failure::Run(format!("creating {}: {e}", path.display())))?,
            ),
        ))),
    };
    let result = apiconn::write::write(rt, prepared, opts, input, rejects).await;
    let (summary, outcome) = match result {
        Ok(s) => (s, Ok(())),
        Err((f, s)) => (s, Err(f)),
    };
    eprintln!(
        "read {}, sent {}, rejected {}, failed {} records in {} requests ({})",
        summary.read,
        summary.sent,
        summary.rejected,
        summary.failed,
        summary.requests,
        run::elapsed(started)
    );
    if let Some(path) = report {
        let text = serde_json::to_string_pretty(&summary).expect("counts are JSON");
        std::fs::write(path, text + "\n")
            .map_err(|e| Failure::Run(format!("writing {}: {e}", path.display())))?;
    }
    outcome?;
    // Exit status 8: the write ran to the end, but not every record was stored.
    Ok(if summary.rejected + summary.failed == 0 {
        0
    } else {
        8
    })
}

/// `apiconn init`: the schema file, and CONFIG pointed at it.
fn init(schema: &str, config: Option<&Path>, schema_file: Option<&Path>) -> Result<(), Failure> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        Failure::Run(format!("{what} {}: {e}", path.display()))
    };
    let dir = config
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = schema_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("apiconn.schema.json"));
    std::fs::write(&file, format!("{schema}\n")).map_err(|e| io("writing", &file, e))?;
    eprintln!("wrote the config's JSON Schema to {}", file.display());
    // How the config refers to it: beside it, `./NAME`; elsewhere, its full path.
    let same_dir = file.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    }) == Some(dir);
    let reference = match (same_dir, file.file_name()) {
        (true, Some(name)) => format!("./{}", name.to_string_lossy()),
        _ => std::path::absolute(&file)
            .unwrap_or(file.clone())
            .display()
            .to_string(),
    };
    let json_line = format!("\"$schema\": \"{reference}\",");
    let yaml_line = format!("# yaml-language-server: $schema={reference}");
    let toml_line = format!("#:schema {reference}");
    let Some(config) = config else {
        print_out(&format!(
            "Point a config at it with its first line:\n  JSON: {{ {json_line} ... }}\n  YAML: {yaml_line}\n  TOML: {toml_line}"
        ))?;
        return Ok(());
    };
    let text = std::fs::read_to_string(config).map_err(|e| io("reading", config, e))?;
    let ext = config
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("json")
        .to_ascii_lowercase();
    let updated = match ext.as_str() {
        "yaml" | "yml" if text.contains("yaml-language-server: $schema=") => None,
        "yaml" | "yml" => Some(format!("{yaml_line}\n{text}")),
        "toml" if text.starts_with("#:schema ") => None,
        "toml" => Some(format!("{toml_line}\n{text}")),
        _ => {
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                Failure::Config(vec![format!("{}: not valid JSON: {e}", config.display())])
            })?;
            match value.get("$schema") {
                Some(_) => None,
                None => {
                    let at = text.find('{').ok_or_else(|| {
                        Failure::Config(vec![format!(
                            "{}: a config is an object with a `source` key",
                            config.display()
                        )])
                    })?;
                    Some(format!(
                        "{}{{\n  {json_line}{}",
                        &text[..at],
                        &text[at + 1..]
                    ))
                }
            }
        }
    };
    match updated {
        None => eprintln!("{} already names a schema", config.display()),
        Some(t) => {
            std::fs::write(config, t).map_err(|e| io("writing", config, e))?;
            eprintln!("{} now names it ({reference})", config.display());
        }
    }
    Ok(())
}

async fn demo_read(rt: &Runtime) -> Result<u8, Failure> {
    let addr = demo::serve()
        .await
        .map_err(|e| Failure::Run(format!("starting the demo API: {e}")))?;
    eprintln!("demo API listening on http://{addr}/v1 (examples/demo.json, bearer token auth)");
    let mut config: serde_json::Value =
        serde_json::from_str(demo::CONFIG).expect("examples/demo.json is JSON");
    config["source"]["url"] = format!("http://{addr}/v1").into();
    let opts = Options {
        allow_private: true,
        ..Options::default()
    };
    let prepared = run::prepare(config, &opts.secrets)?;
    let how = ReadHow {
        output: None,
        state: None,
        follow: false,
        interval: std::time::Duration::ZERO,
        concurrency: 1,
        streams: vec![],
        output_dir: None,
    };
    read(rt, &prepared, &opts, how).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        hoist_leading_flags(a.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn flags_before_the_subcommand_move_after_it() {
        assert_eq!(
            args(&[
                "apiconn",
                "--allow-private",
                "--env",
                "dev",
                "read",
                "x.json",
                "-v"
            ]),
            [
                "apiconn",
                "read",
                "--allow-private",
                "--env",
                "dev",
                "x.json",
                "-v"
            ]
        );
        assert_eq!(
            args(&["apiconn", "read", "x.json"]),
            ["apiconn", "read", "x.json"]
        );
        assert_eq!(args(&["apiconn", "--help"]), ["apiconn", "--help"]);
        assert_eq!(
            args(&["apiconn", "--allow-private", "schema"]),
            ["apiconn", "--allow-private", "schema"]
        );
    }
}
