//! The API input component as a state machine: build the request, read the
//! response into a batch of flat records, say where the read stands.

use crate::config::{Config, Location, Read, ReadMethod, Source};
use crate::error::{Error, truncate};
use crate::fields::{self, Spec};
use crate::flatten::{self, FlattenError};
use crate::jsonpath::{self, Path};
use crate::page::{self, Record};
use crate::paginate::{Page, Plan, Position, Traverse, Values};
use crate::request::{self, Env, HttpRequest, HttpResponse, Resolved};
use crate::requester::{Policy, Requester, Transport};
use crate::stop::Facts;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

/// Where a read stands; the opaque checkpoint of the WIT contract. It
/// names the next request, so a reader opened with it continues there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Every request has been answered.
    pub done: bool,
    /// The traverse values, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
    /// The traverse value the next request is for.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub index: usize,
    /// Where the inner loop stands; absent: at its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// Requests made so far in the current loop (the `requests` of stop conditions).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub loop_requests: u64,
    /// `read.incremental`: the value this pass asks from, and the greatest seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_max: Option<Value>,
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
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

/// What the next request is for.
pub enum Next {
    /// The traverse values (`values_from`).
    Values,
    /// Records.
    Data,
}

/// A reader: its credentials, and everything else.
pub struct Reader {
    core: Core,
    requester: Requester,
}

impl std::ops::Deref for Reader {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl std::ops::DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.core
    }
}

pub struct Core {
    source: Source,
    read: Read,
    records_path: Path,
    /// Nothing but the records is read at or below the records path, so
    /// they can stay raw text until they are flattened ([`page`]).
    split_records: bool,
    plan: Plan,
    state: Checkpoint,
    /// Logical requests made in this run (for `max_requests`).
    requests: u32,
    /// Records emitted or skipped so far in this run.
    records_seen: u64,
    dirty: u64,
    /// Safety rails of the current loop: cursors and URLs seen, and the
    /// last non-empty page.
    seen_positions: HashSet<String>,
    /// The last non-empty page's body (its buffer is reused): comparing
    /// bytes is exact, and cheaper than hashing every page.
    last_page: Option<Vec<u8>>,
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
        let plan = Plan::new(read.paginate.as_ref())?;
        let mut state = state;
        if let Some(inc) = &read.incremental {
            if state.done {
                // A finished pass: the next one asks from the greatest value seen.
                state = Checkpoint {
                    since: state.seen_max.clone().or(state.since.clone()),
                    seen_max: state.seen_max.clone(),
                    ..Checkpoint::default()
                };
            } else if state.since.is_none() && state.seen_max.is_none() {
                state.since = inc.start.as_ref().map(|s| s.0.clone());
            }
        }
        if state.values.is_none()
            && let Some(Traverse {
                values: Values::Given(v),
                ..
            }) = &plan.traverse
        {
            state.values = Some(v.clone());
        }
        let split_records = !plan
            .response_paths()
            .iter()
            .any(|p| page::overlaps(p, &records_path));
        Ok(Reader {
            requester: Requester::new(&config.source, read.signature.clone())?,
            core: Core {
                source: config.source,
                read,
                records_path,
                split_records,
                plan,
                state,
                requests: 0,
                records_seen: 0,
                dirty: 0,
                seen_positions: HashSet::new(),
                last_page: None,
            },
        })
    }

    /// The reader's state and its requester, borrowed apart.
    pub fn parts(&mut self) -> (&mut Core, &mut Requester) {
        (&mut self.core, &mut self.requester)
    }
}

impl Core {
    pub fn is_done(&self) -> bool {
        self.state.done
            || self
                .state
                .values
                .as_ref()
                .is_some_and(|v| self.state.index >= v.len())
    }

    pub fn next(&self) -> Next {
        if self.plan.traverse.is_some() && self.state.values.is_none() {
            Next::Values
        } else {
            Next::Data
        }
    }

    pub fn policy(&self) -> Policy {
        Policy::of(&self.source)
    }

    fn position(&self) -> Position {
        self.state
            .position
            .clone()
            .unwrap_or_else(|| self.plan.first())
    }

    /// The request for the traverse values: `values_from`, without credentials.
    pub fn build_values_request(&self, env: &mut dyn Env) -> Result<HttpRequest, Error> {
        let Some(Traverse {
            values: Values::From(from, _),
            ..
        }) = &self.plan.traverse
        else {
            return Err(Error::Internal("no values_from to request".into()));
        };
        let mut url = url::Url::parse(&from.url)
            .map_err(|e| Error::config("read.paginate.values_from.url", e.to_string()))?;
        request::add_query(&mut url, &request::resolve(&from.params, env));
        let mut req = HttpRequest {
            method: if from.method == ReadMethod::POST {
                "POST"
            } else {
                "GET"
            },
            url,
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
        };
        for (name, value) in request::resolve(&from.headers, env) {
            req.set_header(&name, request::text(&value));
        }
        Ok(req)
    }

    pub fn handle_values(&mut self, req: &HttpRequest, resp: &HttpResponse) -> Result<(), Error> {
        let Some(Traverse {
            values: Values::From(_, extract),
            ..
        }) = &self.plan.traverse
        else {
            return Err(Error::Internal("no values_from to read".into()));
        };
        let doc = parse_json(req, resp)?;
        let values: Vec<Value> = flatten::extract(&doc, extract)
            .into_iter()
            .cloned()
            .collect();
        if let Some(bad) = values.iter().find(|v| v.is_array() || v.is_object()) {
            return Err(Error::Response(format!(
                "read.paginate.values_from: the values must be scalars, found {bad}"
            )));
        }
        self.state.values = Some(values);
        self.state.index = 0;
        Ok(())
    }

    /// The request values after the loop and traverse values are set:
    /// query parameters and body values.
    fn values(&self, env: &mut dyn Env) -> (Resolved, Resolved) {
        let mut params = request::resolve(&self.read.params, env);
        let mut body = request::resolve(&self.read.body, env);
        let mut set = |location: Location, name: &str, value: Value| {
            let list = match location {
                Location::Params => &mut params,
                Location::Body => &mut body,
            };
            match list.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value,
                None => list.push((name.to_string(), value)),
            }
        };
        if let (Some(t), Some(values)) = (&self.plan.traverse, &self.state.values)
            && let Some(v) = values.get(self.state.index)
        {
            set(t.location, &t.param, v.clone());
        }
        if let (Some(inc), Some(since)) = (&self.read.incremental, &self.state.since) {
            set(inc.location, &inc.param, since.clone());
        }
        if let Some((name, location, value)) = self.plan.loop_value(&self.position()) {
            set(location, name, value);
        }
        (params, body)
    }

    /// The next data request, with fresh generated values; call again for a retry.
    pub fn build_request(&self, env: &mut dyn Env) -> Result<HttpRequest, Error> {
        let read = &self.read;
        let (params, body) = self.values(env);
        let url = match self.position() {
            // A next URL is used as it is: its query string replaces `params`.
            Position::Url(u) => url::Url::parse(&u)
                .map_err(|e| Error::Response(format!("next-page URL `{u}`: {e}")))?,
            _ => {
                let mut url = request::join_url(&self.source.url, &read.path)?;
                request::add_query(&mut url, &params);
                url
            }
        };
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
            let (body, content_type) = request::body(&body, read.body_format);
            req.set_header("Content-Type", content_type.into());
            req.body = Some(body);
        }
        for (name, value) in request::resolve(&read.headers, env) {
            req.set_header(&name, request::text(&value));
        }
        Ok(req)
    }

    pub fn signature(&self) -> Option<&crate::config::Signature> {
        self.read.signature.as_ref()
    }

    /// Sends the next data request, authenticated and signed, with retries.
    pub fn send(
        &self,
        requester: &mut Requester,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
        tries: &mut u32,
    ) -> Result<(HttpRequest, HttpResponse), Error> {
        requester.send(transport, env, tries, &mut |env| self.build_request(env))
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
        let accepted = self.accept(req, resp).map_err(Unusable::into_error)?;
        self.take(req, resp, accepted, tries)
    }

    /// [`Core::handle_response`] for a response that [`Core::accept`] has
    /// already parsed and checked.
    fn take(
        &mut self,
        req: &HttpRequest,
        resp: &HttpResponse,
        mut parsed: Parsed<'_>,
        tries: u32,
    ) -> Result<Batch, Error> {
        let (mut batch, page_records) = self.emit(&mut parsed)?;
        let doc = parsed.doc;
        self.state.loop_requests += 1;
        if page_records > 0 {
            let last = self.last_page.get_or_insert_default();
            last.clear();
            last.extend_from_slice(&resp.body);
        } else {
            self.last_page = None;
        }

        let (params, body) = {
            // The values just sent, for `request.<param>`; generated values
            // are re-read from the request itself.
            let sent: Vec<(String, Value)> = req
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            let body: Option<Value> = req
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok());
            (sent, body)
        };
        let lookup = |name: &str| -> Option<Value> {
            if let Some(b) = &body
                && let Ok(p) = jsonpath::parse(name)
                && let Some(v) = jsonpath::get(b, &p)
            {
                return Some(v.clone());
            }
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let page = Page {
            facts: Facts {
                response: &doc,
                request: &lookup,
                requests: self.state.loop_requests,
                records: page_records,
            },
            url: &req.url,
            link_header: resp.header("link"),
        };
        match self.plan.advance(&self.position(), &page)? {
            Some(next) => {
                let key = match &next {
                    Position::Cursor(c) => Some(format!("cursor {c}")),
                    Position::Url(u) => Some(format!("next URL {u}")),
                    _ => None,
                };
                if let Some(key) = key
                    && !self.seen_positions.insert(key.clone())
                {
                    return Err(Error::Response(format!(
                        "the API gave the {key} a second time: stopping instead of looping"
                    )));
                }
                self.state.position = Some(next);
            }
            None => self.end_loop(),
        }
        batch.checkpoint = serde_json::to_string(&self.state).expect("checkpoint is JSON");
        batch.requests = tries;
        Ok(batch)
    }

    /// Checks a 2xx response before it changes anything: a body that is not
    /// JSON, or a non-empty page identical to the page before, is
    /// [`Unusable`] (the driver asks again while retries last).
    pub fn accept<'r>(
        &self,
        req: &HttpRequest,
        resp: &'r HttpResponse,
    ) -> Result<Parsed<'r>, Unusable> {
        let body_len = resp.body.len();
        let parsed = match self.parse_flattening(&resp.body) {
            Some(parsed) => Ok(parsed),
            // Records kept apart to flatten one by one, or the whole document.
            None if self.split_records => {
                page::parse(&resp.body, &self.records_path, None).map(|(doc, records)| Parsed {
                    doc,
                    flat: None,
                    body_len,
                    records: Some(records),
                })
            }
            None => serde_json::from_slice(&resp.body).map(|doc| Parsed {
                doc,
                flat: None,
                body_len,
                records: None,
            }),
        }
        .map_err(|e| Unusable::NotJson(not_json(req, resp, e)))?;
        let records = parsed.count(&self.records_path);
        if records > 0 && self.last_page.as_deref() == Some(&resp.body[..]) {
            return Err(Unusable::SamePage(Error::Response(format!(
                "{} returned the same page as the request before it: stopping instead of looping",
                req.describe()
            ))));
        }
        Ok(parsed)
    }

    /// The page parsed with its records flattened straight to output in the
    /// same pass, where the config allows it and every record can go that
    /// way; `None`: parse it another way.
    fn parse_flattening<'r>(&self, body: &'r [u8]) -> Option<Parsed<'r>> {
        if !(self.split_records && self.straight()) {
            return None;
        }
        let mut f = page::Flattening {
            out: flatten::FlatOut::with_capacity(body.len()),
            separator: &self.read.flatten.separator,
            arrays: self.read.flatten.arrays,
            count: 0,
            dropped: 0,
        };
        let (doc, records) = page::parse(body, &self.records_path, Some(&mut f)).ok()?;
        Some(Parsed {
            doc,
            flat: Some(Flattened {
                out: f.out,
                count: f.count,
                dropped: f.dropped,
            }),
            body_len: body.len(),
            records: Some(records),
        })
    }

    /// The inner loop ended: on to the next traverse value, or done.
    fn end_loop(&mut self) {
        self.state.position = None;
        self.state.loop_requests = 0;
        self.seen_positions.clear();
        self.last_page = None;
        match &self.state.values {
            Some(values) if self.state.index + 1 < values.len() => self.state.index += 1,
            Some(values) => {
                self.state.index = values.len();
                self.state.done = true;
            }
            None => self.state.done = true,
        }
    }

    /// The batch of one response, and how many records the response held
    /// (before dirty or already-seen records were skipped).
    /// Records go straight to output, unless the incremental value or
    /// typed fields need each as a map.
    fn straight(&self) -> bool {
        self.read.fields.is_none() && self.read.incremental.is_none()
    }

    fn emit(&mut self, parsed: &mut Parsed<'_>) -> Result<(Batch, u64), Error> {
        let straight = self.straight();
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
        let (mut flat, mut count, mut dropped) = match parsed.flat.take() {
            Some(done) => {
                self.records_seen += done.count;
                (done.out, done.count as u32, done.dropped)
            }
            None => (flatten::FlatOut::with_capacity(parsed.body_len), 0, 0),
        };
        let mut warnings = Vec::new();
        let records = parsed.items(&self.records_path);
        let page_records = u64::from(count) + records.len() as u64;
        for (i, item) in records.into_iter().enumerate() {
            let index = self.records_seen;
            self.records_seen += 1;
            if straight
                && let Item::Raw(raw) = item
                && let Some(d) = flat.write(raw.get(), &read.flatten.separator, read.flatten.arrays)
            {
                dropped += d;
                count += 1;
                continue;
            }
            let at = || format!("record {index} (item {i} of response {})", self.requests);
            let record = item.value();
            let (map, d) = flatten::flatten(&record, &read.flatten.separator, read.flatten.arrays)
                .map_err(|e| match e {
                    FlattenError::Array(_)
                    | FlattenError::Collision(_)
                    | FlattenError::NotAnObject(_) => {
                        Error::NonCompliantRecord(format!("{}: {e}", at()))
                    }
                })?;
            dropped += d;
            if let Some(inc) = &read.incremental {
                let value = map.get(&inc.from_field).cloned().unwrap_or(Value::Null);
                if !value.is_null()
                    && self
                        .state
                        .seen_max
                        .as_ref()
                        .is_none_or(|max| greater(&value, max))
                {
                    self.state.seen_max = Some(value.clone());
                }
                if let Some(since) = &self.state.since
                    && !greater(&value, since)
                {
                    continue;
                }
            }
            let map = match &specs {
                None => map,
                Some(specs) => match fields::project(&map, specs) {
                    Ok(projected) => projected,
                    Err(why) => {
                        self.dirty += 1;
                        if self.dirty > read.dirty_records {
                            return Err(Error::DirtyRecords(format!(
                                "{}: {why} ({} dirty records, read.dirty_records allows {})",
                                at(),
                                self.dirty,
                                read.dirty_records
                            )));
                        }
                        warnings.push(format!("skipped dirty {}: {why}", at()));
                        continue;
                    }
                },
            };
            serde_json::to_writer(&mut flat.out, &map).expect("writing to a Vec");
            flat.out.push(b'\n');
            count += 1;
        }
        if dropped > 0 {
            warnings.push(format!(
                "dropped {dropped} array fields (read.flatten.arrays = \"drop\")"
            ));
        }
        Ok((
            Batch {
                records: flat.out,
                count,
                checkpoint: String::new(),
                requests: 0,
                warnings,
            },
            page_records,
        ))
    }
}

/// `a > b`: as numbers when both are numeric, otherwise as text.
fn greater(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x > y,
        _ => request::text(a) > request::text(b),
    }
}

/// The initial checkpoints of the partitions of a read: one per traverse
/// value (fetching `values_from` first); empty when the read is one piece.
pub fn partitions(
    config: Config,
    transport: &mut dyn Transport,
    env: &mut dyn Env,
) -> Result<Vec<String>, Error> {
    let mut reader = Reader::open(config, None)?;
    if reader.plan.traverse.is_none() {
        return Ok(vec![]);
    }
    if let Next::Values = reader.next() {
        reader.count_request()?;
        let mut tries = 0;
        let (core, requester) = reader.parts();
        let (req, resp) = requester.send_plain(transport, env, &mut tries, &mut |env| {
            core.build_values_request(env)
        })?;
        reader.handle_values(&req, &resp)?;
    }
    let values = reader.state.values.clone().unwrap_or_default();
    Ok(values
        .into_iter()
        .map(|v| {
            let state = Checkpoint {
                values: Some(vec![v]),
                since: reader.state.since.clone(),
                ..Checkpoint::default()
            };
            serde_json::to_string(&state).expect("checkpoint is JSON")
        })
        .collect())
}

/// A 2xx answer that cannot be used as it is.
#[derive(Debug)]
pub enum Unusable {
    NotJson(Error),
    SamePage(Error),
}

impl Unusable {
    pub fn into_error(self) -> Error {
        match self {
            Unusable::NotJson(e) | Unusable::SamePage(e) => e,
        }
    }
}

/// Drives a reader one batch further through `transport`.
pub fn next_batch(
    reader: &mut Reader,
    transport: &mut dyn Transport,
    env: &mut dyn Env,
) -> Result<Option<Batch>, Error> {
    loop {
        if reader.is_done() {
            return Ok(None);
        }
        reader.count_request()?;
        let mut tries = 0;
        let policy = reader.policy();
        match reader.next() {
            Next::Values => {
                let (core, requester) = reader.parts();
                let (req, resp) = requester.send_plain(transport, env, &mut tries, &mut |env| {
                    core.build_values_request(env)
                })?;
                reader.handle_values(&req, &resp)?;
            }
            Next::Data => {
                let Reader { core, requester } = reader;
                // A body that is not JSON or a repeated page may be a passing
                // fault (a proxy's error page, a cache): ask again while the
                // retries last.
                let mut attempt = 0;
                loop {
                    let (req, resp) = core.send(requester, transport, env, &mut tries)?;
                    match core.accept(&req, &resp) {
                        Ok(accepted) => return core.take(&req, &resp, accepted, tries).map(Some),
                        Err(unusable) if attempt < policy.retries => {
                            transport.sleep(crate::retry::jittered_backoff(attempt, env));
                            attempt += 1;
                            let _ = unusable;
                        }
                        Err(unusable) => {
                            let e = unusable.into_error();
                            return Err(if attempt == 0 {
                                e
                            } else {
                                match e {
                                    Error::Response(m) => Error::Response(format!(
                                        "{m} (after {} tries)",
                                        attempt + 1
                                    )),
                                    other => other,
                                }
                            });
                        }
                    }
                }
            }
        }
    }
}

fn parse_json(req: &HttpRequest, resp: &HttpResponse) -> Result<Value, Error> {
    serde_json::from_slice(&resp.body).map_err(|e| not_json(req, resp, e))
}

fn not_json(req: &HttpRequest, resp: &HttpResponse, e: serde_json::Error) -> Error {
    Error::Response(format!(
        "{} answered {} with a body that is not JSON ({e}): {}",
        req.describe(),
        resp.status,
        truncate(&String::from_utf8_lossy(&resp.body), 200)
    ))
}

/// A page's document and, when they were kept apart, its records.
pub struct Parsed<'b> {
    doc: Value,
    /// Records already flattened while the page was parsed.
    flat: Option<Flattened>,
    /// The body's size: about the size of its records, flat.
    body_len: usize,
    /// `None`: the records are in `doc`, at the records path.
    records: Option<Vec<Record<'b>>>,
}

/// One record of a page, wherever it is kept.
#[derive(Clone, Copy)]
enum Item<'a> {
    Raw(&'a serde_json::value::RawValue),
    Value(&'a Value),
}

impl Item<'_> {
    fn value(&self) -> std::borrow::Cow<'_, Value> {
        match self {
            Item::Raw(raw) => std::borrow::Cow::Owned(
                serde_json::from_str(raw.get()).expect("a record the page parse already checked"),
            ),
            Item::Value(v) => std::borrow::Cow::Borrowed(v),
        }
    }
}

/// Records flattened by [`page::parse`].
struct Flattened {
    out: flatten::FlatOut,
    count: u64,
    dropped: u32,
}

impl Parsed<'_> {
    /// How many records the page has.
    fn count(&self, records_path: &Path) -> usize {
        let apart = match &self.records {
            Some(records) => records.len(),
            None => flatten::extract(&self.doc, records_path).len(),
        };
        self.flat.as_ref().map_or(0, |f| f.count as usize) + apart
    }

    fn items(&self, records_path: &Path) -> Vec<Item<'_>> {
        match &self.records {
            Some(records) => records
                .iter()
                .map(|r| match r {
                    Record::Raw(raw) => Item::Raw(raw),
                    Record::Built(v) => Item::Value(v),
                })
                .collect(),
            None => flatten::extract(&self.doc, records_path)
                .into_iter()
                .map(Item::Value)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::request::testing::FixedEnv;
    use crate::requester::testing::Script;

    fn reader(config_json: &str) -> Reader {
        Reader::open(config::load(config_json, None).unwrap(), None).unwrap()
    }

    fn read_all(reader: &mut Reader, script: &mut dyn Transport) -> Result<Vec<Batch>, Error> {
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
    fn a_passing_bad_body_is_asked_again() {
        let mut r = reader(r#"{"source":{"name":"a","url":"http://h","retries":2},"read":{}}"#);
        let mut s = Script::default()
            .respond(200, "<html>proxy error</html>")
            .respond(200, r#"{"truncated":"#)
            .respond(200, r#"[{"id":1}]"#);
        let batches = read_all(&mut r, &mut s).unwrap();
        assert_eq!(batches[0].records, b"{\"id\":1}\n");
        assert_eq!(batches[0].requests, 3);
        assert_eq!(s.slept.len(), 2);
    }

    #[test]
    fn a_body_that_is_not_json_is_a_clear_error() {
        let mut r =
            reader(r#"{"source":{"name":"a","url":"http://h","retries":0},"read":{"path":"x"}}"#);
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

    mod pagination {
        use super::*;
        use crate::requester::testing::{Responder, ok};
        use serde_json::json;

        fn param(req: &HttpRequest, name: &str) -> Option<String> {
            req.url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        }

        /// 23 items served 10 per page by `page`.
        fn pages(req: &HttpRequest) -> HttpResponse {
            let page: usize = param(req, "page").unwrap().parse().unwrap();
            let items: Vec<Value> = (1..=23)
                .skip((page - 1) * 10)
                .take(10)
                .map(|i| json!({"id": i}))
                .collect();
            ok(json!({"items": items, "pages": 3}))
        }

        pub(super) fn ids(batches: &[Batch]) -> Vec<i64> {
            batches
                .iter()
                .flat_map(|b| {
                    String::from_utf8(b.records.clone())
                        .unwrap()
                        .lines()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .map(|l| {
                    serde_json::from_str::<Value>(&l).unwrap()["id"]
                        .as_i64()
                        .unwrap()
                })
                .collect()
        }

        fn drain(reader: &mut Reader, t: &mut dyn Transport) -> Result<Vec<Batch>, Error> {
            let mut env = FixedEnv { now_ms: 0, next: 0 };
            let mut out = vec![];
            while let Some(b) = next_batch(reader, t, &mut env)? {
                out.push(b);
            }
            Ok(out)
        }

        const PAGED: &str = r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"items",
            "paginate":{"type":"page","param":"page"}}}"#;

        #[test]
        fn page_loop_ends_at_the_first_empty_page() {
            let mut t = Responder::new(pages);
            let batches = drain(&mut reader(PAGED), &mut t).unwrap();
            assert_eq!(ids(&batches), (1..=23).collect::<Vec<_>>());
            assert_eq!(t.sent.len(), 4, "three pages and the empty fourth");
            assert_eq!(batches.last().unwrap().checkpoint, r#"{"done":true}"#);
        }

        #[test]
        fn a_stop_condition_on_the_request_and_the_response() {
            let config = PAGED.replace(
                r#""param":"page"}"#,
                r#""param":"page","stop":["request.page >= response.pages"]}"#,
            );
            let mut t = Responder::new(pages);
            let batches = drain(&mut reader(&config), &mut t).unwrap();
            assert_eq!(ids(&batches).len(), 23);
            assert_eq!(t.sent.len(), 3, "no request for an empty page");
        }

        #[test]
        fn records_kept_raw_or_parsed_whole_come_out_the_same() {
            // Nested records with an array, a key repeated in the JSON and a
            // collision (that one fails the run either way).
            let page = |req: &HttpRequest| -> HttpResponse {
                let body = match param(req, "page").as_deref() {
                    Some("1") => {
                        r#"{"items":[{"id":1,"u":{"n":"a","t":[1,2],"e":{}},"x":1.5},
                                    {"id":2,"id":3,"u":{"n":"\u00e9\n"}}],"more":true}"#
                    }
                    _ => r#"{"items":[],"more":false}"#,
                };
                HttpResponse {
                    status: 200,
                    headers: vec![],
                    body: body.as_bytes().to_vec(),
                }
            };
            let split = PAGED.replace(
                r#""records":"items","#,
                r#""records":"items","flatten":{"arrays":"json"},"#,
            );
            // A stop condition that reads the records: the page is parsed whole.
            let whole = split.replace(
                r#""param":"page"}"#,
                r#""param":"page","stop":["response.items[0].id == null"]}"#,
            );
            assert!(reader(&split).split_records && !reader(&whole).split_records);
            let out = |config: &str| {
                let batches = drain(&mut reader(config), &mut Responder::new(page)).unwrap();
                batches
                    .iter()
                    .flat_map(|b| b.records.clone())
                    .collect::<Vec<u8>>()
            };
            assert_eq!(
                String::from_utf8(out(&split)).unwrap(),
                "{\"id\":1,\"u.n\":\"a\",\"u.t\":\"[1,2]\",\"u.e\":null,\"x\":1.5}\n{\"id\":3,\"u.n\":\"\u{e9}\\n\"}\n"
            );
            assert_eq!(out(&split), out(&whole));
            let colliding = |config: &str| {
                let page = |_: &HttpRequest| ok(json!({"items": [{"a.b": 1, "a": {"b": 2}}]}));
                drain(&mut reader(config), &mut Responder::new(page))
                    .unwrap_err()
                    .to_string()
            };
            assert_eq!(colliding(&split), colliding(&whole));
            assert!(colliding(&split).contains("two fields flatten to the same key `a.b`"));
        }

        #[test]
        fn resuming_from_a_checkpoint_has_no_gap_and_no_duplicate() {
            let full = ids(&drain(&mut reader(PAGED), &mut Responder::new(pages)).unwrap());
            let mut first = reader(PAGED);
            let mut env = FixedEnv { now_ms: 0, next: 0 };
            let mut t = Responder::new(pages);
            let b1 = next_batch(&mut first, &mut t, &mut env).unwrap().unwrap();
            let b2 = next_batch(&mut first, &mut t, &mut env).unwrap().unwrap();
            assert_eq!(
                b2.checkpoint,
                r#"{"done":false,"position":{"number":3},"loop_requests":2}"#
            );
            let mut resumed =
                Reader::open(config::load(PAGED, None).unwrap(), Some(&b2.checkpoint)).unwrap();
            let rest = drain(&mut resumed, &mut Responder::new(pages)).unwrap();
            let mut union = ids(&[b1, b2]);
            union.extend(ids(&rest));
            assert_eq!(union, full);
        }

        #[test]
        fn offsets_go_into_a_json_body_path() {
            let config = r#"{"source":{"name":"a","url":"http://h"},"read":{"method":"POST","records":"rows",
                "body":{"paging.size":2,"q":"x"},
                "paginate":{"type":"offset","param":"paging.offset","in":"body","step":2}}}"#;
            let mut t = Responder::new(|req: &HttpRequest| {
                let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
                let offset = body["paging"]["offset"].as_u64().unwrap();
                let rows: Vec<Value> = (offset..5).take(2).map(|i| json!({"id": i})).collect();
                ok(json!({"rows": rows}))
            });
            let batches = drain(&mut reader(config), &mut t).unwrap();
            assert_eq!(ids(&batches), vec![0, 1, 2, 3, 4]);
            let first: Value = serde_json::from_slice(t.sent[0].body.as_deref().unwrap()).unwrap();
            assert_eq!(first, json!({"paging": {"size": 2, "offset": 0}, "q": "x"}));
        }

        #[test]
        fn a_repeated_cursor_is_an_error_not_a_loop() {
            let config = r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"data",
                "paginate":{"type":"cursor","param":"after","from":"next"}}}"#;
            let mut n = 0;
            let mut t = Responder::new(move |_: &HttpRequest| {
                n += 1;
                ok(json!({"data": [{"id": n}], "next": "c1"}))
            });
            let err = drain(&mut reader(config), &mut t).unwrap_err();
            assert_eq!(
                err,
                Error::Response(
                    "the API gave the cursor \"c1\" a second time: stopping instead of looping"
                        .into()
                )
            );
            assert_eq!(param(&t.sent[1], "after").as_deref(), Some("c1"));
            assert_eq!(
                param(&t.sent[0], "after"),
                None,
                "no cursor on the first request"
            );
        }

        #[test]
        fn an_identical_page_is_an_error_not_a_loop() {
            let config = PAGED.replace(
                r#""param":"page"}"#,
                r#""param":"page","stop":["response.done == true"]}"#,
            );
            let mut t = Responder::new(|_: &HttpRequest| ok(json!({"items": [{"id": 1}]})));
            let err = drain(&mut reader(&config), &mut t).unwrap_err();
            assert!(
                matches!(&err, Error::Response(m) if m.contains("returned the same page")),
                "{err}"
            );
        }

        #[test]
        fn max_requests_with_the_stop_unmet_is_an_error() {
            let config = r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"items","max_requests":5,
                "paginate":{"type":"page","param":"page","stop":["response.has_more == false"]}}}"#;
            let mut t = Responder::new(|req: &HttpRequest| {
                ok(json!({"items": [{"id": param(req, "page")}], "has_more": true}))
            });
            let err = drain(&mut reader(config), &mut t).unwrap_err();
            assert!(
                matches!(&err, Error::Limit(m) if m.starts_with("read.max_requests (5) reached")),
                "{err}"
            );
            assert_eq!(t.sent.len(), 5);
        }

        #[test]
        fn traverse_values_with_a_page_loop_for_each() {
            let config = r#"{"source":{"name":"a","url":"http://h","auth":{"type":"bearer","token":"T"}},"read":{"records":"items",
                "paginate":{"type":"traverse","param":"city","values_from":{"url":"http://list/cities","extract":"ids"},
                            "then":{"type":"page","param":"page"}}}}"#;
            let mut t = Responder::new(|req: &HttpRequest| {
                if req.url.host_str() == Some("list") {
                    assert_eq!(
                        req.header("authorization"),
                        None,
                        "values_from has no credentials"
                    );
                    return ok(json!({"ids": [10, 20]}));
                }
                let city: i64 = param(req, "city").unwrap().parse().unwrap();
                let page: i64 = param(req, "page").unwrap().parse().unwrap();
                let items: Vec<Value> = if page <= 2 {
                    vec![json!({"id": city + page})]
                } else {
                    vec![]
                };
                ok(json!({"items": items}))
            });
            let batches = drain(&mut reader(config), &mut t).unwrap();
            assert_eq!(ids(&batches), vec![11, 12, 21, 22]);
            assert_eq!(t.sent.len(), 1 + 3 + 3);
            assert_eq!(
                batches[2].checkpoint,
                r#"{"done":false,"values":[10,20],"index":1}"#
            );
        }
    }

    #[test]
    fn incremental_reads_ask_from_the_greatest_value_seen_and_skip_what_was_seen() {
        let config = r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"items",
            "paginate":{"type":"page","param":"page"},
            "incremental":{"param":"id_gte","from_field":"id","start":0}}}"#;
        let store = std::cell::RefCell::new((1..=5).collect::<Vec<i64>>());
        let serve = |req: &HttpRequest| {
            let q = |n: &str| {
                req.url
                    .query_pairs()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.parse::<i64>().unwrap())
                    .unwrap()
            };
            let (from, page) = (q("id_gte"), q("page"));
            let items: Vec<Value> = store
                .borrow()
                .iter()
                .filter(|i| **i >= from)
                .skip(((page - 1) * 2) as usize)
                .take(2)
                .map(|i| serde_json::json!({"id": i}))
                .collect();
            crate::requester::testing::ok(serde_json::json!({"items": items}))
        };
        let ids = pagination::ids;
        let mut r = reader(config);
        let mut t = crate::requester::testing::Responder::new(serve);
        let first = read_all(&mut r, &mut t).unwrap();
        assert_eq!(ids(&first), vec![1, 2, 3, 4, 5]);
        let state = first.last().unwrap().checkpoint.clone();
        assert_eq!(state, r#"{"done":true,"since":0,"seen_max":5}"#);
        drop(t);
        store.borrow_mut().extend([6, 7, 8]);
        let mut again = Reader::open(config::load(config, None).unwrap(), Some(&state)).unwrap();
        let mut t = crate::requester::testing::Responder::new(serve);
        let second = read_all(&mut again, &mut t).unwrap();
        // The API's `>=` gives 5 again; it is skipped.
        assert_eq!(ids(&second), vec![6, 7, 8]);
        assert!(
            t.sent
                .iter()
                .all(|r| r.url.query().unwrap().contains("id_gte=5"))
        );
    }
}
