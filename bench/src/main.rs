//! `apiconn-bench`: the benchmark driver, and the programs it measures
//! besides `apiconn` itself.

use apiconn_bench::suite::{Settings, Suite};
use apiconn_bench::{inproc, native};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs every benchmark and writes the Markdown report.
    Suite {
        /// The `apiconn` binary to measure.
        #[arg(long)]
        apiconn: PathBuf,
        /// A Python with `dlt` installed; without it the dlt row is left out.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Where the report goes.
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
        /// Tiny sizes and one run of each: checks the driver, measures nothing.
        #[arg(long)]
        smoke: bool,
        /// Leave out the `perf` profile.
        #[arg(long)]
        no_profile: bool,
        /// Instance counts for the density figure (comma-separated).
        #[arg(long, value_delimiter = ',')]
        density: Option<Vec<usize>>,
    },
    /// Serves the benchmark API until killed (for runs by hand); prints its URL.
    Serve {
        /// Records per page.
        #[arg(long, default_value_t = 1000)]
        records: usize,
        /// Records without arrays (dataset B) instead of with (A).
        #[arg(long)]
        no_arrays: bool,
    },
    /// Reads a JSON config with the guest's logic compiled natively; NDJSON to stdout.
    NativeRead { config: PathBuf },
    /// Writes NDJSON with the guest's logic compiled natively.
    NativeWrite { config: PathBuf, input: PathBuf },
    /// Times instantiation from the pre-linked component; JSON to stdout.
    Instantiate {
        #[arg(long, default_value_t = 200)]
        count: usize,
    },
    /// Runs a program and writes its peak RSS (KiB) to a file (the driver's launcher).
    Rusage {
        #[arg(long)]
        report: PathBuf,
        #[arg(last = true, required = true)]
        program: Vec<std::ffi::OsString>,
    },
    /// Runs N instances of a read config at once in this process; JSON to stdout.
    Density {
        config: PathBuf,
        #[arg(long)]
        instances: usize,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Suite {
            apiconn,
            python,
            out,
            smoke,
            no_profile,
            density,
        } => {
            let bench = std::env::current_exe()?;
            apiconn_bench::measure::set_launcher(bench.clone());
            let mut settings = Settings::full(apiconn, bench, python, out);
            if smoke {
                settings = settings.smoke();
            }
            if let Some(density) = density {
                settings.density = density;
            }
            settings.profile &= !no_profile;
            Suite::new(settings)?.run()
        }
        Cmd::Serve { records, no_arrays } => {
            use apiconn_bench::server::{Dataset, Shape};
            let shape = if no_arrays {
                Shape::NoArrays
            } else {
                Shape::WithArrays
            };
            let data = std::sync::Arc::new(Dataset::generate_shaped(shape, 100, records));
            let server = apiconn_bench::server::Server::start(data)?;
            println!("{}", server.url());
            loop {
                std::thread::park();
            }
        }
        Cmd::NativeRead { config } => {
            let stdout = std::io::stdout();
            native::read(&config, &mut stdout.lock())?;
            Ok(())
        }
        Cmd::NativeWrite { config, input } => {
            let sent = native::write(&config, &input)?;
            println!("{}", serde_json::json!({ "sent": sent }));
            Ok(())
        }
        Cmd::Rusage { report, program } => {
            std::process::exit(apiconn_bench::measure::rusage(&report, &program)?)
        }
        Cmd::Instantiate { count } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let figures = runtime.block_on(inproc::instantiate(count))?;
            println!("{}", serde_json::to_string(&figures)?);
            Ok(())
        }
        Cmd::Density { config, instances } => {
            let config: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&config)?)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let figures = runtime.block_on(inproc::density(config, instances))?;
            println!("{}", serde_json::to_string(&figures)?);
            Ok(())
        }
    }
}
