//! The API input component as a state machine (README "`read`",
//! "Pagination", "Checkpoints and continuous reads"): build the request,
//! read the response into a batch of flat records, say where the read
//! stands.
//!
//! A [`Reader`] is made of named parts, each owning its piece of the
//! config and of the [`Checkpoint`]:
//!
//! - [`endpoint`]: the data request the config writes, and the request
//!   values the parts below set on it;
//! - [`selector`]: the records of a page — extracted, flattened, typed,
//!   dirty ones counted ([`page`] parses a page in one pass);
//! - [`paginator`]: the loop of one partition, its stop conditions and
//!   safety rails;
//! - [`router`]: the partitions of a `traverse` and its `values_from`;
//! - [`cursor`]: the incremental cursor;
//! - [`checkpoint`]: the format of where a read stands.

pub mod checkpoint;
pub mod cursor;
pub mod endpoint;
pub mod notice;
pub mod page;
pub mod paginator;
pub mod router;
pub mod selector;
pub mod transcode;

pub use checkpoint::Checkpoint;

use crate::auth::TokenExchange;
use crate::config::Config;
use crate::error::Error;
use crate::request::{Env, HttpRequest, HttpResponse};
use crate::requester::{Requester, Transport};
use crate::stop::Facts;
use cursor::Cursor;
use endpoint::{Endpoint, Set};
use page::not_json;
use paginator::{Page, Paginator, Sent};
use router::Router;
use selector::{Parsed, Selector};

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

/// A reader: one read of the config, from a checkpoint on.
pub struct Reader {
    endpoint: Endpoint,
    selector: Selector,
    paginator: Paginator,
    router: Router,
    cursor: Cursor,
    requester: Requester,
    /// Every request has been answered.
    done: bool,
    /// Logical requests made in this run, and the cap (`max_requests`).
    requests: u32,
    max_requests: u32,
    /// Requests and warnings of parent pages read since the last batch
    /// (a child stream), handed out with the next batch.
    parent_requests: u32,
    parent_warnings: Vec<String>,
    /// [`Cursor::begin`] has run.
    begun: bool,
    /// `read.strict`: a warning is an error (like the operator's `--strict`).
    strict: bool,
    /// Records the current loop gave in this run; `None` when the loop
    /// began before this run (resumed), so the count is not whole.
    loop_records: Option<u64>,
    /// The most records one page of the current loop held.
    full_page: u64,
    /// A stop condition suggested by the last page (for a `page` loop
    /// without one that then fails).
    stop_hint: Option<String>,
}

/// The next data request, before credentials and signature: the traverse
/// value, the incremental cursor and the loop value set on the endpoint's
/// request (later ones win), the parent's fields filled into its path.
fn data_request(
    endpoint: &Endpoint,
    paginator: &Paginator,
    router: &Router,
    cursor: &Cursor,
    env: &mut dyn Env,
) -> Result<HttpRequest, Error> {
    let loop_value = paginator.request_value();
    let cursor_values = cursor.request_values();
    let mut set: Vec<Set> = Vec::with_capacity(4);
    set.extend(router.request_value());
    set.extend(cursor_values.iter().map(|(n, l, v)| (*n, *l, v)));
    if let Some((name, location, value)) = &loop_value {
        set.push((name, *location, value));
    }
    endpoint.request(&set, paginator.next_url(), router.parent_values(), env)
}

impl Reader {
    /// A reader of the config's only stream.
    pub fn open(config: Config, state: Option<&str>) -> Result<Reader, Error> {
        Reader::open_stream(&config, None, state)
    }

    /// A reader of the stream `stream` (none: the config's only stream),
    /// from `state` (none: its start).
    pub fn open_stream(
        config: &Config,
        stream: Option<&str>,
        state: Option<&str>,
    ) -> Result<Reader, Error> {
        let (name, _) = config.stream(stream)?;
        Reader::build(config, name, Checkpoint::parse(state)?, false)
    }

    /// The reader of stream `name` where `saved` stands; `as_parent`: it is
    /// read for a child stream, so a finished read stays finished.
    fn build(
        config: &Config,
        name: &str,
        mut saved: Checkpoint,
        as_parent: bool,
    ) -> Result<Reader, Error> {
        let (_, read) = config.stream(Some(name))?;
        let cursor = Cursor::open(read.incremental.as_ref(), &saved);
        if cursor.follows() && saved.done && !as_parent {
            // A finished pass: the next one starts over, from where the cursor says.
            saved = Checkpoint::default();
        }
        let (router, then) = match &read.parent {
            Some(parent) => {
                let parent_saved = saved.parent.as_deref().cloned().unwrap_or_default();
                let reader = Reader::build(config, &parent.stream, parent_saved, true)?;
                let parents = router::Parents {
                    stream: parent.stream.clone(),
                    at: config.stream_path(name),
                    fields: parent.fields.clone(),
                    reader: Box::new(reader),
                };
                (Router::of_parents(parents, &saved), read.paginate.as_ref())
            }
            None => Router::open(read.paginate.as_ref(), &saved),
        };
        let paginator = Paginator::open(then, &saved)?;
        let loop_records = (paginator.loop_requests() == 0).then_some(0);
        let selector = Selector::new(read, &paginator.response_paths(), cursor.follows());
        Ok(Reader {
            endpoint: Endpoint::new(&config.source, read),
            requester: Requester::new(&config.source, read.signature.clone())?,
            selector,
            paginator,
            router,
            cursor,
            done: saved.done,
            requests: 0,
            max_requests: read.max_requests,
            parent_requests: 0,
            parent_warnings: Vec::new(),
            begun: false,
            strict: read.strict,
            loop_records,
            full_page: 0,
            stop_hint: None,
        })
    }

    pub fn is_done(&self) -> bool {
        self.done || self.router.finished()
    }

    /// The OAuth token exchange of this reader's last token request.
    pub fn token_exchange(&self) -> Option<&TokenExchange> {
        self.requester.auth.last_exchange.as_ref()
    }

    /// Before the first request: the cursor fixes its range (windows).
    fn begin(&mut self, env: &mut dyn Env) {
        if !self.begun {
            self.begun = true;
            if !self.done && !self.cursor.begin(env.now_ms()) {
                self.done = true;
            }
        }
    }

    /// Checks the cap before a new logical request.
    pub fn count_request(&mut self) -> Result<(), Error> {
        if self.requests >= self.max_requests {
            return Err(Error::Limit(format!(
                "read.max_requests ({}) reached before the read was complete; raise it if the API really has more pages",
                self.max_requests
            )));
        }
        self.requests += 1;
        Ok(())
    }

    /// Fetches the traverse values (`values_from`, without credentials).
    fn fetch_values(
        &mut self,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
    ) -> Result<(), Error> {
        let mut tries = 0;
        let router = &self.router;
        let (req, resp) = self
            .requester
            .send_plain(transport, env, &mut tries, &mut |env| {
                router.values_request(env)
            })?;
        self.router.take_values(&req, &resp)
    }

    /// Reads the parent's next page (a child stream): its records are the
    /// next partitions.
    fn fetch_parents(
        &mut self,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
    ) -> Result<(), Error> {
        let Some(parents) = self.router.parents() else {
            return Err(Error::Internal("no parent stream to read".into()));
        };
        let values = match next_batch(&mut parents.reader, transport, env)? {
            Some(batch) => {
                self.parent_requests += batch.requests;
                self.parent_warnings.extend(batch.warnings);
                parents.values(&batch.records)?
            }
            None => vec![],
        };
        self.router.take_parents(values);
        Ok(())
    }

    /// Sends the next data request, authenticated and signed, with retries.
    pub fn send(
        &mut self,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
        tries: &mut u32,
    ) -> Result<(HttpRequest, HttpResponse), Error> {
        let Reader {
            endpoint,
            paginator,
            router,
            cursor,
            requester,
            ..
        } = self;
        requester.send(transport, env, tries, &mut |env| {
            data_request(endpoint, paginator, router, cursor, env)
        })
    }

    /// The data request the read would send next, as built before
    /// credentials and signature are added (`check` shows it); `None` when
    /// the read is complete.
    pub fn next_request(&self, env: &mut dyn Env) -> Option<Result<HttpRequest, Error>> {
        if self.is_done() {
            return None;
        }
        Some(data_request(
            &self.endpoint,
            &self.paginator,
            &self.router,
            &self.cursor,
            env,
        ))
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

    /// Checks a 2xx response before it changes anything: a body that is not
    /// JSON, or a non-empty page identical to the page before, is
    /// [`Unusable`] (the driver asks again while retries last).
    fn accept<'r>(
        &self,
        req: &HttpRequest,
        resp: &'r HttpResponse,
    ) -> Result<Parsed<'r>, Unusable> {
        let parsed = self
            .selector
            .parse(&resp.body)
            .map_err(|e| Unusable::NotJson(not_json(req, resp, e)))?;
        if self.selector.count(&parsed) > 0 && self.paginator.same_page(&resp.body) {
            return Err(Unusable::SamePage(Error::Response(format!(
                "{} returned the same page as the request before it: stopping instead of looping",
                req.describe()
            ))));
        }
        Ok(parsed)
    }

    /// [`Reader::handle_response`] for a response that [`Reader::accept`]
    /// has already parsed and checked.
    fn take(
        &mut self,
        req: &HttpRequest,
        resp: &HttpResponse,
        mut parsed: Parsed<'_>,
        tries: u32,
    ) -> Result<Batch, Error> {
        let (mut selected, page_records) =
            self.selector
                .select(&mut parsed, self.requests, &mut self.cursor)?;
        if let Some(values) = self.router.parent_values() {
            selected.records = with_fields(&selected.records, values)?;
        }
        let loop_requests = self.paginator.answered(&resp.body, page_records);
        let doc = parsed.doc;
        let mut warnings = selected.warnings;
        let missing = notice::records_missing(&doc, self.selector.records_path(), &req.describe());
        // A missing records path explains an early end too: one warning.
        let path_found = missing.is_none();
        warnings.extend(missing);
        self.loop_records = self.loop_records.map(|n| n + page_records);
        self.full_page = self.full_page.max(page_records);
        if self.paginator.ends_on_empty() && page_records > 0 {
            self.stop_hint = Some(notice::stop_hint(&doc, page_records, self.full_page));
        }
        let sent = Sent::of(req);
        let request = |name: &str| sent.get(name);
        let page = Page {
            facts: Facts {
                response: &doc,
                headers: &resp.headers,
                request: &request,
                requests: loop_requests,
                records: page_records,
            },
            url: &req.url,
        };
        let goes_on = self.paginator.advance(&page)?;
        if !goes_on {
            let what = format!("page {loop_requests} ({})", req.describe());
            if path_found {
                warnings.extend(notice::ended_early(&doc, self.loop_records, &what));
            }
            self.loop_records = Some(0);
            self.full_page = 0;
            self.stop_hint = None;
        }
        if !goes_on && !self.cursor.next_window() && self.router.next_partition() {
            self.done = true;
        }
        crate::grants::complete_request(&format!(
            ", {page_records} records, {}",
            self.next_text(goes_on)
        ));
        let warnings = {
            let mut all = std::mem::take(&mut self.parent_warnings);
            all.extend(warnings);
            all
        };
        if !warnings.is_empty() && (self.strict || crate::grants::strict()) {
            return Err(Error::Response(format!(
                "{} (--strict or read.strict: a warning is an error)",
                warnings.join("; ")
            )));
        }
        Ok(Batch {
            records: selected.records,
            count: selected.count,
            checkpoint: self.checkpoint().text(),
            requests: tries + std::mem::take(&mut self.parent_requests),
            warnings,
        })
    }

    /// What the request log says comes after a page.
    fn next_text(&self, goes_on: bool) -> String {
        if self.is_done() {
            return "the read is complete".to_string();
        }
        let scalar = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if goes_on {
            if let Some(url) = self.paginator.next_url() {
                return format!("next: {url}");
            }
            if let Some((name, _, value)) = self.paginator.request_value() {
                return format!("next: {name}={}", scalar(&value));
            }
        }
        match self.router.request_value() {
            Some((name, _, value)) => format!("next: {name}={}", scalar(value)),
            None => "next: the same request".to_string(),
        }
    }

    /// A failed data request, with a hint where the config is the likely
    /// cause: a `page` loop without a stop condition that ran past the
    /// last page into a 4xx.
    fn explain(&self, e: Error) -> Error {
        match e {
            Error::HttpStatus { code, message }
                if (400..500).contains(&code)
                    && !matches!(code, 401 | 403 | 408 | 429)
                    && self.paginator.ends_on_empty()
                    && self.paginator.loop_requests() > 0 =>
            {
                let hint = self.stop_hint.as_deref().unwrap_or("records == 0");
                Error::HttpStatus {
                    code,
                    message: format!(
                        "{message} (read.paginate has no stop condition, so the loop asked \
                         past the last page; add one, e.g. `\"stop\": [\"{hint}\"]`)"
                    ),
                }
            }
            other => other,
        }
    }

    /// Where the read stands, from the pieces its parts keep.
    pub fn checkpoint(&self) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            done: self.done,
            ..Checkpoint::default()
        };
        self.router.save(&mut checkpoint);
        self.paginator.save(&mut checkpoint);
        self.cursor.save(&mut checkpoint);
        checkpoint
    }
}

/// The initial checkpoints of the partitions of a read: one per traverse
/// value (fetching `values_from` first); empty when the read is one piece.
pub fn partitions(
    config: Config,
    stream: Option<&str>,
    transport: &mut dyn Transport,
    env: &mut dyn Env,
) -> Result<Vec<String>, Error> {
    let mut reader = Reader::open_stream(&config, stream, None)?;
    if reader.cursor.windows() {
        reader.begin(env);
        return Ok(reader
            .cursor
            .window_partitions()
            .iter()
            .map(Checkpoint::text)
            .collect());
    }
    if !reader.router.traverses() {
        return Ok(vec![]);
    }
    if reader.router.needs_values() {
        reader.count_request()?;
        reader.fetch_values(transport, env)?;
    }
    Ok(reader.router.partitions(reader.cursor.since()))
}

/// NDJSON `records` with `fields` set on each (a child stream's parent
/// fields): a field the record has is replaced in place, others follow
/// the record's own.
fn with_fields(
    records: &[u8],
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(records.len() + records.len() / 4);
    for line in records.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let mut record: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(line)
                .map_err(|e| Error::Internal(format!("a flat record: {e}")))?;
        for (k, v) in fields {
            record.insert(k.clone(), v.clone());
        }
        serde_json::to_writer(&mut out, &record).expect("writing to a Vec");
        out.push(b'\n');
    }
    Ok(out)
}

/// A 2xx answer that cannot be used as it is.
#[derive(Debug)]
enum Unusable {
    NotJson(Error),
    SamePage(Error),
}

impl Unusable {
    fn into_error(self) -> Error {
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
    reader.begin(env);
    loop {
        if reader.is_done() {
            return Ok(None);
        }
        if reader.router.needs_parents() {
            reader.fetch_parents(transport, env)?;
            continue;
        }
        reader.count_request()?;
        if reader.router.needs_values() {
            reader.fetch_values(transport, env)?;
            continue;
        }
        // A body that is not JSON or a repeated page may be a passing
        // fault (a proxy's error page, a cache): ask again while the
        // retries last.
        let retries = reader.requester.policy().retries;
        let mut tries = 0;
        let mut attempt = 0;
        loop {
            let (req, resp) = reader
                .send(transport, env, &mut tries)
                .map_err(|e| reader.explain(e))?;
            match reader.accept(&req, &resp) {
                Ok(accepted) => return reader.take(&req, &resp, accepted, tries).map(Some),
                Err(_) if attempt < retries => {
                    transport.sleep(crate::retry::jittered_backoff(attempt, env));
                    attempt += 1;
                }
                Err(unusable) => {
                    let e = unusable.into_error();
                    return Err(if attempt == 0 {
                        e
                    } else {
                        match e {
                            Error::Response(m) => {
                                Error::Response(format!("{m} (after {} tries)", attempt + 1))
                            }
                            other => other,
                        }
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
