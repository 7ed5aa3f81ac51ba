//! `apiconn`: read records from HTTP/JSON APIs as NDJSON, through one
//! sandboxed WebAssembly component. stdout carries data only; logs and
//! progress go to stderr.

use anyhow::Context as _;
use apiconn::logs::for_people;
use apiconn::run::{self, Failure, Options, Prepared};
use apiconn::runtime::{Limits, Runtime};
use apiconn::secrets::SecretPolicy;
use apiconn::{config_file, demo};
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "apiconn",
    about = "Read and write records of HTTP/JSON APIs, sandboxed in WebAssembly",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Print the version and the path of the component file.
    #[arg(long, short = 'V')]
    version: bool,
    #[command(flatten)]
    global: Global,
}

#[derive(Args)]
struct Global {
    /// Pick an environment of `source.environments`.
    #[arg(long, global = true, value_name = "NAME")]
    env: Option<String>,
    /// Allow loopback and private network targets.
    #[arg(long, global = true)]
    allow_private: bool,
    /// Pin HOST:PORT to ADDR, like curl's --resolve (repeatable); a pinned
    /// address is trusted as given.
    #[arg(long, global = true, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<apiconn::egress::Pinned>,
    /// Let `${env:NAME}` resolve this variable (repeatable).
    #[arg(long = "allow-env", global = true, value_name = "NAME")]
    allow_env: Vec<String>,
    /// Let `${env:NAME}` resolve every variable whose name starts with
    /// PREFIX (repeatable); `--allow-env-prefix APICONN_SECRET_` is what
    /// earlier versions allowed by default.
    #[arg(long = "allow-env-prefix", global = true, value_name = "PREFIX",
          value_parser = clap::builder::NonEmptyStringValueParser::new())]
    allow_env_prefix: Vec<String>,
    /// Let a config turn off TLS certificate verification (`source.tls.insecure_skip_verify`).
    #[arg(long, global = true)]
    allow_insecure_tls: bool,
    /// Directory whose files `${file:NAME}` may read.
    #[arg(long, global = true, value_name = "DIR")]
    secrets_dir: Option<PathBuf>,
    /// Memory cap per connector instance, in MiB.
    #[arg(long, global = true, default_value_t = 256, value_name = "MIB")]
    max_memory: usize,
    /// Response body cap, in bytes.
    #[arg(long, global = true, default_value_t = 64 << 20, value_name = "BYTES")]
    max_response_bytes: u64,
    /// CPU time the connector may use in one call, in milliseconds (waiting does not count).
    #[arg(long, global = true, default_value_t = 30_000, value_name = "MS")]
    max_cpu_ms: u64,
    /// The most a config's `source.timeout_ms` may be, in milliseconds.
    #[arg(long, global = true, default_value_t = 120_000, value_name = "MS")]
    max_timeout_ms: u32,
}

#[derive(Subcommand)]
enum Command {
    /// Read records to stdout (or --output) as NDJSON.
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
    },
    /// Write NDJSON records from stdin (or --input) to the API.
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
    },
    /// List every config error, each with its JSON path.
    Validate {
        /// The connector config: .json, .yaml/.yml or .toml.
        config: PathBuf,
    },
    /// Test the connection: one data request, shown with secrets masked.
    Check {
        /// The connector config: .json, .yaml/.yml or .toml.
        config: PathBuf,
    },
    /// Print the JSON Schema of the config.
    Schema {
        /// Print it as the Markdown config reference instead (docs/config.md).
        #[arg(long)]
        markdown: bool,
    },
    /// Start the bundled demo API and read it with examples/demo.json.
    Demo,
}

fn options(g: &Global) -> Options {
    Options {
        env: g.env.clone(),
        allow_private: g.allow_private,
        secrets: SecretPolicy {
            allow_env: g.allow_env.clone(),
            allow_env_prefixes: g.allow_env_prefix.clone(),
            secrets_dir: g.secrets_dir.clone(),
        },
        resolve: g.resolve.clone(),
        allow_insecure_tls: g.allow_insecure_tls,
        limits: Limits {
            max_memory_bytes: g.max_memory << 20,
            max_response_bytes: g.max_response_bytes,
            max_cpu: std::time::Duration::from_millis(g.max_cpu_ms),
            max_timeout_ms: g.max_timeout_ms,
        },
    }
}

fn prepare(path: &Path, opts: &Options) -> Result<Prepared, Failure> {
    let value = config_file::load(path).map_err(|e| Failure::Config(vec![format!("{e:#}")]))?;
    run::prepare(value, &opts.secrets).map_err(|f| match f {
        Failure::Config(ps) => Failure::Config(
            ps.into_iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect(),
        ),
        other => other,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    apiconn::logs::init();
    match main_inner(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", for_people(&format!("error: {e:#}")));
            ExitCode::FAILURE
        }
    }
}

async fn main_inner(cli: Cli) -> anyhow::Result<ExitCode> {
    let opts = options(&cli.global);
    if cli.version {
        let rt = Runtime::new()?;
        println!("apiconn {}", env!("CARGO_PKG_VERSION"));
        println!("component: {}", rt.component_path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        Cli::command().print_help()?;
        return Ok(ExitCode::from(2));
    };
    let rt = Runtime::new()?;
    let outcome = match command {
        Command::Schema { markdown } => {
            let schema = run::schema(&rt).await?;
            match markdown {
                true => print!("{}", apiconn::schema_doc::render(&schema)?),
                false => println!("{schema}"),
            }
            Ok(())
        }
        Command::Validate { config } => match prepare(&config, &opts) {
            Err(f) => Err(f),
            Ok(prepared) => {
                let problems = run::validate(&rt, &prepared, &opts).await?;
                if problems.is_empty() {
                    eprintln!("{}: valid", config.display());
                    Ok(())
                } else {
                    Err(Failure::Config(problems))
                }
            }
        },
        Command::Check { config } => match prepare(&config, &opts) {
            Err(f) => Err(f),
            Ok(prepared) => run::check(&rt, &prepared, &opts)
                .await
                .map(|report| println!("{}", for_people(&report))),
        },
        Command::Read {
            config,
            output,
            state,
            follow,
            interval,
            concurrency,
            streams,
            output_dir,
        } => match prepare(&config, &opts) {
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
        },
        Command::Write {
            config,
            input,
            reject_file,
            report,
        } => match prepare(&config, &opts) {
            Err(f) => Err(f),
            Ok(prepared) => {
                let written = write(
                    &rt,
                    &prepared,
                    &opts,
                    input.as_deref(),
                    reject_file.as_deref(),
                    report.as_deref(),
                )
                .await;
                match written {
                    // The write ran to the end, but not every record was stored.
                    Ok(false) => return Ok(ExitCode::from(8)),
                    Ok(true) => Ok(()),
                    Err(f) => Err(f),
                }
            }
        },
        Command::Demo => demo_read(&rt).await,
    };
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(f) => {
            eprintln!("{}", for_people(&format!("error: {f}")));
            Ok(ExitCode::FAILURE)
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

/// Set on SIGTERM or SIGINT: the read ends after the current batch.
fn stop_on_signals() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        flag.store(true, Ordering::SeqCst);
    });
    stop
}

async fn read(
    rt: &Runtime,
    prepared: &Prepared,
    opts: &Options,
    how: ReadHow<'_>,
) -> Result<(), Failure> {
    let started = Instant::now();
    let out: Box<dyn Write + Send> = match how.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))
                .map_err(|e| Failure::Run(format!("{e:#}")))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
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
    let job = apiconn::read::ReadJob {
        state: how.state,
        follow: how.follow,
        interval: how.interval,
        concurrency: how.concurrency,
        stop: stop.clone(),
        progress: Some(&progress),
        streams: how.streams,
        output_dir: how.output_dir,
    };
    let result = apiconn::read::read_job(rt, prepared, opts, job, out).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(total) => {
            let stopped = if stop.load(std::sync::atomic::Ordering::SeqCst) {
                ", stopped by a signal with the state saved"
            } else {
                ""
            };
            eprintln!(
                "read {} records in {} requests ({}){stopped}",
                total.records,
                total.requests,
                run::elapsed(started)
            );
            Ok(())
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
) -> Result<bool, Failure> {
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
    outcome.map(|()| summary.rejected + summary.failed == 0)
}

async fn demo_read(rt: &Runtime) -> Result<(), Failure> {
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
