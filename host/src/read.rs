//! The host's read path (README, "Checkpoints and continuous reads" and
//! "Partitions, concurrency and rate limits"): one partition batch by
//! batch, partitions at once, and a whole read job — resume from the state
//! file, save after every batch is out, `--follow` polls — that the CLI
//! only parametrises and prints.

use crate::bindings::Batch;
use crate::run::{self, Failure, Options, Prepared, sandboxed};
use crate::runtime::Runtime;
use crate::state::{PartitionStates, Saved, StateFile};
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
            Err(e) => {
                // The failed batch's requests count too.
                summary.requests = summary.requests.max(instance.requests_sent());
                return Err((config.failure(e), summary));
            }
        };
        out.write_all(&batch.records)
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
    // Without a state file, --follow keeps the checkpoint in memory.
    let mut checkpoint = match &job.state {
        Some(file) => file.load().map_err(|f| (f, total))?,
        None => None,
    };
    let out = Arc::new(Mutex::new(out));
    loop {
        let partitions = if job.concurrency > 1 {
            run::partitions(rt, prepared, opts)
                .await
                .map_err(|f| (f, total))?
        } else {
            vec![]
        };
        let saved = checkpoint.as_deref().map(Saved::parse);
        let (result, last) = if partitions.is_empty() {
            let state = Saved::single(saved).map_err(|f| (f, total))?;
            let mut last = None;
            let control = ReadControl {
                state,
                stop: Some(&job.stop),
            };
            let mut writer = Direct(out.clone());
            let result = read(rt, prepared, opts, control, &mut writer, &mut |batch, s| {
                if let Some(file) = &job.state {
                    file.save(&batch.checkpoint)?;
                }
                last = Some(batch.checkpoint.clone());
                if let Some(progress) = job.progress {
                    progress(&total.plus(s));
                }
                Ok(())
            })
            .await;
            (result, last)
        } else {
            let states = Mutex::new(Saved::partitioned(saved).map_err(|f| (f, total))?);
            let save = |s: &PartitionStates| match &job.state {
                Some(file) => file.save(&s.to_text()),
                None => Ok(()),
            };
            let result = read_partitioned(
                rt,
                prepared,
                opts,
                partitions,
                &states,
                job.concurrency,
                Some(&job.stop),
                out.clone(),
                &save,
            )
            .await;
            let last = states.into_inner().expect("state lock").to_text();
            (result, Some(last))
        };
        let (s, outcome) = match result {
            Ok(s) => (s, Ok(())),
            Err((f, s)) => (s, Err(f)),
        };
        total = total.plus(&s);
        if let Some(c) = last {
            checkpoint = Some(c);
        }
        if let Err(f) = outcome {
            return Err((f, total));
        }
        if !job.follow || job.stop.load(Ordering::SeqCst) {
            return Ok(total);
        }
        tracing::info!(
            "read {} records; the next read in {:?}",
            s.records,
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
