//! The guest's sans-IO logic compiled natively and driven by a native HTTP
//! client (hyper, one kept-alive connection per origin): the baseline that
//! tells what the sandbox costs.

use apiconn_guest::request::{HttpRequest, HttpResponse, SystemEnv};
use apiconn_guest::requester::{Transport, TransportError};
use apiconn_guest::{config, read, write};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::time::Duration;

pub struct Native {
    runtime: tokio::runtime::Runtime,
    /// The open connection and the `host:port` it goes to.
    conn: Option<(String, SendRequest<Full<Bytes>>)>,
}

impl Native {
    pub fn new() -> anyhow::Result<Native> {
        Ok(Native {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            conn: None,
        })
    }
}

async fn exchange(
    conn: &mut Option<(String, SendRequest<Full<Bytes>>)>,
    req: &HttpRequest,
) -> Result<HttpResponse, TransportError> {
    let retryable =
        |what: &str, e: &dyn std::fmt::Display| TransportError::retryable(format!("{what}: {e}"));
    if req.url.scheme() != "http" {
        return Err(TransportError::final_(
            "the native baseline speaks plain HTTP only",
        ));
    }
    let authority = format!(
        "{}:{}",
        req.url.host_str().unwrap_or(""),
        req.url.port_or_known_default().unwrap_or(80)
    );
    let reusable = match conn {
        Some((to, sender)) if *to == authority => sender.ready().await.is_ok(),
        _ => false,
    };
    if !reusable {
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| retryable("connecting", &e))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| retryable("handshake", &e))?;
        tokio::spawn(connection);
        *conn = Some((authority.clone(), sender));
    }
    let (_, sender) = conn.as_mut().expect("a connection");
    let path = match req.url.query() {
        Some(q) => format!("{}?{q}", req.url.path()),
        None => req.url.path().to_string(),
    };
    let mut builder = hyper::Request::builder()
        .method(req.method)
        .uri(path)
        .header("host", &authority);
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    let body = Full::new(Bytes::from(req.body.clone().unwrap_or_default()));
    let request = builder
        .body(body)
        .map_err(|e| TransportError::final_(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| retryable("sending", &e))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| retryable("reading the body", &e))?
        .to_bytes()
        .to_vec();
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

impl Transport for Native {
    fn send(&mut self, req: &HttpRequest, timeout_ms: u32) -> Result<HttpResponse, TransportError> {
        let Native { runtime, conn } = self;
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        runtime
            .block_on(async { tokio::time::timeout(timeout, exchange(conn, req)).await })
            .unwrap_or_else(|_| {
                *conn = None;
                Err(TransportError::retryable("timed out"))
            })
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

fn load(config_path: &std::path::Path) -> anyhow::Result<config::Config> {
    let text = std::fs::read_to_string(config_path)?;
    config::load(&text, None).map_err(|e| anyhow::anyhow!("{}: {e}", config_path.display()))
}

/// What `apiconn read` does, natively: every batch to `out`, flushed.
pub fn read(config_path: &std::path::Path, out: &mut dyn Write) -> anyhow::Result<u64> {
    let mut reader = read::Reader::open(load(config_path)?, None)?;
    let mut transport = Native::new()?;
    let mut records = 0;
    while let Some(batch) = read::next_batch(&mut reader, &mut transport, &mut SystemEnv)? {
        out.write_all(&batch.records)?;
        out.flush()?;
        records += u64::from(batch.count);
    }
    Ok(records)
}

/// Lines of `input`, about `bytes` at a time, with the number of the first.
fn chunks(input: &[u8], bytes: usize) -> Vec<(u64, &[u8])> {
    let mut out = vec![];
    let (mut start, mut line) = (0, 1);
    while start < input.len() {
        // Lines are taken while the chunk is shorter than `bytes`.
        let from = (start + bytes.max(1) - 1).min(input.len());
        let end = match input[from..].iter().position(|b| *b == b'\n') {
            Some(i) => from + i + 1,
            None => input.len(),
        };
        let chunk = &input[start..end];
        out.push((line, chunk));
        line += chunk.split(|b| *b == b'\n').count() as u64 - 1;
        start = end;
    }
    out
}

/// What `apiconn write` does, natively: check everything, then send it in
/// 1 MiB chunks (the host's chunk size), then flush the last batch.
pub fn write(config_path: &std::path::Path, input: &std::path::Path) -> anyhow::Result<u64> {
    let mut writer = write::Writer::open(load(config_path)?)?;
    let mut transport = Native::new()?;
    let data = std::fs::read(input)?;
    let chunks = chunks(&data, 1 << 20);
    for (first, chunk) in &chunks {
        let rejected = writer.check(chunk, *first);
        anyhow::ensure!(rejected.is_empty(), "rejected: {:?}", rejected[0].reason);
    }
    let mut sent = 0;
    for (first, chunk) in &chunks {
        let report = writer.write(chunk, *first, false, &mut transport, &mut SystemEnv);
        anyhow::ensure!(
            report.failed.is_empty(),
            "failed: {:?}",
            report.failed[0].reason
        );
        sent += report.sent;
    }
    let report = writer.finish(&mut transport, &mut SystemEnv);
    anyhow::ensure!(
        report.failed.is_empty(),
        "failed: {:?}",
        report.failed[0].reason
    );
    Ok(sent + report.sent)
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_end_at_line_ends_and_number_lines() {
        let input = b"a\nbb\nccc\ndddd\n";
        let chunks = super::chunks(input, 4);
        assert_eq!(
            chunks,
            vec![
                (1, &b"a\nbb\n"[..]),
                (3, &b"ccc\n"[..]),
                (4, &b"dddd\n"[..])
            ]
        );
        assert_eq!(super::chunks(b"x\ny", 100), vec![(1, &b"x\ny"[..])]);
    }
}
