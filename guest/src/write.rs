//! The API output component (README "`write`"): check records, batch
//! them, send them, and account for every one.

use crate::config::{Config, FieldType, Source, Write, WriteMethod, WriteMode};
use crate::error::{Error, truncate};
use crate::fields;
use crate::jsonpath::{self, Path};
use crate::nest;
use crate::read::transcode::{Flat, Scratch};
use crate::request::{self, Env, HttpRequest};
use crate::requester::{Requester, Transport};
use crate::template::Template;
use serde_json::{Map, Value};

/// A record that was not sent, and why; `line` is 1-based in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

/// What one call did. Every record it took ends in exactly one of `sent`,
/// `failed`, `rejected` or `refused` (README "`write`": what the counts mean).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub sent: u64,
    /// Records whose request never succeeded: a transport error, 429 or
    /// 5xx after the retries, an auth refusal (401, 403, 407, a failed
    /// token request), 408.
    pub failed: Vec<Rejection>,
    /// Records that break the rules; nothing was sent for them.
    pub rejected: Vec<Rejection>,
    /// Records the server refused with any other 4xx: their own request, or
    /// with `bisect` the smallest batch that held them. The reason is the
    /// server's answer.
    pub refused: Vec<Rejection>,
    pub requests: u32,
}

/// One request's worth of records, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub lines: Vec<u64>,
    pub method: WriteMethod,
    /// `write.path`, filled from the record.
    pub path: String,
    /// Empty for a `DELETE`: it sends no body.
    pub body: Vec<u8>,
    /// The `Idempotency-Key`: the same on every retry, and on a rerun over
    /// the same input.
    pub key: String,
    /// The records of the body (JSON text each), to split a refused batch.
    items: Vec<Vec<u8>>,
}

/// Whether a failed request means the server refused its records (any 4xx
/// that is about the request, not about credentials or time).
pub fn is_refusal(e: &Error) -> bool {
    matches!(e, Error::HttpStatus { code, .. }
        if (400..500).contains(code) && !matches!(code, 401 | 403 | 407 | 408 | 429))
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
    template: Template,
    /// The body's text before and after its records (`write.write_path`);
    /// `None` for a path that [`jsonpath::put`] must place.
    envelope: Option<(Vec<u8>, Vec<u8>)>,
    /// The path of every record, when records are sent as they are: no
    /// `fields`, `json_fields`, `nest`, `method_field` or field in the
    /// path. Then a line that [`Flat`] takes is sent as its own text.
    verbatim: Option<String>,
    scratch: Scratch,
    buffer: Vec<(u64, Prepared)>,
}

/// One record, checked and shaped as it will be sent.
struct Prepared {
    method: WriteMethod,
    path: String,
    /// The record as JSON text.
    json: Vec<u8>,
}

/// The lines of an NDJSON chunk, numbered from `first_line`; blank lines
/// are not records.
fn lines(ndjson: &[u8], first_line: u64) -> impl Iterator<Item = (u64, &[u8])> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', ndjson)
        .chain([ndjson.len()])
        .enumerate()
        .map(move |(i, end)| {
            let line = &ndjson[start..end];
            start = end + 1;
            (first_line + i as u64, line)
        })
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

    /// Sends one batch with retries. With `write.bisect`, a batch refused
    /// with 400 or 422 is split in halves, each sent again (depth first, in
    /// input order) until the refused records stand alone. Every record ends
    /// sent, refused or failed.
    pub fn send(
        &mut self,
        batch: &Outgoing,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
        report: &mut Report,
    ) {
        let Writer { core, requester } = self;
        let mut todo = vec![batch.clone()];
        while let Some(batch) = todo.pop() {
            let mut tries = 0;
            let result = requester.send(transport, env, &mut tries, &mut |env| {
                core.build_request(&batch, env)
            });
            report.requests += tries;
            let e = match result {
                Ok(_) => {
                    report.sent += batch.lines.len() as u64;
                    continue;
                }
                Err(e) => e,
            };
            if core.write.bisect
                && batch.lines.len() > 1
                && matches!(
                    e,
                    Error::HttpStatus {
                        code: 400 | 422,
                        ..
                    }
                )
            {
                let (left, right) = core.halves(batch);
                todo.push(right);
                todo.push(left);
                continue;
            }
            let reason = truncate(&e.to_string(), 600);
            let list = if is_refusal(&e) {
                &mut report.refused
            } else {
                &mut report.failed
            };
            list.extend(batch.lines.iter().map(|l| Rejection {
                line: *l,
                reason: reason.clone(),
            }));
        }
    }

    /// Takes a chunk of NDJSON and sends every full batch; unless
    /// `keep_going`, stops after the first batch with a record not stored.
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
            let all_stored = report.failed.is_empty() && report.refused.is_empty();
            if !keep_going && !all_stored {
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
        let template = Template::parse(&write.path).map_err(|e| Error::config("write.path", e))?;
        let verbatim = (write.method_field.is_none()
            && write.fields.is_none()
            && write.json_fields.is_empty()
            && !write.nest)
            .then(|| template.fill(&Map::new()).ok())
            .flatten();
        Ok(Core {
            source: config.source,
            envelope: envelope(&write_path),
            write,
            write_path,
            template,
            verbatim,
            scratch: Scratch::default(),
            buffer: Vec::new(),
        })
    }

    /// One line (`text`, inside the chunk `ndjson`) as the record to send,
    /// or why it cannot be sent: as it is when `flat` takes it, else
    /// through [`Core::record`].
    fn prepare(
        &self,
        flat: Option<&mut Flat>,
        ndjson: &[u8],
        text: &[u8],
    ) -> Result<Prepared, String> {
        if let (Some(flat), Some(path)) = (flat, &self.verbatim) {
            let start = text.as_ptr() as usize - ndjson.as_ptr() as usize;
            if let Some(json) = flat.object(start, start + text.len()) {
                return Ok(Prepared {
                    method: self.write.method,
                    path: path.clone(),
                    json: json.to_vec(),
                });
            }
        }
        self.record(text)
    }

    /// One line as the record to send, or why it cannot be sent.
    fn record(&self, line: &[u8]) -> Result<Prepared, String> {
        let value: Value =
            serde_json::from_slice(line).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(mut record) = value else {
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
        let method = match &self.write.method_field {
            None => self.write.method,
            Some(field) => match record.shift_remove(field) {
                None | Some(Value::Null) => self.write.method,
                Some(Value::String(m)) if WriteMethod::parse(&m).is_some() => {
                    WriteMethod::parse(&m).expect("checked")
                }
                Some(other) => {
                    return Err(format!(
                        "field `{field}` (write.method_field) is {other}: expected POST, PUT, PATCH or DELETE"
                    ));
                }
            },
        };
        let path = self.template.fill(&record)?;
        let mut record = match &self.write.fields {
            None => record,
            Some(specs) => {
                let mut out = Map::new();
                for f in specs {
                    let v = record.get(&f.from).unwrap_or(&Value::Null);
                    let converted = match f.kind {
                        FieldType::Json => json_text(v),
                        kind => fields::convert(v, kind),
                    }
                    .map_err(|e| format!("field `{}`: {e}", f.from))?;
                    out.insert(f.to.clone().unwrap_or_else(|| f.from.clone()), converted);
                }
                out
            }
        };
        for name in &self.write.json_fields {
            if let Some(v) = record.get_mut(name) {
                *v = json_text(v).map_err(|e| format!("field `{name}`: {e}"))?;
            }
        }
        if self.write.nest {
            record = nest::nest(record, &self.write.separator)?;
        }
        Ok(Prepared {
            method,
            path,
            json: serde_json::to_vec(&record).expect("a JSON object serializes"),
        })
    }

    /// Every non-compliant record of a chunk, sending nothing.
    pub fn check(&self, ndjson: &[u8], first_line: u64) -> Vec<Rejection> {
        let mut scratch = Scratch::default();
        let mut flat = self
            .verbatim
            .is_some()
            .then(|| Flat::new(ndjson, &mut scratch));
        lines(ndjson, first_line)
            .filter_map(|(line, text)| {
                self.prepare(flat.as_mut(), ndjson, text)
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
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut flat = self
            .verbatim
            .is_some()
            .then(|| Flat::new(ndjson, &mut scratch));
        for (line, text) in lines(ndjson, first_line) {
            match self.prepare(flat.as_mut(), ndjson, text) {
                Ok(record) => {
                    self.buffer.push((line, record));
                    if self.buffer.len() >= self.batch_len() {
                        out.push(self.take());
                    }
                }
                Err(reason) => rejected.push(Rejection { line, reason }),
            }
        }
        drop(flat);
        self.scratch = scratch;
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
        let (method, path) = match self.write.mode {
            WriteMode::Single => (batch[0].1.method, batch[0].1.path.clone()),
            WriteMode::Batch => (self.write.method, self.write.path.clone()),
        };
        let (lines, items) = batch.into_iter().map(|(l, p)| (l, p.json)).unzip();
        self.outgoing(lines, items, method, path)
    }

    /// A batch refused as a whole, as two halves (in input order).
    fn halves(&self, batch: Outgoing) -> (Outgoing, Outgoing) {
        let mid = batch.lines.len() / 2;
        let (mut lines, mut items) = (batch.lines, batch.items);
        let (right_lines, right_items) = (lines.split_off(mid), items.split_off(mid));
        (
            self.outgoing(lines, items, batch.method, batch.path.clone()),
            self.outgoing(right_lines, right_items, batch.method, batch.path),
        )
    }

    fn outgoing(
        &self,
        lines: Vec<u64>,
        items: Vec<Vec<u8>>,
        method: WriteMethod,
        path: String,
    ) -> Outgoing {
        let body = if method == WriteMethod::DELETE {
            Vec::new()
        } else {
            let mut payload = Vec::new();
            match self.write.mode {
                WriteMode::Single => payload.extend_from_slice(&items[0]),
                WriteMode::Batch => {
                    payload.reserve(items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
                    payload.push(b'[');
                    for (k, item) in items.iter().enumerate() {
                        if k > 0 {
                            payload.push(b',');
                        }
                        payload.extend_from_slice(item);
                    }
                    payload.push(b']');
                }
            }
            match &self.envelope {
                Some((head, tail)) if head.is_empty() && tail.is_empty() => payload,
                Some((head, tail)) => [&head[..], &payload, tail].concat(),
                None => {
                    let payload: Value =
                        serde_json::from_slice(&payload).expect("records are JSON");
                    let mut doc = Value::Null;
                    jsonpath::put(&mut doc, &self.write_path, payload);
                    doc.to_string().into_bytes()
                }
            }
        };
        // The key: 128 bits of XXH3 (the body is hashed at memory speed;
        // SHA-256 took a fifth of a write in WebAssembly), over the
        // source, the path, the first line and the body, each of them
        // after its length so that no two inputs run together.
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in [self.source.name.as_bytes(), path.as_bytes(), &body] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update(&lines[0].to_le_bytes());
        let key = format!("{:032x}", h.digest128());
        Outgoing {
            lines,
            method,
            path,
            body,
            key,
            items,
        }
    }

    /// The request for a batch, with fresh generated values.
    pub fn build_request(&self, batch: &Outgoing, env: &mut dyn Env) -> Result<HttpRequest, Error> {
        let mut url = request::join_url(&self.source.url, &batch.path)?;
        request::add_query(&mut url, &request::resolve(&self.write.params, env));
        let mut req = HttpRequest {
            method: batch.method.as_str(),
            url,
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
        };
        if batch.method != WriteMethod::DELETE {
            req.set_header("Content-Type", "application/json".into());
            req.body = Some(batch.body.clone());
        }
        for (name, value) in request::resolve(&self.write.headers, env) {
            req.set_header(&name, request::text(&value));
        }
        req.set_header("Idempotency-Key", batch.key.clone());
        Ok(req)
    }
}

/// The text of a body before and after its records, as `jsonpath::put`
/// places them at `path` (`{"data":{"items":` and `}}`); `None` when it
/// does not place them once (a path with `[*]`).
fn envelope(path: &Path) -> Option<(Vec<u8>, Vec<u8>)> {
    // A string no key of a path can hold (keys are config text), as
    // serde_json writes it.
    const MARK: &str = r#""\u0000apiconn records\u0000""#;
    let mut doc = Value::Null;
    jsonpath::put(&mut doc, path, Value::from("\0apiconn records\0"));
    let text = doc.to_string();
    let at = text.find(MARK)?;
    (text.matches(MARK).count() == 1).then(|| {
        let (head, tail) = text.split_at(at);
        (
            head.as_bytes().to_vec(),
            tail.as_bytes()[MARK.len()..].to_vec(),
        )
    })
}

/// A value that holds JSON text, as the JSON it holds; other values are
/// JSON already.
fn json_text(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) => serde_json::from_str(s).map_err(|e| {
            format!(
                "{} is not JSON text: {e}",
                truncate(&Value::from(s.as_str()).to_string(), 80)
            )
        }),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::request::{HttpResponse, testing::FixedEnv};
    use crate::requester::testing::{Responder, ok};
    use serde_json::json;
    use std::collections::HashSet;

    fn writer(write: Value) -> Writer {
        let c =
            json!({"source": {"name": "w", "url": "http://h/api", "retries": 1}, "write": write});
        Writer::open(config::load(&c.to_string(), None).unwrap()).unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Records sent as they are (the common case) and records taken
        /// apart and written again by serde_json (any `json_fields` makes
        /// a writer do that): the same lines rejected for the same
        /// reasons, the same batches, bodies with the same values.
        #[test]
        fn records_sent_as_they_are_mean_what_serde_json_sends(
            chunk in crate::read::transcode::tests::ndjson()
        ) {
            let fast = || writer(json!({"mode": "batch", "batch_size": 2, "write_path": "data"}));
            let slow = writer(json!({"mode": "batch", "batch_size": 2, "write_path": "data",
                                     "json_fields": ["no such field"]}));
            proptest::prop_assert!(fast().core.verbatim.is_some() && slow.core.verbatim.is_none());
            let (mut fast, mut slow) = (fast(), slow);
            let (a, b) = (fast.accept(chunk.as_bytes(), 1), slow.accept(chunk.as_bytes(), 1));
            proptest::prop_assert_eq!(&a.1, &b.1);
            proptest::prop_assert_eq!(fast.check(chunk.as_bytes(), 1), b.1);
            let (a, b): (Vec<_>, Vec<_>) = (
                a.0.into_iter().chain(fast.flush()).collect(),
                b.0.into_iter().chain(slow.flush()).collect(),
            );
            proptest::prop_assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                proptest::prop_assert_eq!(&x.lines, &y.lines);
                let p: Value = serde_json::from_slice(&x.body).unwrap();
                let q: Value = serde_json::from_slice(&y.body).unwrap();
                proptest::prop_assert!(
                    crate::read::transcode::tests::same_value(&p, &q),
                    "{} vs {}", p, q
                );
            }
        }
    }

    #[test]
    fn records_sent_as_they_are_keep_their_text() {
        let mut w = writer(json!({"mode": "batch", "batch_size": 2}));
        let input = b"{ \"id\": 1.50, \"big\": 123456789012345678901234567890, \"s\": \"\\u00e9\" }\n{\"a\":1,\"a\":2}\n";
        let (batches, rejected) = w.accept(input, 1);
        assert!(rejected.is_empty());
        assert_eq!(
            String::from_utf8(batches[0].body.clone()).unwrap(),
            // A key twice: serde_json keeps the last value.
            r#"[{"id":1.50,"big":123456789012345678901234567890,"s":"\u00e9"},{"a":2}]"#
        );
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
        report.refused.extend(last.refused);
        report.requests += last.requests;
        assert_eq!(report.sent, 0);
        // The 503 after the retries failed its records; the 400 refused its own.
        assert_eq!(
            report.failed.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(
            report.failed[0].reason.starts_with("HTTP 503"),
            "{}",
            report.failed[0].reason
        );
        assert_eq!(
            report.refused.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert!(report.refused[1].reason.contains("bad id 5"));
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

    fn status(code: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status: code,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn only_statuses_about_the_request_are_refusals() {
        for (code, refused) in [
            (400, true),
            (404, true),
            (409, true),
            (422, true),
            (401, false),
            (403, false),
            (407, false),
            (408, false),
            (429, false),
            (500, false),
        ] {
            let e = Error::HttpStatus {
                code,
                message: String::new(),
            };
            assert_eq!(is_refusal(&e), refused, "{code}");
        }
        assert!(!is_refusal(&Error::Transport("x".into())));
        assert!(!is_refusal(&Error::Auth("x".into())));
    }

    #[test]
    fn nested_bodies_json_fields_and_the_conflict_rule() {
        let mut w = writer(json!({"nest": true, "json_fields": ["tags"],
            "fields": [{"from": "id", "type": "long"}, {"from": "name"}, {"from": "street", "to": "address.street"},
                       {"from": "address.city"}, {"from": "tags"}, {"from": "meta", "type": "json"}]}));
        let input = concat!(
            r#"{"id":1,"name":"a","street":"1 Main","address.city":"Rome","tags":"[\"x\",\"y\"]","meta":"{\"k\":{\"n\":1}}"}"#,
            "\n",
            r#"{"id":2,"name":"b","tags":"not json","meta":null}"#,
            "\n",
            r#"{"id":3,"name":"c","meta":"{"}"#,
            "\n",
            r#"{"id":4,"name":"d","tags":"[]","meta":7}"#,
            "\n"
        );
        let (batches, rejected) = w.accept(input.as_bytes(), 1);
        assert_eq!(
            rejected,
            vec![
                Rejection {
                    line: 2,
                    reason: "field `tags`: \"not json\" is not JSON text: expected ident at line 1 column 2".into()
                },
                Rejection {
                    line: 3,
                    reason: "field `meta`: \"{\" is not JSON text: EOF while parsing an object at line 1 column 1".into()
                },
            ]
        );
        let bodies: Vec<String> = batches
            .iter()
            .map(|b| String::from_utf8(b.body.clone()).unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                r#"{"id":1,"name":"a","address":{"street":"1 Main","city":"Rome"},"tags":["x","y"],"meta":{"k":{"n":1}}}"#,
                r#"{"id":4,"name":"d","address":{"street":null,"city":null},"tags":[],"meta":7}"#,
            ]
        );
        // `a` and `a.b` in one record: the record is rejected with its line, not half-merged.
        let w = writer(json!({"nest": true}));
        let r = w.check(
            b"{\"a\":1}\n{\"a\":1,\"a.b\":2}\n{\"a__b\":1,\"a.\":2}\n",
            7,
        );
        assert_eq!(
            r,
            vec![
                Rejection {
                    line: 8,
                    reason: "fields `a` and `a.b` conflict: `a` would be both a value and an object (write.nest)".into()
                },
                Rejection {
                    line: 9,
                    reason: "field `a.` has an empty part between `.` separators (write.nest)".into()
                },
            ]
        );
        let w = writer(json!({"nest": true, "separator": "__"}));
        assert!(w.check(b"{\"a__b\":1,\"a.\":2}\n", 1).is_empty());
        // Without `nest`, dotted keys go as they are.
        let mut flat = writer(json!({}));
        let (b, _) = flat.accept(b"{\"a.b\":1}\n", 1);
        assert_eq!(b[0].body, br#"{"a.b":1}"#);
    }

    #[test]
    fn paths_and_methods_per_record() {
        let mut w = writer(
            json!({"method": "PATCH", "path": "/contacts/{id}/", "method_field": "op",
                                  "fields": [{"from": "name"}]}),
        );
        let mut t = Responder::new(|_: &HttpRequest| ok(json!({})));
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let input = concat!(
            r#"{"id":5,"name":"x"}"#,
            "\n",
            r#"{"id":"a/b c","name":"y","op":"put"}"#,
            "\n",
            r#"{"name":"z"}"#,
            "\n",
            r#"{"id":7,"op":"DELETE"}"#,
            "\n",
            r#"{"id":8,"op":"GET"}"#,
            "\n",
            r#"{"id":"..","name":"up"}"#,
            "\n",
        );
        let report = w.write(input.as_bytes(), 1, true, &mut t, &mut env);
        assert_eq!(report.sent, 3);
        type Sent<'a> = (&'a str, &'a str, Option<&'a [u8]>, Option<&'a str>);
        let got: Vec<Sent> = t
            .sent
            .iter()
            .map(|r| {
                (
                    r.method,
                    r.url.path(),
                    r.body.as_deref(),
                    r.header("content-type"),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "PATCH",
                    "/api/contacts/5/",
                    Some(&br#"{"name":"x"}"#[..]),
                    Some("application/json")
                ),
                (
                    "PUT",
                    "/api/contacts/a%2Fb%20c/",
                    Some(&br#"{"name":"y"}"#[..]),
                    Some("application/json")
                ),
                ("DELETE", "/api/contacts/7/", None, None),
            ]
        );
        assert_eq!(
            report.rejected,
            vec![
                Rejection {
                    line: 3,
                    reason: "field `id` of the path `/contacts/{id}/` (write.path) is missing".into()
                },
                Rejection {
                    line: 5,
                    reason: "field `op` (write.method_field) is \"GET\": expected POST, PUT, PATCH or DELETE".into()
                },
                Rejection {
                    line: 6,
                    reason: "field `id` of the path `/contacts/{id}/` (write.path) is `..`, which cannot be a path segment".into()
                },
            ]
        );
        // Each record its own key, different paths included.
        let keys: HashSet<&str> = t
            .sent
            .iter()
            .map(|r| r.header("idempotency-key").unwrap())
            .collect();
        assert_eq!(keys.len(), 3);
        // A 404 for one id refuses that record; the others go on.
        let mut w = writer(json!({"method": "DELETE", "path": "/contacts/{id}/"}));
        let mut t = Responder::new(|r: &HttpRequest| {
            if r.url.path().ends_with("/2/") {
                status(404, r#"{"detail":"No Contact matches the given query."}"#)
            } else {
                status(204, "")
            }
        });
        let report = w.write(
            b"{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n",
            1,
            true,
            &mut t,
            &mut env,
        );
        assert_eq!((report.sent, report.requests), (2, 3));
        assert_eq!(report.refused.len(), 1);
        assert_eq!(report.refused[0].line, 2);
        assert!(
            report.refused[0].reason.starts_with("HTTP 404"),
            "{}",
            report.refused[0].reason
        );
        assert!(report.refused[0].reason.contains("No Contact matches"));
    }

    /// The `id` of every record in a batch request's body.
    fn batch_ids(req: &HttpRequest) -> Vec<i64> {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        body.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    }

    /// A bulk endpoint that refuses a whole batch (400) when it holds a bad
    /// record, like DRF's `many=True` serializer, and stores good batches.
    fn bulk_store(
        bad: HashSet<i64>,
        stored: std::rc::Rc<std::cell::RefCell<Vec<i64>>>,
    ) -> impl FnMut(&HttpRequest) -> HttpResponse {
        move |req: &HttpRequest| {
            let ids = batch_ids(req);
            let errors: Vec<Value> = ids
                .iter()
                .map(|id| {
                    if bad.contains(id) {
                        json!({"email": ["Enter a valid email address."]})
                    } else {
                        json!({})
                    }
                })
                .collect();
            if ids.iter().any(|id| bad.contains(id)) {
                status(400, &Value::Array(errors).to_string())
            } else {
                stored.borrow_mut().extend(ids);
                status(201, "[]")
            }
        }
    }

    #[test]
    fn bisection_finds_the_refused_records_within_its_bound() {
        // n records in one batch, k bad ones at spread-out places: the extra
        // requests stay within 2·k·⌈log2 n⌉, the good records are stored
        // exactly once, the bad ones refused with the server's answer.
        let cases: &[(i64, &[i64])] = &[
            (1000, &[1]),
            (1000, &[17, 500, 999]),
            (1000, &[1, 2, 3]),
            (1000, &[1000]),
            (1024, &[3, 300, 301, 700, 1024]),
            (1000, &[]),
            (7, &[1, 2, 3, 4, 5, 6, 7]),
            (2, &[2]),
        ];
        for &(n, bad) in cases {
            let stored = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let bad_set: HashSet<i64> = bad.iter().copied().collect();
            let mut t = Responder::new(bulk_store(bad_set.clone(), stored.clone()));
            let mut w = writer(json!({"mode": "batch", "batch_size": n, "bisect": true}));
            let mut env = FixedEnv { now_ms: 0, next: 0 };
            let input: String = (1..=n).map(|i| format!("{{\"id\":{i}}}\n")).collect();
            let mut report = w.write(input.as_bytes(), 1, true, &mut t, &mut env);
            assert!(w.finish(&mut t, &mut env) == Report::default());
            let k = bad.len() as u32;
            let log2n = (n as f64).log2().ceil() as u32;
            let extra = report.requests - 1;
            assert!(
                extra <= 2 * k * log2n,
                "n={n} bad={bad:?}: {extra} extra requests, bound {}",
                2 * k * log2n
            );
            if k == 0 {
                assert_eq!(extra, 0);
            }
            let mut want: Vec<i64> = (1..=n).filter(|i| !bad_set.contains(i)).collect();
            assert_eq!(
                *stored.borrow(),
                want,
                "n={n} bad={bad:?}: stored once, in input order"
            );
            assert_eq!(report.sent, want.len() as u64);
            report.refused.sort_by_key(|r| r.line);
            assert_eq!(
                report
                    .refused
                    .iter()
                    .map(|r| r.line as i64)
                    .collect::<Vec<_>>(),
                bad.to_vec()
            );
            for r in &report.refused {
                assert!(r.reason.starts_with("HTTP 400"), "{}", r.reason);
                assert!(
                    r.reason
                        .ends_with(r#"[{"email":["Enter a valid email address."]}]"#),
                    "{}",
                    r.reason
                );
            }
            assert!(report.failed.is_empty());
            // Every request's key is the same for the same records at the same place.
            let keys: Vec<&str> = t
                .sent
                .iter()
                .map(|r| r.header("idempotency-key").unwrap())
                .collect();
            let unique: HashSet<&&str> = keys.iter().collect();
            assert_eq!(unique.len(), keys.len(), "each sub-batch its own key");
            want.clear();
        }
    }

    #[test]
    fn without_bisect_a_refused_batch_refuses_all_its_records_and_5xx_halves_fail() {
        let stored = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut t = Responder::new(bulk_store(HashSet::from([3]), stored.clone()));
        let mut w = writer(json!({"mode": "batch", "batch_size": 4}));
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let report = w.write(
            b"{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n{\"id\":4}\n",
            1,
            true,
            &mut t,
            &mut env,
        );
        assert_eq!(
            (report.sent, report.refused.len(), report.requests),
            (0, 4, 1)
        );
        // With bisect, a half that meets a 503 after the retries is failed, not refused.
        let mut calls = 0;
        let mut t = Responder::new(|req: &HttpRequest| {
            calls += 1;
            let ids = batch_ids(req);
            if ids.contains(&1) && ids.len() > 1 {
                status(422, "bad")
            } else if ids == [1] {
                status(422, "one is bad")
            } else if ids == [2] {
                status(503, "down")
            } else {
                status(200, "[]")
            }
        });
        let mut w = writer(json!({"mode": "batch", "batch_size": 4, "bisect": true}));
        let report = w.write(
            b"{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n{\"id\":4}\n",
            1,
            true,
            &mut t,
            &mut env,
        );
        assert_eq!(report.sent, 2);
        assert_eq!(
            report.refused.iter().map(|r| r.line).collect::<Vec<_>>(),
            [1]
        );
        assert!(report.refused[0].reason.contains("one is bad"));
        assert_eq!(
            report.failed.iter().map(|r| r.line).collect::<Vec<_>>(),
            [2]
        );
        // 4 → 2+2; [1,2] → 1 + 1 (two tries: retries 1); [3,4] stored.
        assert_eq!(report.requests, 1 + 1 + 1 + 2 + 1);
    }
}
