//! Test connection (`apiconn check`): one data request, shown as Dataphin's
//! "Test Connection" shows it, with credentials masked.

use crate::config::Config;
use crate::error::Error;
use crate::read::Reader;
use crate::request::Env;
use crate::requester::Transport;
use serde_json::{Value, json};

/// Headers whose values are credentials.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Headers as a JSON object, credentials shown as `***` (a repeated
/// header's values joined by `, `).
fn shown(headers: &[(String, String)]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for (n, v) in headers {
        let v = if SECRET_HEADERS.contains(&n.to_ascii_lowercase().as_str()) {
            "***".to_string()
        } else {
            v.clone()
        };
        match out.get_mut(n) {
            Some(Value::String(before)) => {
                before.push_str(", ");
                before.push_str(&v);
            }
            _ => {
                out.insert(n.clone(), Value::String(v));
            }
        }
    }
    out
}

pub fn check(
    config: Config,
    transport: &mut dyn Transport,
    env: &mut dyn Env,
) -> Result<String, Error> {
    let source = json!({
        "name": config.source.name,
        "description": config.source.description,
        "tags": config.source.tags,
        "url": config.source.url,
    });
    // A config of several streams is checked with its first one that has no parent.
    let first = config
        .all_streams()
        .iter()
        .find(|(_, r)| r.parent.is_none())
        .map(|(n, _)| n.to_string());
    let mut reader = Reader::open_stream(&config, first.as_deref(), None)?;
    reader.count_request()?;
    let mut tries = 0;
    let result = reader.send(transport, env, &mut tries);
    let token = reader.token_exchange().map(
        |t| json!({"request": t.request, "response": {"status": t.status, "body": t.response}}),
    );
    let (req, resp) = match result {
        Ok(ok) => ok,
        // The token exchange is worth seeing when the data request fails.
        Err(e) => {
            return Err(match (token, e) {
                (Some(t), Error::Auth(m)) => Error::Auth(format!("{m}\ntoken exchange: {t}")),
                (_, e) => e,
            });
        }
    };
    let headers = shown(&req.headers);
    let batch = reader.handle_response(&req, &resp, tries)?;
    let next = match reader.next_request(env) {
        None => Value::Null,
        Some(Ok(next)) => json!({"method": next.method, "url": next.url.as_str()}),
        Some(Err(e)) => json!({"error": e.to_string()}),
    };
    let first: Option<Value> = batch
        .records
        .split(|b| *b == b'\n')
        .next()
        .and_then(|line| serde_json::from_slice(line).ok());
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let report = json!({
        "source": source,
        "auth": token,
        "request": { "method": req.method, "url": req.url.as_str(), "headers": headers },
        "response": { "status": resp.status, "headers": shown(&resp.headers), "body": body },
        "records": batch.count,
        "first_record": first,
        "next_request": next,
        "warnings": batch.warnings,
        "ok": batch.warnings.is_empty(),
    });
    Ok(serde_json::to_string_pretty(&report).expect("report is JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::request::testing::FixedEnv;
    use crate::requester::testing::Script;

    #[test]
    fn shows_request_and_response_with_credentials_masked() {
        let c = config::load(
            r#"{"source":{"name":"a","url":"http://h","auth":{"type":"bearer","token":"s3cret"}},"read":{"records":"items"}}"#,
            None,
        )
        .unwrap();
        let mut s = Script::default().respond(200, r#"{"items":[{"id":1,"u":{"n":2}}]}"#);
        let out = check(c, &mut s, &mut FixedEnv { now_ms: 0, next: 0 }).unwrap();
        assert!(!out.contains("s3cret"));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["request"]["headers"]["Authorization"], "***");
        assert_eq!(v["response"]["status"], 200);
        assert_eq!(v["records"], 1);
        assert_eq!(v["first_record"], json!({"id": 1, "u.n": 2}));
        assert_eq!(v["next_request"], Value::Null);
        assert_eq!(v["ok"], true);
    }

    #[test]
    fn shows_response_headers_the_next_request_and_warnings() {
        let c = config::load(
            r#"{"source":{"name":"a","url":"http://h"},"read":{"path":"/items","records":"data",
                "paginate":{"type":"page","param":"page"}}}"#,
            None,
        )
        .unwrap();
        let mut s = Script::default().respond_with(crate::request::HttpResponse {
            status: 200,
            headers: vec![
                ("x-total".into(), "7".into()),
                ("set-cookie".into(), "sid=abc".into()),
            ],
            body: br#"{"results":[{"id":1}]}"#.to_vec(),
        });
        let out = check(c, &mut s, &mut FixedEnv { now_ms: 0, next: 0 }).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["response"]["headers"],
            json!({"x-total": "7", "set-cookie": "***"})
        );
        assert_eq!(v["records"], 0);
        assert_eq!(v["ok"], false);
        assert_eq!(
            v["warnings"],
            json!([
                "read.records `data` is not in the response of GET http://h/items, so it \
                    gave no records: its top-level keys are `results`; did you mean \
                    `\"records\": \"results\"`?"
            ])
        );
        // A page loop without a stop condition ends at an empty page.
        assert_eq!(v["next_request"], Value::Null);
    }
}
