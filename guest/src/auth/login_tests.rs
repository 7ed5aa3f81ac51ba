//! The rules of `type: login`, through the Requester and a scripted
//! transport: login first, renewal before expiry through the refresh call,
//! once after a 401, a refused refresh falling back to the login, where the
//! token is read and where it goes, and what the masker learns.

use super::*;
use crate::request::testing::FixedEnv;
use crate::requester::Requester;
use crate::requester::testing::Script;
use serde_json::json;

fn requester(auth: Value) -> Requester {
    let source =
        json!({"name": "t", "url": "http://api.example:8080/api", "retries": 0, "auth": auth});
    Requester::new(&serde_json::from_value(source).unwrap(), None).unwrap()
}

fn simplejwt() -> Value {
    json!({"type": "login", "url": "/token/", "body": {"username": "etl", "password": "pw-1"},
           "token_path": "access", "refresh": {"url": "/token/refresh/"}})
}

/// A JWT whose payload holds `exp` (the signature is not checked).
fn jwt(exp: i64, n: u32) -> String {
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig{n}",
        enc(json!({"alg": "HS256", "typ": "JWT"})),
        enc(json!({"token_type": "access", "exp": exp, "jti": n}))
    )
}

fn login_of(auth: Value) -> Login {
    match serde_json::from_value(auth).unwrap() {
        crate::config::Auth::Login(l) => l,
        other => panic!("{other:?}"),
    }
}

fn json_resp(status: u16, body: Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![],
        body: body.to_string().into_bytes(),
    }
}

/// One data GET through the requester at `now_ms`.
fn data(r: &mut Requester, t: &mut Script, now_ms: i64) -> Result<(), Error> {
    let mut env = FixedEnv { now_ms, next: 0 };
    let mut tries = 0;
    r.send(t, &mut env, &mut tries, &mut |_| {
        Ok(HttpRequest {
            method: "GET",
            url: Url::parse("http://api.example:8080/api/items/").unwrap(),
            headers: vec![],
            body: None,
        })
    })
    .map(|_| ())
}

fn described(t: &Script) -> Vec<String> {
    t.sent
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.method,
                r.url,
                r.header("authorization").unwrap_or("-"),
                r.body
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn simplejwt_logs_in_renews_through_refresh_before_exp_and_once_after_a_401() {
    crate::grants::configure(&[], 0);
    let mut r = requester(simplejwt());
    let a1 = jwt(10, 1); // expires 10 s after the epoch: renewed at 9 s
    let a2 = jwt(100, 2);
    let a3 = jwt(200, 3);
    let mut t = Script::default()
        .respond_with(json_resp(200, json!({"refresh": "r-1", "access": a1})))
        .respond(200, "[]")
        .respond(200, "[]")
        // 9.5 s: renewed through the refresh call before the data request.
        .respond_with(json_resp(200, json!({"access": a2})))
        .respond(200, "[]")
        // A 401 before exp: refreshed once, then the data request again.
        .respond(
            401,
            r#"{"detail":"Given token not valid for any token type"}"#,
        )
        .respond_with(json_resp(200, json!({"access": a3})))
        .respond(200, "[]");
    data(&mut r, &mut t, 0).unwrap();
    data(&mut r, &mut t, 8_999).unwrap();
    data(&mut r, &mut t, 9_500).unwrap();
    data(&mut r, &mut t, 20_000).unwrap();
    assert_eq!(
        described(&t),
        [
            r#"POST http://api.example:8080/api/token/ - {"username":"etl","password":"pw-1"}"#
                .to_string(),
            format!("GET http://api.example:8080/api/items/ Bearer {a1} "),
            format!("GET http://api.example:8080/api/items/ Bearer {a1} "),
            r#"POST http://api.example:8080/api/token/refresh/ - {"refresh":"r-1"}"#.into(),
            format!("GET http://api.example:8080/api/items/ Bearer {a2} "),
            format!("GET http://api.example:8080/api/items/ Bearer {a2} "),
            r#"POST http://api.example:8080/api/token/refresh/ - {"refresh":"r-1"}"#.into(),
            format!("GET http://api.example:8080/api/items/ Bearer {a3} "),
        ]
    );
    assert_eq!(t.sent[0].header("content-type"), Some("application/json"));
    // Every token and the password are masked; the user name is not.
    for secret in [a1.as_str(), &a2, &a3, "r-1", "pw-1"] {
        assert_eq!(
            crate::grants::mask(&format!("<{secret}>")),
            "<***>",
            "{secret}"
        );
    }
    assert_eq!(crate::grants::mask("etl"), "etl");
    crate::grants::configure(&[], 0);
}

#[test]
fn a_second_401_is_an_auth_error_and_a_refused_refresh_logs_in_again() {
    let mut r = requester(simplejwt());
    let mut t = Script::default()
        .respond_with(json_resp(200, json!({"refresh": "r-1", "access": "a-1"})))
        .respond(401, "no")
        .respond_with(json_resp(200, json!({"access": "a-2"})))
        .respond(401, "still no");
    let e = data(&mut r, &mut t, 0).unwrap_err();
    assert_eq!(
        e,
        Error::Auth(
            "the API refused a freshly fetched token (HTTP 401): GET http://api.example:8080/api/items/: still no"
                .into()
        )
    );
    // The next call: a 401, and the refresh token has expired too: the
    // refresh call is refused, the login is made instead.
    let mut t = Script::default()
        .respond(401, "expired")
        .respond(
            401,
            r#"{"detail":"Token is invalid or expired","code":"token_not_valid"}"#,
        )
        .respond_with(json_resp(200, json!({"refresh": "r-2", "access": "a-3"})))
        .respond(200, "[]");
    data(&mut r, &mut t, 1_000).unwrap();
    let d = described(&t);
    assert_eq!(d[0], "GET http://api.example:8080/api/items/ Bearer a-2 ");
    assert_eq!(
        d[1],
        r#"POST http://api.example:8080/api/token/refresh/ - {"refresh":"r-1"}"#
    );
    assert!(
        d[2].starts_with("POST http://api.example:8080/api/token/ "),
        "{d:?}"
    );
    assert_eq!(d[3], "GET http://api.example:8080/api/items/ Bearer a-3 ");
    // A refused login is final, named as the login.
    let mut r = requester(simplejwt());
    let mut t = Script::default().respond(
        401,
        r#"{"detail":"No active account found with the given credentials"}"#,
    );
    let e = data(&mut r, &mut t, 0).unwrap_err().to_string();
    assert!(e.contains("the login request failed: HTTP 401"), "{e}");
    assert!(e.contains("No active account"), "{e}");
    assert_eq!(t.sent.len(), 1);
}

#[test]
fn lifetimes_from_config_response_or_jwt_and_none_means_renew_after_401_only() {
    let login = |extra: Value| {
        let mut a = json!({"type": "login", "url": "http://auth.example/login", "token_path": "t"});
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        Session::new(&login_of(a), "http://api.example/api").unwrap()
    };
    let req = login(json!({}))
        .request(&mut FixedEnv { now_ms: 0, next: 0 })
        .unwrap();
    let read =
        |s: &mut Session, body: Value| s.read_token(&req, &json_resp(200, body), 1_000).unwrap();
    // A JWT's exp (seconds): renewed a tenth of its life early (at least 1 s).
    let token = read(&mut login(json!({})), json!({"t": jwt(101, 0)}));
    assert_eq!(token.refresh_at_ms, Some(101_000 - 10_000));
    // The response's expires_in wins over exp; the configured lifetime over both.
    let token = read(
        &mut login(json!({})),
        json!({"t": jwt(101, 0), "expires_in": 30}),
    );
    assert_eq!(token.refresh_at_ms, Some(1_000 + 30_000 - 3_000));
    let token = read(
        &mut login(json!({"lifetime_seconds": 3})),
        json!({"t": jwt(101, 0), "expires_in": 30}),
    );
    assert_eq!(token.refresh_at_ms, Some(1_000 + 3_000 - 1_000));
    // An opaque token with no lifetime: kept until a 401.
    let token = read(&mut login(json!({})), json!({"t": "opaque"}));
    assert_eq!(token.refresh_at_ms, None);
    // Already expired by our clock: renewed at once.
    let token = read(&mut login(json!({})), json!({"t": jwt(0, 0)}));
    assert_eq!(token.refresh_at_ms, Some(1_000));
    assert_eq!(jwt_exp("a.b"), None);
    assert_eq!(jwt_exp("x.!!!.y"), None);
    assert_eq!(jwt_exp(&jwt(1_700_000_000, 9)), Some(1_700_000_000));
    // No token where the config says: an auth error naming the key, tokens masked.
    let e = login(json!({}))
        .read_token(
            &req,
            &json_resp(200, json!({"access_token": "leak-me", "detail": "?"})),
            0,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("the login response of POST http://auth.example/login has no token at `t` (source.auth.token_path)"), "{e}");
    assert!(
        e.contains(r#""access_token":"***""#) && !e.contains("leak-me"),
        "{e}"
    );
}

#[test]
fn tokens_from_a_header_or_a_cookie_go_to_a_header_a_param_or_a_cookie() {
    let mut env = FixedEnv { now_ms: 0, next: 0 };
    let session = |auth: Value| Session::new(&login_of(auth), "http://api.example/api").unwrap();
    let resp = HttpResponse {
        status: 200,
        headers: vec![
            ("Set-Cookie".into(), "csrftoken=c1; Path=/".into()),
            (
                "set-cookie".into(),
                "sessionid=\"s-42\"; HttpOnly; Path=/".into(),
            ),
            ("X-Auth-Token".into(), "h-7".into()),
        ],
        body: b"<html>ok</html>".to_vec(),
    };
    let data = || HttpRequest {
        method: "GET",
        url: Url::parse("http://api.example/api/x?a=1").unwrap(),
        headers: vec![("Cookie".into(), "lang=en".into())],
        body: None,
    };
    // A form login with the token in a cookie, sent back as a cookie.
    let mut s = session(
        json!({"type": "login", "url": "/session/", "body_format": "form",
        "body": {"user": "u", "pass": "p w"}, "token_cookie": "sessionid", "add_to": "cookie"}),
    );
    let login = s.request(&mut env).unwrap();
    assert_eq!(login.body.as_deref(), Some(&b"user=u&pass=p+w"[..]));
    assert_eq!(
        login.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let token = s.read_token(&login, &resp, 0).unwrap();
    let mut req = data();
    s.apply(&mut req, &token);
    assert_eq!(req.header("cookie"), Some("lang=en; sessionid=s-42"));
    // A GET login with the token in a header, sent as a query parameter.
    let mut s = session(
        json!({"type": "login", "url": "http://auth.example/login", "method": "GET",
        "body": {"key": "k1"}, "headers": {"X-Api-Key": "hk"}, "token_header": "x-auth-token", "add_to": "params", "name": "auth"}),
    );
    let login = s.request(&mut env).unwrap();
    assert_eq!(login.url.as_str(), "http://auth.example/login?key=k1");
    assert_eq!(
        (login.body.clone(), login.header("x-api-key")),
        (None, Some("hk"))
    );
    let token = s.read_token(&login, &resp, 0).unwrap();
    let mut req = data();
    s.apply(&mut req, &token);
    assert_eq!(req.url.query(), Some("a=1&auth=h-7"));
    // A custom header without a prefix.
    let mut s = session(
        json!({"type": "login", "url": "/l", "token_header": "X-Auth-Token", "name": "X-Session", "token_prefix": ""}),
    );
    let token = s.read_token(&login, &resp, 0).unwrap();
    let mut req = data();
    s.apply(&mut req, &token);
    assert_eq!(req.header("x-session"), Some("h-7"));
    assert_eq!(req.header("authorization"), None);
}

#[test]
fn the_token_stays_on_the_source_origin_and_the_login_url_is_an_origin() {
    let mut r = requester(simplejwt());
    let mut t = Script::default()
        .respond_with(json_resp(200, json!({"refresh": "r", "access": "tok-xyz"})))
        .respond(200, "[]");
    let mut env = FixedEnv { now_ms: 0, next: 0 };
    let mut tries = 0;
    r.send(&mut t, &mut env, &mut tries, &mut |_| {
        Ok(HttpRequest {
            method: "GET",
            url: Url::parse("http://elsewhere.example/api/items/").unwrap(),
            headers: vec![],
            body: None,
        })
    })
    .unwrap();
    assert_eq!(t.sent[1].header("authorization"), None);
    let config = crate::config::load(
        &json!({"source": {"name": "a", "url": "http://api.example:8080/api",
                           "auth": {"type": "login", "url": "https://login.example/token/",
                                    "refresh": {"url": "/token/refresh/"}}}, "read": {}})
        .to_string(),
        None,
    )
    .unwrap();
    assert_eq!(
        crate::config::origins(&config).unwrap(),
        ["http://api.example:8080", "https://login.example"]
    );
    assert!(t.outcomes.is_empty());
}
