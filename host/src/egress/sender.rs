//! The sender: the hyper client that carries a request the policy let
//! through — connect, TLS, one HTTP/1.1 or HTTP/2 exchange, a bounded
//! response body — and the wasi:http error code of each failure.
//!
//! Its shape is wasmtime-wasi-http's `default_send_request` (which this
//! build leaves out): TCP connect, tokio-rustls with the webpki roots, a
//! hyper connection handshake, the URI cut to its path for HTTP/1.1, the
//! response body wrapped to enforce time limits. What differs:
//! - it connects to the address the policy checked ([`Egress::resolve`]),
//!   never to the URI's authority, so no second lookup can swap it;
//! - one deadline (`source.timeout_ms`, capped by the request's
//!   `connect-timeout`) covers connecting and the first byte, and the whole
//!   body must arrive within one more; the body stops at
//!   `--max-response-bytes` (checked against `Content-Length` and while
//!   streaming); TLS uses the policy's roots (`tls.ca_file`, or no
//!   verification) and offers HTTP/2 by ALPN;
//! - every failure is a typed wasi:http code for the component, with its
//!   words kept in [`Egress::detail`] for the run's final error.

use super::{Egress, Refusal, note_failure};
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

impl Egress {
    pub(super) async fn send(
        &self,
        req: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        *self.detail.lock().expect("detail lock") = None;
        let refused = |r: Refusal| self.fail(r.code(), r.to_string());
        let (origin, host, port, tls) = self.check_origin(req.uri()).map_err(refused)?;
        let addrs = self.resolve(&host, port).await.map_err(refused)?;
        self.pauses.wait(&origin).await;
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await;
        }
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let timeout = options
            .and_then(|o| o.connect_timeout)
            .map_or(self.timeout, |t| t.min(self.timeout));
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = || self.fail(Error::ConnectionTimeout, no_answer(&origin, timeout));

        let mut last_error = None;
        let mut stream = None;
        for addr in &addrs {
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => {
                    last_error = Some((connect_code(&e), format!("connecting to {addr}: {e}")))
                }
                Err(_) => return Err(timed_out()),
            }
        }
        let Some(stream) = stream else {
            let (code, detail) = last_error.expect("at least one address");
            return Err(self.fail(code, detail));
        };
        let _ = stream.set_nodelay(true);

        let (stream, h2): (Box<dyn Stream>, bool) = if tls {
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| {
                self.fail(
                    Error::HttpRequestUriInvalid,
                    format!("TLS name {host}: {e}"),
                )
            })?;
            let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
            let tls_stream = tokio::time::timeout_at(deadline, connector.connect(name, stream))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| {
                    self.fail(tls_code(&e), format!("TLS handshake with {origin}: {e}"))
                })?;
            let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
            (Box::new(tls_stream), h2)
        } else {
            (Box::new(stream), false)
        };
        let response = self
            .exchange(TokioIo::new(stream), req, (deadline, timeout), &origin, h2)
            .await?;
        if let Some(limiter) = &self.limiter {
            limiter.answered(response.status().as_u16());
        }
        self.pauses
            .answered(&origin, response.headers(), self.max_pause);
        Ok(response)
    }

    async fn exchange(
        &self,
        io: TokioIo<Box<dyn Stream>>,
        mut req: http::Request<WasiBody>,
        (deadline, timeout): (tokio::time::Instant, Duration),
        origin: &str,
        h2: bool,
    ) -> Result<http::Response<WasiBody>, Error> {
        let timed_out = || self.fail(Error::HttpResponseTimeout, no_answer(origin, timeout));
        let failed = |e: hyper::Error| {
            let detail = format!("{origin}: {e}");
            self.fail(hyper_code(e), detail)
        };
        let sending: Sending = if h2 {
            // HTTP/2 (negotiated by ALPN) takes the absolute URI.
            let (mut sender, conn) = tokio::time::timeout_at(
                deadline,
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io),
            )
            .await
            .map_err(|_| timed_out())?
            .map_err(failed)?;
            drive(conn);
            req.headers_mut().remove(http::header::HOST);
            Box::pin(async move { sender.send_request(req).await })
        } else {
            // HTTP/1.1 takes the path: the authority is the connection's.
            *req.uri_mut() = http::Uri::builder()
                .path_and_query(req.uri().path_and_query().map_or("/", |p| p.as_str()))
                .build()
                .map_err(|_| Error::HttpRequestUriInvalid)?;
            let (mut sender, conn) =
                tokio::time::timeout_at(deadline, hyper::client::conn::http1::handshake(io))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(failed)?;
            drive(conn);
            Box::pin(async move { sender.send_request(req).await })
        };
        let resp = tokio::time::timeout_at(deadline, sending)
            .await
            .map_err(|_| timed_out())?
            .map_err(failed)?;
        let limit = self.max_response_bytes;
        let declared = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(self.fail(Error::HttpResponseBodySize(Some(limit)), too_large(limit)));
        }
        Ok(resp.map(|incoming| {
            Limited {
                inner: incoming,
                read: 0,
                limit,
                deadline: Box::pin(tokio::time::sleep_until(deadline + self.timeout)),
                timeout: self.timeout,
                origin: origin.to_string(),
                detail: self.detail.clone(),
            }
            .boxed_unsync()
        }))
    }
}

/// The code of a failed TCP connect.
fn connect_code(e: &std::io::Error) -> Error {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => Error::ConnectionRefused,
        TimedOut => Error::ConnectionTimeout,
        HostUnreachable | NetworkUnreachable => Error::DestinationIpUnroutable,
        _ => Error::DestinationUnavailable,
    }
}

/// The code of a failed TLS handshake: a certificate the policy does not
/// trust is final, other failures are protocol errors.
fn tls_code(e: &std::io::Error) -> Error {
    match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_),
        ) => Error::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

/// The code of a failed HTTP exchange.
fn hyper_code(e: hyper::Error) -> Error {
    if e.is_timeout() {
        Error::HttpResponseTimeout
    } else if e.is_incomplete_message() {
        Error::HttpResponseIncomplete
    } else if e.is_parse() {
        Error::HttpProtocolError
    } else if e.is_closed() || e.is_canceled() {
        Error::ConnectionTerminated
    } else {
        // wasmtime-wasi-http looks inside for a code of the request body.
        Error::Hyper(e)
    }
}

/// A connection to the server, plain TCP or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A request on its way over an HTTP/1.1 or HTTP/2 connection.
type Sending =
    Pin<Box<dyn Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>> + Send>>;

/// Runs a connection's I/O in the background until it closes.
fn drive(conn: impl Future<Output = hyper::Result<()>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection closed: {e}");
        }
    });
}

/// Why a request that ran out of `timeout` failed.
fn no_answer(origin: &str, timeout: Duration) -> String {
    format!(
        "{origin}: no answer within {} ms (source.timeout_ms)",
        timeout.as_millis()
    )
}

fn too_large(limit: u64) -> String {
    format!("response body larger than {limit} bytes (raise it with --max-response-bytes)")
}

/// A response body that stops at the size limit and at a deadline.
struct Limited {
    inner: hyper::body::Incoming,
    read: u64,
    limit: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    origin: String,
    detail: Arc<std::sync::Mutex<Option<String>>>,
}

impl Limited {
    fn fail(&self, code: Error, detail: String) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        note_failure(&self.detail, detail);
        Poll::Ready(Some(Err(code)))
    }
}

impl Body for Limited {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            let ms = self.timeout.as_millis();
            let origin = &self.origin;
            return self.fail(
                Error::HttpResponseTimeout,
                format!("{origin}: response body not complete within {ms} ms after the headers (source.timeout_ms)"),
            );
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.read += data.len() as u64;
                    if self.read > self.limit {
                        let limit = self.limit;
                        return self
                            .fail(Error::HttpResponseBodySize(Some(limit)), too_large(limit));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let detail = format!("{}: reading the response body: {e}", self.origin);
                self.fail(hyper_code(e), detail)
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

/// TLS settings: the webpki roots plus `ca_file`, or no verification at all.
pub fn tls_config(
    ca_file: Option<&std::path::Path>,
    insecure_skip_verify: bool,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = ca_file {
            let mut added = 0;
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| anyhow::anyhow!("source.tls.ca_file {}: {e}", path.display()))?
            {
                let cert = cert
                    .map_err(|e| anyhow::anyhow!("source.tls.ca_file {}: {e}", path.display()))?;
                roots.add(cert)?;
                added += 1;
            }
            anyhow::ensure!(
                added > 0,
                "source.tls.ca_file {}: no certificate in it",
                path.display()
            );
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct NoVerification(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::for_tests as egress;

    fn get(url: &str) -> http::Request<WasiBody> {
        let empty = http_body_util::Empty::new().map_err(|e: std::convert::Infallible| match e {});
        http::Request::get(url).body(empty.boxed_unsync()).unwrap()
    }

    /// A server on 127.0.0.1 that answers every connection with `reply`
    /// (after reading the request) and keeps it open for a while.
    fn raw_server(reply: &'static [u8]) -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = s.read(&mut [0; 4096]);
                    let _ = s.write_all(reply);
                    std::thread::sleep(Duration::from_secs(5));
                });
            }
        });
        port
    }

    /// Each failure reaches the component as its own wasi:http code; the
    /// words stay with the instance for the final error, and a request
    /// that goes through clears them.
    #[tokio::test]
    async fn failures_are_typed_codes_and_their_detail_is_kept() {
        let limited = raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n");
        let streamed = raw_server(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n0\r\n\r\n",
        );
        let small = raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]");
        let silent = raw_server(b"");
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let origins: Vec<String> = [limited, streamed, small, silent, closed]
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .chain(["http://no-such-host.invalid".to_string()])
            .collect();
        let public = egress(&origins.iter().map(String::as_str).collect::<Vec<_>>());
        let e = Egress {
            allow_private: true,
            timeout: Duration::from_millis(300),
            max_response_bytes: 10,
            ..public.clone()
        };
        let send = |e: &Egress, url: String| {
            let e = e.clone();
            async move { e.send(get(&url), None).await }
        };
        let detail = |e: &Egress| e.last_failure().unwrap_or_default();

        let r = send(&e, "http://127.0.0.1:9/".into()).await;
        assert!(matches!(r, Err(Error::HttpRequestDenied)), "{r:?}");
        assert!(detail(&e).contains("is not an origin of this config"));

        let r = send(&public, format!("http://127.0.0.1:{small}/")).await;
        assert!(matches!(r, Err(Error::DestinationIpProhibited)), "{r:?}");
        assert!(detail(&public).contains("which is not a public address"));

        let r = send(&e, "http://no-such-host.invalid/".into()).await;
        assert!(matches!(r, Err(Error::DnsError { .. })), "{r:?}");
        assert!(detail(&e).contains("found no address"));

        let r = send(&e, format!("http://127.0.0.1:{closed}/")).await;
        assert!(matches!(r, Err(Error::ConnectionRefused)), "{r:?}");

        let r = send(&e, format!("http://127.0.0.1:{limited}/")).await;
        assert!(
            matches!(r, Err(Error::HttpResponseBodySize(Some(10)))),
            "{r:?}"
        );
        assert!(detail(&e).contains("(raise it with --max-response-bytes)"));

        let r = send(&e, format!("http://127.0.0.1:{small}/")).await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(e.last_failure(), None);

        let body = send(&e, format!("http://127.0.0.1:{streamed}/"))
            .await
            .unwrap()
            .into_body()
            .collect()
            .await;
        assert!(
            matches!(body, Err(Error::HttpResponseBodySize(Some(10)))),
            "{body:?}"
        );
        assert!(detail(&e).contains("response body larger than 10 bytes"));

        let r = send(&e, format!("http://127.0.0.1:{silent}/")).await;
        assert!(matches!(r, Err(Error::HttpResponseTimeout)), "{r:?}");
        assert!(detail(&e).contains("no answer within 300 ms"));
    }

    /// tokio-rustls reports a failed handshake as an `io::Error` holding
    /// the rustls error (end to end: `tests/tests/sandbox.rs`, `tls`).
    #[test]
    fn an_untrusted_certificate_is_its_own_code() {
        let io = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(matches!(tls_code(&io(unknown)), Error::TlsCertificateError));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert!(matches!(
            tls_code(&io(alert)),
            Error::TlsAlertReceived {
                alert_id: Some(40),
                ..
            }
        ));
        let other = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(matches!(tls_code(&other), Error::TlsProtocolError));
    }
}
