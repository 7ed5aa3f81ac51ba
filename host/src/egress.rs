//! The egress policy: every HTTP request the component makes goes through
//! [`Egress::send_request`] and nothing else can leave the sandbox.
//!
//! Threat model: the config is untrusted (a customer's, or anyone's). It may
//! name any URL, and the server it names may answer with next-page links or
//! redirects anywhere. The policy therefore
//! - lets a request out only to an origin (scheme, host, port) that the
//!   component declared for this config before it saw any response
//!   (`admin.plan`): `source.url` and the other URLs written in the config;
//! - resolves the host itself and refuses any address that is not globally
//!   routable (loopback, private, link-local, CGNAT, unspecified, multicast,
//!   reserved, documentation, IPv4-mapped forms of these; IPv6 only from
//!   an allow-list, see [`is_global`]), unless the operator passed
//!   `--allow-private`;
//! - connects to the very address it checked (no second lookup, so DNS
//!   rebinding cannot swap it), verifies TLS certificates by default, and
//!   bounds the time and the size of every response.
//!
//! It does not follow redirects: the component sees a 3xx like any other
//! answer. It does not limit request rates or guard against a config that
//! points at a public service the operator did not mean to reach — the
//! allowed origins are printed by `apiconn check`.

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// What one connector instance may reach.
#[derive(Clone)]
pub struct Egress {
    /// `scheme://host[:port]` origins, as the WHATWG URL standard serializes them.
    pub allowed: Vec<String>,
    pub allow_private: bool,
    pub tls: Arc<rustls::ClientConfig>,
    pub timeout: Duration,
    pub max_response_bytes: u64,
    /// `--resolve HOST:PORT:ADDR`: names the operator pinned to an address
    /// (trusted as given, like curl's option of the same name).
    pub pinned: Vec<Pinned>,
    /// `source.rate_limit`, shared by every instance of one run.
    pub limiter: Option<Arc<RateLimiter>>,
    /// Requests sent so far by this instance.
    pub sent: Arc<std::sync::atomic::AtomicU64>,
    /// The connector's name, for messages.
    pub name: String,
    /// Why this instance's last request failed, in words: the typed
    /// wasi:http code the component gets carries no text, so the host
    /// adds this to the error it reports.
    pub detail: Arc<std::sync::Mutex<Option<String>>>,
}

impl Egress {
    /// A policy that allows nothing: for an instance that may not send yet.
    pub fn closed() -> anyhow::Result<Egress> {
        Ok(Egress {
            allowed: vec![],
            allow_private: false,
            tls: tls_config(None, false)?,
            timeout: Duration::from_secs(1),
            max_response_bytes: 0,
            pinned: vec![],
            limiter: None,
            sent: Default::default(),
            name: String::new(),
            detail: Default::default(),
        })
    }

    /// The detail of the last failed request, if the last request failed.
    pub fn last_failure(&self) -> Option<String> {
        self.detail.lock().expect("detail lock").clone()
    }

    /// Logs `detail` as a warning, keeps it as this instance's last
    /// failure, and gives the component `code`.
    fn fail(&self, code: Error, detail: String) -> Error {
        note_failure(&self.detail, detail);
        code
    }
}

fn note_failure(slot: &std::sync::Mutex<Option<String>>, detail: String) {
    tracing::warn!("{detail}");
    *slot.lock().expect("detail lock") = Some(detail);
}

/// Requests per second for one run, shared by its partitions: requests are
/// spaced `1/rate` apart; a 429 halves the rate (down to a sixteenth of
/// the configured one), and every success wins back 5 % of it.
#[derive(Debug)]
pub struct RateLimiter {
    max_rate: f64,
    inner: std::sync::Mutex<(f64, tokio::time::Instant)>,
}

impl RateLimiter {
    pub fn new(rate: f64) -> RateLimiter {
        RateLimiter {
            max_rate: rate,
            inner: std::sync::Mutex::new((rate, tokio::time::Instant::now())),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let slot = {
            let mut inner = self.inner.lock().expect("limiter lock");
            let now = tokio::time::Instant::now();
            let slot = inner.1.max(now);
            inner.1 = slot + Duration::from_secs_f64(1.0 / inner.0);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    pub fn rate(&self) -> f64 {
        self.inner.lock().expect("limiter lock").0
    }

    fn answered(&self, status: u16) {
        let mut inner = self.inner.lock().expect("limiter lock");
        inner.0 = if status == 429 {
            (inner.0 / 2.0).max(self.max_rate / 16.0)
        } else {
            (inner.0 * 1.05).min(self.max_rate)
        };
    }
}

/// One `--resolve HOST:PORT:ADDR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

impl std::str::FromStr for Pinned {
    type Err = String;
    fn from_str(s: &str) -> Result<Pinned, String> {
        let bad = || format!("`{s}` is not HOST:PORT:ADDR");
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        Ok(Pinned {
            host: host.to_ascii_lowercase(),
            port: port.parse().map_err(|_| bad())?,
            addr: addr.parse().map_err(|_| bad())?,
        })
    }
}

/// Why a request was refused before any connection was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotAllowed {
        origin: String,
        allowed: Vec<String>,
    },
    Scheme(String),
    NonGlobal {
        host: String,
        addr: IpAddr,
    },
    NoAddress(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotAllowed { origin, allowed } => write!(
                f,
                "egress refused: {origin} is not an origin of this config (allowed: {})",
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
            Refusal::Scheme(s) => write!(f, "egress refused: scheme `{s}` (only http and https)"),
            Refusal::NonGlobal { host, addr } => write!(
                f,
                "egress refused: {host} resolves to {addr}, which is not a public address (pass --allow-private to allow loopback and private networks)"
            ),
            Refusal::NoAddress(host) => write!(f, "DNS lookup of {host} found no address"),
        }
    }
}

impl Refusal {
    /// The wasi:http code the component gets for this refusal.
    fn code(&self) -> Error {
        match self {
            Refusal::NotAllowed { .. } | Refusal::Scheme(_) => Error::HttpRequestDenied,
            Refusal::NonGlobal { .. } => Error::DestinationIpProhibited,
            Refusal::NoAddress(_) => Error::DnsError {
                rcode: None,
                info_code: None,
            },
        }
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

/// Whether `ip` is a globally routable unicast address. IPv6 is judged by
/// an allow-list (README, "Security model"): only global unicast
/// `2000::/3`, minus its special-purpose ranges, and the forms that carry
/// an IPv4 address, which are judged by that address.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_global_v4(v4);
            }
            let s = v6.segments();
            (s[0] & 0xe000) == 0x2000 // global unicast, 2000::/3
                && !(s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23: IETF protocol assignments, Teredo
                && !(s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32: documentation
                && !(s[0] == 0x3fff && s[1] < 0x1000) // 3fff::/20: documentation
        }
    }
}

/// The IPv4 address inside an IPv6 address that reaches the IPv4 network:
/// IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96` and the local-use
/// `64:ff9b:1::/48` (address in the last 32 bits), and 6to4 `2002::/16`.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let mapped = s[..6] == [0, 0, 0, 0, 0, 0xffff];
    let nat64 = s[..6] == [0x0064, 0xff9b, 0, 0, 0, 0];
    let local_nat64 = s[..3] == [0x0064, 0xff9b, 0x0001];
    if mapped || nat64 || local_nat64 {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])); // 6to4
    }
    None
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0/8
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 224) // multicast, reserved, broadcast
}

impl Egress {
    /// The origin of `uri` if the policy lets requests go there.
    pub fn check_origin(&self, uri: &http::Uri) -> Result<(String, String, u16, bool), Refusal> {
        let scheme = uri.scheme_str().unwrap_or("");
        let tls = match scheme {
            "https" => true,
            "http" => false,
            other => return Err(Refusal::Scheme(other.to_string())),
        };
        let host = uri.host().unwrap_or("").to_string();
        // Normalise the way the component's URL parser does (lower case,
        // numeric IPv4 spellings, default ports), then compare.
        let parsed = url::Url::parse(&format!(
            "{scheme}://{}/",
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        ))
        .map_err(|_| Refusal::NotAllowed {
            origin: uri.to_string(),
            allowed: self.allowed.clone(),
        })?;
        let origin = parsed.origin().ascii_serialization();
        if !self.allowed.contains(&origin) {
            return Err(Refusal::NotAllowed {
                origin,
                allowed: self.allowed.clone(),
            });
        }
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let host = match parsed.host() {
            Some(url::Host::Ipv6(v6)) => v6.to_string(),
            Some(h) => h.to_string(),
            None => host,
        };
        Ok((origin, host, port, tls))
    }

    /// Resolves `host` and keeps the addresses the policy allows; refuses
    /// when any address is not public (a name that mixes public and private
    /// addresses is refused whole).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        if let Some(pin) = self
            .pinned
            .iter()
            .find(|p| p.host == host && p.port == port)
        {
            return Ok(vec![SocketAddr::new(pin.addr, port)]);
        }
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| Refusal::NoAddress(host.to_string()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(Refusal::NoAddress(host.to_string()));
        }
        if !self.allow_private
            && let Some(bad) = addrs.iter().find(|a| !is_global(a.ip()))
        {
            return Err(Refusal::NonGlobal {
                host: host.to_string(),
                addr: bad.ip(),
            });
        }
        Ok(addrs)
    }

    async fn send(
        &self,
        req: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        *self.detail.lock().expect("detail lock") = None;
        let refused = |r: Refusal| self.fail(r.code(), r.to_string());
        let (origin, host, port, tls) = self.check_origin(req.uri()).map_err(refused)?;
        let addrs = self.resolve(&host, port).await.map_err(refused)?;
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

        let response: http::Response<WasiBody> = if tls {
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
            self.exchange(
                TokioIo::new(tls_stream),
                req,
                (deadline, timeout),
                &origin,
                h2,
            )
            .await?
        } else {
            self.exchange(
                TokioIo::new(stream),
                req,
                (deadline, timeout),
                &origin,
                false,
            )
            .await?
        };
        if let Some(limiter) = &self.limiter {
            limiter.answered(response.status().as_u16());
        }
        Ok(response)
    }

    async fn exchange<IO>(
        &self,
        io: IO,
        mut req: http::Request<WasiBody>,
        (deadline, timeout): (tokio::time::Instant, Duration),
        origin: &str,
        h2: bool,
    ) -> Result<http::Response<WasiBody>, Error>
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let timed_out = || self.fail(Error::HttpResponseTimeout, no_answer(origin, timeout));
        let failed = |e: hyper::Error| {
            let detail = format!("{origin}: {e}");
            self.fail(hyper_code(e), detail)
        };
        let resp = if h2 {
            // HTTP/2 (negotiated by ALPN) takes the absolute URI.
            let (mut sender, conn) = tokio::time::timeout_at(
                deadline,
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io),
            )
            .await
            .map_err(|_| timed_out())?
            .map_err(failed)?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("connection closed: {e}");
                }
            });
            req.headers_mut().remove(http::header::HOST);
            tokio::time::timeout_at(deadline, sender.send_request(req))
                .await
                .map_err(|_| timed_out())?
                .map_err(failed)?
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
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("connection closed: {e}");
                }
            });
            tokio::time::timeout_at(deadline, sender.send_request(req))
                .await
                .map_err(|_| timed_out())?
                .map_err(failed)?
        };
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

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        drop(fut);
        let this = self.clone();
        Box::new(async move {
            let resp = this.send(request, options).await?;
            Ok((
                resp,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
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
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
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
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_global() {
        for private in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            assert!(!is_global(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_global(public.parse().unwrap()), "{public}");
        }
    }

    /// Each IPv6 range of the allow-list, with an address on both sides
    /// of each of its boundaries.
    #[test]
    fn ipv6_is_judged_by_an_allow_list() {
        let cases = [
            // 2000::/3, global unicast
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2000::1", true),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("4000::1", false),
            ("2606:4700::1111", true),
            // 2001::/23, IETF protocol assignments (Teredo is 2001::/32)
            ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001::1", false),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false),
            ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:200::1", true),
            // 2001:db8::/32, documentation
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db8::1", false),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:db9::", true),
            // 3fff::/20, documentation
            ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("3fff::", false),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("3fff:1000::", true),
            // 2002::/16, 6to4: by the embedded IPv4 address
            ("2002:808:808::1", true),
            ("2002:7f00:1::", false),
            ("2002:a00:1::", false),
            ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2003::1", true),
            // ::ffff:0:0/96, IPv4-mapped: by the IPv4 address
            ("::ffff:8.8.8.8", true),
            ("::ffff:127.0.0.1", false),
            ("::fffe:808:808", false),
            ("::1:ffff:808:808", false),
            // 64:ff9b::/96, NAT64: by the IPv4 address
            ("64:ff9b::808:808", true),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9a:ffff:ffff:ffff:ffff:808:808", false),
            ("64:ff9b::1:808:808", false),
            ("64:ff9b:0:1::808:808", false),
            // 64:ff9b:1::/48, local-use NAT64: by the last 32 bits
            ("64:ff9b:1::808:808", true),
            ("64:ff9b:1:ffff:ffff:ffff:808:808", true),
            ("64:ff9b:1::7f00:1", false),
            ("64:ff9b:1:ffff:ffff:ffff:a00:1", false),
            ("64:ff9b:2::808:808", false),
            // the rest of ::/8: IPv4-compatible, unspecified, loopback
            ("::", false),
            ("::1", false),
            ("::8.8.8.8", false),
            ("::127.0.0.1", false),
            ("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            // everything else outside 2000::/3
            ("100::1", false),
            ("fc00::1", false),
            ("fe80::1", false),
            ("fec0::1", false),
            ("ff0e::1", false),
        ];
        for (addr, global) in cases {
            assert_eq!(is_global(addr.parse().unwrap()), global, "{addr}");
        }
    }

    fn egress(allowed: &[&str]) -> Egress {
        Egress {
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
            allow_private: false,
            tls: tls_config(None, false).unwrap(),
            timeout: Duration::from_secs(1),
            max_response_bytes: 1 << 20,
            pinned: vec![],
            limiter: None,
            sent: Default::default(),
            name: String::new(),
            detail: Default::default(),
        }
    }

    #[tokio::test]
    async fn the_rate_limiter_spaces_requests_and_backs_off_on_429() {
        let limiter = RateLimiter::new(50.0);
        let start = tokio::time::Instant::now();
        for _ in 0..6 {
            limiter.acquire().await;
        }
        // Five gaps of 20 ms; the first request goes at once.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(400),
            "{took:?}"
        );
        limiter.answered(429);
        assert_eq!(limiter.rate(), 25.0);
        for _ in 0..10 {
            limiter.answered(429);
        }
        assert_eq!(limiter.rate(), 50.0 / 16.0);
        for _ in 0..200 {
            limiter.answered(200);
        }
        assert_eq!(limiter.rate(), 50.0);
    }

    #[test]
    fn origins_are_compared_normalised() {
        let e = egress(&["https://api.example.com", "http://127.0.0.1:8080"]);
        let ok = |u: &str| e.check_origin(&u.parse().unwrap()).map(|(o, ..)| o);
        assert_eq!(
            ok("https://API.example.com:443/x").unwrap(),
            "https://api.example.com"
        );
        assert_eq!(
            ok("http://2130706433:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(ok("http://0x7f.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert!(matches!(
            ok("http://api.example.com/"),
            Err(Refusal::NotAllowed { .. })
        ));
        assert!(matches!(
            ok("https://api.example.com:8443/"),
            Err(Refusal::NotAllowed { .. })
        ));
        assert!(matches!(
            ok("ftp://api.example.com/"),
            Err(Refusal::Scheme(_))
        ));
    }

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

    #[tokio::test]
    async fn private_addresses_are_refused_after_resolution() {
        let e = egress(&[]);
        for host in ["127.0.0.1", "localhost", "::1"] {
            assert!(
                matches!(e.resolve(host, 80).await, Err(Refusal::NonGlobal { .. })),
                "{host}"
            );
        }
        let open = Egress {
            allow_private: true,
            ..e
        };
        assert!(open.resolve("127.0.0.1", 80).await.is_ok());
    }
}
