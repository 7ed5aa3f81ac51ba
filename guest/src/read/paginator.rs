//! The paginator (`read.paginate`, README "Pagination"): the loop that one
//! partition's requests follow — page numbers, offsets, cursors read from
//! the response, next links — with its stop conditions and its safety
//! rails (a cursor or next URL seen twice, a page identical to the one
//! before). It says what value the next request carries, and after each
//! page where the loop goes, or that it ends.

use crate::config::{Location, NextLink, Paginate, Scalar};
use crate::error::Error;
use crate::jsonpath::{self, Path};
use crate::read::checkpoint::{Checkpoint, Position};
use crate::request::HttpRequest;
use crate::stop::{Condition, Facts, Operand};
use serde_json::Value;
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
        from: Path,
        start: Option<Value>,
    },
    Link {
        /// `None`: the `Link` header.
        from: Option<Path>,
    },
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
            Some(
                Paginate::Page {
                    param,
                    location,
                    start,
                    step,
                    stop,
                }
                | Paginate::Offset {
                    param,
                    location,
                    start,
                    step,
                    stop,
                },
            ) => (
                Mode::Number {
                    param: param.clone(),
                    location: *location,
                    start: *start,
                    step: *step,
                    end_on_empty: stop.is_empty(),
                },
                &stop[..],
            ),
            Some(Paginate::Cursor {
                param,
                location,
                from,
                start,
                stop,
            }) => (
                Mode::Cursor {
                    param: param.clone(),
                    location: *location,
                    from: from.get().clone(),
                    start: start.as_ref().map(|s: &Scalar| s.0.clone()),
                },
                &stop[..],
            ),
            Some(Paginate::Link { from, stop }) => (
                Mode::Link {
                    from: match from.get() {
                        NextLink::Header => None,
                        NextLink::At(path) => Some(path.clone()),
                    },
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
            Mode::Cursor { from, .. } | Mode::Link { from: Some(from) } => paths.push(from),
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
            Mode::Cursor { from, .. } => match jsonpath::get(page.facts.response, from) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(v) => Some(Position::Cursor(v.clone())),
            },
            Mode::Link { from } => {
                let next = match from {
                    None => page.link_header.and_then(next_link),
                    Some(p) => match jsonpath::get(page.facts.response, p) {
                        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                        _ => None,
                    },
                };
                match next {
                    None => None,
                    Some(next) => {
                        let url = page.url.join(&next).map_err(|e| {
                            Error::Response(format!("the next-page URL `{next}` is not a URL: {e}"))
                        })?;
                        Some(Position::Url(url.into()))
                    }
                }
            }
        })
    }
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
    pub link_header: Option<&'a str>,
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
            return Some(v.clone());
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
        link: Option<&'a str>,
    ) -> Page<'a> {
        static NOTHING: fn(&str) -> Option<Value> = |_| None;
        Page {
            facts: Facts {
                response,
                request: &NOTHING,
                requests: 1,
                records,
            },
            url,
            link_header: link,
        }
    }

    #[test]
    fn numbers_step_and_end_on_an_empty_page_without_stop() {
        let p = plan(json!({"type": "offset", "param": "_start", "step": 50}));
        let u = url::Url::parse("http://h/x").unwrap();
        let r = json!([]);
        assert_eq!(p.first(), Position::Number(0));
        assert_eq!(
            p.advance(&Position::Number(0), &page(&r, 50, &u, None))
                .unwrap(),
            Some(Position::Number(50))
        );
        assert_eq!(
            p.advance(&Position::Number(50), &page(&r, 0, &u, None))
                .unwrap(),
            None
        );
        // With a stop condition, only the conditions end it.
        let p = plan(json!({"type": "page", "param": "p", "stop": ["response.last == true"]}));
        assert_eq!(p.first(), Position::Number(1));
        assert_eq!(
            p.advance(&Position::Number(1), &page(&r, 0, &u, None))
                .unwrap(),
            Some(Position::Number(2))
        );
        let last = json!({"last": true});
        assert_eq!(
            p.advance(&Position::Number(2), &page(&last, 5, &u, None))
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
            p.advance(&Position::Start, &page(&r, 1, &u, None)).unwrap(),
            Some(Position::Cursor(json!("abc")))
        );
        for end in [
            json!({}),
            json!({"data": {"next": null}}),
            json!({"data": {"next": ""}}),
        ] {
            assert_eq!(
                p.advance(&Position::Start, &page(&end, 1, &u, None))
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
    fn links_resolve_against_the_request_url() {
        let p = plan(json!({"type": "link", "from": "header"}));
        let u = url::Url::parse("http://h/api/items?page=1").unwrap();
        let r = json!([]);
        assert_eq!(
            p.advance(
                &Position::Start,
                &page(&r, 1, &u, Some(r#"</api/items?page=2>; rel="next""#))
            )
            .unwrap(),
            Some(Position::Url("http://h/api/items?page=2".into()))
        );
        assert_eq!(
            p.advance(&Position::Start, &page(&r, 1, &u, None)).unwrap(),
            None
        );
        let p = plan(json!({"type": "link", "from": "next_url"}));
        let r = json!({"next_url": "?page=3"});
        assert_eq!(
            p.advance(&Position::Start, &page(&r, 1, &u, None)).unwrap(),
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
                let page = Page { facts: Facts { response: &empty, request: &|_| None, requests: requests as u64, records: records.len() as u64 }, url: &url, link_header: None };
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
                let page = Page { facts: Facts { response: &empty, request: &|_| None, requests: 1, records: 1 }, url: &url, link_header: None };
                pos = plan.advance(&pos, &page).unwrap().unwrap();
            }
            prop_assert_eq!(pos, Position::Number(start + n as i64 * step));
        }
    }
}
