//! The whole benchmark: every figure measured in one run against one local
//! server, written as a Markdown report of ratios.

use crate::inproc::{Density, Instantiation};
use crate::measure::{self, Measured};
use crate::server::{Dataset, Server, Shape};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How big, how often, and with what.
#[derive(Debug, Clone)]
pub struct Settings {
    pub pages: u64,
    pub records_per_page: usize,
    /// Runs of each read and write; the median is reported.
    pub repeats: usize,
    /// The memory figure reads this many times more pages.
    pub memory_factor: u64,
    pub density: Vec<usize>,
    /// Pages each instance reads in the density figure.
    pub density_pages: u64,
    /// Pages of records written in the write figure.
    pub write_pages: u64,
    pub write_batch: usize,
    pub validate_runs: usize,
    pub cold_runs: usize,
    pub instantiations: usize,
    pub profile: bool,
    /// Tiny sizes: the driver is checked, nothing is measured.
    pub smoke: bool,
    /// The `apiconn` binary under test.
    pub apiconn: PathBuf,
    /// This program (for `native-read`, `instantiate`, ...).
    pub bench: PathBuf,
    /// The Python with `dlt` installed; none: the dlt row is left out.
    pub python: Option<PathBuf>,
    pub out: PathBuf,
}

impl Settings {
    pub fn full(apiconn: PathBuf, bench: PathBuf, python: Option<PathBuf>, out: PathBuf) -> Self {
        Settings {
            pages: 100,
            records_per_page: 1000,
            repeats: 5,
            memory_factor: 10,
            density: vec![10, 100, 1000],
            density_pages: 2,
            write_pages: 20,
            write_batch: 1000,
            validate_runs: 10,
            cold_runs: 3,
            instantiations: 200,
            profile: true,
            smoke: false,
            apiconn,
            bench,
            python,
            out,
        }
    }

    /// Tiny sizes, every step still taken: for the test suite.
    pub fn smoke(self) -> Self {
        Settings {
            pages: 3,
            records_per_page: 20,
            repeats: 1,
            memory_factor: 2,
            density: vec![3],
            density_pages: 2,
            write_pages: 3,
            write_batch: 7,
            validate_runs: 2,
            cold_runs: 1,
            instantiations: 3,
            smoke: true,
            ..self
        }
    }
}

fn read_config(url: &str, pages: u64) -> serde_json::Value {
    serde_json::json!({
        "source": {"name": "bench", "url": url},
        "read": {
            "path": "/records",
            "params": {"pages": pages},
            "records": "data",
            "paginate": {"type": "page", "param": "page",
                         "stop": ["request.page >= response.total_pages"]},
            "flatten": {"arrays": "json"},
            "max_requests": pages + 1
        }
    })
}

fn write_config(url: &str, batch: usize) -> serde_json::Value {
    serde_json::json!({
        "source": {"name": "bench", "url": url},
        "write": {"path": "/records", "mode": "batch", "batch_size": batch}
    })
}

fn save(dir: &Path, name: &str, config: &serde_json::Value) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(config)?)?;
    Ok(path)
}

/// Rates and sizes for people: 1234567.8 → "1,234,568".
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn check(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// The bytes of a `pages`-page read of `data`.
fn bytes_of(data: &Dataset, pages: u64) -> u64 {
    (1..=pages).map(|p| data.page_len(p, pages) as u64).sum()
}

/// One reader's figures.
struct ReadRow {
    name: &'static str,
    command: String,
    records: u64,
    run: Measured,
    /// Repeats behind the median.
    runs: usize,
}

impl ReadRow {
    fn records_per_s(&self) -> f64 {
        self.records as f64 / self.run.wall.as_secs_f64()
    }
}

pub struct Suite {
    s: Settings,
    dir: tempfile::TempDir,
    cache: PathBuf,
    server: Server,
    data: Arc<Dataset>,
    /// The second dataset (nested objects, no arrays) and its server.
    plain_server: Server,
    plain_data: Arc<Dataset>,
    report: String,
    figures: Figures,
}

/// The read figures of one dataset.
#[derive(Default, Clone)]
struct ReadFigures {
    name: &'static str,
    mb_per_s: f64,
    wasm_vs_native: f64,
    wasm_vs_dlt: Option<f64>,
}

/// What the targets are judged on.
#[derive(Default)]
struct Figures {
    reads: Vec<ReadFigures>,
    write_records_per_s: f64,
    write_vs_native: f64,
    memory_growth: f64,
    warm_validate: Duration,
    cold_validate: Duration,
    density: Vec<Density>,
}

impl Suite {
    pub fn new(s: Settings) -> anyhow::Result<Suite> {
        let data = Arc::new(Dataset::generate(
            s.pages.min(100) as usize,
            s.records_per_page,
        ));
        let server = Server::start(data.clone())?;
        let plain_data = Arc::new(Dataset::generate_shaped(
            Shape::NoArrays,
            s.pages.min(100) as usize,
            s.records_per_page,
        ));
        let plain_server = Server::start(plain_data.clone())?;
        let dir = tempfile::tempdir()?;
        let cache = dir.path().join("cache");
        Ok(Suite {
            s,
            dir,
            cache,
            server,
            data,
            plain_server,
            plain_data,
            report: String::new(),
            figures: Figures::default(),
        })
    }

    fn apiconn(&self, cache: &Path) -> Command {
        let mut cmd = Command::new(&self.s.apiconn);
        cmd.env("APICONN_CACHE_DIR", cache).arg("--allow-private");
        cmd
    }

    fn bench(&self) -> Command {
        let mut cmd = Command::new(&self.s.bench);
        cmd.env("APICONN_CACHE_DIR", &self.cache);
        cmd
    }

    fn bytes_of(&self, pages: u64) -> u64 {
        bytes_of(&self.data, pages)
    }

    /// Runs everything and writes the report.
    pub fn run(mut self) -> anyhow::Result<()> {
        let url = self.server.url();
        let dir = self.dir.path().to_path_buf();
        let read = save(&dir, "read.json", &read_config(&url, self.s.pages))?;
        let plain_url = self.plain_server.url();
        let plain_read = save(
            &dir,
            "read-plain.json",
            &read_config(&plain_url, self.s.pages),
        )?;
        let expected = self.s.pages * self.s.records_per_page as u64;
        let mb = self.bytes_of(self.s.pages) as f64 / 1e6;
        let plain_mb = bytes_of(&self.plain_data, self.s.pages) as f64 / 1e6;

        self.header(mb, plain_mb)?;
        // The component compiled into the cache once, before anything is timed.
        measure::run(self.apiconn(&self.cache).args(["validate"]).arg(&read))?;

        writeln!(self.report, "## Read throughput\n")?;
        writeln!(
            self.report,
            "Wall time of the whole command (process start to exit; the runs of apiconn and native \
             take turns, and the median of each is shown), records to stdout (a file, read back \
             after the clock stops), every sandbox limit of `apiconn` on (epoch interruption, \
             memory cap). apiconn and native printed byte-identical output.\n"
        )?;
        let rows = self.read_throughput(
            "A: nested records with one array each",
            &url,
            self.data.clone(),
            &read,
            expected,
        )?;
        self.read_throughput(
            "B: nested records, no arrays",
            &plain_url,
            self.plain_data.clone(),
            &plain_read,
            expected,
        )?;
        self.memory(&url, &rows[0])?;
        self.startup(&read)?;
        self.density(&url)?;
        self.write_throughput(&url)?;
        if self.s.profile {
            writeln!(self.report, "## Where the time goes\n")?;
            self.profile("A", &read)?;
            self.profile("B", &plain_read)?;
        }
        self.targets()?;
        // What was tried and what it gave: measured by hand (how is said
        // there), kept with the code and copied into every report.
        let levers = Path::new(env!("CARGO_MANIFEST_DIR")).join("LEVERS.md");
        if let Ok(text) = std::fs::read_to_string(&levers) {
            self.report.push_str(&text);
        }
        if let Some(parent) = self.s.out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&self.s.out, &self.report)?;
        eprintln!("wrote {}", self.s.out.display());
        Ok(())
    }

    fn header(&mut self, mb: f64, plain_mb: f64) -> anyhow::Result<()> {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines().find_map(|l| {
                    l.strip_prefix("model name")
                        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
                })
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let now = Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let r = &mut self.report;
        writeln!(r, "# apiconn benchmarks\n")?;
        writeln!(
            r,
            "Written by `bench/run.sh` ({}) on {now}, commit `{commit}`, on {cpu} ({cores} cores). \
             Every ratio compares figures measured in this same run, against one local server \
             (`bench/src/server.rs`, hyper, pages pre-generated in memory) on 127.0.0.1.\n",
            if self.s.smoke {
                "smoke sizes"
            } else {
                "full sizes"
            }
        )?;
        writeln!(
            r,
            "Datasets: **A**, {} pages × {} nested records (3 levels, one array each), {:.1} MB of \
             JSON; **B**, {} pages × {} nested records (3 levels of objects, no arrays), {:.1} MB. \
             The read config (the same for both), with the server's port:\n",
            self.s.pages,
            self.s.records_per_page,
            mb,
            self.s.pages,
            self.s.records_per_page,
            plain_mb
        )?;
        let shown = read_config("http://127.0.0.1:PORT", self.s.pages);
        writeln!(
            r,
            "```json\n{}\n```\n",
            serde_json::to_string_pretty(&shown)?
        )?;
        Ok(())
    }

    fn read_throughput(
        &mut self,
        dataset: &'static str,
        url: &str,
        data: Arc<Dataset>,
        read: &Path,
        expected: u64,
    ) -> anyhow::Result<Vec<ReadRow>> {
        let n = self.s.repeats;
        let mut rows = vec![];
        let [wasm, native] = measure::interleaved(
            n,
            [
                &|| {
                    let mut c = self.apiconn(&self.cache);
                    c.arg("read").arg(read);
                    c
                },
                &|| {
                    let mut c = self.bench();
                    c.arg("native-read").arg(read);
                    c
                },
            ],
            |_, _| Ok(()),
        )?;
        for (name, run) in [("apiconn read", &wasm), ("native", &native)] {
            anyhow::ensure!(
                run.stdout_lines == expected,
                "{name} printed {} records, not {expected}",
                run.stdout_lines
            );
        }
        anyhow::ensure!(
            wasm.stdout_hash == native.stdout_hash,
            "apiconn read and the native build printed different records"
        );
        rows.push(ReadRow {
            name: "`apiconn read` (component in wasmtime)",
            command: "apiconn --allow-private read read.json".into(),
            records: expected,
            run: wasm,
            runs: n,
        });
        rows.push(ReadRow {
            name: "the same guest logic, native, hyper client",
            command: "apiconn-bench native-read read.json".into(),
            records: expected,
            run: native,
            runs: n,
        });

        let pages = self.s.pages;
        let curl = measure::median(n, || {
            let mut c = Command::new("curl");
            c.args([
                "--silent",
                "--show-error",
                "--fail",
                "--write-out",
                "%{size_download}\\n",
            ]);
            for p in 1..=pages {
                c.args(["--output", "/dev/null"])
                    .arg(format!("{url}/records?page={p}&pages={pages}"));
            }
            c
        })?;
        let fetched: u64 = curl
            .stdout_head
            .lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .sum();
        anyhow::ensure!(
            fetched == bytes_of(&data, pages),
            "curl fetched {fetched} bytes, not {}",
            bytes_of(&data, pages)
        );
        rows.push(ReadRow {
            name: "curl, the same pages to /dev/null",
            command: format!("curl -o /dev/null URL/records?page={{1..{pages}}}&pages={pages}"),
            records: expected,
            run: curl,
            runs: n,
        });

        if let Some(python) = self.s.python.clone() {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("dlt_read.py");
            let out = self.dir.path().join("dlt");
            let dlt = measure::run(
                Command::new(&python)
                    .arg(&script)
                    .arg(url)
                    .arg(pages.to_string())
                    .arg(&out)
                    .env("RUNTIME__DLTHUB_TELEMETRY", "false"),
            )?;
            let got: serde_json::Value = serde_json::from_str(dlt.stdout_head.trim())
                .map_err(|e| anyhow::anyhow!("dlt_read.py printed {:?}: {e}", dlt.stdout_head))?;
            anyhow::ensure!(
                got["records"] == expected,
                "dlt loaded {} records, not {expected}",
                got["records"]
            );
            rows.push(ReadRow {
                name: "dlt `rest_api` source → JSONL files",
                command: "python bench/dlt_read.py URL PAGES OUT".into(),
                records: expected,
                run: dlt,
                runs: 1,
            });
        }

        let mb = bytes_of(&data, pages) as f64 / 1e6;
        let r = &mut self.report;
        writeln!(r, "### Dataset {dataset} ({mb:.1} MB)\n")?;
        writeln!(
            r,
            "| reader | command | runs | time | records/s | MB/s | peak RSS | apiconn ÷ this |"
        )?;
        writeln!(r, "|---|---|---|---|---|---|---|---|")?;
        let wasm_rate = rows[0].records_per_s();
        for row in &rows {
            writeln!(
                r,
                "| {} | `{}` | {} | {} | {} | {:.1} | {} | {:.3} |",
                row.name,
                row.command,
                row.runs,
                ms(row.run.wall),
                thousands(row.records_per_s()),
                mb / row.run.wall.as_secs_f64(),
                mib(row.run.peak_rss_kib),
                wasm_rate / row.records_per_s()
            )?;
        }
        writeln!(r)?;
        self.figures.reads.push(ReadFigures {
            name: dataset,
            mb_per_s: mb / rows[0].run.wall.as_secs_f64(),
            wasm_vs_native: wasm_rate / rows[1].records_per_s(),
            wasm_vs_dlt: rows.get(3).map(|dlt| wasm_rate / dlt.records_per_s()),
        });
        Ok(rows)
    }

    fn memory(&mut self, url: &str, base: &ReadRow) -> anyhow::Result<()> {
        let pages = self.s.pages * self.s.memory_factor;
        let config = save(self.dir.path(), "read-more.json", &read_config(url, pages))?;
        let run = measure::run(self.apiconn(&self.cache).arg("read").arg(&config))?;
        let expected = pages * self.s.records_per_page as u64;
        anyhow::ensure!(
            run.stdout_lines == expected,
            "the long read printed {} records, not {expected}",
            run.stdout_lines
        );
        let growth = run.peak_rss_kib as f64 / base.run.peak_rss_kib as f64;
        let r = &mut self.report;
        writeln!(r, "## Memory\n")?;
        writeln!(
            r,
            "Peak RSS of `apiconn read` (wait4's ru_maxrss) when the dataset grows {}×, pages of the same size.\n",
            self.s.memory_factor
        )?;
        writeln!(r, "| pages | records | peak RSS | time |")?;
        writeln!(r, "|---|---|---|---|")?;
        writeln!(
            r,
            "| {} | {} | {} | {} |",
            self.s.pages,
            thousands(base.records as f64),
            mib(base.run.peak_rss_kib),
            ms(base.run.wall)
        )?;
        writeln!(
            r,
            "| {pages} | {} | {} | {} |",
            thousands(expected as f64),
            mib(run.peak_rss_kib),
            ms(run.wall)
        )?;
        writeln!(
            r,
            "\nGrowth: {growth:.3}× ({}).\n",
            check((0.8..=1.2).contains(&growth))
        )?;
        self.figures.memory_growth = growth;
        Ok(())
    }

    fn startup(&mut self, read: &Path) -> anyhow::Result<()> {
        let warm = measure::median(self.s.validate_runs, || {
            let mut c = self.apiconn(&self.cache);
            c.arg("validate").arg(read);
            c
        })?;
        let n = std::cell::Cell::new(0);
        let cold = measure::median(self.s.cold_runs, || {
            n.set(n.get() + 1);
            let empty = self.dir.path().join(format!("cold-cache-{}", n.get()));
            let mut c = self.apiconn(&empty);
            c.arg("validate").arg(read);
            c
        })?;
        let inst = measure::run(
            self.bench()
                .args(["instantiate", "--count"])
                .arg(self.s.instantiations.to_string()),
        )?;
        let inst: Instantiation = serde_json::from_str(inst.stdout_head.trim())?;
        let size = std::fs::metadata(&self.s.apiconn)?.len();
        let r = &mut self.report;
        writeln!(r, "## Start-up\n")?;
        writeln!(r, "| what | command | runs | median |")?;
        writeln!(r, "|---|---|---|---|")?;
        writeln!(
            r,
            "| warm `validate` (compiled component in the cache) | `apiconn validate read.json` | {} | {} |",
            self.s.validate_runs,
            ms(warm.wall)
        )?;
        writeln!(
            r,
            "| cold `validate` (empty cache: compile, write the cache, run) | `APICONN_CACHE_DIR=$(mktemp -d) apiconn validate read.json` | {} | {} |",
            self.s.cold_runs,
            ms(cold.wall)
        )?;
        writeln!(
            r,
            "| instantiation from `InstancePre` (WASI context, limits, instance) | `apiconn-bench instantiate --count {}` | {} | {:.0} µs (mean {:.0} µs) |",
            self.s.instantiations, inst.count, inst.median_us, inst.mean_us
        )?;
        writeln!(
            r,
            "\nThe `apiconn` binary is {:.1} MB, the component embedded in it included.\n",
            size as f64 / 1e6
        )?;
        self.figures.warm_validate = warm.wall;
        self.figures.cold_validate = cold.wall;
        Ok(())
    }

    fn density(&mut self, url: &str) -> anyhow::Result<()> {
        let config = save(
            self.dir.path(),
            "density.json",
            &read_config(url, self.s.density_pages),
        )?;
        let per = self.s.density_pages * self.s.records_per_page as u64;
        let mut rows = vec![];
        for &n in &self.s.density {
            let run = measure::run(
                self.bench()
                    .arg("density")
                    .arg(&config)
                    .args(["--instances", &n.to_string()]),
            )?;
            let d: Density = serde_json::from_str(run.stdout_head.trim())?;
            anyhow::ensure!(
                d.records == per * n as u64,
                "{n} instances read {} records, not {}",
                d.records,
                per * n as u64
            );
            rows.push(d);
        }
        let r = &mut self.report;
        writeln!(r, "## Density\n")?;
        writeln!(
            r,
            "N sandboxed instances in one process (`apiconn-bench density density.json --instances N`, \
             the `apiconn` library), all alive at once: each opens its reader, all wait at a barrier, \
             then each reads {} pages ({} records). RSS per instance = (RSS − RSS with the runtime \
             loaded and no instance) ÷ N.\n",
            self.s.density_pages,
            thousands(per as f64)
        )?;
        writeln!(
            r,
            "| N | RSS per idle instance | peak RSS per instance | peak RSS | records | time | records/s |"
        )?;
        writeln!(r, "|---|---|---|---|---|---|---|")?;
        for d in &rows {
            let n = d.instances as u64;
            writeln!(
                r,
                "| {} | {:.0} KiB | {:.0} KiB | {} | {} | {:.2} s | {} |",
                d.instances,
                d.idle_rss_kib.saturating_sub(d.base_rss_kib) as f64 / n as f64,
                d.peak_rss_kib.saturating_sub(d.base_rss_kib) as f64 / n as f64,
                mib(d.peak_rss_kib),
                thousands(d.records as f64),
                d.seconds,
                thousands(d.records as f64 / d.seconds)
            )?;
        }
        writeln!(r)?;
        self.figures.density = rows;
        Ok(())
    }

    fn write_throughput(&mut self, url: &str) -> anyhow::Result<()> {
        // The input: what a read of the same API prints (flat records).
        let pages = self.s.write_pages;
        let source = save(
            self.dir.path(),
            "write-source.json",
            &read_config(url, pages),
        )?;
        let input = self.dir.path().join("records.ndjson");
        let status = self
            .bench()
            .arg("native-read")
            .arg(&source)
            .stdout(std::fs::File::create(&input)?)
            .status()?;
        anyhow::ensure!(status.success(), "making the write input failed");
        let records = pages * self.s.records_per_page as u64;
        let bytes = std::fs::metadata(&input)?.len();
        let config = save(
            self.dir.path(),
            "write.json",
            &write_config(url, self.s.write_batch),
        )?;
        let inserted = self.server.inserted.clone();
        let mut before = inserted.load(Ordering::SeqCst);
        let [wasm, native] = measure::interleaved(
            self.s.repeats,
            [
                &|| {
                    let mut c = self.apiconn(&self.cache);
                    c.arg("write").arg(&config).arg("--input").arg(&input);
                    c
                },
                &|| {
                    let mut c = self.bench();
                    c.arg("native-write").arg(&config).arg(&input);
                    c
                },
            ],
            |k, _| {
                let now = inserted.load(Ordering::SeqCst);
                let got = now - std::mem::replace(&mut before, now);
                let what = ["apiconn write", "native write"][k];
                anyhow::ensure!(got == records, "{what} stored {got} records, not {records}");
                Ok(())
            },
        )?;
        let rate = |m: &Measured| records as f64 / m.wall.as_secs_f64();
        let r = &mut self.report;
        writeln!(r, "## Write throughput\n")?;
        writeln!(
            r,
            "{} flat records ({:.1} MB of NDJSON, the output of a read of the same API) written in \
             batches of {} (`POST /records`, a JSON array each); the server counted every record \
             of every run.\n",
            thousands(records as f64),
            bytes as f64 / 1e6,
            self.s.write_batch
        )?;
        writeln!(
            r,
            "| writer | command | runs | time | records/s | peak RSS | apiconn ÷ this |"
        )?;
        writeln!(r, "|---|---|---|---|---|---|---|")?;
        for (name, cmd, m) in [
            (
                "`apiconn write` (component in wasmtime)",
                "apiconn --allow-private write write.json --input records.ndjson",
                &wasm,
            ),
            (
                "the same guest logic, native, hyper client",
                "apiconn-bench native-write write.json records.ndjson",
                &native,
            ),
        ] {
            writeln!(
                r,
                "| {name} | `{cmd}` | {} | {} | {} | {} | {:.3} |",
                self.s.repeats,
                ms(m.wall),
                thousands(rate(m)),
                mib(m.peak_rss_kib),
                rate(&wasm) / rate(m)
            )?;
        }
        writeln!(r)?;
        self.figures.write_records_per_s = rate(&wasm);
        self.figures.write_vs_native = rate(&wasm) / rate(&native);
        Ok(())
    }

    /// `perf record` of one `apiconn read`, with wasmtime's perf map so the
    /// component's functions have names.
    fn profile(&mut self, dataset: &str, read: &Path) -> anyhow::Result<()> {
        let data = self.dir.path().join(format!("perf-{dataset}.data"));
        // The perf map changes the engine's settings, so its compiled
        // component is cached apart: compile it before recording.
        measure::run(
            self.apiconn(&self.cache)
                .arg("validate")
                .arg(read)
                .env("APICONN_PROFILE", "perfmap"),
        )?;
        let recorded = measure::run(
            Command::new("perf")
                .args(["record", "-F", "2000", "-g", "-o"])
                .arg(&data)
                .arg("--")
                .arg(&self.s.apiconn)
                .arg("--allow-private")
                .arg("read")
                .arg(read)
                .env("APICONN_CACHE_DIR", &self.cache)
                .env("APICONN_PROFILE", "perfmap"),
        );
        let r = &mut self.report;
        writeln!(r, "### Dataset {dataset}\n")?;
        if let Err(e) = recorded {
            writeln!(
                r,
                "No profile: `perf record` failed here ({}).\n",
                e.to_string().lines().last().unwrap_or("")
            )?;
            return Ok(());
        }
        let report = Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "--sort",
                "dso,symbol",
                "--percent-limit",
                "1.5",
                "-g",
                "none",
                "-i",
            ])
            .arg(&data)
            .output()?;
        let text = String::from_utf8_lossy(&report.stdout);
        let top: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.trim_start()
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
            })
            .take(15)
            .collect();
        writeln!(
            r,
            "`APICONN_PROFILE=perfmap perf record -F 2000 -g -- apiconn --allow-private read read-{dataset}.json`, then \
             `perf report --no-children --sort dso,symbol`: the items over 1.5 % of samples \
             (wasm functions are named by the mapped compiled component, `apiconn-….cwasm`, or by wasmtime's perf map; `[.]` user space, `[k]` kernel).\n"
        )?;
        writeln!(r, "```")?;
        for line in &top {
            // perf pads every line and ends it with empty columns.
            let line = line.trim_end().trim_end_matches(['-', ' ']);
            writeln!(r, "{line}")?;
        }
        writeln!(r, "```\n")?;
        Ok(())
    }

    fn targets(&mut self) -> anyhow::Result<()> {
        let f = &self.figures;
        let r = &mut self.report;
        writeln!(r, "## Targets\n")?;
        writeln!(r, "| target | measured | |")?;
        writeln!(r, "|---|---|---|")?;
        for read in &f.reads {
            let x = read.name.split(':').next().unwrap_or(read.name);
            writeln!(
                r,
                "| read ≥ 300 MB/s end to end, dataset {x} | {:.1} MB/s | {} |",
                read.mb_per_s,
                check(read.mb_per_s >= 300.0)
            )?;
            writeln!(
                r,
                "| wasm read ≥ 0.8× native, dataset {x} | {:.3}× | {} |",
                read.wasm_vs_native,
                check(read.wasm_vs_native >= 0.8)
            )?;
            // The bar against dlt: 20× on A, 40× on B (no arrays).
            let bar = if x == "A" { 20.0 } else { 40.0 };
            match read.wasm_vs_dlt {
                Some(v) => writeln!(
                    r,
                    "| wasm read ≥ {bar:.0}× dlt `rest_api`, dataset {x} | {v:.1}× | {} |",
                    check(v >= bar)
                )?,
                None => writeln!(
                    r,
                    "| wasm read ≥ {bar:.0}× dlt `rest_api`, dataset {x} | not measured (no dlt) | |"
                )?,
            }
        }
        writeln!(
            r,
            "| write ≥ 0.9× native | {:.3}× | {} |",
            f.write_vs_native,
            check(f.write_vs_native >= 0.9)
        )?;
        writeln!(
            r,
            "| write ≥ 100,000 records/s in batches of {} | {} | {} |",
            self.s.write_batch,
            thousands(f.write_records_per_s),
            check(f.write_records_per_s >= 100_000.0)
        )?;
        writeln!(
            r,
            "| warm `validate` ≤ 30 ms | {} | {} |",
            ms(f.warm_validate),
            check(f.warm_validate <= Duration::from_millis(30))
        )?;
        writeln!(
            r,
            "| cold start (empty cache) ≤ 0.5 s | {} (cold `validate`) | {} |",
            ms(f.cold_validate),
            check(f.cold_validate <= Duration::from_millis(500))
        )?;
        writeln!(
            r,
            "| RSS flat when the dataset grows {}× (±20 %) | {:.3}× | {} |",
            self.s.memory_factor,
            f.memory_growth,
            check((0.8..=1.2).contains(&f.memory_growth))
        )?;
        let most = f.density.iter().max_by_key(|d| d.instances);
        if let Some(d) = most {
            writeln!(
                r,
                "| 1,000 instances in one process | {} instances, peak {} | {} |",
                d.instances,
                mib(d.peak_rss_kib),
                check(d.instances >= 1000)
            )?;
        }
        writeln!(r)?;
        Ok(())
    }
}
