//! The API input component as a state machine: build the request, read the
//! response into a batch of flat records, say where the read stands.

use crate::auth::Authenticator;
use crate::config::{Config, Read, ReadMethod, Source};
use crate::error::{Error, truncate};
use crate::exchange::{self, Policy, Transport};
use crate::fields::{self, Spec};
use crate::flatten::{self, FlattenError};
use crate::jsonpath::{self, Path};
use crate::request::{self, Env, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a read stands; the opaque checkpoint of the WIT contract.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Every request has been answered.
    pub done: bool,
}

/// One response's worth of records.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// NDJSON, one flat object per line.
    pub records: Vec<u8>,
    pub count: u32,
    pub checkpoint: String,
    pub requests: u32,
    /// Things the user should know that did not fail the run.
    pub warnings: Vec<String>,
}

pub struct Reader {
    source: Source,
    read: Read,
    records_path: Path,
    auth: Authenticator,
    state: Checkpoint,
    /// Logical requests made in this run (for `max_requests`).
    requests: u32,
    /// Records emitted or skipped so far in this run.
    records_seen: u64,
    dirty: u64,
}

impl Reader {
    pub fn open(config: Config, state: Option<&str>) -> Result<Reader, Error> {
        let Some(read) = config.read else {
            return Err(Error::config("read", "the config has no `read` block"));
        };
        let state = match state {
            None => Checkpoint::default(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                Error::config("state", format!("not a checkpoint of this connector: {e}"))
            })?,
        };
        let records_path =
            jsonpath::parse(&read.records).map_err(|e| Error::config("read.records", e))?;
        let base = request::join_url(&config.source.url, "")?;
        Ok(Reader {
            auth: Authenticator::new(&config.source.auth, &base),
            source: config.source,
            read,
            records_path,
            state,
            requests: 0,
            records_seen: 0,
            dirty: 0,
        })
    }

    pub fn is_done(&self) -> bool {
        self.state.done
    }

    pub fn policy(&self) -> Policy {
        Policy {
            retries: self.source.retries,
            timeout_ms: self.source.timeout_ms,
        }
    }

    /// The next request, with fresh generated values; call again for a retry.
    pub fn build_request(&self, env: &mut dyn Env) -> Result<HttpRequest, Error> {
        let read = &self.read;
        let mut url = request::join_url(&self.source.url, &read.path)?;
        request::add_query(&mut url, &request::resolve(&read.params, env));
        let mut req = HttpRequest {
            method: match read.method {
                ReadMethod::GET => "GET",
                ReadMethod::POST => "POST",
            },
            url,
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
        };
        if read.method == ReadMethod::POST {
            let (body, content_type) =
                request::body(&request::resolve(&read.body, env), read.body_format);
            req.set_header("Content-Type", content_type.into());
            req.body = Some(body);
        }
        for (name, value) in request::resolve(&read.headers, env) {
            req.set_header(&name, request::text(&value));
        }
        self.auth.apply(&mut req);
        Ok(req)
    }

    /// Checks the cap before a new logical request.
    pub fn count_request(&mut self) -> Result<(), Error> {
        if self.requests >= self.read.max_requests {
            return Err(Error::Limit(format!(
                "read.max_requests ({}) reached before the read was complete; raise it if the API really has more pages",
                self.read.max_requests
            )));
        }
        self.requests += 1;
        Ok(())
    }

    /// Turns a successful response into a batch and moves the read on.
    pub fn handle_response(
        &mut self,
        req: &HttpRequest,
        resp: &HttpResponse,
        tries: u32,
    ) -> Result<Batch, Error> {
        let doc: Value = serde_json::from_slice(&resp.body).map_err(|e| {
            Error::Response(format!(
                "{} answered {} with a body that is not JSON ({e}): {}",
                req.describe(),
                resp.status,
                truncate(&String::from_utf8_lossy(&resp.body), 200)
            ))
        })?;
        let mut batch = self.emit(&doc)?;
        self.state.done = true;
        batch.checkpoint = serde_json::to_string(&self.state).expect("checkpoint is JSON");
        batch.requests = tries;
        Ok(batch)
    }

    fn emit(&mut self, doc: &Value) -> Result<Batch, Error> {
        let read = &self.read;
        let specs: Option<Vec<Spec>> = read.fields.as_ref().map(|fs| {
            fs.iter()
                .map(|f| Spec {
                    from: &f.name,
                    kind: f.kind,
                    to: f.rename.as_deref().unwrap_or(&f.name),
                })
                .collect()
        });
        let mut out = Vec::new();
        let mut count = 0;
        let mut dropped = 0;
        let mut warnings = Vec::new();
        for (i, record) in flatten::extract(doc, &self.records_path)
            .into_iter()
            .enumerate()
        {
            let index = self.records_seen;
            self.records_seen += 1;
            let at = format!("record {index} (item {i} of response {})", self.requests);
            let (flat, d) = flatten::flatten(record, &read.flatten.separator, read.flatten.arrays)
                .map_err(|e| match e {
                    FlattenError::Array(_)
                    | FlattenError::Collision(_)
                    | FlattenError::NotAnObject(_) => {
                        Error::NonCompliantRecord(format!("{at}: {e}"))
                    }
                })?;
            dropped += d;
            let flat = match &specs {
                None => flat,
                Some(specs) => match fields::project(&flat, specs) {
                    Ok(projected) => projected,
                    Err(why) => {
                        self.dirty += 1;
                        if self.dirty > read.dirty_records {
                            return Err(Error::DirtyRecords(format!(
                                "{at}: {why} ({} dirty records, read.dirty_records allows {})",
                                self.dirty, read.dirty_records
                            )));
                        }
                        warnings.push(format!("skipped dirty {at}: {why}"));
                        continue;
                    }
                },
            };
            serde_json::to_writer(&mut out, &flat).expect("writing to a Vec");
            out.push(b'\n');
            count += 1;
        }
        if dropped > 0 {
            warnings.push(format!(
                "dropped {dropped} array fields (read.flatten.arrays = \"drop\")"
            ));
        }
        Ok(Batch {
            records: out,
            count,
            checkpoint: String::new(),
            requests: 0,
            warnings,
        })
    }
}

/// Drives a reader one batch further through `transport`.
pub fn next_batch(
    reader: &mut Reader,
    transport: &mut dyn Transport,
    env: &mut dyn Env,
) -> Result<Option<Batch>, Error> {
    if reader.is_done() {
        return Ok(None);
    }
    reader.count_request()?;
    let mut tries = 0;
    let policy = reader.policy();
    let (req, resp) = exchange::send(transport, env, policy, &mut tries, &mut |env| {
        reader.build_request(env)
    })?;
    reader.handle_response(&req, &resp, tries).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::exchange::testing::Script;
    use crate::request::testing::FixedEnv;

    fn reader(config_json: &str) -> Reader {
        Reader::open(config::load(config_json, None).unwrap(), None).unwrap()
    }

    fn read_all(reader: &mut Reader, script: &mut Script) -> Result<Vec<Batch>, Error> {
        let mut env = FixedEnv {
            now_ms: 1_700_000_000_000,
            next: 0,
        };
        let mut out = vec![];
        while let Some(b) = next_batch(reader, script, &mut env)? {
            out.push(b);
        }
        Ok(out)
    }

    #[test]
    fn a_get_with_params_headers_and_bearer_auth() {
        let mut r = reader(
            r#"{"source":{"name":"a","url":"http://h/api/","auth":{"type":"bearer","token":"T"}},
                "read":{"path":"/users","params":{"page_size":50,"q":"a b"},"headers":{"X-Trace":{"random":"hex32"}},
                        "records":"data.items"}}"#,
        );
        let mut s = Script::default().respond(
            200,
            r#"{"data":{"items":[{"id":1,"user":{"name":"x"}},{"id":2,"user":{"name":"y"}}]}}"#,
        );
        let batches = read_all(&mut r, &mut s).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(
            String::from_utf8(batches[0].records.clone()).unwrap(),
            "{\"id\":1,\"user.name\":\"x\"}\n{\"id\":2,\"user.name\":\"y\"}\n"
        );
        assert_eq!(batches[0].count, 2);
        assert_eq!(batches[0].checkpoint, r#"{"done":true}"#);
        let sent = &s.sent[0];
        assert_eq!(sent.url.as_str(), "http://h/api/users?page_size=50&q=a+b");
        assert_eq!(sent.header("authorization"), Some("Bearer T"));
        assert_eq!(
            sent.header("x-trace"),
            Some("000102030405060708090a0b0c0d0e0f")
        );
        assert_eq!(sent.body, None);
        // A reader opened at the checkpoint has nothing left to do.
        let mut again = Reader::open(
            config::load(
                r#"{"source":{"name":"a","url":"http://h"},"read":{}}"#,
                None,
            )
            .unwrap(),
            Some(&batches[0].checkpoint),
        )
        .unwrap();
        assert!(
            read_all(&mut again, &mut Script::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_post_with_a_form_body() {
        let mut r = reader(
            r#"{"source":{"name":"a","url":"http://h","auth":{"type":"basic","username":"u","password":"p"}},
                "read":{"method":"POST","body":{"since":"2024-01-01","n":3},"body_format":"form"}}"#,
        );
        let mut s = Script::default().respond(200, r#"{"id":1}"#);
        read_all(&mut r, &mut s).unwrap();
        let sent = &s.sent[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.body.as_deref(), Some(&b"since=2024-01-01&n=3"[..]));
        assert_eq!(
            sent.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(sent.header("authorization"), Some("Basic dTpw"));
    }

    #[test]
    fn arrays_fail_the_run_naming_record_and_field() {
        let mut r = reader(r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"rows"}}"#);
        let mut s =
            Script::default().respond(200, r#"{"rows":[{"id":1},{"id":2,"user":{"tags":["a"]}}]}"#);
        let err = read_all(&mut r, &mut s).unwrap_err();
        assert_eq!(
            err,
            Error::NonCompliantRecord(
                "record 1 (item 1 of response 1): field `user.tags` is an array (set read.flatten.arrays to \"json\" or \"drop\" to accept it)".into()
            )
        );
    }

    #[test]
    fn fields_convert_and_dirty_records_are_counted() {
        let config = |allowed: u32| {
            format!(
                r#"{{"source":{{"name":"a","url":"http://h"}},"read":{{"dirty_records":{allowed},
                "fields":[{{"name":"id","type":"long"}},{{"name":"user.name","as":"name"}}]}}}}"#
            )
        };
        let body = r#"[{"id":"1","user":{"name":"x"}},{"id":"one"},{"id":3}]"#;
        let mut r = reader(&config(1));
        let batches = read_all(&mut r, &mut Script::default().respond(200, body)).unwrap();
        assert_eq!(
            String::from_utf8(batches[0].records.clone()).unwrap(),
            "{\"id\":1,\"name\":\"x\"}\n{\"id\":3,\"name\":null}\n"
        );
        assert_eq!(batches[0].warnings.len(), 1);
        let mut r = reader(&config(0));
        let err = read_all(&mut r, &mut Script::default().respond(200, body)).unwrap_err();
        assert!(
            matches!(&err, Error::DirtyRecords(m) if m.starts_with("record 1 (item 1 of response 1): field `id`")),
            "{err}"
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_a_clear_error() {
        let mut r = reader(r#"{"source":{"name":"a","url":"http://h"},"read":{"path":"x"}}"#);
        let err = read_all(
            &mut r,
            &mut Script::default().respond(200, "<html>oops</html>"),
        )
        .unwrap_err();
        let Error::Response(m) = err else { panic!() };
        assert!(
            m.starts_with("GET http://h/x answered 200 with a body that is not JSON"),
            "{m}"
        );
        assert!(m.ends_with("<html>oops</html>"));
    }
}
