//! The loop modes of `read.paginate` (SPEC 1.5) as plain data: where a loop
//! starts, what value its next request carries, and where it goes after a
//! page — or that it ends.

use crate::config::{Location, Paginate, Scalar, ValuesFrom};
use crate::error::Error;
use crate::jsonpath::{self, Path};
use crate::stop::{Condition, Facts};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a loop stands: the value its next request carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// The first request, with no loop value (single request, cursor
    /// without `start`, link).
    Start,
    /// A page number or an offset.
    Number(i64),
    Cursor(Value),
    /// A next URL, used as it is.
    Url(String),
}

/// The inner loop: what is repeated for each traverse value (or once).
#[derive(Debug, Clone)]
pub enum Inner {
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

#[derive(Debug, Clone)]
pub enum Values {
    Given(Vec<Value>),
    From(ValuesFrom, Path),
}

#[derive(Debug, Clone)]
pub struct Traverse {
    pub param: String,
    pub location: Location,
    pub values: Values,
}

/// A whole `read.paginate`, compiled.
#[derive(Debug, Clone)]
pub struct Plan {
    pub traverse: Option<Traverse>,
    pub inner: Inner,
    pub stop: Vec<Condition>,
}

fn conditions(stop: &[String], path: &str) -> Result<Vec<Condition>, Error> {
    stop.iter()
        .enumerate()
        .map(|(i, s)| {
            Condition::parse(s).map_err(|e| Error::config(format!("{path}.stop[{i}]"), e))
        })
        .collect()
}

fn path(text: &str, at: &str) -> Result<Path, Error> {
    jsonpath::parse(text).map_err(|e| Error::config(at, e))
}

fn inner(p: &Paginate, at: &str) -> Result<(Inner, Vec<Condition>), Error> {
    Ok(match p {
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
        } => (
            Inner::Number {
                param: param.clone(),
                location: *location,
                start: *start,
                step: *step,
                end_on_empty: stop.is_empty(),
            },
            conditions(stop, at)?,
        ),
        Paginate::Cursor {
            param,
            location,
            from,
            start,
            stop,
        } => (
            Inner::Cursor {
                param: param.clone(),
                location: *location,
                from: path(from, &format!("{at}.from"))?,
                start: start.as_ref().map(|s: &Scalar| s.0.clone()),
            },
            conditions(stop, at)?,
        ),
        Paginate::Link { from, stop } => (
            Inner::Link {
                from: if from == "header" {
                    None
                } else {
                    Some(path(from, &format!("{at}.from"))?)
                },
            },
            conditions(stop, at)?,
        ),
        Paginate::Traverse { .. } => {
            return Err(Error::config(
                format!("{at}.type"),
                "a traverse cannot run another traverse",
            ));
        }
    })
}

impl Plan {
    /// Every path into a response that the plan reads: the cursor's or next
    /// link's `from`, and the stop conditions' `response.<path>`.
    pub fn response_paths(&self) -> Vec<&Path> {
        let mut paths = vec![];
        match &self.inner {
            Inner::Cursor { from, .. } | Inner::Link { from: Some(from) } => paths.push(from),
            _ => {}
        }
        for c in &self.stop {
            for operand in [&c.left, &c.right] {
                if let crate::stop::Operand::Response(p) = operand {
                    paths.push(p);
                }
            }
        }
        paths
    }

    pub fn new(paginate: Option<&Paginate>) -> Result<Plan, Error> {
        let at = "read.paginate";
        match paginate {
            None => Ok(Plan {
                traverse: None,
                inner: Inner::Single,
                stop: vec![],
            }),
            Some(Paginate::Traverse {
                param,
                location,
                values,
                values_from,
                then,
            }) => {
                let values = match (values, values_from) {
                    (Some(v), None) => Values::Given(v.iter().map(|s| s.0.clone()).collect()),
                    (None, Some(from)) => {
                        let extract = path(&from.extract, &format!("{at}.values_from.extract"))?;
                        Values::From(from.clone(), extract)
                    }
                    _ => {
                        return Err(Error::config(
                            at,
                            "a traverse needs `values` or `values_from`",
                        ));
                    }
                };
                let (inner, stop) = match then {
                    None => (Inner::Single, vec![]),
                    Some(then) => inner(then, &format!("{at}.then"))?,
                };
                Ok(Plan {
                    traverse: Some(Traverse {
                        param: param.clone(),
                        location: *location,
                        values,
                    }),
                    inner,
                    stop,
                })
            }
            Some(p) => {
                let (inner, stop) = inner(p, at)?;
                Ok(Plan {
                    traverse: None,
                    inner,
                    stop,
                })
            }
        }
    }

    pub fn first(&self) -> Position {
        match &self.inner {
            Inner::Single | Inner::Link { .. } => Position::Start,
            Inner::Number { start, .. } => Position::Number(*start),
            Inner::Cursor { start: Some(v), .. } => Position::Cursor(v.clone()),
            Inner::Cursor { start: None, .. } => Position::Start,
        }
    }

    /// The loop value a request at `pos` carries: name, place, value.
    pub fn loop_value(&self, pos: &Position) -> Option<(&str, Location, Value)> {
        match (&self.inner, pos) {
            (
                Inner::Number {
                    param, location, ..
                },
                Position::Number(n),
            ) => Some((param, *location, Value::from(*n))),
            (
                Inner::Cursor {
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
        Ok(match &self.inner {
            Inner::Single => None,
            Inner::Number {
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
            Inner::Cursor { from, .. } => match jsonpath::get(page.facts.response, from) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(v) => Some(Position::Cursor(v.clone())),
            },
            Inner::Link { from } => {
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

/// What the loop learns from one page.
pub struct Page<'a> {
    pub facts: Facts<'a>,
    pub url: &'a url::Url,
    pub link_header: Option<&'a str>,
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

    fn plan(p: Value) -> Plan {
        Plan::new(Some(&serde_json::from_value(p).unwrap())).unwrap()
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
            let plan = Plan::new(Some(&serde_json::from_value(json!({"type": "offset", "param": "o", "step": step, "start": start})).unwrap())).unwrap();
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
            let plan = Plan::new(Some(&serde_json::from_value(json!({"type": "page", "param": "p", "start": start, "step": step})).unwrap())).unwrap();
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
