//! The Requester: how one logical request reaches the source — its retry
//! and redirect policy, the authenticator (credentials, OAuth tokens) and
//! the custom signature — shared by the reader, the writer and `check`.
//!
//! It is a sans-IO state machine in the manner of quinn-proto: the caller
//! feeds it [`Event`]s (the call started, a response or transport error
//! arrived, a wait ended) and it answers with a [`Step`]: send this
//! request, sleep this long, or done. Only the binding layer sends and
//! sleeps ([`drive`] does it through a [`Transport`]); every rule — backoff,
//! `Retry-After`, the operator's time ceiling, redirects one hop at a
//! time, a token fetched first, refreshed before expiry and once after a
//! 401 — is a plain function of events, unit-tested without a transport.
//!
//! The rules (README, "Authentication" and "Reliability"):
//! - a try is a new request (fresh generated values and signatures);
//! - transport errors, 429 and 5xx are retried up to `retries` times with
//!   jittered exponential backoff or the server's `Retry-After`, while the
//!   tries and waits of one request fit in the operator's ceiling; other
//!   statuses and final transport errors (a refusal by the host) are not;
//! - a redirect is a hop judged anew by the host; a 303 (and a 301/302
//!   after a non-GET) becomes a GET without a body; a hop to another
//!   origin carries no headers but `Accept` and `Content-Type`, and a hop
//!   that would carry a body to another origin is refused;
//! - with OAuth2 or a login, the token is fetched (with the same retries)
//!   before the first data request and shortly before it expires; after a
//!   401 it is fetched once more, and a second 401 is an auth error; a
//!   login's refresh call that is refused falls back to the login, once.

use crate::auth::Authenticator;
use crate::config::{Signature, Source};
use crate::error::{Error, truncate};
use crate::request::{Env, HttpRequest, HttpResponse, origin};
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

/// The binding layer: sends a request and waits. `wasi:http` and WASI
/// clocks in the component, hyper in the native benchmark, scripts in tests.
pub trait Transport {
    /// Sends one request.
    fn send(&mut self, req: &HttpRequest, timeout_ms: u32) -> Result<HttpResponse, TransportError>;
    /// Waits without using CPU (a WASI pollable in the component).
    fn sleep(&mut self, duration: Duration);
}

/// Redirects followed for one request, at most.
pub const MAX_REDIRECTS: usize = 5;

/// How many tries to make and how long each may take.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub retries: u32,
    pub timeout_ms: u32,
}

impl Policy {
    pub fn of(source: &Source) -> Policy {
        Policy {
            retries: source.retries,
            timeout_ms: source.timeout_ms,
        }
    }
}

/// What the caller must do next.
#[derive(Debug)]
pub enum Step<'c> {
    /// Send this request, then report [`Event::Answered`].
    Send(&'c HttpRequest, u32),
    /// Wait this long, then report [`Event::Slept`].
    Sleep(Duration),
    /// The logical request is over: the last request and its 2xx response.
    Done(Result<(HttpRequest, HttpResponse), Error>),
}

/// What happened since the last step.
#[derive(Debug)]
pub enum Event {
    Start,
    Answered(Result<HttpResponse, TransportError>),
    Slept,
}

/// One logical request in flight.
pub struct Call {
    authenticated: bool,
    phase: Phase,
    refreshed_after_401: bool,
    /// Requests sent so far (tries, hops and token requests).
    pub sent: u32,
}

enum Phase {
    Start,
    Token(Tries),
    Data(Tries),
}

impl Call {
    /// A request to the source: authenticated and signed.
    pub fn authenticated() -> Call {
        Call::new(true)
    }

    /// A request with no credentials (a `values_from` list).
    pub fn plain() -> Call {
        Call::new(false)
    }

    fn new(authenticated: bool) -> Call {
        Call {
            authenticated,
            phase: Phase::Start,
            refreshed_after_401: false,
            sent: 0,
        }
    }
}

pub struct Requester {
    pub auth: Authenticator,
    signature: Option<Signature>,
    policy: Policy,
}

impl Requester {
    pub fn new(source: &Source, signature: Option<Signature>) -> Result<Requester, Error> {
        let base = crate::request::join_url(&source.url, "")?;
        // A signing secret is a credential like the auth block's.
        if let Some(secret) = signature.as_ref().and_then(|s| s.secret.as_deref()) {
            crate::grants::register(secret);
        }
        Ok(Requester {
            auth: Authenticator::new(&source.auth, &base),
            signature,
            policy: Policy::of(source),
        })
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Sends the request that `build` makes (authenticated and signed)
    /// until it succeeds or the rules say stop; `tries` counts every
    /// request sent.
    pub fn send(
        &mut self,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
        tries: &mut u32,
        build: &mut dyn FnMut(&mut dyn Env) -> Result<HttpRequest, Error>,
    ) -> Result<(HttpRequest, HttpResponse), Error> {
        drive(self, Call::authenticated(), transport, env, tries, build)
    }

    /// Like [`Requester::send`], without credentials or signature.
    pub fn send_plain(
        &mut self,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
        tries: &mut u32,
        build: &mut dyn FnMut(&mut dyn Env) -> Result<HttpRequest, Error>,
    ) -> Result<(HttpRequest, HttpResponse), Error> {
        drive(self, Call::plain(), transport, env, tries, build)
    }

    /// Takes `event` and says what to do next.
    pub fn step<'c>(
        &mut self,
        call: &'c mut Call,
        event: Event,
        env: &mut dyn Env,
        build: &mut dyn FnMut(&mut dyn Env) -> Result<HttpRequest, Error>,
    ) -> Step<'c> {
        let mut next = match (&mut call.phase, event) {
            (Phase::Start, _) => Next::Begin,
            (Phase::Token(t) | Phase::Data(t), Event::Answered(outcome)) => {
                let line = crate::grants::verbose()
                    .then(|| answered_line(t.current.as_ref(), &outcome, t.sent_ms, env));
                let token = matches!(call.phase, Phase::Token(_));
                let t = tries_of(&mut call.phase);
                let next = t.answered(outcome, env);
                if let Some(line) = line {
                    log_answer(line, &next, t, token);
                }
                next
            }
            (Phase::Token(_) | Phase::Data(_), Event::Slept | Event::Start) => Next::Build,
        };
        // Settle everything that needs no I/O; stop at the first step that does.
        loop {
            next = match next {
                Next::Begin => {
                    if call.authenticated && self.auth.needs_token(env.now_ms()) {
                        call.phase = Phase::Token(Tries::new(self.policy));
                    } else {
                        call.phase = Phase::Data(Tries::new(self.policy));
                    }
                    Next::Build
                }
                Next::Build => {
                    let built = match &call.phase {
                        Phase::Token(_) => self.auth.token_request(env),
                        _ => build(env).map(|mut req| {
                            if call.authenticated {
                                self.auth.finish(&mut req, self.signature.as_ref(), env);
                            }
                            req
                        }),
                    };
                    match built {
                        Ok(req) => tries_of(&mut call.phase).dispatch(req, env),
                        Err(e) => Next::Done(Err(e)),
                    }
                }
                Next::Send => {
                    call.sent += 1;
                    let tries = tries_of(&mut call.phase);
                    tries.sent_ms = env.now_ms();
                    let req = tries.current.as_ref().expect("a request to send");
                    return Step::Send(req, tries.policy.timeout_ms);
                }
                Next::Sleep(d) => return Step::Sleep(d),
                Next::Done(result) => match (&call.phase, result) {
                    (Phase::Token(_), Ok((req, resp))) => {
                        match self.auth.accept_token(&req, &resp, env.now_ms()) {
                            Ok(()) => {
                                call.phase = Phase::Data(Tries::new(self.policy));
                                Next::Build
                            }
                            Err(e) => return Step::Done(Err(e)),
                        }
                    }
                    (Phase::Token(_), Err(e)) => {
                        let what = self.auth.token_call();
                        if self.auth.token_failed() {
                            // A refused refresh: log in instead.
                            Next::Begin
                        } else {
                            // A token endpoint that only takes POST, asked with the default GET.
                            let hint = match (&e, self.auth.oauth2()) {
                                (Error::HttpStatus { code: 405, .. }, Some(c))
                                    if c.method == crate::config::ReadMethod::GET =>
                                {
                                    " (source.auth.method defaults to GET for the token request; \
                                     this endpoint refused it: set `\"method\": \"POST\"` in source.auth)"
                                }
                                _ => "",
                            };
                            return Step::Done(Err(Error::Auth(format!(
                                "the {what} failed: {e}{hint}"
                            ))));
                        }
                    }
                    (_, Err(Error::HttpStatus { code: 401, message })) if self.auth.renews() => {
                        if call.refreshed_after_401 {
                            return Step::Done(Err(Error::Auth(format!(
                                "the API refused a freshly fetched token (HTTP 401): {message}"
                            ))));
                        } else {
                            call.refreshed_after_401 = true;
                            self.auth.forget_token();
                            Next::Begin
                        }
                    }
                    (_, result) => return Step::Done(result),
                },
            }
        }
    }
}

/// Drives `call` to its end through `transport`.
pub fn drive(
    requester: &mut Requester,
    mut call: Call,
    transport: &mut dyn Transport,
    env: &mut dyn Env,
    tries: &mut u32,
    build: &mut dyn FnMut(&mut dyn Env) -> Result<HttpRequest, Error>,
) -> Result<(HttpRequest, HttpResponse), Error> {
    let mut event = Event::Start;
    loop {
        event = match requester.step(&mut call, event, env, build) {
            Step::Send(req, timeout_ms) => Event::Answered(transport.send(req, timeout_ms)),
            Step::Sleep(d) => {
                transport.sleep(d);
                Event::Slept
            }
            Step::Done(result) => {
                *tries += call.sent;
                return result;
            }
        };
    }
}

/// The request log's line (`-v`) for an answer: method, URL (masked when
/// written), status or transport error, bytes, time.
fn answered_line(
    req: Option<&HttpRequest>,
    outcome: &Result<HttpResponse, TransportError>,
    sent_ms: i64,
    env: &mut dyn Env,
) -> String {
    let took = (env.now_ms() - sent_ms).max(0);
    let what = match req {
        Some(r) => format!("{} {}", r.method, r.url),
        None => "a request".to_string(),
    };
    match outcome {
        Ok(resp) => format!(
            "{what} -> {}, {} bytes in {took} ms",
            resp.status,
            resp.body.len()
        ),
        Err(e) => format!("{what} -> {} after {took} ms", e.message),
    }
}

/// Writes (or holds, for the reader to complete) the request log's line
/// with what comes next: a retry and its wait, a redirect, the end.
fn log_answer(line: String, next: &Next, tries: &Tries, token: bool) {
    use crate::grants::{flush_requests, log_request};
    match next {
        Next::Sleep(wait) => {
            log_request(format!(
                "{line}; retry {} of {} in {} ms",
                tries.attempt,
                tries.policy.retries,
                wait.as_millis()
            ));
            flush_requests();
        }
        Next::Send => {
            log_request(format!("{line}; redirect"));
            flush_requests();
        }
        Next::Done(Ok(_)) if token => {
            log_request(format!("{line} (token request)"));
            flush_requests();
        }
        // The reader adds the records and the next page.
        Next::Done(Ok(_)) => log_request(line),
        Next::Done(Err(_)) | Next::Begin | Next::Build => {
            log_request(line);
            flush_requests();
        }
    }
}

fn tries_of(phase: &mut Phase) -> &mut Tries {
    match phase {
        Phase::Token(t) | Phase::Data(t) => t,
        Phase::Start => unreachable!("tries exist once a phase began"),
    }
}

/// The state machine's internal moves.
enum Next {
    Begin,
    Build,
    Send,
    Sleep(Duration),
    Done(Result<(HttpRequest, HttpResponse), Error>),
}

/// One logical HTTP request: tries with waits between them, each try
/// following redirects one hop at a time.
struct Tries {
    policy: Policy,
    attempt: u32,
    started_ms: Option<i64>,
    waited: Duration,
    hops: usize,
    /// The request of the try in flight (its latest hop).
    current: Option<HttpRequest>,
    /// When the request in flight was sent (the request log's time).
    sent_ms: i64,
}

impl Tries {
    fn new(policy: Policy) -> Tries {
        Tries {
            policy,
            attempt: 0,
            started_ms: None,
            waited: Duration::ZERO,
            hops: 0,
            current: None,
            sent_ms: 0,
        }
    }

    /// A new try: its request, freshly built.
    fn dispatch(&mut self, req: HttpRequest, env: &mut dyn Env) -> Next {
        self.started_ms.get_or_insert_with(|| env.now_ms());
        self.hops = 0;
        self.hop(req, env)
    }

    fn hop(&mut self, req: HttpRequest, env: &mut dyn Env) -> Next {
        let refused = (!matches!(req.url.scheme(), "http" | "https")).then(|| {
            TransportError::final_(format!(
                "only http:// and https:// URLs are fetched, not {}",
                req.url
            ))
        });
        self.current = Some(req);
        match refused {
            Some(e) => self.answered(Err(e), env),
            None => Next::Send,
        }
    }

    /// The outcome of the request in flight.
    fn answered(
        &mut self,
        outcome: Result<HttpResponse, TransportError>,
        env: &mut dyn Env,
    ) -> Next {
        let req = self
            .current
            .take()
            .expect("an answer to a request in flight");
        let outcome = match outcome {
            Ok(resp) if is_redirect(resp.status) => match self.redirect(&req, &resp) {
                Ok(Some(next)) => return self.hop(next, env),
                Ok(None) => Ok(resp),
                Err(e) => Err(e),
            },
            other => other,
        };
        let now = env.now_ms();
        let wait = match &outcome {
            Ok(resp) if (200..300).contains(&resp.status) => {
                return Next::Done(Ok((req, outcome.expect("matched Ok"))));
            }
            Ok(resp) if retry::retryable(resp, now) => retry::retry_after(resp, now),
            _ => None,
        };
        let retryable = match &outcome {
            Ok(resp) => retry::retryable(resp, now),
            Err(e) => e.retryable,
        };
        let can_retry = retryable && self.attempt < self.policy.retries;
        let wait =
            can_retry.then(|| wait.unwrap_or_else(|| retry::jittered_backoff(self.attempt, env)));
        // The operator's ceiling covers the tries and the waits between them.
        let started = self.started_ms.unwrap_or_else(|| env.now_ms());
        let spent = Duration::from_millis((env.now_ms() - started).max(0) as u64).max(self.waited);
        let out_of_time = match (wait, crate::grants::max_timeout()) {
            (Some(wait), Some(ceiling)) if spent + wait > ceiling => Some((wait, ceiling)),
            _ => None,
        };
        if let (Some(wait), None) = (wait, out_of_time) {
            self.waited += wait;
            self.attempt += 1;
            return Next::Sleep(wait);
        }
        let mut tried = if self.attempt == 0 {
            String::new()
        } else {
            format!(" (after {} tries)", self.attempt + 1)
        };
        if let Some((wait, ceiling)) = out_of_time {
            tried.push_str(&format!(
                " (not retried: waiting {} ms more would pass the host's ceiling of {} ms \
                 for one request, --max-timeout-ms)",
                wait.as_millis(),
                ceiling.as_millis()
            ));
        }
        Next::Done(Err(match outcome {
            Ok(resp) => Error::HttpStatus {
                code: resp.status,
                message: format!(
                    "{}{tried}: {}",
                    req.describe(),
                    truncate(&String::from_utf8_lossy(&resp.body), 500)
                ),
            },
            Err(e) if e.limit => Error::Limit(format!("{}{tried}: {}", req.describe(), e.message)),
            Err(e) => Error::Transport(format!("{}{tried}: {}", req.describe(), e.message)),
        }))
    }

    /// The next hop of a redirect (`None`: no `Location`, the response
    /// stands), or why it is not followed.
    fn redirect(
        &mut self,
        req: &HttpRequest,
        resp: &HttpResponse,
    ) -> Result<Option<HttpRequest>, TransportError> {
        let Some(location) = resp.header("location") else {
            return Ok(None);
        };
        if self.hops == MAX_REDIRECTS {
            return Err(TransportError::final_(format!(
                "more than {MAX_REDIRECTS} redirects"
            )));
        }
        self.hops += 1;
        let next = req
            .url
            .join(location)
            .map_err(|e| TransportError::final_(format!("redirect to `{location}`: {e}")))?;
        let mut hop = req.clone();
        if resp.status == 303 || (matches!(resp.status, 301 | 302) && req.method != "GET") {
            hop.method = "GET";
            hop.body = None;
            hop.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        }
        let (from, to) = (origin(&req.url), origin(&next));
        if to != from && hop.body.is_some() {
            return Err(TransportError::final_(format!(
                "redirect refused: {from} answered {} to send the request body to {to}; \
                 a body never goes to another origin",
                resp.status
            )));
        }
        if to != from {
            hop.headers.retain(|(n, _)| {
                n.eq_ignore_ascii_case("accept") || n.eq_ignore_ascii_case("content-type")
            });
        }
        hop.url = next;
        Ok(Some(hop))
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
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
#[path = "requester_tests.rs"]
mod tests;
