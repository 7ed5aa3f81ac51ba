//! What a read tells its user that did not fail it (README "Warnings and
//! `--strict`"): a records path the response does not have, a pagination
//! that ended while the response says there is more, and the hints that
//! point at the fix (a `records` path, a stop condition).
//!
//! Pure functions of a page's document; the reader decides when to ask.

use crate::jsonpath::Segment;
use serde_json::{Map, Value};

/// Fields that say whether more pages follow (top level, or under one of
/// [`CONTAINERS`]).
const HAS_MORE: [&str; 9] = [
    "has_more",
    "hasMore",
    "has_next",
    "hasNext",
    "has_next_page",
    "hasNextPage",
    "more",
    "more_results",
    "moreResults",
];

/// Fields that hold the number of records of the whole result.
const TOTAL: [&str; 8] = [
    "total",
    "total_count",
    "totalCount",
    "total_results",
    "totalResults",
    "total_records",
    "totalRecords",
    "count",
];

/// Fields that hold the next page's URL or cursor.
const NEXT: [&str; 7] = [
    "next",
    "next_page",
    "nextPage",
    "next_cursor",
    "nextCursor",
    "next_url",
    "nextUrl",
];

/// Objects that pagination fields are often inside.
const CONTAINERS: [&str; 6] = [
    "meta",
    "pagination",
    "paging",
    "page_info",
    "pageInfo",
    "links",
];

/// A path as a config writes it: `data.items`, `a[0].b`.
pub fn path_text(path: &[Segment]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Segment::Key(k) if k.contains(['.', '[', ']', '\'']) => {
                out.push_str(&format!("['{k}']"))
            }
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::FromEnd(i) => out.push_str(&format!("[-{i}]")),
            Segment::All => out.push_str("[*]"),
        }
    }
    out
}

/// Whether `path` is absent from `doc` (a `null` at its end is present).
fn missing(doc: &Value, path: &[Segment]) -> bool {
    let mut here = doc;
    for s in path {
        let next = match (s, here) {
            (Segment::Key(k), Value::Object(m)) => m.get(k),
            (Segment::Index(i), Value::Array(a)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(v) => here = v,
            None => return true,
        }
    }
    false
}

/// The keys of `doc` holding an array, shallowest first (top level, then
/// one level down): where records usually are.
fn arrays_in(doc: &Value) -> Vec<String> {
    let Value::Object(m) = doc else {
        return vec![];
    };
    let mut found: Vec<String> = m
        .iter()
        .filter(|(_, v)| v.is_array())
        .map(|(k, _)| path_text(&[Segment::Key(k.clone())]))
        .collect();
    for (k, v) in m {
        if let Value::Object(inner) = v {
            for (k2, v2) in inner {
                if v2.is_array() {
                    found.push(path_text(&[
                        Segment::Key(k.clone()),
                        Segment::Key(k2.clone()),
                    ]));
                }
            }
        }
    }
    found
}

/// A warning when `read.records` is not in `doc`: the top-level keys it
/// has, and the path of an array to try.
pub fn records_missing(doc: &Value, path: &[Segment], what: &str) -> Option<String> {
    if path.is_empty() || !missing(doc, path) {
        return None;
    }
    let keys = match doc {
        Value::Object(m) if m.is_empty() => "it is an empty object".to_string(),
        Value::Object(m) => format!(
            "its top-level keys are {}",
            m.keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(_) => "it is an array: unset read.records to read its items".to_string(),
        other => format!("it is {}", kind(other)),
    };
    let suggestion = match arrays_in(doc).first() {
        Some(p) => format!("; did you mean `\"records\": \"{p}\"`?"),
        None => String::new(),
    };
    Some(format!(
        "read.records `{}` is not in the response of {what}, so it gave no records: {keys}{suggestion}",
        path_text(path)
    ))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// With `read.records` unset: the key of the one array of a response that
/// is an object holding exactly one (the records, most likely).
pub fn one_array(record: &Value) -> Option<&str> {
    let Value::Object(m) = record else {
        return None;
    };
    let mut arrays = m.iter().filter(|(_, v)| v.is_array());
    match (arrays.next(), arrays.next()) {
        (Some((k, _)), None) => Some(k),
        _ => None,
    }
}

/// `name` at the top level of `doc`, or inside one of [`CONTAINERS`]:
/// its path and value.
fn find<'d>(doc: &'d Value, names: &[&str]) -> Option<(String, &'d Value)> {
    let m: &Map<String, Value> = doc.as_object()?;
    for n in names {
        if let Some(v) = m.get(*n) {
            return Some((n.to_string(), v));
        }
    }
    for c in CONTAINERS {
        if let Some(Value::Object(inner)) = m.get(c) {
            for n in names {
                if let Some(v) = inner.get(*n) {
                    return Some((format!("{c}.{n}"), v));
                }
            }
        }
    }
    None
}

fn as_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        // Elasticsearch: `hits.total` is `{"value": N, ...}`.
        Value::Object(m) => m.get("value").and_then(as_number),
        _ => None,
    }
}

/// A warning when the pagination ended on this page while the response
/// says more records follow: a has-more field that is still true, or a
/// total above the records the loop read (`loop_records`; `None` when the
/// loop did not start in this run, so its count is not whole).
pub fn ended_early(doc: &Value, loop_records: Option<u64>, what: &str) -> Option<String> {
    if let Some((path, Value::Bool(true))) = find(doc, &HAS_MORE) {
        return Some(format!(
            "the pagination ended after {what} while the response's `{path}` is true: \
             the read may be incomplete (check read.paginate: the next cursor or link \
             was not found)"
        ));
    }
    let records = loop_records?;
    let (path, total) = find(doc, &TOTAL)?;
    let total = as_number(total)?;
    (total > records).then(|| {
        format!(
            "the pagination ended after {what} with {records} records while the response's \
             `{path}` says {total}: the read may be incomplete (check read.paginate and its \
             stop conditions)"
        )
    })
}

/// A stop condition for a `page` loop, from the last page it read: a next
/// link or cursor that is null there, a has-more field that is false, or
/// else fewer records than a full page.
pub fn stop_hint(doc: &Value, page_records: u64, full_page: u64) -> String {
    if let Some((path, Value::Null)) = find(doc, &NEXT) {
        return format!("response.{path} == null");
    }
    if let Some((path, Value::Bool(false))) = find(doc, &HAS_MORE) {
        return format!("response.{path} == false");
    }
    if full_page > page_records {
        return format!("records < {full_page}");
    }
    "records == 0".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonpath::parse;
    use serde_json::json;

    #[test]
    fn a_missing_records_path_names_the_keys_and_suggests_an_array() {
        let doc = json!({"results": [{"id": 1}], "count": 1, "next": null});
        assert_eq!(
            records_missing(&doc, &parse("data").unwrap(), "GET http://x/items").unwrap(),
            "read.records `data` is not in the response of GET http://x/items, so it gave no \
             records: its top-level keys are `results`, `count`, `next`; did you mean \
             `\"records\": \"results\"`?"
        );
        assert_eq!(records_missing(&doc, &parse("results").unwrap(), "x"), None);
        let nested = json!({"data": {"rows": []}});
        assert!(
            records_missing(&nested, &parse("data.items").unwrap(), "x")
                .unwrap()
                .ends_with("did you mean `\"records\": \"data.rows\"`?")
        );
        // A null at the path is an empty page, not a wrong path.
        assert_eq!(
            records_missing(&json!({"data": null}), &parse("data").unwrap(), "x"),
            None
        );
    }

    #[test]
    fn an_early_end_is_seen_in_has_more_and_totals() {
        let more = json!({"data": [], "meta": {"has_more": true}});
        assert!(
            ended_early(&more, Some(3), "GET x")
                .unwrap()
                .contains("`meta.has_more` is true")
        );
        let total = json!({"items": null, "total": 30});
        assert!(
            ended_early(&total, Some(25), "3 pages")
                .unwrap()
                .contains("with 25 records while the response's `total` says 30")
        );
        assert_eq!(ended_early(&total, Some(30), "x"), None);
        assert_eq!(ended_early(&total, None, "x"), None);
        let es = json!({"hits": {"total": {"value": 5}}});
        assert_eq!(ended_early(&es, Some(5), "x"), None);
    }

    #[test]
    fn a_stop_hint_comes_from_the_last_page() {
        assert_eq!(
            stop_hint(&json!({"next": null, "results": []}), 2, 10),
            "response.next == null"
        );
        assert_eq!(
            stop_hint(&json!({"meta": {"has_more": false}}), 2, 10),
            "response.meta.has_more == false"
        );
        assert_eq!(stop_hint(&json!({"x": 1}), 2, 10), "records < 10");
        assert_eq!(stop_hint(&json!({"x": 1}), 10, 10), "records == 0");
        assert_eq!(one_array(&json!({"items": [1], "n": 1})), Some("items"));
        assert_eq!(one_array(&json!({"a": [1], "b": []})), None);
    }
}
