//! The egress policy: every HTTP request the component makes goes through
//! [`Egress`] (its [`WasiHttpHooks::send_request`]) and nothing else can
//! leave the sandbox.
//!
//! Threat model (README, "Security model"): the config is untrusted (a
//! customer's, or anyone's). It may name any URL, and the server it names
//! may answer with next-page links or redirects anywhere. The policy
//! therefore
//! - lets a request out only to an origin (scheme, host, port) that the
//!   component declared for this config before it saw any response
//!   (`admin.plan`): `source.url`, the OAuth token URL, `values_from.url`;
//!   a next-page link or a redirect to anything else is refused;
//! - resolves the host itself and refuses any address that is not globally
//!   routable (loopback, private, link-local and cloud metadata, CGNAT,
//!   `0.0.0.0/8`, multicast, reserved, documentation and benchmarking
//!   ranges; IPv6 only from an allow-list, the IPv4-mapped, NAT64 and 6to4
//!   forms judged by the IPv4 address they carry, see [`is_global`]),
//!   unless the operator passed `--allow-private`; `--resolve` pins a name
//!   the operator trusts;
//! - connects to the very address it checked (no second lookup, so DNS
//!   rebinding cannot swap it), verifies TLS certificates against the
//!   webpki roots plus `tls.ca_file` (off only with `--allow-insecure-tls`),
//!   and bounds the time (connect, first byte, whole body) and the size of
//!   every response;
//! - gives the component a typed wasi:http code for each failure, so it can
//!   tell a policy refusal (never retried) from a transient fault, and keeps
//!   the words in [`Egress::detail`] for the run's final error.
//!
//! It does not follow redirects: the component sees a 3xx like any other
//! answer and follows it one hop at a time, each hop judged here anew. It
//! does not guard against a config that points at a public service the
//! operator did not mean to reach — the allowed origins are printed by
//! `apiconn check` — and its rate limit is the config's own
//! `source.rate_limit`, not a protection.
//!
//! The parts: `policy` judges origins and addresses (pure, no I/O but the
//! name lookup), `sender` is the hyper client that sends what the policy
//! let through, `rate` spaces the requests of one run, `pause` holds back
//! the requests of a run to an origin whose rate limit is used up.

mod pause;
mod policy;
mod rate;
mod sender;

pub use pause::Pauses;
pub use policy::{Refusal, is_global};
pub use rate::RateLimiter;
pub use sender::tls_config;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
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
    /// Origins whose rate limit is used up, shared by every instance of one run.
    pub pauses: Arc<Pauses>,
    /// The longest pause (`--max-timeout-ms`).
    pub max_pause: Duration,
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
            pauses: Default::default(),
            max_pause: Duration::from_secs(120),
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

/// A policy for unit tests: `allowed` origins, public addresses only.
#[cfg(test)]
fn for_tests(allowed: &[&str]) -> Egress {
    Egress {
        allowed: allowed.iter().map(|s| s.to_string()).collect(),
        max_response_bytes: 1 << 20,
        ..Egress::closed().unwrap()
    }
}
