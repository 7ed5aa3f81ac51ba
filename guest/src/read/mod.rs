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
}

impl Reader {
    pub fn open(config: Config, state: Option<&str>) -> Result<Reader, Error> {
        let Some(read) = config.read else {
            return Err(Error::config("read", "the config has no `read` block"));
        };
        let mut saved = Checkpoint::parse(state)?;
        let cursor = Cursor::open(read.incremental.as_ref(), &saved);
        if cursor.follows() && saved.done {
            // A finished pass: the next one starts over, from where the cursor says.
            saved = Checkpoint::default();
        }
        let (router, then) = Router::open(read.paginate.as_ref(), &saved);
        let paginator = Paginator::open(then, &saved)?;
        let selector = Selector::new(&read, &paginator.response_paths(), cursor.follows());
        Ok(Reader {
            endpoint: Endpoint::new(&config.source, &read),
            requester: Requester::new(&config.source, read.signature.clone())?,
            selector,
            paginator,
            router,
            cursor,
            done: saved.done,
            requests: 0,
            max_requests: read.max_requests,
        })
    }

    pub fn is_done(&self) -> bool {
        self.done || self.router.finished()
    }

    /// The OAuth token exchange of this reader's last token request.
    pub fn token_exchange(&self) -> Option<&TokenExchange> {
        self.requester.auth.last_exchange.as_ref()
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

    /// Sends the next data request, authenticated and signed, with retries.
    pub fn send(
        &mut self,
        transport: &mut dyn Transport,
        env: &mut dyn Env,
        tries: &mut u32,
    ) -> Result<(HttpRequest, HttpResponse), Error> {
        // The traverse value, the incremental cursor, the loop value: later ones win.
        let loop_value = self.paginator.request_value();
        let mut set: Vec<Set> = Vec::with_capacity(3);
        set.extend(self.router.request_value());
        set.extend(self.cursor.request_value());
        if let Some((name, location, value)) = &loop_value {
            set.push((name, *location, value));
        }
        let next_url = self.paginator.next_url();
        let endpoint = &self.endpoint;
        self.requester.send(transport, env, tries, &mut |env| {
            endpoint.request(&set, next_url, env)
        })
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
        let (selected, page_records) =
            self.selector
                .select(&mut parsed, self.requests, &mut self.cursor)?;
        let loop_requests = self.paginator.answered(&resp.body, page_records);
        let doc = parsed.doc;
        let sent = Sent::of(req);
        let request = |name: &str| sent.get(name);
        let page = Page {
            facts: Facts {
                response: &doc,
                request: &request,
                requests: loop_requests,
                records: page_records,
            },
            url: &req.url,
            link_header: resp.header("link"),
        };
        if !self.paginator.advance(&page)? && self.router.next_partition() {
            self.done = true;
        }
        Ok(Batch {
            records: selected.records,
            count: selected.count,
            checkpoint: self.checkpoint().text(),
            requests: tries,
            warnings: selected.warnings,
        })
    }

    /// Where the read stands, from the pieces its parts keep.
    fn checkpoint(&self) -> Checkpoint {
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
    transport: &mut dyn Transport,
    env: &mut dyn Env,
) -> Result<Vec<String>, Error> {
    let mut reader = Reader::open(config, None)?;
    if !reader.router.traverses() {
        return Ok(vec![]);
    }
    if reader.router.needs_values() {
        reader.count_request()?;
        reader.fetch_values(transport, env)?;
    }
    Ok(reader.router.partitions(reader.cursor.since()))
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
    loop {
        if reader.is_done() {
            return Ok(None);
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
            let (req, resp) = reader.send(transport, env, &mut tries)?;
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
