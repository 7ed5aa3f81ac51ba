//! The library API, for Rust services and engines that embed connectors
//! (Vector, Fluvio and Arroyo are Rust): load a config, read it as a stream
//! of record batches with checkpoints, or write record batches to it.
//!
//! ```no_run
//! use apiconn::Connector;
//! use futures::StreamExt;
//!
//! # async fn demo() -> Result<(), apiconn::run::Failure> {
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
//! # async fn demo() -> Result<(), apiconn::run::Failure> {
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
use crate::run::{self, Failure, Options, Prepared};
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
}

/// A loaded connector config.
pub struct Connector {
    runtime: Arc<Runtime>,
    config: Prepared,
    options: Options,
}

fn shared_runtime() -> Result<Arc<Runtime>, Failure> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.clone());
    }
    let rt = Arc::new(
        Runtime::new().map_err(|e| Failure::Run(format!("loading the component: {e:#}")))?,
    );
    Ok(RUNTIME.get_or_init(|| rt).clone())
}

impl Connector {
    /// A config (as JSON) with the default options: the embedded component,
    /// default limits, public targets only, no `${env:…}` or `${file:…}`
    /// secret references (allow them with [`Connector::with_options`]).
    pub fn load(config: serde_json::Value) -> Result<Connector, Failure> {
        Connector::with_options(config, Options::default())
    }

    pub fn with_options(config: serde_json::Value, options: Options) -> Result<Connector, Failure> {
        Ok(Connector {
            runtime: shared_runtime()?,
            config: run::prepare(config, &options.secrets)?,
            options,
        })
    }

    /// The records, batch by batch, from `checkpoint` (or the start).
    pub fn read(
        &self,
        checkpoint: Option<String>,
    ) -> impl Stream<Item = Result<RecordBatch, Failure>> + Send + '_ {
        enum Step {
            Start(Option<String>),
            Reading(Box<Instance>, ResourceAny),
            Done,
        }
        futures::stream::unfold(Step::Start(checkpoint), move |step| async move {
            let (mut instance, reader) = match step {
                Step::Done => return None,
                Step::Reading(i, r) => (i, r),
                Step::Start(state) => {
                    let mut instance =
                        match run::sandboxed(&self.runtime, &self.config, &self.options).await {
                            Ok(i) => i,
                            Err(f) => return Some((Err(f), Step::Done)),
                        };
                    let opened = instance
                        .open_reader(
                            &self.config.json,
                            self.options.env.as_deref(),
                            state.as_deref(),
                        )
                        .await;
                    match opened {
                        Ok(r) => (Box::new(instance), r),
                        Err(e) => return Some((Err(self.config.failure(e)), Step::Done)),
                    }
                }
            };
            match instance.next_batch(reader).await {
                Ok(Some(b)) => {
                    let batch = RecordBatch {
                        records: b.records,
                        count: b.count,
                        checkpoint: b.checkpoint,
                    };
                    Some((Ok(batch), Step::Reading(instance, reader)))
                }
                Ok(None) => None,
                Err(e) => Some((Err(self.config.failure(e)), Step::Done)),
            }
        })
    }

    /// A sink for record batches.
    pub async fn sink(&self) -> Result<Sink<'_>, Failure> {
        let mut instance = run::sandboxed(&self.runtime, &self.config, &self.options).await?;
        let writer = instance
            .open_writer(&self.config.json, self.options.env.as_deref())
            .await
            .map_err(|e| self.config.failure(e))?;
        Ok(Sink {
            connector: self,
            instance,
            writer,
            next_line: 1,
        })
    }
}

/// Sends NDJSON record batches; see [`Connector::sink`].
pub struct Sink<'a> {
    connector: &'a Connector,
    instance: Instance,
    writer: ResourceAny,
    next_line: u64,
}

impl Sink<'_> {
    /// Sends the compliant records of `ndjson` in batches of the config (a
    /// partial batch waits for more or for [`Sink::finish`]); lines are
    /// numbered across calls. Unless `keep_going`, the first failed batch
    /// ends the call.
    pub async fn write(&mut self, ndjson: &[u8], keep_going: bool) -> Result<Report, Failure> {
        let first = self.next_line;
        self.next_line +=
            ndjson.split(|b| *b == b'\n').count() as u64 - u64::from(ndjson.ends_with(b"\n"));
        self.instance
            .write_records(self.writer, ndjson, first, keep_going)
            .await
            .map_err(|e| self.connector.config.failure(e))
    }

    /// Sends what is still buffered.
    pub async fn finish(mut self) -> Result<Report, Failure> {
        self.instance
            .finish_writer(self.writer)
            .await
            .map_err(|e| self.connector.config.failure(e))
    }
}
