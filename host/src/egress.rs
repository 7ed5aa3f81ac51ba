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
//!   reserved, documentation, IPv4-mapped forms of these), unless the
//!   operator passed `--allow-private`;
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
        })
    }
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

/// Whether `ip` is a globally routable unicast address.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_global_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard
                || (s[0] == 0x2001 && s[1] < 0x0200)) // IETF protocol assignments, Teredo
        }
    }
}

/// The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4
/// IPv6 address: these reach the IPv4 network, so the IPv4 rules apply.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if s[..5] == [0; 5]
        && (s[5] == 0xffff || (s[5] == 0 && !v6.is_loopback() && !v6.is_unspecified()))
    {
        return Some(tail); // ::ffff:a.b.c.d and ::a.b.c.d
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return Some(tail); // NAT64 64:ff9b::/96
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
        let refused = |r: Refusal| {
            tracing::warn!("{r}");
            Error::InternalError(Some(r.to_string()))
        };
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
        let timed_out = || no_answer(&origin, timeout);

        let mut last_error = None;
        let mut stream = None;
        for addr in &addrs {
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => last_error = Some(format!("connecting to {addr}: {e}")),
                Err(_) => return Err(timed_out()),
            }
        }
        let Some(stream) = stream else {
            return Err(Error::InternalError(last_error));
        };
        let _ = stream.set_nodelay(true);

        let response: http::Response<WasiBody> = if tls {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| Error::InternalError(Some(format!("TLS name {host}: {e}"))))?;
            let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
            let tls_stream = tokio::time::timeout_at(deadline, connector.connect(name, stream))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| {
                    Error::InternalError(Some(format!("TLS handshake with {origin}: {e}")))
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
        let timed_out = || no_answer(origin, timeout);
        let resp = if h2 {
            // HTTP/2 (negotiated by ALPN) takes the absolute URI.
            let (mut sender, conn) = tokio::time::timeout_at(
                deadline,
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io),
            )
            .await
            .map_err(|_| timed_out())??;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("connection closed: {e}");
                }
            });
            req.headers_mut().remove(http::header::HOST);
            tokio::time::timeout_at(deadline, sender.send_request(req))
                .await
                .map_err(|_| timed_out())??
        } else {
            // HTTP/1.1 takes the path: the authority is the connection's.
            *req.uri_mut() = http::Uri::builder()
                .path_and_query(req.uri().path_and_query().map_or("/", |p| p.as_str()))
                .build()
                .map_err(|_| Error::HttpRequestUriInvalid)?;
            let (mut sender, conn) =
                tokio::time::timeout_at(deadline, hyper::client::conn::http1::handshake(io))
                    .await
                    .map_err(|_| timed_out())??;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("connection closed: {e}");
                }
            });
            tokio::time::timeout_at(deadline, sender.send_request(req))
                .await
                .map_err(|_| timed_out())??
        };
        let limit = self.max_response_bytes;
        let declared = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        Ok(resp.map(|incoming| {
            Limited {
                inner: incoming,
                read: 0,
                limit,
                deadline: Box::pin(tokio::time::sleep_until(deadline + self.timeout)),
                timeout: self.timeout,
            }
            .boxed_unsync()
        }))
    }
}

/// The error of a request that ran out of `timeout`.
fn no_answer(origin: &str, timeout: Duration) -> Error {
    Error::InternalError(Some(format!(
        "{origin}: no answer within {} ms (source.timeout_ms)",
        timeout.as_millis()
    )))
}

fn too_large(limit: u64) -> Error {
    Error::InternalError(Some(format!(
        "response body larger than {limit} bytes (raise it with --max-response-bytes)"
    )))
}

/// A response body that stops at the size limit and at a deadline.
struct Limited {
    inner: hyper::body::Incoming,
    read: u64,
    limit: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
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
            return Poll::Ready(Some(Err(Error::InternalError(Some(format!(
                "response body not complete within {ms} ms after the headers (source.timeout_ms)"
            ))))));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.read += data.len() as u64;
                    if self.read > self.limit {
                        return Poll::Ready(Some(Err(too_large(self.limit))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
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
            let resp = this
                .send(request, options)
                .await
                .inspect_err(|e| tracing::debug!("request failed: {e}"))?;
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
