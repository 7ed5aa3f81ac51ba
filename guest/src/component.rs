//! The thin shell: WIT exports over the sans-IO modules, `wasi:http` as the
//! transport, WASI clocks for waiting.

use crate::error::{Error, Problem};
use crate::request::{HttpRequest, HttpResponse, SystemEnv};
use crate::requester::{Transport, TransportError};
use crate::{check, config, grants, read, write};
use std::cell::RefCell;
use std::time::Duration;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    http_error_code,
};
use wasip2::io::streams::StreamError;

wit_bindgen::generate!({
    path: "../wit",
    world: "connector",
});

use apiconn::connector::types;
use exports::apiconn::connector::admin::{self, SandboxPlan};
use exports::apiconn::connector::sink;
use exports::apiconn::connector::source::{self, Batch, ReaderBorrow};

struct Component;

export!(Component);

// The same component is also a `wasi:cli` command, for hosts that only run
// commands (`wasmtime run -S http apiconn.wasm read < config.json`).
wasip2::cli::command::export!(Component);

/// `wasi:cli/run`: the config on stdin; `read` (the default) prints NDJSON,
/// `validate` prints problems, `schema` the JSON Schema. The first
/// argument after the program name picks, `--env NAME` an environment.
impl wasip2::exports::cli::run::Guest for Component {
    fn run() -> Result<(), ()> {
        use std::io::{Read, Write};
        let args = wasip2::cli::environment::get_arguments();
        let command = args.get(1).map(String::as_str).unwrap_or("read");
        let env = args
            .iter()
            .position(|a| a == "--env")
            .and_then(|i| args.get(i + 1))
            .cloned();
        let fail = |message: String| {
            let _ = writeln!(std::io::stderr(), "error: {message}");
            Err(())
        };
        if command == "schema" {
            println!("{}", <Component as admin::Guest>::config_schema());
            return Ok(());
        }
        let mut config = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut config) {
            return fail(format!("reading the config from stdin: {e}"));
        }
        match command {
            "validate" => {
                let problems = <Component as admin::Guest>::validate(config, env);
                for p in &problems {
                    let line = if p.path.is_empty() {
                        p.message.clone()
                    } else {
                        format!("{}: {}", p.path, p.message)
                    };
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
                if problems.is_empty() { Ok(()) } else { Err(()) }
            }
            "read" => {
                let mut reader = match load(&config, env).and_then(|c| read::Reader::open(c, None))
                {
                    Ok(r) => r,
                    Err(e) => return fail(e.to_string()),
                };
                let mut out = std::io::stdout();
                loop {
                    match read::next_batch(&mut reader, &mut Wasi, &mut SystemEnv) {
                        Ok(Some(batch)) => {
                            if out
                                .write_all(&batch.records)
                                .and_then(|_| out.flush())
                                .is_err()
                            {
                                return Err(());
                            }
                        }
                        Ok(None) => return Ok(()),
                        Err(e) => return fail(e.to_string()),
                    }
                }
            }
            other => fail(format!(
                "unknown command `{other}`: read, validate or schema"
            )),
        }
    }
}

// Everything that crosses the boundary as text is masked on the way out.

impl From<Problem> for types::Problem {
    fn from(p: Problem) -> Self {
        types::Problem {
            path: p.path,
            message: grants::mask(&p.message),
        }
    }
}

impl From<Error> for types::Error {
    fn from(e: Error) -> Self {
        let m = |text: String| grants::mask(&text);
        match e {
            Error::Config(ps) => types::Error::Config(ps.into_iter().map(Into::into).collect()),
            Error::Auth(t) => types::Error::Auth(m(t)),
            Error::HttpStatus { code, message } => {
                types::Error::HttpStatus(types::HttpStatusError {
                    code,
                    message: m(message),
                })
            }
            Error::Transport(t) => types::Error::Transport(m(t)),
            Error::Limit(t) => types::Error::Limit(m(t)),
            Error::Response(t) => types::Error::Response(m(t)),
            Error::NonCompliantRecord(t) => types::Error::NonCompliantRecord(m(t)),
            Error::DirtyRecords(t) => types::Error::DirtyRecords(m(t)),
            Error::Internal(t) => types::Error::Internal(m(t)),
        }
    }
}

/// A panic's message goes to stderr masked (the default hook would print
/// it as it is). Installed before the first call does anything.
fn mask_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "connector panicked: {}",
                grants::mask(&info.to_string())
            );
        }));
    });
}

/// `wasi:http/outgoing-handler`, directly.
///
/// The body is written after the request is handed over and before the
/// response is awaited; a stream closed while writing is not the error to
/// report: the server may have answered already (or failed), and its answer
/// is what the user needs to see.
struct Wasi;

/// What a `wasi:http` error code means for a retry. A refusal by the
/// host's policy, a certificate the host did not accept and a body over
/// the host's size limit are the same on every try, so they are final (the
/// host's own log and error say which rule and how to change it).
fn code_error(code: &ErrorCode) -> TransportError {
    match code {
        ErrorCode::HttpRequestDenied => {
            TransportError::final_("egress refused by the host's policy")
        }
        ErrorCode::DestinationIpProhibited => {
            TransportError::final_("egress refused: the host does not allow that address")
        }
        ErrorCode::TlsCertificateError => {
            TransportError::final_("the server's TLS certificate was not accepted")
        }
        ErrorCode::HttpResponseBodySize(limit) => TransportError::limit(match limit {
            Some(n) => format!("the response body is larger than the host allows ({n} bytes)"),
            None => "the response body is larger than the host allows".to_string(),
        }),
        // Hosts of the first contract refused with a message.
        ErrorCode::InternalError(Some(m)) if m.starts_with("egress refused") => {
            TransportError::final_(m.clone())
        }
        ErrorCode::InternalError(Some(m)) => TransportError::retryable(m.clone()),
        ErrorCode::ConnectionTimeout | ErrorCode::HttpResponseTimeout => {
            TransportError::retryable("no answer in time (source.timeout_ms)")
        }
        ErrorCode::ConnectionRefused => TransportError::retryable("connection refused"),
        other => TransportError::retryable(format!("{other:?}")),
    }
}

fn stream_error(what: &str, e: StreamError) -> TransportError {
    match e {
        StreamError::Closed => TransportError::retryable(format!("{what}: the connection closed")),
        StreamError::LastOperationFailed(io) => match http_error_code(&io) {
            Some(code) => {
                let mut t = code_error(&code);
                t.message = format!("{what}: {}", t.message);
                t
            }
            None => TransportError::retryable(format!("{what}: {}", io.to_debug_string())),
        },
    }
}

impl Transport for Wasi {
    fn send(&mut self, req: &HttpRequest, timeout_ms: u32) -> Result<HttpResponse, TransportError> {
        let headers = Fields::new();
        for (name, value) in &req.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| TransportError::final_(format!("header `{name}`: {e:?}")))?;
        }
        if let Some(body) = &req.body {
            // A declared length, not chunked: many APIs refuse chunked uploads.
            let _ = headers.set("content-length", &[body.len().to_string().into_bytes()]);
        }
        let out = OutgoingRequest::new(headers);
        let method = match req.method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            other => Method::Other(other.to_string()),
        };
        let bad = |what: &str| TransportError::final_(format!("cannot set the request's {what}"));
        out.set_method(&method).map_err(|()| bad("method"))?;
        let scheme = if req.url.scheme() == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        };
        out.set_scheme(Some(&scheme)).map_err(|()| bad("scheme"))?;
        let authority = match req.url.port() {
            Some(port) => format!("{}:{port}", req.url.host_str().unwrap_or("")),
            None => req.url.host_str().unwrap_or("").to_string(),
        };
        out.set_authority(Some(&authority))
            .map_err(|()| bad("authority"))?;
        let path = match req.url.query() {
            Some(q) => format!("{}?{q}", req.url.path()),
            None => req.url.path().to_string(),
        };
        out.set_path_with_query(Some(&path))
            .map_err(|()| bad("path"))?;
        let body = out.body().map_err(|()| bad("body"))?;
        let options = RequestOptions::new();
        let ns = u64::from(timeout_ms) * 1_000_000;
        // Hosts that do not support a timeout say so; ours enforces its own.
        let _ = options.set_connect_timeout(Some(ns));
        let _ = options.set_first_byte_timeout(Some(ns));
        let _ = options.set_between_bytes_timeout(Some(ns));
        let future =
            outgoing_handler::handle(out, Some(options)).map_err(|code| code_error(&code))?;

        if let Some(bytes) = &req.body {
            let stream = body.write().map_err(|()| bad("body stream"))?;
            let mut rest = &bytes[..];
            // Written whole or not at all; if the stream closes, the response tells why.
            while !rest.is_empty() {
                match stream.check_write() {
                    Ok(0) => stream.subscribe().block(),
                    Ok(n) => {
                        let (chunk, tail) = rest.split_at(rest.len().min(n as usize));
                        if stream.write(chunk).is_err() {
                            break;
                        }
                        rest = tail;
                    }
                    Err(_) => break,
                }
            }
            let _ = stream.blocking_flush();
        }
        let _ = OutgoingBody::finish(body, None);

        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(code_error(&code)),
            Some(Err(())) | None => {
                return Err(TransportError::retryable("the response went missing"));
            }
        };
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .entries()
            .into_iter()
            .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let missing = || TransportError::retryable("the response body went missing");
        let incoming = response.consume().map_err(|()| missing())?;
        let stream = incoming.stream().map_err(|()| missing())?;
        // One buffer of the announced size (bounded by the host's limit on
        // responses): no regrowth, and the first chunk taken as it came.
        let announced = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0)
            .min(64 << 20);
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(1 << 20) {
                Ok(chunk) if body.is_empty() && chunk.len() >= announced => body = chunk,
                Ok(chunk) => {
                    if body.capacity() == 0 {
                        body.reserve_exact(announced.max(chunk.len()));
                    }
                    body.extend_from_slice(&chunk)
                }
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error("reading the response body", e)),
            }
        }
        drop(stream);
        let _ = IncomingBody::finish(incoming);
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn sleep(&mut self, duration: Duration) {
        // A monotonic-clock pollable in wasm32-wasip2's std: the host waits.
        std::thread::sleep(duration);
    }
}

fn load(config: &str, env: Option<String>) -> Result<config::Config, Error> {
    mask_panics();
    config::load(config, env.as_deref())
}

struct ReaderResource(RefCell<read::Reader>);

impl source::Guest for Component {
    type Reader = ReaderResource;
}

impl source::GuestReader for ReaderResource {
    fn open(
        config: String,
        env: Option<String>,
        stream: Option<String>,
        state: Option<String>,
    ) -> Result<source::Reader, types::Error> {
        let config = load(&config, env)?;
        let reader = read::Reader::open_stream(&config, stream.as_deref(), state.as_deref())?;
        Ok(source::Reader::new(ReaderResource(RefCell::new(reader))))
    }

    fn next_batch(&self) -> Result<Option<Batch>, types::Error> {
        let mut reader = self.0.borrow_mut();
        let batch = read::next_batch(&mut reader, &mut Wasi, &mut SystemEnv);
        grants::flush_requests();
        Ok(batch?.map(|b| Batch {
            records: b.records,
            count: b.count,
            checkpoint: b.checkpoint,
            requests: b.requests,
            warnings: b.warnings.iter().map(|w| grants::mask(w)).collect(),
        }))
    }
}

// Borrowed handles are part of the generated API even where unused.
#[allow(dead_code)]
fn _reader_borrow(_: ReaderBorrow<'_>) {}

struct WriterResource(RefCell<write::Writer>);

impl sink::Guest for Component {
    type Writer = WriterResource;
}

fn rejections(list: Vec<write::Rejection>) -> Vec<sink::Rejection> {
    list.into_iter()
        .map(|r| sink::Rejection {
            line: r.line,
            reason: grants::mask(&r.reason),
        })
        .collect()
}

fn report(r: write::Report) -> sink::Report {
    sink::Report {
        sent: r.sent,
        failed: rejections(r.failed),
        rejected: rejections(r.rejected),
        refused: rejections(r.refused),
        requests: r.requests,
    }
}

impl sink::GuestWriter for WriterResource {
    fn open(config: String, env: Option<String>) -> Result<sink::Writer, types::Error> {
        let writer = write::Writer::open(load(&config, env)?)?;
        Ok(sink::Writer::new(WriterResource(RefCell::new(writer))))
    }

    fn check(&self, records: Vec<u8>, first_line: u64) -> Vec<sink::Rejection> {
        rejections(self.0.borrow().check(&records, first_line))
    }

    fn write(&self, records: Vec<u8>, first_line: u64, keep_going: bool) -> sink::Report {
        let r =
            self.0
                .borrow_mut()
                .write(&records, first_line, keep_going, &mut Wasi, &mut SystemEnv);
        grants::flush_requests();
        report(r)
    }

    fn finish(&self) -> sink::Report {
        let r = self.0.borrow_mut().finish(&mut Wasi, &mut SystemEnv);
        grants::flush_requests();
        report(r)
    }
}

impl admin::Guest for Component {
    fn configure(grants: admin::Grants) {
        mask_panics();
        grants::configure_all(
            &grants.secrets,
            grants.max_timeout_ms,
            grants.verbose,
            grants.strict,
        );
    }

    fn validate(config: String, env: Option<String>) -> Vec<types::Problem> {
        match load(&config, env) {
            Ok(_) => vec![],
            Err(Error::Config(ps)) => ps.into_iter().map(Into::into).collect(),
            Err(other) => vec![types::Problem {
                path: String::new(),
                message: other.to_string(),
            }],
        }
    }

    fn plan(config: String, env: Option<String>) -> Result<SandboxPlan, types::Error> {
        let config = load(&config, env)?;
        Ok(SandboxPlan {
            origins: config::origins(&config)?,
            timeout_ms: config.source.timeout_ms,
            insecure_skip_verify: config.source.tls.insecure_skip_verify,
            ca_file: config.source.tls.ca_file,
            rate_limit: config.source.rate_limit,
            name: config.source.name,
        })
    }

    fn partitions(
        config: String,
        env: Option<String>,
        stream: Option<String>,
    ) -> Result<Vec<String>, types::Error> {
        let partitions = read::partitions(
            load(&config, env)?,
            stream.as_deref(),
            &mut Wasi,
            &mut SystemEnv,
        );
        grants::flush_requests();
        Ok(partitions?)
    }

    fn streams(
        config: String,
        env: Option<String>,
    ) -> Result<Vec<admin::StreamInfo>, types::Error> {
        let config = load(&config, env)?;
        Ok(config
            .all_streams()
            .into_iter()
            .map(|(name, read)| admin::StreamInfo {
                name: name.to_string(),
                parent: read.parent.as_ref().map(|p| p.stream.clone()),
            })
            .collect())
    }

    fn check(config: String, env: Option<String>) -> Result<String, types::Error> {
        let report = check::check(load(&config, env)?, &mut Wasi, &mut SystemEnv);
        grants::flush_requests();
        let report = report?;
        Ok(grants::mask(&report))
    }

    fn config_schema() -> String {
        serde_json::to_string_pretty(config::schema()).expect("schema is JSON")
    }
}
