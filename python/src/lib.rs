//! `apiconn._native`: the apiconn library ([`apiconn::Connector`]) for
//! CPython. The Python package `apiconn` (python/py/apiconn) is the public
//! face; this module does the work: every call that runs the component
//! releases the GIL and runs on a tokio runtime of its own, and records
//! become Arrow record batches here, in Rust.

use apiconn::Error;
use apiconn::bindings::{Rejection, Report};
use apiconn::egress::Pinned;
use apiconn::run::Options;
use apiconn::runtime::Limits;
use apiconn::secrets::SecretPolicy;
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::sync::{Arc, Mutex, OnceLock};

/// The runtime every component call of this process runs on.
fn tokio() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("apiconn")
            .enable_all()
            .build()
            .expect("starting the tokio runtime")
    })
}

/// Runs a future to completion with the GIL released.
fn block<F: std::future::Future + Send>(py: Python<'_>, f: F) -> F::Output
where
    F::Output: Send,
{
    py.detach(|| tokio().block_on(f))
}

/// The exception class of `apiconn.errors` for an error, with its message,
/// and `.problems` / `.status` where the variant has them.
fn to_py(py: Python<'_>, e: Error) -> PyErr {
    match make_exception(py, &e) {
        Ok(err) => err,
        Err(err) => err,
    }
}

fn make_exception(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let class = match e {
        Error::Config(_) => "ConfigError",
        Error::Auth(_) => "AuthError",
        Error::HttpStatus { .. } => "HttpStatusError",
        Error::Transport(_) => "TransportError",
        Error::Limit(_) => "LimitError",
        Error::Response(_) => "ResponseError",
        Error::NonCompliantRecord(_) => "NonCompliantRecordError",
        Error::DirtyRecords(_) => "DirtyRecordsError",
        Error::Internal(_) => "InternalError",
        Error::Host(_) => "HostError",
    };
    let errors = py.import("apiconn.errors")?;
    let kwargs = PyDict::new(py);
    match e {
        Error::Config(problems) => {
            let list = PyList::empty(py);
            for p in problems {
                list.append((p.path.as_str(), p.message.as_str()))?;
            }
            kwargs.set_item("problems", list)?;
        }
        Error::HttpStatus { status, .. } => kwargs.set_item("status", *status)?,
        _ => {}
    }
    let value = errors
        .getattr(class)?
        .call((e.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(value))
}

fn config_error(py: Python<'_>, message: String) -> PyErr {
    to_py(
        py,
        Error::Config(vec![apiconn::error::Problem {
            path: String::new(),
            message,
        }]),
    )
}

/// `text` as JSON text, read in the format of `name`'s extension (`.json`,
/// `.yaml`/`.yml`, `.toml`); errors name `name`.
#[pyfunction]
fn parse_config(py: Python<'_>, text: &str, name: &str) -> PyResult<String> {
    apiconn::config_file::parse(text, std::path::Path::new(name))
        .map(|v| v.to_string())
        .map_err(|e| config_error(py, format!("{e:#}")))
}

/// The Arrow type of a `fields` type.
fn arrow_type(kind: &str) -> Option<DataType> {
    Some(match kind {
        "string" | "json" => DataType::Utf8,
        "long" => DataType::Int64,
        "double" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "date" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => return None,
    })
}

/// The schema of a config's records: its `read.fields`, or one `record`
/// column holding each record as JSON text.
fn schema_of(config: &serde_json::Value, stream: Option<&str>) -> SchemaRef {
    let block = match stream {
        Some(name) if name != "default" || config.get("read").is_none() => {
            config.get("streams").and_then(|s| s.get(name))
        }
        _ => config.get("read"),
    };
    let fields = block
        .and_then(|r| r.get("fields"))
        .and_then(|f| f.as_array());
    let columns: Option<Vec<Field>> = fields.map(|fields| {
        fields
            .iter()
            .filter_map(|f| {
                let name = f
                    .get("as")
                    .and_then(|a| a.as_str())
                    .or_else(|| f.get("name").and_then(|n| n.as_str()))?;
                let kind = f.get("type").and_then(|t| t.as_str()).unwrap_or("string");
                Some(Field::new(name, arrow_type(kind)?, true))
            })
            .collect()
    });
    match columns {
        Some(c) if !c.is_empty() => Arc::new(Schema::new(c)),
        _ => raw_schema(),
    }
}

fn raw_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "record",
        DataType::Utf8,
        false,
    )]))
}

/// NDJSON records as one Arrow record batch of `schema`.
fn to_arrow(records: &[u8], count: usize, schema: &SchemaRef) -> Result<RecordBatch, Error> {
    let fail =
        |e: arrow_schema::ArrowError| Error::Host(format!("converting records to Arrow: {e}"));
    let raw = schema.fields().len() == 1
        && schema.field(0).name() == "record"
        && schema.field(0).data_type() == &DataType::Utf8;
    if raw {
        let lines: StringArray = records
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| Some(String::from_utf8_lossy(l)))
            .collect();
        return RecordBatch::try_new(schema.clone(), vec![Arc::new(lines) as ArrayRef])
            .map_err(fail);
    }
    // The JSON decoder knows offsets, not zone names: timestamps are decoded
    // without a zone (their instants are UTC) and get the schema's zone after.
    let naive: SchemaRef = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(unit, Some(_)) => f
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(*unit, None)),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ));
    let mut decoder = arrow_json::ReaderBuilder::new(naive.clone())
        .with_batch_size(count.max(1))
        .with_coerce_primitive(true)
        .build_decoder()
        .map_err(fail)?;
    let mut rest = records;
    let mut parts = Vec::new();
    while !rest.is_empty() {
        let used = decoder.decode(rest).map_err(fail)?;
        rest = &rest[used..];
        if let Some(b) = decoder.flush().map_err(fail)? {
            parts.push(b);
        }
        if used == 0 && !rest.is_empty() {
            return Err(Error::Host(
                "converting records to Arrow: no progress".into(),
            ));
        }
    }
    if let Some(b) = decoder.flush().map_err(fail)? {
        parts.push(b);
    }
    let batch = match parts.len() {
        0 => return Ok(RecordBatch::new_empty(schema.clone())),
        1 => parts.pop().expect("one part"),
        _ => arrow_select::concat::concat_batches(&naive, &parts).map_err(fail)?,
    };
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| match field.data_type() {
            DataType::Timestamp(_, Some(_)) => {
                let data = column
                    .to_data()
                    .into_builder()
                    .data_type(field.data_type().clone());
                data.build().map(arrow_array::make_array).map_err(fail)
            }
            _ => Ok(column.clone()),
        })
        .collect::<Result<Vec<ArrayRef>, Error>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(fail)
}

/// A loaded connector: config prepared (secrets resolved and known to the
/// masker), options fixed.
#[pyclass(module = "apiconn._native", frozen)]
struct NativeConnector {
    connector: Arc<apiconn::Connector>,
    schema: SchemaRef,
    name: String,
}

#[pymethods]
impl NativeConnector {
    #[new]
    #[pyo3(signature = (config_json, env, allow_private, allow_env, allow_env_prefix, allow_insecure_tls, secrets_dir, max_memory_mib, max_cpu_ms, max_response_bytes, max_timeout_ms, resolve, origin, stream=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        config_json: &str,
        env: Option<String>,
        allow_private: bool,
        allow_env: Vec<String>,
        allow_env_prefix: Vec<String>,
        allow_insecure_tls: bool,
        secrets_dir: Option<std::path::PathBuf>,
        max_memory_mib: usize,
        max_cpu_ms: u64,
        max_response_bytes: u64,
        max_timeout_ms: u32,
        resolve: Vec<String>,
        origin: Option<String>,
        stream: Option<String>,
    ) -> PyResult<Self> {
        let config: serde_json::Value = serde_json::from_str(config_json)
            .map_err(|e| config_error(py, format!("not valid JSON: {e}")))?;
        if !config.is_object() {
            return Err(config_error(
                py,
                "a config is an object with a `source` key".into(),
            ));
        }
        let resolve = resolve
            .iter()
            .map(|r| r.parse::<Pinned>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| config_error(py, format!("resolve: {e}")))?;
        let options = Options {
            env,
            allow_private,
            allow_insecure_tls,
            secrets: SecretPolicy {
                allow_env,
                allow_env_prefixes: allow_env_prefix,
                secrets_dir,
                check_only: false,
            },
            limits: Limits {
                max_memory_bytes: max_memory_mib << 20,
                max_response_bytes,
                max_cpu: std::time::Duration::from_millis(max_cpu_ms),
                max_timeout_ms,
            },
            resolve,
            ..Options::default()
        };
        let schema = schema_of(&config, stream.as_deref());
        let name = config
            .pointer("/source/name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string();
        // Loading compiles the component on first use: no GIL for that.
        let loaded = py.detach(|| apiconn::Connector::with_options(config, options));
        let connector = loaded.map_err(|e| match (e, origin) {
            // Problems of a config file name the file, as in the CLI.
            (Error::Config(problems), Some(origin)) => to_py(
                py,
                Error::Config(
                    problems
                        .into_iter()
                        .map(|mut p| {
                            p.path = if p.path.is_empty() {
                                origin.clone()
                            } else {
                                format!("{origin}: {}", p.path)
                            };
                            p
                        })
                        .collect(),
                ),
            ),
            (e, _) => to_py(py, e),
        })?;
        let name = connector.mask(&name);
        let connector = match &stream {
            Some(s) => connector.stream(s),
            None => connector,
        };
        Ok(NativeConnector {
            connector: Arc::new(connector),
            schema,
            name,
        })
    }

    /// `source.name`, masked.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Every problem as `(path, message)`; empty when valid.
    fn validate(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        let c = self.connector.clone();
        let problems = block(py, async move { c.validate().await }).map_err(|e| to_py(py, e))?;
        Ok(problems.into_iter().map(|p| (p.path, p.message)).collect())
    }

    /// The test connection's report (formatted JSON, masked).
    fn check(&self, py: Python<'_>) -> PyResult<String> {
        let c = self.connector.clone();
        block(py, async move { c.check().await }).map_err(|e| to_py(py, e))
    }

    /// The initial checkpoints of the read's partitions.
    fn partitions(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let c = self.connector.clone();
        block(py, async move { c.partitions().await }).map_err(|e| to_py(py, e))
    }

    /// The config's streams as `(name, parent)`, in its order.
    fn streams(&self, py: Python<'_>) -> PyResult<Vec<(String, Option<String>)>> {
        let c = self.connector.clone();
        let streams = block(py, async move { c.streams().await }).map_err(|e| to_py(py, e))?;
        Ok(streams.into_iter().map(|s| (s.name, s.parent)).collect())
    }

    /// The records' Arrow schema (from `read.fields`, or one `record`
    /// column) as a `pyarrow.Schema`.
    fn arrow_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.schema.as_ref().to_pyarrow(py)
    }

    /// Masks this config's secrets in `text`.
    fn mask(&self, text: &str) -> String {
        self.connector.mask(text)
    }

    /// A reader from `state` (a checkpoint), or the start.
    #[pyo3(signature = (state=None, schema=None))]
    fn reader(
        &self,
        py: Python<'_>,
        state: Option<String>,
        schema: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<NativeReader> {
        let schema = match schema {
            Some(s) => Arc::new(Schema::from_pyarrow_bound(s)?),
            None => self.schema.clone(),
        };
        let c = self.connector.clone();
        let reader = block(py, async move { c.reader(state).await }).map_err(|e| to_py(py, e))?;
        Ok(NativeReader {
            reader: Mutex::new(Some(reader)),
            schema,
        })
    }

    /// A sink for records.
    fn sink(&self, py: Python<'_>) -> PyResult<NativeSink> {
        let c = self.connector.clone();
        let sink = block(py, async move { c.sink().await }).map_err(|e| to_py(py, e))?;
        Ok(NativeSink {
            sink: Mutex::new(Some(sink)),
        })
    }

    fn __repr__(&self) -> String {
        format!("NativeConnector(name={:?})", self.name)
    }
}

/// A read in progress.
#[pyclass(module = "apiconn._native", frozen)]
struct NativeReader {
    /// Taken out while a call runs (without the GIL), put back after.
    reader: Mutex<Option<apiconn::Reader>>,
    schema: SchemaRef,
}

fn busy(py: Python<'_>, what: &str) -> PyErr {
    to_py(
        py,
        Error::Host(format!("the {what} is in use by another thread")),
    )
}

impl NativeReader {
    /// Runs `f` on the reader with the GIL released; `f` gives it back.
    fn with_reader<T, Fut>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(apiconn::Reader) -> Fut,
    ) -> PyResult<T>
    where
        T: Send,
        Fut: std::future::Future<Output = (apiconn::Reader, Result<T, Error>)> + Send,
    {
        let taken = self.reader.lock().expect("reader lock").take();
        let Some(reader) = taken else {
            return Err(busy(py, "reader"));
        };
        let (reader, out) = block(py, f(reader));
        *self.reader.lock().expect("reader lock") = Some(reader);
        out.map_err(|e| to_py(py, e))
    }

    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<apiconn::RecordBatch>> {
        self.with_reader(py, |mut r| async move {
            let out = r.next().await;
            (r, out)
        })
    }
}

#[pymethods]
impl NativeReader {
    /// The next batch as `(ndjson bytes, count, checkpoint, requests,
    /// warnings)`, or `None` at the end.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(b) = self.next_batch(py)? else {
            return Ok(None);
        };
        Ok(Some(PyTuple::new(
            py,
            [
                PyBytes::new(py, &b.records).into_any(),
                b.count.into_pyobject(py)?.into_any(),
                b.checkpoint.into_pyobject(py)?.into_any(),
                b.requests.into_pyobject(py)?.into_any(),
                PyList::new(py, &b.warnings)?.into_any(),
            ],
        )?))
    }

    /// The next batch as `(pyarrow.RecordBatch, checkpoint, requests,
    /// warnings)`, converted in Rust with the GIL released, or `None`.
    fn next_arrow<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let schema = self.schema.clone();
        let converted = self.with_reader(py, |mut r| async move {
            let out = match r.next().await {
                Ok(Some(b)) => {
                    to_arrow(&b.records, b.count as usize, &schema).map(|batch| Some((batch, b)))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            (r, out)
        })?;
        let Some((batch, b)) = converted else {
            return Ok(None);
        };
        Ok(Some(PyTuple::new(
            py,
            [
                batch.to_pyarrow(py)?,
                b.checkpoint.into_pyobject(py)?.into_any(),
                b.requests.into_pyobject(py)?.into_any(),
                PyList::new(py, &b.warnings)?.into_any(),
            ],
        )?))
    }

    /// The schema of `next_arrow`'s batches.
    fn arrow_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.schema.as_ref().to_pyarrow(py)
    }
}

/// A write in progress.
#[pyclass(module = "apiconn._native", frozen)]
struct NativeSink {
    sink: Mutex<Option<apiconn::Sink>>,
}

type Lines = Vec<(u64, String)>;

/// `(sent, failed, rejected, refused, requests)`: refused records (a 4xx
/// from the server) count as rejected, as the CLI counts them.
fn report(r: Report) -> (u64, Lines, Lines, Lines, u32) {
    let lines =
        |v: Vec<Rejection>| -> Lines { v.into_iter().map(|r| (r.line, r.reason)).collect() };
    (
        r.sent,
        lines(r.failed),
        lines(r.rejected),
        lines(r.refused),
        r.requests,
    )
}

fn finished(py: Python<'_>) -> PyErr {
    to_py(
        py,
        Error::Host("the writer is finished, or in use by another thread".into()),
    )
}

#[pymethods]
impl NativeSink {
    /// Sends the compliant records of an NDJSON chunk (lines numbered
    /// across calls): `(sent, failed, rejected, refused, requests)`, where
    /// failed, rejected and refused (by the server, a 4xx) are `(line,
    /// reason)` lists.
    fn write(
        &self,
        py: Python<'_>,
        ndjson: &[u8],
        keep_going: bool,
    ) -> PyResult<(u64, Lines, Lines, Lines, u32)> {
        let taken = self.sink.lock().expect("sink lock").take();
        let Some(mut sink) = taken else {
            return Err(finished(py));
        };
        let (sink, out) = block(py, async move {
            let out = sink.write(ndjson, keep_going).await;
            (sink, out)
        });
        *self.sink.lock().expect("sink lock") = Some(sink);
        out.map(report).map_err(|e| to_py(py, e))
    }

    /// Sends the last partial batch; the sink is finished after.
    fn finish(&self, py: Python<'_>) -> PyResult<(u64, Lines, Lines, Lines, u32)> {
        let sink = self.sink.lock().expect("sink lock").take();
        let Some(sink) = sink else {
            return Err(finished(py));
        };
        block(py, async move { sink.finish().await })
            .map(report)
            .map_err(|e| to_py(py, e))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeConnector>()?;
    m.add_class::<NativeReader>()?;
    m.add_class::<NativeSink>()?;
    m.add_function(wrap_pyfunction!(parse_config, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
