//! Test connection (`apiconn check`): one data request, shown as Dataphin's
//! "Test Connection" shows it, with credentials masked.

use crate::config::Config;
use crate::error::Error;
use crate::read::Reader;
use crate::request::Env;
use crate::requester::Transport;
use serde_json::{Value, json};

/// Headers whose values are credentials.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

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
    let headers: serde_json::Map<String, Value> = req
        .headers
        .iter()
        .map(|(n, v)| {
            let shown = if SECRET_HEADERS.contains(&n.to_ascii_lowercase().as_str()) {
                "***".to_string()
            } else {
                v.clone()
            };
            (n.clone(), Value::String(shown))
        })
        .collect();
    let batch = reader.handle_response(&req, &resp, tries)?;
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
        "response": { "status": resp.status, "body": body },
        "records": batch.count,
        "first_record": first,
        "ok": true,
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
    }
}
