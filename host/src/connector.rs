//! The library API, for Rust services and engines that embed connectors
//! (Vector, Fluvio and Arroyo are Rust): load a config, read it as a stream
//! of record batches with checkpoints, or write record batches to it.
//!
//! ```no_run
//! use apiconn::Connector;
//! use futures::StreamExt;
//!
//! # async fn demo() -> Result<(), apiconn::Error> {
//! let config = serde_json::json!({
//!     "source": { "name": "crm", "url": "https://api.example.com/v1",
//!                 "auth": { "type": "bearer", "token": "${env:APICONN_SECRET_CRM}" } },
//!     "read": { "path": "/customers", "records": "data",
//!               "paginate": { "type": "page", "param": "page" } }
//! });
//! // Secret references resolve only where the operator allows them.
//! let mut options = apiconn::run::Options::default();
//! options.secrets.allow_env_prefixes = vec!["APICONN_SECRET_".into()];
//! let connector = Connector::with_options(config, options)?;
//! // Resume from a saved checkpoint with `connector.read(Some(checkpoint))`.
//! let mut batches = std::pin::pin!(connector.read(None));
//! while let Some(batch) = batches.next().await {
//!     let batch = batch?;
//!     // batch.records: NDJSON, batch.count lines; store batch.checkpoint
//!     // once they are safely handed on.
//!     println!("{} records, resume at {}", batch.count, batch.checkpoint);
//! }
//! # Ok(()) }
//! ```
//!
//! Writing:
//!
//! ```no_run
//! # async fn demo() -> Result<(), apiconn::Error> {
//! let config = serde_json::json!({
//!     "source": { "name": "warehouse", "url": "https://api.example.com" },
//!     "write": { "path": "/items", "mode": "batch", "batch_size": 500 }
//! });
//! let connector = apiconn::Connector::load(config)?;
//! let mut sink = connector.sink().await?;
//! let report = sink.write(b"{\"id\":1}\n{\"id\":2}\n", true).await?;
//! let last = sink.finish().await?;
//! println!("sent {}", report.sent + last.sent);
//! # Ok(()) }
//! ```

use crate::bindings::Report;
use crate::egress::Egress;
use crate::error::{Error, Problem};
use crate::run::{self, Options, Prepared};
use crate::runtime::{Instance, Runtime};
use futures::Stream;
use std::sync::{Arc, OnceLock};
use wasmtime::component::ResourceAny;

/// One response's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// NDJSON: one flat JSON object per line.
    pub records: Vec<u8>,
    pub count: u32,
    /// Give it back to [`Connector::read`] to continue after this batch.
    pub checkpoint: String,
    /// HTTP requests made for this batch, retries included.
    pub requests: u32,
    /// What did not fail the read (dirty records skipped, ...), masked.
    pub warnings: Vec<String>,
}

/// A loaded connector config.
pub struct Connector {
    runtime: Arc<Runtime>,
    config: Arc<Prepared>,
    options: Options,
    /// The stream this connector reads (none: the config's only stream).
    stream: Option<String>,
}

/// A stream of a config: a `read` block (named `default`) or an entry of
/// `streams`, and the stream whose records are its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    pub parent: Option<String>,
}

fn shared_runtime() -> Result<Arc<Runtime>, Error> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.clone());
    }
    let rt =
        Arc::new(Runtime::new().map_err(|e| Error::Host(format!("loading the component: {e:#}")))?);
    Ok(RUNTIME.get_or_init(|| rt).clone())
}

impl Connector {
    /// A config (as JSON) with the default options: the embedded component,
    /// default limits, public targets only, no `${env:…}` or `${file:…}`
    /// secret references (allow them with [`Connector::with_options`]).
    pub fn load(config: serde_json::Value) -> Result<Connector, Error> {
        Connector::with_options(config, Options::default())
    }

    pub fn with_options(config: serde_json::Value, options: Options) -> Result<Connector, Error> {
        Ok(Connector {
            runtime: shared_runtime()?,
            config: Arc::new(run::prepare(config, &options.secrets).map_err(Error::from_failure)?),
            options,
            stream: None,
        })
    }

    /// The same config, reading its stream `name` (README "Several
    /// streams"): [`Connector::reader`], [`Connector::read`] and
    /// [`Connector::partitions`] then read that stream.
    pub fn stream(&self, name: &str) -> Connector {
        Connector {
            runtime: self.runtime.clone(),
            config: self.config.clone(),
            options: self.options.clone(),
            stream: Some(name.to_string()),
        }
    }

    /// The streams of the config, in its order (`read` first, as `default`).
    pub async fn streams(&self) -> Result<Vec<StreamInfo>, Error> {
        let streams = run::streams(&self.runtime, &self.config, &self.options)
            .await
            .map_err(Error::from_failure)?;
        Ok(streams
            .into_iter()
            .map(|s| StreamInfo {
                name: s.name,
                parent: s.parent,
            })
            .collect())
    }

    fn failure(&self, e: crate::runtime::RunError) -> Error {
        Error::from_run(e, &self.config.masker)
    }

    /// Masks the secrets of this config in `text`.
    pub fn mask(&self, text: &str) -> String {
        self.config.masker.mask(text)
    }

    /// Every problem of the config at once (empty: valid); sends nothing.
    pub async fn validate(&self) -> Result<Vec<Problem>, Error> {
        let closed = Egress::closed().map_err(|e| Error::Host(e.to_string()))?;
        let mut instance = self
            .runtime
            .instance(closed, &self.options.limits)
            .await
            .map_err(|e| Error::Host(format!("starting the component: {e:#}")))?;
        let problems = instance
            .validate(&self.config.json, self.options.env.as_deref())
            .await
            .map_err(|e| self.failure(e))?;
        Ok(problems
            .into_iter()
            .map(|p| Problem {
                path: self.mask(&p.path),
                message: self.mask(&p.message),
            })
            .collect())
    }

    /// Test connection: the auth step and one data request, as formatted
    /// JSON with credentials masked.
    pub async fn check(&self) -> Result<String, Error> {
        let mut instance = self.sandboxed().await?;
        let report = instance
            .check(&self.config.json, self.options.env.as_deref())
            .await
            .map_err(|e| self.failure(e))?;
        Ok(self.mask(&report))
    }

    /// The initial checkpoints of the read's partitions (one per traverse
    /// value; empty: one partition, from the start).
    pub async fn partitions(&self) -> Result<Vec<String>, Error> {
        let mut instance = self.sandboxed().await?;
        instance
            .partitions(
                &self.config.json,
                self.options.env.as_deref(),
                self.stream.as_deref(),
            )
            .await
            .map_err(|e| self.failure(e))
    }

    async fn sandboxed(&self) -> Result<Instance, Error> {
        run::sandboxed(&self.runtime, &self.config, &self.options)
            .await
            .map_err(Error::from_failure)
    }

    /// A reader from `checkpoint` (or the start), owning what it needs.
    pub async fn reader(&self, checkpoint: Option<String>) -> Result<Reader, Error> {
        let mut instance = self.sandboxed().await?;
        let reader = instance
            .open_reader(
                &self.config.json,
                self.options.env.as_deref(),
                self.stream.as_deref(),
                checkpoint.as_deref(),
            )
            .await
            .map_err(|e| self.failure(e))?;
        Ok(Reader {
            config: self.config.clone(),
            instance: Some(Box::new(instance)),
            reader,
        })
    }

    /// The records, batch by batch, from `checkpoint` (or the start).
    pub fn read(
        &self,
        checkpoint: Option<String>,
    ) -> impl Stream<Item = Result<RecordBatch, Error>> + Send + '_ {
        enum Step {
            Start(Option<String>),
            Reading(Reader),
            Done,
        }
        futures::stream::unfold(Step::Start(checkpoint), move |step| async move {
            let mut reader = match step {
                Step::Done => return None,
                Step::Reading(r) => r,
                Step::Start(state) => match self.reader(state).await {
                    Ok(r) => r,
                    Err(e) => return Some((Err(e), Step::Done)),
                },
            };
            match reader.next().await {
                Ok(Some(batch)) => Some((Ok(batch), Step::Reading(reader))),
                Ok(None) => None,
                Err(e) => Some((Err(e), Step::Done)),
            }
        })
    }

    /// A sink for record batches.
    pub async fn sink(&self) -> Result<Sink, Error> {
        let mut instance = self.sandboxed().await?;
        let writer = instance
            .open_writer(&self.config.json, self.options.env.as_deref())
            .await
            .map_err(|e| self.failure(e))?;
        Ok(Sink {
            config: self.config.clone(),
            instance,
            writer,
            next_line: 1,
        })
    }
}

/// A read in progress; see [`Connector::reader`].
pub struct Reader {
    config: Arc<Prepared>,
    /// `None` once the read ended (complete or failed).
    instance: Option<Box<Instance>>,
    reader: ResourceAny,
}

impl Reader {
    /// The next batch, or `None` when the read is complete. After an error
    /// the read is over: every later call gives `None`.
    pub async fn next(&mut self) -> Result<Option<RecordBatch>, Error> {
        let Some(instance) = self.instance.as_mut() else {
            return Ok(None);
        };
        match instance.next_batch(self.reader).await {
            Ok(Some(b)) => Ok(Some(RecordBatch {
                records: b.records,
                count: b.count,
                checkpoint: b.checkpoint,
                requests: b.requests,
                warnings: b
                    .warnings
                    .iter()
                    .map(|w| self.config.masker.mask(w))
                    .collect(),
            })),
            Ok(None) => {
                self.instance = None;
                Ok(None)
            }
            Err(e) => {
                self.instance = None;
                Err(Error::from_run(e, &self.config.masker))
            }
        }
    }
}

/// Sends NDJSON record batches; see [`Connector::sink`].
pub struct Sink {
    config: Arc<Prepared>,
    instance: Instance,
    writer: ResourceAny,
    next_line: u64,
}

impl Sink {
    /// Sends the compliant records of `ndjson` in batches of the config (a
    /// partial batch waits for more or for [`Sink::finish`]); lines are
    /// numbered across calls. Unless `keep_going`, the first failed batch
    /// ends the call. Reasons in the report are masked.
    pub async fn write(&mut self, ndjson: &[u8], keep_going: bool) -> Result<Report, Error> {
        let first = self.next_line;
        self.next_line +=
            ndjson.split(|b| *b == b'\n').count() as u64 - u64::from(ndjson.ends_with(b"\n"));
        let report = self
            .instance
            .write_records(self.writer, ndjson, first, keep_going)
            .await
            .map_err(|e| Error::from_run(e, &self.config.masker))?;
        Ok(self.masked(report))
    }

    /// Sends what is still buffered.
    pub async fn finish(mut self) -> Result<Report, Error> {
        let report = self
            .instance
            .finish_writer(self.writer)
            .await
            .map_err(|e| Error::from_run(e, &self.config.masker))?;
        Ok(self.masked(report))
    }

    fn masked(&self, mut report: Report) -> Report {
        for r in report
            .failed
            .iter_mut()
            .chain(report.rejected.iter_mut())
            .chain(report.refused.iter_mut())
        {
            r.reason = self.config.masker.mask(&r.reason);
        }
        report
    }
}
