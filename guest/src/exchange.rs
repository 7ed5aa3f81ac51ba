//! One logical request, tried until it succeeds or the retries run out.
//!
//! The only place that touches I/O, through [`Transport`]: `wasi:http` in the
//! component, a fake in tests. Every try is built anew, so generated values
//! and signatures are fresh on a retry.

use crate::error::{Error, truncate};
use crate::request::{Env, HttpRequest, HttpResponse};
use crate::retry;
use std::time::Duration;

/// A request that got no response: connection, DNS, TLS, timeout, or a
/// refusal by the host's egress policy (which no retry can change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    pub message: String,
    pub retryable: bool,
    /// A limit of the host (the response size): reported as a limit error.
    pub limit: bool,
}

impl TransportError {
    pub fn retryable(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            retryable: true,
            limit: false,
        }
    }
    pub fn final_(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            retryable: false,
            limit: false,
        }
    }
    pub fn limit(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            retryable: false,
            limit: true,
        }
    }
}

pub trait Transport {
    /// Sends one request.
    fn send(&mut self, req: &HttpRequest, timeout_ms: u32) -> Result<HttpResponse, TransportError>;
    /// Waits without using CPU (a WASI pollable in the component).
    fn sleep(&mut self, duration: Duration);
}

/// Redirects followed for one request, at most.
pub const MAX_REDIRECTS: usize = 5;

/// Sends `req`, following redirects: each hop is a request of its own that
/// the host's egress policy judges anew. A 303 (and a 301/302 after a
/// non-GET) becomes a GET without a body; a hop to another origin carries
/// no headers but `Accept` and `Content-Type`, so credentials stay behind,
/// and a hop to another origin that would carry the body (307, 308) is
/// refused: a body may hold credentials (an API key, a client secret).
fn follow(
    transport: &mut dyn Transport,
    mut req: HttpRequest,
    timeout_ms: u32,
    tries: &mut u32,
) -> (HttpRequest, Result<HttpResponse, TransportError>) {
    for hop in 0..=MAX_REDIRECTS {
        if !matches!(req.url.scheme(), "http" | "https") {
            let refused = format!(
                "only http:// and https:// URLs are fetched, not {}",
                req.url
            );
            return (req, Err(TransportError::final_(refused)));
        }
        *tries += 1;
        let resp = match transport.send(&req, timeout_ms) {
            Ok(resp) => resp,
            Err(e) => return (req, Err(e)),
        };
        let location = match resp.status {
            301 | 302 | 303 | 307 | 308 => resp.header("location").map(str::to_string),
            _ => None,
        };
        let Some(location) = location else {
            return (req, Ok(resp));
        };
        if hop == MAX_REDIRECTS {
            return (
                req,
                Err(TransportError::final_(format!(
                    "more than {MAX_REDIRECTS} redirects"
                ))),
            );
        }
        let next = match req.url.join(&location) {
            Ok(u) => u,
            Err(e) => {
                return (
                    req,
                    Err(TransportError::final_(format!(
                        "redirect to `{location}`: {e}"
                    ))),
                );
            }
        };
        let mut hop_req = req.clone();
        if resp.status == 303 || (matches!(resp.status, 301 | 302) && req.method != "GET") {
            hop_req.method = "GET";
            hop_req.body = None;
            hop_req
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        }
        let (from, to) = (
            crate::request::origin(&req.url),
            crate::request::origin(&next),
        );
        if to != from && hop_req.body.is_some() {
            let refused = format!(
                "redirect refused: {from} answered {} to send the request body to {to}; \
                 a body never goes to another origin",
                resp.status
            );
            return (req, Err(TransportError::final_(refused)));
        }
        if to != from {
            hop_req.headers.retain(|(n, _)| {
                n.eq_ignore_ascii_case("accept") || n.eq_ignore_ascii_case("content-type")
            });
        }
        hop_req.url = next;
        req = hop_req;
    }
    unreachable!("the loop returns on its last hop")
}

/// How many tries to make and how long each may take.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub retries: u32,
    pub timeout_ms: u32,
}

/// Sends the request that `build` makes until it gets a 2xx; `tries` counts
/// every request sent. A failure status that is never retried, or the last
/// failure when retries run out, is the error.
pub fn send(
    transport: &mut dyn Transport,
    env: &mut dyn Env,
    policy: Policy,
    tries: &mut u32,
    build: &mut dyn FnMut(&mut dyn Env) -> Result<HttpRequest, Error>,
) -> Result<(HttpRequest, HttpResponse), Error> {
    let mut attempt = 0;
    let started_ms = env.now_ms();
    let mut waited = Duration::ZERO;
    loop {
        let first = build(env)?;
        let (req, outcome) = follow(transport, first, policy.timeout_ms, tries);
        let wait = match &outcome {
            Ok(resp) if (200..300).contains(&resp.status) => {
                return Ok((req, outcome.expect("matched Ok")));
            }
            Ok(resp) if retry::retryable_status(resp.status) => {
                retry::retry_after(resp, env.now_ms())
            }
            Ok(_) => None,
            Err(_) => None,
        };
        let retryable = match &outcome {
            Ok(resp) => retry::retryable_status(resp.status),
            Err(e) => e.retryable,
        };
        let can_retry = retryable && attempt < policy.retries;
        let wait = can_retry.then(|| wait.unwrap_or_else(|| retry::jittered_backoff(attempt, env)));
        // The operator's ceiling covers the tries and the waits between them.
        let spent = Duration::from_millis((env.now_ms() - started_ms).max(0) as u64).max(waited);
        let out_of_time = match (wait, crate::grants::max_timeout()) {
            (Some(wait), Some(ceiling)) if spent + wait > ceiling => Some((wait, ceiling)),
            _ => None,
        };
        if !can_retry || out_of_time.is_some() {
            let mut tried = if attempt == 0 {
                String::new()
            } else {
                format!(" (after {} tries)", attempt + 1)
            };
            if let Some((wait, ceiling)) = out_of_time {
                tried.push_str(&format!(
                    " (not retried: waiting {} ms more would pass the host's ceiling of {} ms \
                     for one request, --max-timeout-ms)",
                    wait.as_millis(),
                    ceiling.as_millis()
                ));
            }
            return Err(match outcome {
                Ok(resp) => Error::HttpStatus {
                    code: resp.status,
                    message: format!(
                        "{}{tried}: {}",
                        req.describe(),
                        truncate(&String::from_utf8_lossy(&resp.body), 500)
                    ),
                },
                Err(e) if e.limit => {
                    Error::Limit(format!("{}{tried}: {}", req.describe(), e.message))
                }
                Err(e) => Error::Transport(format!("{}{tried}: {}", req.describe(), e.message)),
            });
        }
        let wait = wait.expect("a retry has a wait");
        transport.sleep(wait);
        waited += wait;
        attempt += 1;
    }
}

#[cfg(test)]
pub mod testing {
    use super::*;
    use std::collections::VecDeque;

    /// Answers every request with a function of it, and records what was sent.
    pub struct Responder<F: FnMut(&HttpRequest) -> HttpResponse> {
        pub respond: F,
        pub sent: Vec<HttpRequest>,
    }

    impl<F: FnMut(&HttpRequest) -> HttpResponse> Responder<F> {
        pub fn new(respond: F) -> Self {
            Responder {
                respond,
                sent: vec![],
            }
        }
    }

    impl<F: FnMut(&HttpRequest) -> HttpResponse> Transport for Responder<F> {
        fn send(
            &mut self,
            req: &HttpRequest,
            _timeout_ms: u32,
        ) -> Result<HttpResponse, TransportError> {
            self.sent.push(req.clone());
            Ok((self.respond)(req))
        }
        fn sleep(&mut self, _: Duration) {}
    }

    /// A 200 response with a JSON body.
    pub fn ok(body: serde_json::Value) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: vec![],
            body: body.to_string().into_bytes(),
        }
    }

    /// Plays back canned outcomes and records what was sent and slept.
    #[derive(Default)]
    pub struct Script {
        pub outcomes: VecDeque<Result<HttpResponse, TransportError>>,
        pub sent: Vec<HttpRequest>,
        pub slept: Vec<Duration>,
    }

    impl Script {
        pub fn respond(mut self, status: u16, body: &str) -> Self {
            self.outcomes.push_back(Ok(HttpResponse {
                status,
                headers: vec![],
                body: body.as_bytes().to_vec(),
            }));
            self
        }
        pub fn respond_with(mut self, resp: HttpResponse) -> Self {
            self.outcomes.push_back(Ok(resp));
            self
        }
        pub fn fail(mut self, error: &str) -> Self {
            self.outcomes
                .push_back(Err(TransportError::retryable(error)));
            self
        }
        pub fn refuse(mut self, error: &str) -> Self {
            self.outcomes.push_back(Err(TransportError::final_(error)));
            self
        }
    }

    impl Transport for Script {
        fn send(
            &mut self,
            req: &HttpRequest,
            _timeout_ms: u32,
        ) -> Result<HttpResponse, TransportError> {
            self.sent.push(req.clone());
            self.outcomes
                .pop_front()
                .expect("the script has an answer for every request")
        }
        fn sleep(&mut self, duration: Duration) {
            self.slept.push(duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Script;
    use super::*;
    use crate::request::testing::FixedEnv;

    fn run(script: &mut Script, retries: u32) -> (Result<(HttpRequest, HttpResponse), Error>, u32) {
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let mut tries = 0;
        let mut n = 0;
        let result = send(
            script,
            &mut env,
            Policy {
                retries,
                timeout_ms: 1000,
            },
            &mut tries,
            &mut |_| {
                n += 1;
                Ok(HttpRequest {
                    method: "GET",
                    url: url::Url::parse(&format!("http://h/x?try={n}")).unwrap(),
                    headers: vec![],
                    body: None,
                })
            },
        );
        (result, tries)
    }

    #[test]
    fn retries_5xx_429_and_transport_errors_then_succeeds() {
        let mut s = Script::default()
            .respond(503, "busy")
            .fail("connection reset")
            .respond_with(HttpResponse {
                status: 429,
                headers: vec![("Retry-After".into(), "7".into())],
                body: vec![],
            })
            .respond(200, "[]");
        let (result, tries) = run(&mut s, 3);
        let (req, resp) = result.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(tries, 4);
        // Every try is a new request.
        assert_eq!(req.url.query(), Some("try=4"));
        assert_eq!(s.slept.len(), 3);
        assert_eq!(s.slept[2], Duration::from_secs(7));
    }

    #[test]
    fn other_4xx_fail_at_once_with_status_and_body() {
        let mut s = Script::default().respond(404, r#"{"error":"no such thing"}"#);
        let (result, tries) = run(&mut s, 3);
        assert_eq!(tries, 1);
        assert_eq!(
            result.unwrap_err(),
            Error::HttpStatus {
                code: 404,
                message: r#"GET http://h/x: {"error":"no such thing"}"#.into()
            }
        );
        assert!(s.slept.is_empty());
    }

    #[test]
    fn redirects_are_followed_and_credentials_stay_on_their_origin() {
        let mut s = Script::default()
            .respond_with(HttpResponse {
                status: 302,
                headers: vec![("Location".into(), "/moved".into())],
                body: vec![],
            })
            .respond_with(HttpResponse {
                status: 307,
                headers: vec![("Location".into(), "http://other/x".into())],
                body: vec![],
            })
            .respond(200, "[]");
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let mut tries = 0;
        let (req, resp) = send(
            &mut s,
            &mut env,
            Policy {
                retries: 0,
                timeout_ms: 1,
            },
            &mut tries,
            &mut |_| {
                Ok(HttpRequest {
                    method: "GET",
                    url: url::Url::parse("http://h/start").unwrap(),
                    headers: vec![
                        ("Authorization".into(), "Bearer t".into()),
                        ("Accept".into(), "application/json".into()),
                    ],
                    body: None,
                })
            },
        )
        .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(tries, 3);
        assert_eq!(req.url.as_str(), "http://other/x");
        assert_eq!(s.sent[1].url.as_str(), "http://h/moved");
        assert_eq!(
            s.sent[1].header("authorization"),
            Some("Bearer t"),
            "same origin keeps credentials"
        );
        assert_eq!(
            s.sent[2].header("authorization"),
            None,
            "another origin gets none"
        );
        assert_eq!(s.sent[2].header("accept"), Some("application/json"));
    }

    fn post(url: &str) -> HttpRequest {
        HttpRequest {
            method: "POST",
            url: url::Url::parse(url).unwrap(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(br#"{"api_key":"k3y"}"#.to_vec()),
        }
    }

    fn redirect(status: u16, to: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("Location".into(), to.into())],
            body: vec![],
        }
    }

    #[test]
    fn a_body_never_follows_a_redirect_to_another_origin() {
        for status in [307, 308] {
            let mut s = Script::default().respond_with(redirect(status, "http://other:81/steal"));
            let mut env = FixedEnv { now_ms: 0, next: 0 };
            let policy = Policy {
                retries: 3,
                timeout_ms: 1,
            };
            let err = send(&mut s, &mut env, policy, &mut 0, &mut |_| {
                Ok(post("http://h/x"))
            })
            .unwrap_err();
            assert_eq!(
                s.sent.len(),
                1,
                "nothing went to the other origin, no retry"
            );
            assert_eq!(
                err,
                Error::Transport(format!(
                    "POST http://h/x: redirect refused: http://h answered {status} to send the \
                     request body to http://other:81; a body never goes to another origin"
                ))
            );
        }
        // Same origin: followed with the body; a 303 to elsewhere drops it.
        let mut s = Script::default()
            .respond_with(redirect(308, "/moved"))
            .respond_with(redirect(303, "http://other/done"))
            .respond(200, "[]");
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let policy = Policy {
            retries: 0,
            timeout_ms: 1,
        };
        send(&mut s, &mut env, policy, &mut 0, &mut |_| {
            Ok(post("http://h/x"))
        })
        .unwrap();
        assert_eq!(
            s.sent[1].body.as_deref(),
            Some(&br#"{"api_key":"k3y"}"#[..])
        );
        assert_eq!((s.sent[2].method, s.sent[2].body.as_ref()), ("GET", None));
    }

    #[test]
    fn the_hosts_ceiling_bounds_waits_and_limits_are_not_retried() {
        crate::grants::configure(&[], 10_000);
        // A Retry-After past the ceiling is not waited for.
        let mut s = Script::default().respond_with(HttpResponse {
            status: 429,
            headers: vec![("Retry-After".into(), "60".into())],
            body: b"slow down".to_vec(),
        });
        let (result, tries) = run(&mut s, 3);
        assert_eq!(tries, 1);
        assert!(s.slept.is_empty());
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains(
                "not retried: waiting 60000 ms more would pass the host's ceiling of 10000 ms"
            ),
            "{err}"
        );
        // Waits within it add up until they would not fit.
        let mut s = Script::default();
        for _ in 0..4 {
            s = s.respond_with(HttpResponse {
                status: 503,
                headers: vec![("Retry-After".into(), "4".into())],
                body: vec![],
            });
        }
        let (result, tries) = run(&mut s, 3);
        assert_eq!(
            (tries, s.slept.len()),
            (3, 2),
            "4 s + 4 s fit in 10 s, a third does not"
        );
        assert!(result.is_err());
        crate::grants::configure(&[], 0);
        // A body over the host's limit is a limit error, tried once.
        let mut s = Script::default();
        s.outcomes.push_back(Err(TransportError::limit("too big")));
        let (result, tries) = run(&mut s, 3);
        assert_eq!(tries, 1);
        assert_eq!(
            result.unwrap_err(),
            Error::Limit("GET http://h/x: too big".into())
        );
    }

    #[test]
    fn a_refusal_is_never_retried() {
        let mut s = Script::default().refuse("egress refused: no");
        let (result, tries) = run(&mut s, 3);
        assert_eq!(tries, 1);
        assert_eq!(
            result.unwrap_err(),
            Error::Transport("GET http://h/x: egress refused: no".into())
        );
    }

    #[test]
    fn the_last_failure_is_reported_when_retries_run_out() {
        let mut s = Script::default()
            .respond(500, "a")
            .respond(502, "b")
            .fail("timed out");
        let (result, tries) = run(&mut s, 2);
        assert_eq!(tries, 3);
        assert_eq!(
            result.unwrap_err(),
            Error::Transport("GET http://h/x (after 3 tries): timed out".into())
        );
    }
}
