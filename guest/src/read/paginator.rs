//! The paginator (`read.paginate`, README "Pagination"): the loop that one
//! partition's requests follow — page numbers, offsets, cursors read from
//! the response, next links — with its stop conditions and its safety
//! rails (a cursor or next URL seen twice, a page identical to the one
//! before). It says what value the next request carries, and after each
//! page where the loop goes, or that it ends.

use crate::config::{Location, Paginate, Scalar, ValueAt};
use crate::error::Error;
use crate::jsonpath::{self, Path};
use crate::read::checkpoint::{Checkpoint, Position};
use crate::request::HttpRequest;
use crate::stop::{Condition, Facts, Operand};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;

/// How a loop moves from one request to the next.
#[derive(Debug, Clone)]
enum Mode {
    Single,
    Number {
        param: String,
        location: Location,
        start: i64,
        step: i64,
        end_on_empty: bool,
    },
    Cursor {
        param: String,
        location: Location,
        from: From,
        /// The value at `from` is a URL; the cursor is this query parameter of it.
        url_param: Option<String>,
        start: Option<Value>,
    },
    Link {
        from: From,
    },
}

/// Where a loop reads its next value, with the config's text for messages.
#[derive(Debug, Clone)]
struct From {
    at: ValueAt,
    text: String,
}

impl From {
    fn new(from: &crate::config::Parsed<ValueAt>) -> From {
        From {
            at: from.get().clone(),
            text: from.text().to_string(),
        }
    }

    /// The next value in `page`: `None` when it is missing, `null` or `""`.
    /// On the first page of a loop, a page with records whose response
    /// lacks the path's key (or the header) entirely is an error: a wrong
    /// path would otherwise read one page and end as if all were read.
    fn read(&self, page: &Page) -> Result<Option<Value>, Error> {
        let found: Option<Cow<Value>> = match &self.at {
            ValueAt::LinkHeader => header(page.facts.headers, "link")
                .and_then(next_link)
                .map(|u| Cow::Owned(Value::String(u))),
            ValueAt::Header(name) => {
                header(page.facts.headers, name).map(|v| Cow::Owned(Value::String(v.to_string())))
            }
            ValueAt::Body(path) => jsonpath::get(page.facts.response, path),
        };
        match found.as_deref() {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(_) => return Ok(found.map(Cow::into_owned)),
        }
        if found.is_none() && page.facts.requests == 1 && page.facts.records > 0 {
            let hint = "fix it, or, if the API leaves it out when there is no next page, \
                        add the stop condition";
            match &self.at {
                ValueAt::Body(path) => {
                    if let Some(keys) = jsonpath::missing_key(page.facts.response, path) {
                        let found = if keys.is_empty() {
                            "no object there".to_string()
                        } else {
                            format!("keys found there: {}", keys.join(", "))
                        };
                        return Err(Error::Response(format!(
                            "read.paginate.from: `{}` is not in the first response ({found}), \
                             which had {} records: the read would end after one page; {hint} \
                             `response.{} == null`",
                            self.text, page.facts.records, self.text
                        )));
                    }
                }
                ValueAt::Header(name) => {
                    let names: Vec<&str> =
                        page.facts.headers.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(Error::Response(format!(
                        "read.paginate.from: the first response, which had {} records, has no \
                         header `{name}` (headers: {}): the read would end after one page; \
                         {hint} `header:{name} == null`",
                        page.facts.records,
                        names.join(", ")
                    )));
                }
                ValueAt::LinkHeader => {}
            }
        }
        Ok(None)
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A loop of `read.paginate` (or of its `then`), compiled.
#[derive(Debug, Clone)]
pub struct Loop {
    mode: Mode,
    stop: Vec<Condition>,
}

impl Loop {
    /// The loop of `paginate`; none: one request.
    pub fn new(paginate: Option<&Paginate>) -> Result<Loop, Error> {
        let (mode, stop) = match paginate {
            None => (Mode::Single, &[][..]),
            Some(Paginate::Page {
                param,
                location,
                start,
                step,
                stop,
            }) => (
                Mode::Number {
                    param: param.clone(),
                    location: *location,
                    start: *start,
                    step: *step,
                    end_on_empty: stop.is_empty(),
                },
                &stop[..],
            ),
            Some(Paginate::Offset {
                param,
                location,
                start,
                step,
                stop,
                ..
            }) => (
                Mode::Number {
                    param: param.clone(),
                    location: *location,
                    start: *start,
                    // Loading fills it from the page size (config checks ensure there is one).
                    step: step.ok_or_else(|| {
                        Error::config("read.paginate.step", "an offset loop needs a page size")
                    })?,
                    end_on_empty: stop.is_empty(),
                },
                &stop[..],
            ),
            Some(Paginate::Cursor {
                param,
                location,
                from,
                url_param,
                start,
                stop,
            }) => (
                Mode::Cursor {
                    param: param.clone(),
                    location: *location,
                    from: From::new(from),
                    url_param: url_param.clone(),
                    start: start.as_ref().map(|s: &Scalar| s.0.clone()),
                },
                &stop[..],
            ),
            Some(Paginate::Link { from, stop }) => (
                Mode::Link {
                    from: From::new(from),
                },
                &stop[..],
            ),
            // The router takes the traverse; the config checks refuse one in `then`.
            Some(Paginate::Traverse { .. }) => {
                return Err(Error::Internal(
                    "read.paginate.then: a traverse inside a loop".into(),
                ));
            }
        };
        Ok(Loop {
            mode,
            stop: stop.iter().map(|s| s.get().clone()).collect(),
        })
    }

    /// Every path into a response that the loop reads: the cursor's or next
    /// link's `from`, and the stop conditions' `response.<path>`.
    pub fn response_paths(&self) -> Vec<&Path> {
        let mut paths = vec![];
        match &self.mode {
            Mode::Cursor { from, .. } | Mode::Link { from } => {
                if let ValueAt::Body(path) = &from.at {
                    paths.push(path);
                }
            }
            _ => {}
        }
        for c in &self.stop {
            for operand in [&c.left, &c.right] {
                if let Operand::Response(p) = operand {
                    paths.push(p);
                }
            }
        }
        paths
    }

    pub fn first(&self) -> Position {
        match &self.mode {
            Mode::Single | Mode::Link { .. } => Position::Start,
            Mode::Number { start, .. } => Position::Number(*start),
            Mode::Cursor { start: Some(v), .. } => Position::Cursor(v.clone()),
            Mode::Cursor { start: None, .. } => Position::Start,
        }
    }

    /// The loop value a request at `pos` carries: name, place, value.
    pub fn loop_value(&self, pos: &Position) -> Option<(&str, Location, Value)> {
        match (&self.mode, pos) {
            (
                Mode::Number {
                    param, location, ..
                },
                Position::Number(n),
            ) => Some((param, *location, Value::from(*n))),
            (
                Mode::Cursor {
                    param, location, ..
                },
                Position::Cursor(c),
            ) => Some((param, *location, c.clone())),
            _ => None,
        }
    }

    /// Where the loop goes after a page, or `None` when it ends.
    pub fn advance(&self, pos: &Position, page: &Page) -> Result<Option<Position>, Error> {
        if self.stop.iter().any(|c| c.holds(&page.facts)) {
            return Ok(None);
        }
        Ok(match &self.mode {
            Mode::Single => None,
            Mode::Number {
                step, end_on_empty, ..
            } => {
                if *end_on_empty && page.facts.records == 0 {
                    None
                } else {
                    let Position::Number(n) = pos else {
                        return Err(Error::Internal(format!("a number loop at {pos:?}")));
                    };
                    Some(Position::Number(n + step))
                }
            }
            Mode::Cursor {
                from, url_param, ..
            } => match (from.read(page)?, url_param) {
                (None, _) => None,
                (Some(v), None) => Some(Position::Cursor(v)),
                (Some(v), Some(name)) => {
                    let next = join(page.url, &request_text(&v))?;
                    let value = next
                        .query_pairs()
                        .find(|(k, _)| k == name.as_str())
                        .map(|(_, v)| v.into_owned());
                    match value {
                        Some(c) if !c.is_empty() => Some(Position::Cursor(Value::String(c))),
                        _ => {
                            return Err(Error::Response(format!(
                                "read.paginate.url_param: the next-page URL at `{}` has no query \
                                 parameter `{name}`",
                                from.text
                            )));
                        }
                    }
                }
            },
            Mode::Link { from } => match from.read(page)? {
                None => None,
                Some(next) => Some(Position::Url(join(page.url, &request_text(&next))?.into())),
            },
        })
    }
}

/// A next URL as text: a string as it is, anything else as JSON.
fn request_text(v: &Value) -> String {
    crate::request::text(v)
}

/// `next` resolved against the URL of the request that gave it.
fn join(base: &url::Url, next: &str) -> Result<url::Url, Error> {
    base.join(next)
        .map_err(|e| Error::Response(format!("the next-page URL `{next}` is not a URL: {e}")))
}

/// A partition's loop as it runs: the compiled [`Loop`], where it stands,
/// and its safety rails.
pub struct Paginator {
    plan: Loop,
    /// Absent: at the loop's start.
    position: Option<Position>,
    /// Requests made so far in this loop (the `requests` of stop conditions).
    requests: u64,
    /// Cursors and next URLs seen in this loop.
    seen: HashSet<String>,
    /// The last non-empty page's body (its buffer is reused): comparing
    /// bytes is exact, and cheaper than hashing every page.
    last_page: Option<Vec<u8>>,
}

impl Paginator {
    /// The loop of `paginate` where `saved` stands.
    pub fn open(paginate: Option<&Paginate>, saved: &Checkpoint) -> Result<Paginator, Error> {
        Ok(Paginator {
            plan: Loop::new(paginate)?,
            position: saved.position.clone(),
            requests: saved.loop_requests,
            seen: HashSet::new(),
            last_page: None,
        })
    }

    pub fn response_paths(&self) -> Vec<&Path> {
        self.plan.response_paths()
    }

    fn position(&self) -> Position {
        self.position.clone().unwrap_or_else(|| self.plan.first())
    }

    /// The loop value the next request carries: name, place, value.
    pub fn request_value(&self) -> Option<(&str, Location, Value)> {
        self.plan.loop_value(&self.position())
    }

    /// A `page` or `offset` loop with no stop condition (it ends at the
    /// first page without records).
    pub fn ends_on_empty(&self) -> bool {
        matches!(
            self.plan.mode,
            Mode::Number {
                end_on_empty: true,
                ..
            }
        )
    }

    /// Requests made so far in this loop.
    pub fn loop_requests(&self) -> u64 {
        self.requests
    }

    /// The next URL the next request goes to, used as it is.
    pub fn next_url(&self) -> Option<&str> {
        match &self.position {
            Some(Position::Url(u)) => Some(u),
            _ => None,
        }
    }

    /// `body`, with records, is the page before again.
    pub fn same_page(&self, body: &[u8]) -> bool {
        self.last_page.as_deref() == Some(body)
    }

    /// Counts a page answered with `records` records; the loop's request count.
    pub fn answered(&mut self, body: &[u8], records: u64) -> u64 {
        self.requests += 1;
        if records > 0 {
            let last = self.last_page.get_or_insert_default();
            last.clear();
            last.extend_from_slice(body);
        } else {
            self.last_page = None;
        }
        self.requests
    }

    /// Moves the loop on after a page: whether it goes on. A cursor or next
    /// URL that comes back a second time is an error; an ended loop starts
    /// over, for the next partition.
    pub fn advance(&mut self, page: &Page) -> Result<bool, Error> {
        let Some(next) = self.plan.advance(&self.position(), page)? else {
            self.position = None;
            self.requests = 0;
            self.seen.clear();
            self.last_page = None;
            return Ok(false);
        };
        let key = match &next {
            Position::Cursor(c) => Some(format!("cursor {c}")),
            Position::Url(u) => Some(format!("next URL {u}")),
            _ => None,
        };
        if let Some(key) = key
            && !self.seen.insert(key.clone())
        {
            return Err(Error::Response(format!(
                "the API gave the {key} a second time: stopping instead of looping"
            )));
        }
        self.position = Some(next);
        Ok(true)
    }

    /// This loop's piece of the checkpoint.
    pub fn save(&self, checkpoint: &mut Checkpoint) {
        checkpoint.position.clone_from(&self.position);
        checkpoint.loop_requests = self.requests;
    }
}

/// What the loop learns from one page.
pub struct Page<'a> {
    pub facts: Facts<'a>,
    pub url: &'a url::Url,
}

/// The request values just sent, for `request.<param>`: read back from
/// the request itself, so generated values are the ones on the wire.
pub struct Sent {
    params: Vec<(String, Value)>,
    body: Option<Value>,
}

impl Sent {
    pub fn of(req: &HttpRequest) -> Sent {
        Sent {
            params: req
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
            body: req
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok()),
        }
    }

    /// The value at `name` as a path into a JSON body, or the query
    /// parameter `name`.
    pub fn get(&self, name: &str) -> Option<Value> {
        if let Some(b) = &self.body
            && let Ok(p) = jsonpath::parse(name)
            && let Some(v) = jsonpath::get(b, &p)
        {
            return Some(v.into_owned());
        }
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The `rel="next"` target of an RFC 8288 `Link` header value.
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        // Parameters run to the next `,` outside quotes.
        let params_start = close + 1;
        let mut end = rest.len();
        let mut quoted = false;
        for (i, c) in rest[params_start..].char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = params_start + i;
                    break;
                }
                _ => {}
            }
        }
        let params = &rest[params_start..end];
        let is_next = params.split(';').any(|p| {
            let Some((name, value)) = p.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        rest = &rest[end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn link_headers() {
        let h = r#"<http://h/users?_page=1&_limit=10>; rel="first", <http://h/users?_page=2&_limit=10>; rel="next", <http://h/users?_page=9>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("http://h/users?_page=2&_limit=10")
        );
        assert_eq!(
            next_link(r#"</a,b?x=1>; title="x, y"; rel="prev next""#).as_deref(),
            Some("/a,b?x=1")
        );
        assert_eq!(next_link(r#"<http://h/1>; rel="prev""#), None);
        assert_eq!(next_link(""), None);
        assert_eq!(
            next_link("<http://h/2>;rel=next").as_deref(),
            Some("http://h/2")
        );
    }

    fn plan(p: Value) -> Loop {
        Loop::new(Some(&serde_json::from_value(p).unwrap())).unwrap()
    }

    fn page<'a>(
        response: &'a Value,
        records: u64,
        url: &'a url::Url,
        headers: &'a [(String, String)],
    ) -> Page<'a> {
        static NOTHING: fn(&str) -> Option<Value> = |_| None;
        Page {
            facts: Facts {
                response,
                headers,
                request: &NOTHING,
                requests: 2,
                records,
            },
            url,
        }
    }

    fn link(value: &str) -> Vec<(String, String)> {
        vec![("Link".into(), value.into())]
    }

    #[test]
    fn numbers_step_and_end_on_an_empty_page_without_stop() {
        let p = plan(json!({"type": "offset", "param": "_start", "step": 50}));
        let u = url::Url::parse("http://h/x").unwrap();
        let r = json!([]);
        assert_eq!(p.first(), Position::Number(0));
        assert_eq!(
            p.advance(&Position::Number(0), &page(&r, 50, &u, &[]))
                .unwrap(),
            Some(Position::Number(50))
        );
        assert_eq!(
            p.advance(&Position::Number(50), &page(&r, 0, &u, &[]))
                .unwrap(),
            None
        );
        // With a stop condition, only the conditions end it.
        let p = plan(json!({"type": "page", "param": "p", "stop": ["response.last == true"]}));
        assert_eq!(p.first(), Position::Number(1));
        assert_eq!(
            p.advance(&Position::Number(1), &page(&r, 0, &u, &[]))
                .unwrap(),
            Some(Position::Number(2))
        );
        let last = json!({"last": true});
        assert_eq!(
            p.advance(&Position::Number(2), &page(&last, 5, &u, &[]))
                .unwrap(),
            None
        );
    }

    #[test]
    fn cursors_end_when_missing_null_or_empty() {
        let p = plan(json!({"type": "cursor", "param": "c", "from": "data.next"}));
        let u = url::Url::parse("http://h/x").unwrap();
        assert_eq!(p.first(), Position::Start);
        let r = json!({"data": {"next": "abc"}});
        assert_eq!(
            p.advance(&Position::Start, &page(&r, 1, &u, &[])).unwrap(),
            Some(Position::Cursor(json!("abc")))
        );
        for end in [
            json!({}),
            json!({"data": {"next": null}}),
            json!({"data": {"next": ""}}),
        ] {
            assert_eq!(
                p.advance(&Position::Start, &page(&end, 1, &u, &[]))
                    .unwrap(),
                None
            );
        }
        assert_eq!(
            p.loop_value(&Position::Cursor(json!(7))),
            Some(("c", Location::Params, json!(7)))
        );
    }

    #[test]
    fn cursors_from_the_last_record_a_header_or_a_next_url_s_parameter() {
        let u = url::Url::parse("http://h/v1/charges?limit=2").unwrap();
        let p = plan(json!({"type": "cursor", "param": "starting_after", "from": "data[-1].id"}));
        let r = json!({"data": [{"id": "ch_1"}, {"id": "ch_2"}], "has_more": true});
        assert_eq!(
            p.advance(&Position::Start, &page(&r, 2, &u, &[])).unwrap(),
            Some(Position::Cursor(json!("ch_2")))
        );
        let empty = json!({"data": []});
        assert_eq!(
            p.advance(&Position::Start, &page(&empty, 0, &u, &[]))
                .unwrap(),
            None
        );
        // An array value (Elasticsearch's `sort`) is the cursor as it is.
        let p = plan(
            json!({"type": "cursor", "param": "search_after", "in": "body", "from": "hits.hits[-1].sort"}),
        );
        let r = json!({"hits": {"hits": [{"sort": [1, "a"]}, {"sort": [2, "b"]}]}});
        assert_eq!(
            p.advance(&Position::Start, &page(&r, 2, &u, &[])).unwrap(),
            Some(Position::Cursor(json!([2, "b"])))
        );
        let p = plan(json!({"type": "cursor", "param": "cursor", "from": "header:X-Next-Cursor"}));
        let h = vec![("x-next-cursor".to_string(), "c2".to_string())];
        assert_eq!(
            p.advance(&Position::Start, &page(&json!([]), 1, &u, &h))
                .unwrap(),
            Some(Position::Cursor(json!("c2")))
        );
        let p = plan(
            json!({"type": "cursor", "param": "cursor", "from": "next", "url_param": "cursor"}),
        );
        let r = json!({"next": "http://wrong-host:8080/api/items/?cursor=cD0y&page_size=2"});
        assert_eq!(
            p.advance(&Position::Start, &page(&r, 2, &u, &[])).unwrap(),
            Some(Position::Cursor(json!("cD0y")))
        );
        let r = json!({"next": "/api/items/?page_size=2"});
        let e = p
            .advance(&Position::Start, &page(&r, 2, &u, &[]))
            .unwrap_err();
        assert!(e.to_string().contains("read.paginate.url_param: the next-page URL at `next` has no query parameter `cursor`"), "{e}");
    }

    #[test]
    fn a_path_missing_from_a_first_page_with_records_is_an_error() {
        let u = url::Url::parse("http://h/x").unwrap();
        let first = |p: &Loop, r: &Value, records: u64, headers: &[(String, String)]| {
            let mut pg = page(r, records, &u, headers);
            pg.facts.requests = 1;
            p.advance(&Position::Start, &pg)
        };
        let p = plan(json!({"type": "cursor", "param": "after", "from": "data[-1].idd"}));
        let r = json!({"data": [{"id": 1}], "has_more": true});
        let e = first(&p, &r, 1, &[]).unwrap_err().to_string();
        assert!(e.contains("read.paginate.from: `data[-1].idd` is not in the first response (keys found there: id), which had 1 records"), "{e}");
        // An empty first page, a null, an empty array: the data's own end.
        assert_eq!(first(&p, &json!({"data": []}), 0, &[]).unwrap(), None);
        let p = plan(json!({"type": "link", "from": "links.next"}));
        assert_eq!(
            first(&p, &json!({"links": {"next": null}}), 3, &[]).unwrap(),
            None
        );
        let e = first(&p, &json!({"link": {"next": "x"}}), 3, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("keys found there: link"), "{e}");
        // A stop condition that says so makes a missing path the end.
        let p = plan(
            json!({"type": "link", "from": "nextRecordsUrl", "stop": ["response.done == true"]}),
        );
        assert_eq!(
            first(&p, &json!({"done": true, "records": []}), 3, &[]).unwrap(),
            None
        );
        let p = plan(json!({"type": "cursor", "param": "c", "from": "header:X-Next"}));
        let h = vec![("Content-Type".to_string(), "application/json".to_string())];
        let e = first(&p, &json!([]), 2, &h).unwrap_err().to_string();
        assert!(
            e.contains("has no header `X-Next` (headers: Content-Type)"),
            "{e}"
        );
        // Later pages end quietly, as documented.
        let p = plan(json!({"type": "cursor", "param": "after", "from": "next"}));
        assert_eq!(
            p.advance(&Position::Start, &page(&json!({}), 1, &u, &[]))
                .unwrap(),
            None
        );
    }

    #[test]
    fn links_resolve_against_the_request_url() {
        let p = plan(json!({"type": "link", "from": "header"}));
        let u = url::Url::parse("http://h/api/items?page=1").unwrap();
        let r = json!([]);
        assert_eq!(
            p.advance(
                &Position::Start,
                &page(&r, 1, &u, &link(r#"</api/items?page=2>; rel="next""#))
            )
            .unwrap(),
            Some(Position::Url("http://h/api/items?page=2".into()))
        );
        assert_eq!(
            p.advance(&Position::Start, &page(&r, 1, &u, &[])).unwrap(),
            None
        );
        let p = plan(json!({"type": "link", "from": "next_url"}));
        let r = json!({"next_url": "?page=3"});
        assert_eq!(
            p.advance(&Position::Start, &page(&r, 1, &u, &[])).unwrap(),
            Some(Position::Url("http://h/api/items?page=3".into()))
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// Offsets by any page size visit every record of any total exactly
        /// once and stop at the first empty page.
        #[test]
        fn offsets_cover_every_record_once(total in 0u64..5000, step in 1i64..700, start in 0i64..3) {
            let plan = Loop::new(Some(&serde_json::from_value(json!({"type": "offset", "param": "o", "step": step, "start": start})).unwrap())).unwrap();
            let url = url::Url::parse("http://h/").unwrap();
            let empty = json!([]);
            let mut pos = plan.first();
            let mut seen = Vec::new();
            let mut requests = 0;
            loop {
                let Position::Number(offset) = pos else { panic!("{pos:?}") };
                prop_assert_eq!(offset, start + requests * step, "the n-th request carries start + n * step");
                let records: Vec<u64> = (offset.max(0) as u64..total).take(step as usize).collect();
                requests += 1;
                let page = Page { facts: Facts { response: &empty, headers: &[], request: &|_| None, requests: requests as u64, records: records.len() as u64 }, url: &url };
                seen.extend(records);
                match plan.advance(&pos, &page).unwrap() {
                    Some(next) => pos = next,
                    None => break,
                }
            }
            let expected: Vec<u64> = (start as u64..total).collect();
            prop_assert_eq!(seen, expected);
        }

        /// Page numbers count from `start` by `step`.
        #[test]
        fn page_numbers_are_start_plus_n_steps(start in -5i64..5, step in 1i64..4, n in 0usize..50) {
            let plan = Loop::new(Some(&serde_json::from_value(json!({"type": "page", "param": "p", "start": start, "step": step})).unwrap())).unwrap();
            let url = url::Url::parse("http://h/").unwrap();
            let empty = json!([]);
            let mut pos = plan.first();
            for _ in 0..n {
                let page = Page { facts: Facts { response: &empty, headers: &[], request: &|_| None, requests: 1, records: 1 }, url: &url };
                pos = plan.advance(&pos, &page).unwrap().unwrap();
            }
            prop_assert_eq!(pos, Position::Number(start + n as i64 * step));
        }
    }
}
