//! The thin shell: WIT exports over the sans-IO modules, `wasi:http` (waki)
//! as the transport, WASI clocks for waiting.

use crate::error::{Error, Problem};
use crate::exchange::{Transport, TransportError};
use crate::request::{HttpRequest, HttpResponse, SystemEnv};
use crate::{check, config, read};
use std::cell::RefCell;
use std::time::Duration;

wit_bindgen::generate!({
    path: "../wit",
    world: "connector",
});

use apiconn::connector::types;
use exports::apiconn::connector::admin::{self, SandboxPlan};
use exports::apiconn::connector::source::{self, Batch, ReaderBorrow};

struct Component;

export!(Component);

impl From<Problem> for types::Problem {
    fn from(p: Problem) -> Self {
        types::Problem {
            path: p.path,
            message: p.message,
        }
    }
}

impl From<Error> for types::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Config(ps) => types::Error::Config(ps.into_iter().map(Into::into).collect()),
            Error::Auth(m) => types::Error::Auth(m),
            Error::HttpStatus { code, message } => {
                types::Error::HttpStatus(types::HttpStatusError { code, message })
            }
            Error::Transport(m) => types::Error::Transport(m),
            Error::Limit(m) => types::Error::Limit(m),
            Error::Response(m) => types::Error::Response(m),
            Error::NonCompliantRecord(m) => types::Error::NonCompliantRecord(m),
            Error::DirtyRecords(m) => types::Error::DirtyRecords(m),
            Error::Internal(m) => types::Error::Internal(m),
        }
    }
}

/// `wasi:http/outgoing-handler` through waki.
struct Wasi;

impl Transport for Wasi {
    fn send(&mut self, req: &HttpRequest, timeout_ms: u32) -> Result<HttpResponse, TransportError> {
        let method = match req.method {
            "GET" => waki::Method::Get,
            "POST" => waki::Method::Post,
            "PUT" => waki::Method::Put,
            other => waki::Method::Other(other.to_string()),
        };
        let mut builder = waki::Client::new()
            .request(method, req.url.as_str())
            .connect_timeout(Duration::from_millis(u64::from(timeout_ms)));
        for (name, value) in &req.headers {
            let name = waki::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| TransportError::final_(format!("header name `{name}`: {e}")))?;
            builder = builder.header(name, value.as_str());
        }
        if let Some(body) = &req.body {
            // A declared length, not chunked: many APIs refuse chunked requests.
            builder = builder
                .header("Content-Length", body.len().to_string())
                .body(body.clone());
        }
        let resp = builder.send().map_err(transport_error)?;
        let status = resp.status_code();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp.body().map_err(|e| {
            let mut e = transport_error(e);
            e.message = format!("reading the response body: {}", e.message);
            e
        })?;
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

/// A `wasi:http` error as a sentence, and whether trying again can help.
fn transport_error(e: anyhow::Error) -> TransportError {
    use waki::ErrorCode;
    match e.downcast_ref::<ErrorCode>() {
        // Hosts refuse by policy with these; trying again changes nothing.
        Some(ErrorCode::InternalError(Some(m))) if m.starts_with("egress refused") => {
            TransportError::final_(m.clone())
        }
        Some(code @ (ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited)) => {
            TransportError::final_(format!("the host refused the request ({code:?})"))
        }
        Some(ErrorCode::InternalError(Some(m))) => TransportError::retryable(m.clone()),
        Some(code) => TransportError::retryable(format!("{code:?}")),
        None => TransportError::retryable(format!("{e:#}")),
    }
}

fn load(config: &str, env: Option<String>) -> Result<config::Config, Error> {
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
        state: Option<String>,
    ) -> Result<source::Reader, types::Error> {
        let reader = read::Reader::open(load(&config, env)?, state.as_deref())?;
        Ok(source::Reader::new(ReaderResource(RefCell::new(reader))))
    }

    fn next_batch(&self) -> Result<Option<Batch>, types::Error> {
        let mut reader = self.0.borrow_mut();
        let batch = read::next_batch(&mut reader, &mut Wasi, &mut SystemEnv)?;
        Ok(batch.map(|b| Batch {
            records: b.records,
            count: b.count,
            checkpoint: b.checkpoint,
            requests: b.requests,
            warnings: b.warnings,
        }))
    }
}

// Borrowed handles are part of the generated API even where unused.
#[allow(dead_code)]
fn _reader_borrow(_: ReaderBorrow<'_>) {}

impl admin::Guest for Component {
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
        })
    }

    fn check(config: String, env: Option<String>) -> Result<String, types::Error> {
        Ok(check::check(
            load(&config, env)?,
            &mut Wasi,
            &mut SystemEnv,
        )?)
    }

    fn config_schema() -> String {
        serde_json::to_string_pretty(&config::schema()).expect("schema is JSON")
    }
}
