//! The Requester's rules: driven through a scripted transport, and as a
//! pure state machine fed events.

use super::testing::{Responder, Script, ok};
use super::*;
use crate::request::testing::FixedEnv;
use serde_json::{Value, json};

/// A Requester for `http://api.example:8080/v1` (auth as given; `{}` for none).
fn requester(auth: Value, retries: u32) -> Requester {
    let mut source = json!({"name": "t", "url": "http://api.example:8080/v1", "retries": retries});
    if auth != json!({}) {
        source["auth"] = auth;
    }
    Requester::new(&serde_json::from_value(source).unwrap(), None).unwrap()
}

fn oauth() -> Value {
    json!({"type": "oauth2", "token_url": "http://auth/token", "client_id": "i", "client_secret": "s"})
}

fn get(url: &str) -> HttpRequest {
    HttpRequest {
        method: "GET",
        url: url::Url::parse(url).unwrap(),
        headers: vec![],
        body: None,
    }
}

fn status(code: u16, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError> {
    Ok(HttpResponse {
        status: code,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: vec![],
    })
}

/// The request a step asks to send (its URL and `Authorization`).
fn sent(step: Step<'_>) -> (String, Option<String>) {
    match step {
        Step::Send(req, _) => (
            req.url.to_string(),
            req.header("authorization").map(String::from),
        ),
        other => panic!("expected a request to send, got {other:?}"),
    }
}

#[test]
fn backoff_then_retry_after_then_success_as_events() {
    let mut r = requester(json!({}), 3);
    let mut env = FixedEnv { now_ms: 0, next: 0 };
    let mut build = |_: &mut dyn Env| Ok(get("http://api.example:8080/v1/x"));
    let mut call = Call::authenticated();
    sent(r.step(&mut call, Event::Start, &mut env, &mut build));
    // A 503 without Retry-After: jittered exponential backoff (250 ms base, ×0.5–1).
    match r.step(
        &mut call,
        Event::Answered(status(503, &[])),
        &mut env,
        &mut build,
    ) {
        Step::Sleep(d) => assert!(
            d >= Duration::from_millis(125) && d <= Duration::from_millis(250),
            "{d:?}"
        ),
        other => panic!("{other:?}"),
    }
    sent(r.step(&mut call, Event::Slept, &mut env, &mut build));
    // A 429 with Retry-After: exactly that long.
    match r.step(
        &mut call,
        Event::Answered(status(429, &[("Retry-After", "7")])),
        &mut env,
        &mut build,
    ) {
        Step::Sleep(d) => assert_eq!(d, Duration::from_secs(7)),
        other => panic!("{other:?}"),
    }
    sent(r.step(&mut call, Event::Slept, &mut env, &mut build));
    match r.step(
        &mut call,
        Event::Answered(status(200, &[])),
        &mut env,
        &mut build,
    ) {
        Step::Done(Ok((_, resp))) => assert_eq!(resp.status, 200),
        other => panic!("{other:?}"),
    }
    assert_eq!(call.sent, 3);
}

#[test]
fn a_token_comes_first_is_refreshed_before_expiry_and_once_after_a_401() {
    let mut r = requester(oauth(), 0);
    let mut env = FixedEnv { now_ms: 0, next: 0 };
    let mut build = |_: &mut dyn Env| Ok(get("http://api.example:8080/v1/x"));
    let token = |t: &str| Ok(ok(json!({"access_token": t, "expires_in": 100})));
    let mut call = Call::authenticated();
    assert_eq!(
        sent(r.step(&mut call, Event::Start, &mut env, &mut build)).0,
        "http://auth/token?grant_type=client_credentials"
    );
    let data = sent(r.step(
        &mut call,
        Event::Answered(token("t1")),
        &mut env,
        &mut build,
    ));
    assert_eq!(
        data,
        (
            "http://api.example:8080/v1/x".into(),
            Some("Bearer t1".into())
        )
    );
    assert!(matches!(
        r.step(
            &mut call,
            Event::Answered(status(200, &[])),
            &mut env,
            &mut build
        ),
        Step::Done(Ok(_))
    ));
    // Still valid at 89 s (100 s life, refreshed 10 s early): no token request.
    env.now_ms = 89_000;
    let mut call = Call::authenticated();
    assert_eq!(
        sent(r.step(&mut call, Event::Start, &mut env, &mut build))
            .1
            .as_deref(),
        Some("Bearer t1")
    );
    // From 90 s: a new token first.
    env.now_ms = 90_000;
    let mut call = Call::authenticated();
    assert!(
        sent(r.step(&mut call, Event::Start, &mut env, &mut build))
            .0
            .starts_with("http://auth/")
    );
    let data = sent(r.step(
        &mut call,
        Event::Answered(token("t2")),
        &mut env,
        &mut build,
    ));
    assert_eq!(data.1.as_deref(), Some("Bearer t2"));
    // A 401: one more token, then the data request again.
    assert!(
        sent(r.step(
            &mut call,
            Event::Answered(status(401, &[])),
            &mut env,
            &mut build
        ))
        .0
        .starts_with("http://auth/")
    );
    let data = sent(r.step(
        &mut call,
        Event::Answered(token("t3")),
        &mut env,
        &mut build,
    ));
    assert_eq!(data.1.as_deref(), Some("Bearer t3"));
    // A second 401 is an auth error.
    match r.step(
        &mut call,
        Event::Answered(status(401, &[])),
        &mut env,
        &mut build,
    ) {
        Step::Done(Err(Error::Auth(m))) => assert!(
            m.starts_with("the API refused a freshly fetched token (HTTP 401)"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(call.sent, 4);
}

#[test]
fn a_signing_secret_is_masked_like_a_credential() {
    crate::grants::configure(&[], 0);
    let source = serde_json::from_value(json!({"name": "t", "url": "http://h"})).unwrap();
    let signature: Signature = serde_json::from_value(json!({
        "name": "sign", "location": "headers", "function": "HMAC_SHA256", "secret": "sig-key"
    }))
    .unwrap();
    Requester::new(&source, Some(signature)).unwrap();
    assert_eq!(crate::grants::mask("k=x&s=sig-key"), "k=x&s=***");
    assert!(crate::grants::is_credential("sig-key"));
}

/// The auth error of an OAuth read whose token request is answered with `code`.
fn token_request_refused(code: u16) -> String {
    let mut r = requester(oauth(), 0);
    let mut env = FixedEnv { now_ms: 0, next: 0 };
    let mut build = |_: &mut dyn Env| Ok(get("http://api.example:8080/v1/x"));
    let mut call = Call::authenticated();
    sent(r.step(&mut call, Event::Start, &mut env, &mut build));
    match r.step(
        &mut call,
        Event::Answered(status(code, &[])),
        &mut env,
        &mut build,
    ) {
        Step::Done(Err(Error::Auth(m))) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failed_token_request_is_an_auth_error() {
    let m = token_request_refused(400);
    assert!(m.starts_with("the token request failed: HTTP 400"), "{m}");
}

fn run(script: &mut Script, retries: u32) -> (Result<(HttpRequest, HttpResponse), Error>, u32) {
    let mut env = FixedEnv { now_ms: 0, next: 0 };
    let mut tries = 0;
    let mut n = 0;
    let result = requester(json!({}), retries).send(script, &mut env, &mut tries, &mut |_| {
        n += 1;
        Ok(HttpRequest {
            method: "GET",
            url: url::Url::parse(&format!("http://h/x?try={n}")).unwrap(),
            headers: vec![],
            body: None,
        })
    });
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
    let (req, resp) = requester(json!({}), 0)
        .send(&mut s, &mut env, &mut tries, &mut |_| {
            Ok(HttpRequest {
                method: "GET",
                url: url::Url::parse("http://h/start").unwrap(),
                headers: vec![
                    ("Authorization".into(), "Bearer t".into()),
                    ("Accept".into(), "application/json".into()),
                ],
                body: None,
            })
        })
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
        let err = requester(json!({}), 3)
            .send(&mut s, &mut env, &mut 0, &mut |_| Ok(post("http://h/x")))
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
    requester(json!({}), 0)
        .send(&mut s, &mut env, &mut 0, &mut |_| Ok(post("http://h/x")))
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

#[test]
fn oauth_tokens_are_reused_refreshed_on_expiry_and_once_after_a_401() {
    let mut r = requester(oauth(), 0);
    let mut issued = 0;
    let mut t = Responder::new(move |req: &HttpRequest| {
        if req.url.host_str() == Some("auth") {
            issued += 1;
            return ok(json!({"access_token": format!("tok{issued}"), "expires_in": 100}));
        }
        match req.header("authorization") {
            Some("Bearer tok2") | Some("Bearer tok3") => ok(json!([])),
            _ => HttpResponse {
                status: 401,
                headers: vec![],
                body: b"expired".to_vec(),
            },
        }
    });
    let mut env = FixedEnv { now_ms: 0, next: 0 };
    let mut tries = 0;
    let mut build = |_: &mut dyn Env| Ok(get("http://api.example:8080/v1/x"));
    // tok1 is refused: one new token, then success.
    r.send(&mut t, &mut env, &mut tries, &mut build).unwrap();
    assert_eq!(t.sent.len(), 4);
    // Reused while valid.
    r.send(&mut t, &mut env, &mut tries, &mut build).unwrap();
    assert_eq!(t.sent.len(), 5);
    // Fetched again when about to expire (100 s life, refreshed 10 s early).
    env.now_ms = 90_000;
    r.send(&mut t, &mut env, &mut tries, &mut build).unwrap();
    assert_eq!(t.sent.len(), 7);
    assert_eq!(t.sent[6].header("authorization"), Some("Bearer tok3"));
}

#[test]
fn a_second_401_is_an_auth_error() {
    let mut r = requester(oauth(), 0);
    let mut t = Responder::new(|req: &HttpRequest| {
        if req.url.host_str() == Some("auth") {
            ok(json!({"access_token": "t"}))
        } else {
            HttpResponse {
                status: 401,
                headers: vec![],
                body: b"no".to_vec(),
            }
        }
    });
    let mut env = FixedEnv { now_ms: 0, next: 0 };
    let err = r
        .send(&mut t, &mut env, &mut 0, &mut |_| {
            Ok(get("http://api.example:8080/v1/x"))
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::Auth(m) if m.starts_with("the API refused a freshly fetched token (HTTP 401)")),
        "{err}"
    );
    assert_eq!(t.sent.len(), 4);
}

#[test]
fn a_405_from_the_token_endpoint_says_the_method_defaults_to_get() {
    let m = token_request_refused(405);
    assert!(
        m.starts_with("the token request failed: HTTP 405")
            && m.ends_with(
                " (source.auth.method defaults to GET for the token request; this endpoint \
                 refused it: set `\"method\": \"POST\"` in source.auth)"
            ),
        "{m}"
    );
}

#[test]
fn the_request_log_has_one_line_per_request_with_retries_and_waits() {
    crate::grants::configure_all(&["s3cr3t".into()], 0, true, false);
    crate::grants::take_logged();
    let mut s = Script::default()
        .respond(503, "busy")
        .respond(200, "{\"ok\":1}");
    let mut env = FixedEnv { now_ms: 0, next: 0 };
    let mut tries = 0;
    let mut r = requester(json!({}), 3);
    r.send(&mut s, &mut env, &mut tries, &mut |_| {
        Ok(get("http://api.example:8080/v1/x?key=s3cr3t&page=2"))
    })
    .unwrap();
    // The success waits for the reader to add its records and next page.
    crate::grants::complete_request(", 1 records, next: page=3");
    let logged = crate::grants::take_logged();
    crate::grants::configure(&[], 0);
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert!(
        logged[0].starts_with("GET http://api.example:8080/v1/x?key=***&page=2 -> 503, 4 bytes in 0 ms; retry 1 of 3 in "),
        "{logged:?}"
    );
    assert!(logged[0].ends_with(" ms"), "{logged:?}");
    assert_eq!(
        logged[1],
        "GET http://api.example:8080/v1/x?key=***&page=2 -> 200, 8 bytes in 0 ms, 1 records, next: page=3"
    );
}
