//! The API output component (README "`write`"): check records, batch
//! them, send them, and account for every one.

use crate::config::{Config, Source, Write, WriteMethod, WriteMode};
use crate::error::{Error, truncate};
use crate::fields;
use crate::jsonpath::{self, Path};
use crate::request::{self, Env, HttpRequest};
use crate::requester::{Requester, Transport};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A record that was not sent, and why; `line` is 1-based in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

/// What one call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub sent: u64,
    /// Records whose request finally failed.
    pub failed: Vec<Rejection>,
    /// Records that break the rules.
    pub rejected: Vec<Rejection>,
    pub requests: u32,
}

/// One request's worth of records, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub lines: Vec<u64>,
    pub body: Vec<u8>,
    /// The `Idempotency-Key`: the same on every retry, and on a rerun over
    /// the same input.
    pub key: String,
}

/// A writer: its requester, and everything else.
pub struct Writer {
    core: Core,
    requester: Requester,
}

pub struct Core {
    source: Source,
    write: Write,
    write_path: Path,
    buffer: Vec<(u64, Map<String, Value>)>,
}

/// The lines of an NDJSON chunk, numbered from `first_line`; blank lines
/// are not records.
fn lines(ndjson: &[u8], first_line: u64) -> impl Iterator<Item = (u64, &[u8])> {
    ndjson
        .split(|b| *b == b'\n')
        .enumerate()
        .map(move |(i, l)| (first_line + i as u64, l))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

impl Writer {
    pub fn open(config: Config) -> Result<Writer, Error> {
        let requester = Requester::new(
            &config.source,
            config.write.as_ref().and_then(|w| w.signature.clone()),
        )?;
        Ok(Writer {
            core: Core::open(config)?,
            requester,
        })
    }

    pub fn check(&self, ndjson: &[u8], first_line: u64) -> Vec<Rejection> {
        self.core.check(ndjson, first_line)
    }

    pub fn accept(&mut self, ndjson: &[u8], first_line: u64) -> (Vec<Outgoing>, Vec<Rejection>) {
        self.core.accept(ndjson, first_line)
    }

    pub fn flush(&mut self) -> Option<Outgoing> {
        self.core.flush()
    }

    /// Sends one batch with retries; a final failure fails its records.
    pub fn send(
        &mut self,
        batch: &Outgoing,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
        report: &mut Report,
    ) {
        let mut tries = 0;
        let Writer { core, requester } = self;
        let result = requester.send(transport, env, &mut tries, &mut |env| {
            core.build_request(batch, env)
        });
        report.requests += tries;
        match result {
            Ok(_) => report.sent += batch.lines.len() as u64,
            Err(e) => {
                let reason = truncate(&e.to_string(), 600);
                report.failed.extend(batch.lines.iter().map(|l| Rejection {
                    line: *l,
                    reason: reason.clone(),
                }));
            }
        }
    }

    /// Takes a chunk of NDJSON and sends every full batch; unless
    /// `keep_going`, stops at the first batch that fails.
    pub fn write(
        &mut self,
        ndjson: &[u8],
        first_line: u64,
        keep_going: bool,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
    ) -> Report {
        let (batches, rejected) = self.accept(ndjson, first_line);
        let mut report = Report {
            rejected,
            ..Report::default()
        };
        for batch in &batches {
            self.send(batch, transport, env, &mut report);
            if !keep_going && !report.failed.is_empty() {
                break;
            }
        }
        report
    }

    /// Sends the last, partial batch.
    pub fn finish(&mut self, transport: &mut dyn Transport, env: &mut dyn Env) -> Report {
        let mut report = Report::default();
        if let Some(batch) = self.flush() {
            self.send(&batch, transport, env, &mut report);
        }
        report
    }
}

impl Core {
    fn open(config: Config) -> Result<Core, Error> {
        let Some(write) = config.write else {
            return Err(Error::config("write", "the config has no `write` block"));
        };
        let write_path = write.write_path.get().clone();
        Ok(Core {
            source: config.source,
            write,
            write_path,
            buffer: Vec::new(),
        })
    }

    /// One line as the record to send, or why it cannot be sent.
    fn record(&self, line: &[u8]) -> Result<Map<String, Value>, String> {
        let value: Value =
            serde_json::from_slice(line).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(record) = value else {
            return Err("not a JSON object".into());
        };
        if let Some((field, v)) = record.iter().find(|(_, v)| v.is_object() || v.is_array()) {
            let kind = if v.is_object() {
                "an object"
            } else {
                "an array"
            };
            return Err(format!(
                "field `{field}` is {kind}: only strings, numbers, booleans and null can be written (flatten the record first)"
            ));
        }
        match &self.write.fields {
            None => Ok(record),
            Some(specs) => {
                let specs: Vec<fields::Spec> = specs
                    .iter()
                    .map(|f| fields::Spec {
                        from: &f.from,
                        kind: f.kind,
                        to: f.to.as_deref().unwrap_or(&f.from),
                    })
                    .collect();
                fields::project(&record, &specs)
            }
        }
    }

    /// Every non-compliant record of a chunk, sending nothing.
    pub fn check(&self, ndjson: &[u8], first_line: u64) -> Vec<Rejection> {
        lines(ndjson, first_line)
            .filter_map(|(line, text)| {
                self.record(text)
                    .err()
                    .map(|reason| Rejection { line, reason })
            })
            .collect()
    }

    /// Takes a chunk: its compliant records join the buffer, full batches
    /// come out. Non-compliant records are returned as rejections.
    pub fn accept(&mut self, ndjson: &[u8], first_line: u64) -> (Vec<Outgoing>, Vec<Rejection>) {
        let mut rejected = Vec::new();
        let mut out = Vec::new();
        for (line, text) in lines(ndjson, first_line) {
            match self.record(text) {
                Ok(record) => {
                    self.buffer.push((line, record));
                    if self.buffer.len() >= self.batch_len() {
                        out.push(self.take());
                    }
                }
                Err(reason) => rejected.push(Rejection { line, reason }),
            }
        }
        (out, rejected)
    }

    /// The last, partial batch.
    pub fn flush(&mut self) -> Option<Outgoing> {
        (!self.buffer.is_empty()).then(|| self.take())
    }

    fn batch_len(&self) -> usize {
        match self.write.mode {
            WriteMode::Single => 1,
            WriteMode::Batch => self.write.batch_size as usize,
        }
    }

    fn take(&mut self) -> Outgoing {
        let batch = std::mem::take(&mut self.buffer);
        let lines: Vec<u64> = batch.iter().map(|(l, _)| *l).collect();
        let payload = match self.write.mode {
            WriteMode::Single => Value::Object(batch.into_iter().next().expect("one record").1),
            WriteMode::Batch => {
                Value::Array(batch.into_iter().map(|(_, r)| Value::Object(r)).collect())
            }
        };
        let mut doc = Value::Null;
        jsonpath::put(&mut doc, &self.write_path, payload);
        let body = doc.to_string().into_bytes();
        let mut h = Sha256::new();
        h.update(self.source.name.as_bytes());
        h.update(self.write.path.as_bytes());
        h.update(lines[0].to_le_bytes());
        h.update(&body);
        let key = h
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        Outgoing { lines, body, key }
    }

    /// The request for a batch, with fresh generated values.
    pub fn build_request(&self, batch: &Outgoing, env: &mut dyn Env) -> Result<HttpRequest, Error> {
        let mut url = request::join_url(&self.source.url, &self.write.path)?;
        request::add_query(&mut url, &request::resolve(&self.write.params, env));
        let mut req = HttpRequest {
            method: match self.write.method {
                WriteMethod::POST => "POST",
                WriteMethod::PUT => "PUT",
            },
            url,
            headers: vec![
                ("Accept".into(), "application/json".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: Some(batch.body.clone()),
        };
        for (name, value) in request::resolve(&self.write.headers, env) {
            req.set_header(&name, request::text(&value));
        }
        req.set_header("Idempotency-Key", batch.key.clone());
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::request::{HttpResponse, testing::FixedEnv};
    use crate::requester::testing::{Responder, ok};
    use serde_json::json;

    fn writer(write: Value) -> Writer {
        let c =
            json!({"source": {"name": "w", "url": "http://h/api", "retries": 1}, "write": write});
        Writer::open(config::load(&c.to_string(), None).unwrap()).unwrap()
    }

    const INPUT: &[u8] = b"{\"id\":1,\"a\":\"x\"}\n\n{\"id\":2,\"nested\":{\"b\":1}}\n[1]\n{\"id\":3,\"t\":[1]}\nnot json\n{\"id\":4,\"a\":null}\n";

    #[test]
    fn non_compliant_records_are_named_by_line() {
        let w = writer(json!({}));
        let r = w.check(INPUT, 1);
        let got: Vec<(u64, &str)> = r.iter().map(|r| (r.line, r.reason.as_str())).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0, 3);
        assert!(
            got[0].1.starts_with("field `nested` is an object"),
            "{}",
            got[0].1
        );
        assert_eq!(got[1], (4, "not a JSON object"));
        assert!(got[2].1.starts_with("field `t` is an array"));
        assert_eq!(got[3].0, 6);
        assert!(got[3].1.starts_with("not valid JSON"));
    }

    #[test]
    fn batches_under_a_write_path_with_stable_idempotency_keys() {
        let mut w = writer(json!({"mode": "batch", "batch_size": 2, "write_path": "data.items"}));
        let (batches, rejected) = w.accept(INPUT, 10);
        assert_eq!(rejected.len(), 4);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].lines, vec![10, 16]);
        assert_eq!(
            String::from_utf8(batches[0].body.clone()).unwrap(),
            r#"{"data":{"items":[{"id":1,"a":"x"},{"id":4,"a":null}]}}"#
        );
        assert!(w.flush().is_none());
        // Same input, same place: same key (a rerun de-duplicates); another place: another key.
        let mut again =
            writer(json!({"mode": "batch", "batch_size": 2, "write_path": "data.items"}));
        assert_eq!(again.accept(INPUT, 10).0[0].key, batches[0].key);
        assert_ne!(again.accept(INPUT, 11).0[0].key, batches[0].key);
        assert_eq!(batches[0].key.len(), 32);
    }

    #[test]
    fn single_mode_sends_each_record_and_fields_convert() {
        let mut w = writer(
            json!({"method": "PUT", "path": "/items", "params": {"upsert": true},
                                  "fields": [{"from": "id", "to": "ID", "type": "string"}, {"from": "a", "type": "string"}]}),
        );
        let mut t = Responder::new(|_: &HttpRequest| ok(json!({"ok": true})));
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let report = w.write(INPUT, 1, true, &mut t, &mut env);
        assert_eq!(report.sent, 2);
        assert_eq!(report.rejected.len(), 4);
        assert_eq!(report.requests, 2);
        let req = &t.sent[0];
        assert_eq!(
            (req.method, req.url.as_str()),
            ("PUT", "http://h/api/items?upsert=true")
        );
        assert_eq!(req.body.as_deref(), Some(&br#"{"ID":"1","a":"x"}"#[..]));
        assert!(req.header("idempotency-key").is_some());
        assert_eq!(
            t.sent[1].body.as_deref(),
            Some(&br#"{"ID":"4","a":null}"#[..])
        );
    }

    #[test]
    fn a_failed_request_fails_its_records_and_keeps_the_key_on_retries() {
        let mut w = writer(json!({"mode": "batch", "batch_size": 3}));
        let mut t = Responder::new(|req: &HttpRequest| {
            let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
            if body.as_array().unwrap().iter().any(|r| r["id"] == 5) {
                HttpResponse {
                    status: 400,
                    headers: vec![],
                    body: b"{\"error\":\"bad id 5\"}".to_vec(),
                }
            } else {
                HttpResponse {
                    status: 503,
                    headers: vec![("Retry-After".into(), "0".into())],
                    body: vec![],
                }
            }
        });
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let input = (1..=5)
            .map(|i| format!("{{\"id\":{i}}}\n"))
            .collect::<String>();
        let mut report = w.write(input.as_bytes(), 1, true, &mut t, &mut env);
        let last = w.finish(&mut t, &mut env);
        report.failed.extend(last.failed);
        report.requests += last.requests;
        assert_eq!(report.sent, 0);
        assert_eq!(
            report.failed.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert!(
            report.failed[0].reason.starts_with("HTTP 503"),
            "{}",
            report.failed[0].reason
        );
        assert!(report.failed[4].reason.contains("bad id 5"));
        // Two tries of the first batch (retries: 1), one of the second (400 is final).
        assert_eq!(report.requests, 3);
        assert_eq!(
            t.sent[0].header("idempotency-key"),
            t.sent[1].header("idempotency-key")
        );
        assert_ne!(
            t.sent[0].header("idempotency-key"),
            t.sent[2].header("idempotency-key")
        );
    }
}
