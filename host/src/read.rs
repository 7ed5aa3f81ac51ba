//! The host's read path (README, "Checkpoints and continuous reads" and
//! "Partitions, concurrency and rate limits"): one partition batch by
//! batch, partitions at once, and a whole read job — resume from the state
//! file, save after every batch is out, `--follow` polls — that the CLI
//! only parametrises and prints.

use crate::bindings::Batch;
use crate::run::{self, Failure, Options, Prepared, sandboxed};
use crate::runtime::Runtime;
use crate::state::{PartitionStates, Saved, StateFile, StreamStates};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counts of a finished (or failed) read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub records: u64,
    pub requests: u64,
    pub batches: u64,
}

impl ReadSummary {
    pub fn plus(&self, other: &ReadSummary) -> ReadSummary {
        ReadSummary {
            records: self.records + other.records,
            requests: self.requests + other.requests,
            batches: self.batches + other.batches,
        }
    }
}

/// Where a read starts and when it stops early.
#[derive(Default)]
pub struct ReadControl<'a> {
    /// The stream to read (none: the config's only stream).
    pub stream: Option<String>,
    /// Put `"_stream": NAME` first in every record (several streams into one output).
    pub tag: bool,
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
        .open_reader(
            &config.json,
            opts.env.as_deref(),
            control.stream.as_deref(),
            control.state.as_deref(),
        )
        .await
        .map_err(|e| (config.failure(e), summary))?;
    let tag = match (&control.stream, control.tag) {
        (Some(name), true) => Some(stream_tag(name)),
        _ => None,
    };
    loop {
        let batch = match instance.next_batch(reader).await {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => {
                // The failed batch's requests count too.
                summary.requests = summary.requests.max(instance.requests_sent());
                return Err((config.failure(e), summary));
            }
        };
        let records = match &tag {
            Some(tag) => std::borrow::Cow::Owned(tagged(&batch.records, tag)),
            None => std::borrow::Cow::Borrowed(&batch.records),
        };
        out.write_all(&records)
            .and_then(|_| out.flush())
            .map_err(|e| (Failure::Run(format!("writing records: {e}")), summary))?;
        summary.records += u64::from(batch.count);
        summary.requests += u64::from(batch.requests);
        summary.batches += 1;
        tracing::debug!(
            "batch {}: {} records in {} requests; checkpoint {}",
            summary.batches,
            batch.count,
            batch.requests,
            config.masker.mask(&batch.checkpoint)
        );
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

/// `{"_stream":"NAME",` — the start of every record of stream NAME in an
/// output that several streams share.
fn stream_tag(name: &str) -> Vec<u8> {
    let mut tag = b"{\"_stream\":".to_vec();
    serde_json::to_writer(&mut tag, name).expect("a name is JSON");
    tag
}

/// NDJSON records (flat objects, one a line) with `tag` as their first field.
fn tagged(records: &[u8], tag: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() + records.len() / 8);
    for line in records.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        out.extend_from_slice(tag);
        let rest = line.strip_prefix(b"{").unwrap_or(line);
        if rest.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'}') {
            out.push(b',');
        }
        out.extend_from_slice(rest);
        out.push(b'\n');
    }
    out
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

/// The output of a one-partition read: written straight through.
struct Direct(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for Direct {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("output lock").write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.lock().expect("output lock").write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().expect("output lock").flush()
    }
}

/// Reads every partition, up to `concurrency` at once, each from its saved
/// checkpoint in `states` (or its start); `save` sees the states after
/// each batch is out. Each partition's batches stay in order.
#[allow(clippy::too_many_arguments)]
pub async fn read_partitioned(
    rt: &Runtime,
    config: &Prepared,
    opts: &Options,
    target: (Option<&str>, bool),
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
                    stream: target.0.map(String::from),
                    tag: target.1,
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
        total = total.plus(&s);
    }
    match failure {
        None => Ok(total),
        Some(f) => Err((f, total)),
    }
}

/// A whole `apiconn read`: where it resumes and saves, whether it follows.
pub struct ReadJob<'a> {
    pub state: Option<StateFile>,
    /// After a full read, wait `interval` and read again, until `stop`.
    pub follow: bool,
    pub interval: Duration,
    /// Partitions run at once; 1 reads the config as one partition.
    pub concurrency: usize,
    /// Set (by a signal handler) to end the job after the current batch.
    pub stop: Arc<AtomicBool>,
    /// Sees the running totals after every batch (a progress line).
    pub progress: Option<&'a (dyn Fn(&ReadSummary) + Sync)>,
    /// The streams to read (`--stream`); empty: every stream.
    pub streams: Vec<String>,
    /// One `DIR/<stream>.ndjson` per stream instead of one output.
    pub output_dir: Option<std::path::PathBuf>,
}

/// The streams a job reads, in the config's order: each with the name
/// given to the component (none: a config of one `read` block, read as
/// before streams existed).
async fn selected_streams(
    rt: &Runtime,
    prepared: &Prepared,
    opts: &Options,
    wanted: &[String],
) -> Result<(Vec<Option<String>>, bool), Failure> {
    let uses_streams = serde_json::from_str::<serde_json::Value>(&prepared.json)
        .ok()
        .is_some_and(|v| v.get("streams").is_some());
    if !uses_streams && wanted.iter().all(|w| w == "default") {
        return Ok((vec![None], false));
    }
    let all = run::streams(rt, prepared, opts).await?;
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|w| !names.contains(&w.as_str()))
        .map(|w| {
            format!(
                "--stream {w}: the config has no such stream (known: {})",
                names.join(", ")
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(Failure::Config(unknown));
    }
    let picked = all
        .iter()
        .filter(|s| wanted.is_empty() || wanted.contains(&s.name))
        .map(|s| Some(s.name.clone()))
        .collect();
    Ok((picked, true))
}

/// Runs `job`, writing records to `out`. The totals come back with the
/// failure too, so the caller can say how far the job got.
pub async fn read_job(
    rt: &Runtime,
    prepared: &Prepared,
    opts: &Options,
    job: ReadJob<'_>,
    out: Box<dyn Write + Send>,
) -> Result<ReadSummary, (Failure, ReadSummary)> {
    let mut total = ReadSummary::default();
    let (streams, per_stream) = selected_streams(rt, prepared, opts, &job.streams)
        .await
        .map_err(|f| (f, total))?;
    // Without a state file, --follow keeps the checkpoints in memory.
    let loaded = match &job.state {
        Some(file) => file.load().map_err(|f| (f, total))?,
        None => None,
    };
    let states = Mutex::new(if per_stream {
        StreamStates::parse(loaded.as_deref())
    } else {
        StreamStates::single(loaded)
    });
    let save = |name: Option<&str>, text: String| -> Result<(), Failure> {
        let mut states = states.lock().expect("state lock");
        states.set(name, text);
        match &job.state {
            Some(file) => file.save(&states.to_text()),
            None => Ok(()),
        }
    };
    let shared = Arc::new(Mutex::new(out));
    let tag = job.output_dir.is_none() && streams.len() > 1;
    // One file per stream with --output-dir, created once for the whole job.
    let mut files: Vec<Arc<Mutex<Box<dyn Write + Send>>>> = Vec::new();
    if let Some(dir) = &job.output_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            (
                Failure::Run(format!("creating {}: {e}", dir.display())),
                total,
            )
        })?;
        for stream in &streams {
            let name = stream.as_deref().unwrap_or("default");
            let path = dir.join(format!("{name}.ndjson"));
            let file = std::fs::File::create(&path).map_err(|e| {
                (
                    Failure::Run(format!("creating {}: {e}", path.display())),
                    total,
                )
            })?;
            let file: Box<dyn Write + Send> = Box::new(std::io::BufWriter::new(file));
            files.push(Arc::new(Mutex::new(file)));
        }
    }
    loop {
        let mut pass = ReadSummary::default();
        for (i, stream) in streams.iter().enumerate() {
            let out = match files.get(i) {
                Some(file) => file.clone(),
                None => shared.clone(),
            };
            let checkpoint = states.lock().expect("state lock").get(stream.as_deref());
            let before = total;
            let progress = |s: &ReadSummary| {
                if let Some(progress) = job.progress {
                    progress(&before.plus(s));
                }
            };
            let result = read_stream(
                rt,
                prepared,
                opts,
                &job,
                (stream.as_deref(), tag),
                checkpoint,
                out,
                &save,
                &progress,
            )
            .await;
            let (s, outcome) = match result {
                Ok(s) => (s, Ok(())),
                Err((f, s)) => (s, Err(f)),
            };
            total = total.plus(&s);
            pass = pass.plus(&s);
            if let Err(f) = outcome {
                return Err((f, total));
            }
            if job.stop.load(Ordering::SeqCst) {
                return Ok(total);
            }
        }
        if !job.follow || job.stop.load(Ordering::SeqCst) {
            return Ok(total);
        }
        tracing::info!(
            "read {} records; the next read in {:?}",
            pass.records,
            job.interval
        );
        let deadline = tokio::time::Instant::now() + job.interval;
        while !job.stop.load(Ordering::SeqCst) {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep((deadline - now).min(Duration::from_millis(50))).await;
        }
        if job.stop.load(Ordering::SeqCst) {
            return Ok(total);
        }
    }
}

/// Saves a stream's state (by its name; none: the only stream).
type SaveStream<'a> = dyn Fn(Option<&str>, String) -> Result<(), Failure> + Sync + 'a;

/// One pass over one stream: as one partition, or its partitions at once
/// (`--concurrency`); `save` sees the stream's state after every batch.
#[allow(clippy::too_many_arguments)]
async fn read_stream(
    rt: &Runtime,
    prepared: &Prepared,
    opts: &Options,
    job: &ReadJob<'_>,
    target: (Option<&str>, bool),
    checkpoint: Option<String>,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    save: &SaveStream<'_>,
    progress: &(dyn Fn(&ReadSummary) + Sync),
) -> Result<ReadSummary, (Failure, ReadSummary)> {
    let (stream, tag) = target;
    let none = ReadSummary::default();
    let partitions = if job.concurrency > 1 {
        run::partitions(rt, prepared, opts, stream)
            .await
            .map_err(|f| (f, none))?
    } else {
        vec![]
    };
    let saved = checkpoint.as_deref().map(Saved::parse);
    if partitions.is_empty() {
        let state = Saved::single(saved).map_err(|f| (f, none))?;
        let control = ReadControl {
            stream: stream.map(String::from),
            tag,
            state,
            stop: Some(&job.stop),
        };
        let mut writer = Direct(out);
        read(rt, prepared, opts, control, &mut writer, &mut |batch, s| {
            save(stream, batch.checkpoint.clone())?;
            progress(s);
            Ok(())
        })
        .await
    } else {
        let states = Mutex::new(Saved::partitioned(saved).map_err(|f| (f, none))?);
        let save = |s: &PartitionStates| save(stream, s.to_text());
        read_partitioned(
            rt,
            prepared,
            opts,
            (stream, tag),
            partitions,
            &states,
            job.concurrency,
            Some(&job.stop),
            out,
            &save,
        )
        .await
    }
}
