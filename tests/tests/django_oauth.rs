//! OAuth2 client credentials against django-oauth-toolkit (tests/peers/django),
//! with a client secret full of characters that RFC 6749 section 2.3.1 has the
//! client form-urlencode before it base64-encodes `id:secret` for HTTP Basic.

use apiconn_tests::bin::{Run, config_file, run_with_env};
use apiconn_tests::peers::{Django, DjangoOptions};
use serde_json::{Value, json};

const ID: &str = "apiconn-pipeline";
/// `+ / = % & : ~ !` and a space; `%2B` and `+` also decode to something else
/// when the client forgets to encode.
const SECRET: &str = "s3+cr/e=t%2B&k:y~! x";

fn django() -> Django {
    Django::start(&DjangoOptions {
        client_id: ID.into(),
        client_secret: SECRET.into(),
        ..DjangoOptions::default()
    })
}

/// `apiconn read` of the protected items with a token from `/o/token/`.
fn read_items(server: &Django, client_auth: &str, secret: &str) -> Run {
    let config = json!({
        "source": {"name": "django", "url": server.url(),
                   "auth": {"type": "oauth2", "token_url": format!("{}/o/token/", server.url()),
                            "method": "POST", "client_id": ID, "client_secret": "${env:APICONN_SECRET_DJANGO}",
                            "client_auth": client_auth}},
        "read": {"path": "/api/oauth/items/"}
    });
    let path = config_file(&config.to_string(), "json");
    run_with_env(
        &[
            "read",
            path.to_str().unwrap(),
            "--allow-private",
            "--allow-env",
            "APICONN_SECRET_DJANGO",
        ],
        &[("APICONN_SECRET_DJANGO", secret)],
    )
}

fn items() -> Vec<Value> {
    ["alpha", "beta", "gamma"]
        .iter()
        .enumerate()
        .map(|(i, name)| json!({"id": i + 1, "name": name, "client": ID}))
        .collect()
}

#[test]
fn a_basic_header_with_the_client_form_urlencoded() {
    let server = django();
    let out = read_items(&server, "header", SECRET);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records(), items());
    assert!(!out.stderr.contains(SECRET), "{}", out.stderr);
}

#[test]
fn the_client_in_the_form_body() {
    let server = django();
    let out = read_items(&server, "body", SECRET);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records(), items());
    assert!(!out.stderr.contains(SECRET), "{}", out.stderr);
}

#[test]
fn a_wrong_secret_is_refused_without_showing_it() {
    let server = django();
    let wrong = "not the secret+/=";
    let out = read_items(&server, "body", wrong);
    assert_eq!(out.code, 4);
    assert!(
        out.stderr
            .contains("authentication failed: the token request failed: HTTP 401"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("invalid_client"), "{}", out.stderr);
    assert!(!out.stderr.contains(wrong), "{}", out.stderr);
}
