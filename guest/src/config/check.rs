//! The semantic rules of a config: what its JSON Schema cannot say
//! (README "The config" and the sections it links). Each rule is written
//! here once.

use super::parsed::{Grammar, HttpUrl, ValueAt};
use super::values::RequestValue;
use super::values::generated_in;
use crate::error::Problem;
use crate::jsonpath::Path;
use crate::stop::Condition;
use serde_json::Value;

/// Semantic checks: what the schema cannot say. They read the JSON as it
/// is, skipping values of the wrong type (the schema reports those), so a
/// config's structural and semantic mistakes are reported together.
pub fn check(config: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |path: &str, message: String| problems.push(Problem::new(path, message));
    let source = &config["source"];
    if let Some(name) = source["name"].as_str()
        && let Some(c) = name.chars().find(|c| !is_name_char(*c))
    {
        problem(
            "source.name",
            format!("`{c}` is not allowed: only Chinese characters, letters, digits, `_` and `-`"),
        );
    }
    if auth_is("oauth2", source) {
        let auth = &source["auth"];
        grammar::<HttpUrl>(&auth["token_url"], "source.auth.token_url", &mut problem);
        let get = auth["method"].as_str().is_none_or(|m| m == "GET");
        if let Some(extra) = auth["extra"].as_array() {
            for (i, e) in extra.iter().enumerate() {
                if get && e["add_to"] == "body" {
                    problem(
                        &format!("source.auth.extra[{i}].add_to"),
                        "a GET token request has no body: use `method: POST`".into(),
                    );
                }
            }
        }
        for key in ["token_path", "expires_in_path"] {
            grammar::<Path>(&auth[key], &format!("source.auth.{key}"), &mut problem);
        }
    }
    if auth_is("login", source) {
        check_login(&source["auth"], &mut problem);
    }
    if let Some(u) = source["url"].as_str() {
        match url::Url::parse(u) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                if u.host_str().is_none_or(str::is_empty) {
                    problem("source.url", "the URL has no host".into());
                }
            }
            Ok(u) => problem(
                "source.url",
                format!(
                    "scheme `{}` is not allowed: use http:// or https://",
                    u.scheme()
                ),
            ),
            Err(e) => problem("source.url", format!("not a URL: {e}")),
        }
    }
    let read = &config["read"];
    if read.is_object() {
        check_read(read, "read", source, &mut problem);
        if read.get("parent").is_some() {
            problem(
                "read.parent",
                "only a stream of `streams` can have a parent: move this block into `streams`"
                    .into(),
            );
        }
    }
    let streams = &config["streams"];
    if let Some(streams) = streams.as_object() {
        check_streams(streams, read.is_object(), source, &mut problem);
    }
    let write = &config["write"];
    if write.is_object() {
        for block in ["params", "headers"] {
            check_values(&write[block], &format!("write.{block}"), &mut problem);
        }
        grammar::<Path>(&write["write_path"], "write.write_path", &mut problem);
        check_signature(&write["signature"], "write", &mut problem);
        check_write(write, &mut problem);
    }
    if config.is_object() && !read.is_object() && !write.is_object() && !streams.is_object() {
        problem(
            "",
            "the config has neither a `read`, `streams` nor a `write` block".into(),
        );
    }
    problems
}

/// The rules of `type: login` that its schema cannot say.
fn check_login(auth: &Value, problem: &mut impl FnMut(&str, String)) {
    let url = |v: &Value, at: &str, problem: &mut dyn FnMut(&str, String)| {
        if let Some(u) = v.as_str() {
            if u.starts_with("http://") || u.starts_with("https://") {
                if let Err(e) = HttpUrl::parse(u) {
                    problem(at, e);
                }
            } else if !u.starts_with('/') {
                problem(
                    at,
                    format!(
                        "`{u}` is neither an http:// or https:// URL nor a path starting with `/`"
                    ),
                );
            }
        }
    };
    url(&auth["url"], "source.auth.url", problem);
    url(&auth["refresh"]["url"], "source.auth.refresh.url", problem);
    if auth.get("token_header").is_some() && auth.get("token_cookie").is_some() {
        problem(
            "source.auth",
            "give `token_header` or `token_cookie`, not both".into(),
        );
    }
    for key in ["token_path", "expires_in_path"] {
        grammar::<Path>(&auth[key], &format!("source.auth.{key}"), problem);
    }
    for key in ["token_path", "access_path"] {
        grammar::<Path>(
            &auth["refresh"][key],
            &format!("source.auth.refresh.{key}"),
            problem,
        );
    }
}

/// The rules of one read block (`read` or `streams.NAME`, at `at`).
fn check_read(read: &Value, at: &str, source: &Value, problem: &mut impl FnMut(&str, String)) {
    for block in ["params", "headers"] {
        check_values(&read[block], &format!("{at}.{block}"), problem);
    }
    check_body(read, at, problem);
    let is_get = read["method"].as_str().is_none_or(|m| m == "GET");
    if is_get && read["incremental"]["in"].as_str() == Some("body") {
        problem(
            &format!("{at}.incremental.in"),
            "a GET request has no body: use `in: params`, or `method: POST`".into(),
        );
    }
    for (loop_, path) in [
        (&read["paginate"], format!("{at}.paginate")),
        (&read["paginate"]["then"], format!("{at}.paginate.then")),
    ] {
        if loop_["type"] == "offset"
            && let Err(e) = offset_step(read, loop_)
        {
            problem(&format!("{path}.step"), e);
        }
    }
    let loops = [&read["paginate"], &read["paginate"]["then"]];
    if is_get && loops.iter().any(|l| l["in"].as_str() == Some("body")) {
        problem(
            &format!("{at}.paginate.in"),
            "a GET request has no body: use `method: POST`".into(),
        );
    }
    if is_get && read["body"].as_object().is_some_and(|b| !b.is_empty()) {
        problem(
            &format!("{at}.body"),
            "a GET request has no body: use `method: POST`".into(),
        );
    }
    grammar::<Path>(&read["records"], &format!("{at}.records"), problem);
    check_paginate(&read["paginate"], &format!("{at}.paginate"), problem);
    let auth = &source["auth"];
    if is_get && auth["type"] == "api_key" && auth["add_to"] == "body" {
        problem(
            "source.auth.add_to",
            "a GET request has no body: use `params` or `headers`, or `read.method: POST`".into(),
        );
    }
    let sig = &read["signature"];
    if is_get && sig["location"] == "body" {
        problem(
            &format!("{at}.signature.location"),
            "a GET request has no body: use `params` or `headers`".into(),
        );
    }
    check_signature(sig, at, problem);
    if let Some(fields) = read["fields"].as_array() {
        let mut seen = std::collections::HashSet::new();
        for (i, f) in fields.iter().enumerate() {
            let Some(out) = f["as"].as_str().or_else(|| f["name"].as_str()) else {
                continue;
            };
            if !seen.insert(out.to_string()) {
                problem(
                    &format!("{at}.fields[{i}]"),
                    format!("output field `{out}` appears twice"),
                );
            }
        }
    }

    check_incremental(&read["incremental"], &format!("{at}.incremental"), problem);
    if read["incremental"].get("window").is_some()
        && (read["paginate"]["type"] == "traverse" || read.get("parent").is_some())
    {
        problem(
            &format!("{at}.incremental.window"),
            "date windows are the partitions of this read: they cannot be combined with a traverse or a parent".into(),
        );
    }
}

/// The write rules: what a request filled from each record needs.
fn check_write(write: &Value, problem: &mut impl FnMut(&str, String)) {
    let batch = write["mode"].as_str() == Some("batch");
    let template = write["path"].as_str().map(crate::template::Template::parse);
    let filled = match &template {
        Some(Ok(t)) => t.has_fields(),
        Some(Err(e)) => {
            problem("write.path", e.clone());
            false
        }
        None => false,
    };
    if batch && filled {
        problem(
            "write.path",
            "a path filled from the record needs `mode: single` (a batch has many records)".into(),
        );
    }
    let delete = write["method"].as_str() == Some("DELETE");
    if delete && batch {
        problem(
            "write.method",
            "DELETE sends no body, so it cannot carry a batch: use `mode: single`".into(),
        );
    }
    if delete && !filled && !matches!(template, Some(Err(_))) {
        problem(
            "write.method",
            "DELETE needs a path filled from the record, such as `/contacts/{id}/`".into(),
        );
    }
    if batch && write.get("method_field").is_some() {
        problem(
            "write.method_field",
            "a method per record needs `mode: single`".into(),
        );
    }
    if !batch && write["bisect"] == true {
        problem(
            "write.bisect",
            "only a batch can be split: use `mode: batch`".into(),
        );
    }
}

/// The rules of `streams`: names, parents, path placeholders.
fn check_streams(
    streams: &serde_json::Map<String, Value>,
    has_read: bool,
    source: &Value,
    problem: &mut impl FnMut(&str, String),
) {
    let names: Vec<&str> = streams.keys().map(String::as_str).collect();
    for (name, stream) in streams {
        let at = format!("streams.{name}");
        if name.is_empty() {
            problem(&at, "a stream needs a name".into());
        } else if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
            problem(
                &at,
                format!(
                    "`{c}` is not allowed in a stream name: only Chinese characters, letters, digits, `_` and `-`"
                ),
            );
        }
        if has_read && name == super::DEFAULT_STREAM {
            problem(
                &at,
                "`default` is the stream of the `read` block: give this one another name".into(),
            );
        }
        if !stream.is_object() {
            continue;
        }
        check_read(stream, &at, source, problem);
        let parent = &stream["parent"];
        let fields: Vec<&str> = parent["fields"]
            .as_object()
            .map(|f| f.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if let Some(path) = stream["path"].as_str() {
            for p in super::placeholders(path) {
                if !parent.is_object() {
                    problem(
                        &format!("{at}.path"),
                        format!("`{{{p}}}` is filled from a parent's records: add `parent`"),
                    );
                } else if !fields.contains(&p) {
                    problem(
                        &format!("{at}.path"),
                        format!(
                            "`{{{p}}}` is not a name of `parent.fields` (known: {})",
                            fields.join(", ")
                        ),
                    );
                }
            }
        }
        let Some(first) = parent["stream"].as_str() else {
            continue;
        };
        if stream["paginate"]["type"] == "traverse" {
            problem(
                &format!("{at}.paginate.type"),
                "a child stream's partitions are its parent's records: it cannot also traverse"
                    .into(),
            );
        }
        if !names.contains(&first) {
            problem(
                &format!("{at}.parent.stream"),
                format!(
                    "no stream `{first}` in `streams` (known: {})",
                    names.join(", ")
                ),
            );
            continue;
        }
        // Parents form a chain that ends.
        let mut chain = vec![name.as_str()];
        let mut next = Some(first);
        while let Some(p) = next {
            if chain.contains(&p) {
                chain.push(p);
                problem(
                    &format!("{at}.parent.stream"),
                    format!("the parents go round in a circle: {}", chain.join(" → ")),
                );
                break;
            }
            chain.push(p);
            next = streams.get(p).and_then(|s| s["parent"]["stream"].as_str());
        }
    }
}

/// The rules of `incremental` that a schema cannot say: dates, durations, formats.
fn check_incremental(inc: &Value, at: &str, problem: &mut impl FnMut(&str, String)) {
    if !inc.is_object() {
        return;
    }
    for key in ["lookback", "window"] {
        if let Some(v) = inc.get(key)
            && let Err(e) = crate::dates::duration(v)
        {
            problem(&format!("{at}.{key}"), e);
        }
    }
    if let Some(f) = inc["format"].as_str()
        && let Err(e) = crate::dates::Format::named(f)
    {
        problem(&format!("{at}.format"), e);
    }
    let number_or_date = |v: &Value| v.is_number() || crate::dates::instant(v).is_some();
    if inc.get("window").is_some() {
        match inc.get("start") {
            None => problem(
                &format!("{at}.start"),
                "a `window` slices a range from `start`: give it".into(),
            ),
            Some(v) if !number_or_date(v) => problem(
                &format!("{at}.start"),
                format!(
                    "`{v}` is neither a number nor a date (RFC 3339, ISO 8601 or epoch seconds)"
                ),
            ),
            _ => {}
        }
        if let Some(v) = inc.get("end")
            && !number_or_date(v)
        {
            problem(
                &format!("{at}.end"),
                format!(
                    "`{v}` is neither a number nor a date (RFC 3339, ISO 8601 or epoch seconds)"
                ),
            );
        }
        if inc["start"].is_number() && inc.get("end").is_none() {
            problem(
                &format!("{at}.end"),
                "windows over numbers need an `end` (over dates it defaults to now)".into(),
            );
        }
    }
}

fn check_signature(sig: &Value, block: &str, problem: &mut impl FnMut(&str, String)) {
    if let Some(f) = sig["function"].as_str()
        && f.starts_with("HMAC_")
        && sig.get("secret").is_none()
    {
        problem(
            &format!("{block}.signature.secret"),
            format!("{f} needs a `secret`"),
        );
    }
}

fn auth_is(kind: &str, source: &Value) -> bool {
    source["auth"]["type"].as_str() == Some(kind)
}

fn check_paginate(p: &Value, path: &str, problem: &mut impl FnMut(&str, String)) {
    let Some(kind) = p["type"].as_str() else {
        return;
    };
    if let Some(stops) = p["stop"].as_array() {
        for (i, s) in stops.iter().enumerate() {
            grammar::<Condition>(s, &format!("{path}.stop[{i}]"), problem);
        }
    }
    let from = format!("{path}.from");
    grammar::<ValueAt>(&p["from"], &from, problem);
    if let Some(text) = p["from"].as_str() {
        let lower = text.trim().to_ascii_lowercase();
        if kind == "link"
            && ["link", "links", "headers", "link header", "header.link"].contains(&lower.as_str())
        {
            problem(
                &from,
                format!(
                    "`{text}` is read as a JSON path in the body; for the `Link` header write `header`, for another header `header:NAME`"
                ),
            );
        }
        if kind == "cursor" && text == "header" {
            problem(
                &from,
                "a cursor is not read from the `Link` header: write `header:NAME` for a response header, or use `type: link`".into(),
            );
        }
    }

    let extract = &p["values_from"]["extract"];
    grammar::<Path>(extract, &format!("{path}.values_from.extract"), problem);
    if kind == "traverse" {
        match (p.get("values"), p.get("values_from")) {
            (Some(_), Some(_)) => problem(path, "give `values` or `values_from`, not both".into()),
            (None, None) => problem(path, "a traverse needs `values` or `values_from`".into()),
            _ => {}
        }
        let url = &p["values_from"]["url"];
        grammar::<HttpUrl>(url, &format!("{path}.values_from.url"), problem);
        let then = &p["then"];
        if then["type"].as_str() == Some("traverse") {
            problem(
                &format!("{path}.then.type"),
                "a traverse cannot run another traverse".into(),
            );
        }
        check_paginate(then, &format!("{path}.then"), problem);
    }
}

/// A string of a grammar ([`super::parsed`]) that does not parse is a problem at `at`.
fn grammar<T: Grammar>(v: &Value, at: &str, problem: &mut impl FnMut(&str, String)) {
    if let Some(text) = v.as_str()
        && let Err(e) = T::parse(text)
    {
        problem(at, e);
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '_'
        || c == '-'
        // CJK Unified Ideographs and Extension A.
        || ('\u{4e00}'..='\u{9fff}').contains(&c)
        || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

/// The step of an offset loop: `step`, or the page size the config sends
/// (README "Pagination": `limit_param`, or the one well-known name set).
pub fn offset_step(read: &Value, loop_: &Value) -> Result<i64, String> {
    if let Some(step) = loop_["step"].as_i64() {
        return Ok(step);
    }
    let block = if loop_["in"] == "body" {
        "body"
    } else {
        "params"
    };
    let values = &read[block];
    let name = match loop_["limit_param"].as_str() {
        Some(name) => name.to_string(),
        None => {
            let set: Vec<&str> = PAGE_SIZE_NAMES
                .iter()
                .copied()
                .filter(|n| values.get(*n).is_some())
                .collect();
            match set[..] {
                [one] => one.to_string(),
                [] => {
                    return Err(format!(
                        "an offset loop needs `step` (the page size), or `limit_param` naming the \
                         page-size value in read.{block} (none of {} is set)",
                        PAGE_SIZE_NAMES.join(", ")
                    ));
                }
                _ => {
                    return Err(format!(
                        "read.{block} sets {}: say which is the page size with `limit_param`, or give `step`",
                        set.join(" and ")
                    ));
                }
            }
        }
    };
    let v = &values[name.as_str()];
    let n = v
        .as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    match n {
        Some(n) if n >= 1 => Ok(n),
        _ if v.is_null() => Err(format!(
            "`limit_param` names `{name}`, which read.{block} does not set"
        )),
        _ => Err(format!(
            "the page size read.{block}.{name} is {v}, not a whole number of at least 1; give `step`"
        )),
    }
}

/// The page-size names an offset loop finds by itself.
const PAGE_SIZE_NAMES: [&str; 6] = [
    "limit",
    "_limit",
    "page_size",
    "pageSize",
    "per_page",
    "size",
];

/// `read.body`: generated values at any depth are checked; a form body
/// holds scalars only.
fn check_body(read: &Value, at: &str, problem: &mut impl FnMut(&str, String)) {
    let Some(body) = read["body"].as_object() else {
        return;
    };
    let form = read["body_format"] == "form";
    for (name, v) in body {
        let at = format!("{at}.body.{name}");
        if form && (v.is_array() || (v.is_object() && generated_in(v).is_none())) {
            problem(
                &at,
                "a form body holds strings, numbers, booleans and generated values only".into(),
            );
        }
        check_generated(v, &at, problem);
    }
}

fn check_generated(v: &Value, at: &str, problem: &mut impl FnMut(&str, String)) {
    if let Some(g) = generated_in(v) {
        if let Err(e) = g.check() {
            problem(at, e);
        }
        return;
    }
    match v {
        Value::Object(o) => o
            .iter()
            .for_each(|(k, v)| check_generated(v, &format!("{at}.{k}"), problem)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| check_generated(v, &format!("{at}[{i}]"), problem)),
        _ => {}
    }
}

fn check_values(values: &Value, path: &str, problem: &mut impl FnMut(&str, String)) {
    let Some(values) = values.as_object() else {
        return;
    };
    for (name, v) in values {
        if let Ok(RequestValue::Generated(g)) = serde_json::from_value::<RequestValue>(v.clone())
            && let Err(e) = g.check()
        {
            problem(&format!("{path}.{name}"), e);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load;
    use crate::error::Error;

    fn problems(text: &str) -> Vec<String> {
        match load(text, None) {
            Ok(_) => vec![],
            Err(Error::Config(ps)) => ps.iter().map(|p| p.to_string()).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn every_mistake_is_reported_with_its_path() {
        let ps = problems(
            r#"{"source":{"name":"my source","url":"ftp://x","auth":{"type":"basic","username":"u","pasword":"p"},"retries":11},
                "read":{"method":"PUT","pathh":"/x","flatten":{"arrays":"keep"}},"extra":1}"#,
        );
        let expected = [
            "source.auth.pasword: unknown key: did you mean `password`? (expected one of: type, username, password)",
            "source.auth: missing required key `password`",
            "source.retries: must be at most 10",
            "read.method: expected one of \"GET\", \"POST\"",
            "read.pathh: unknown key: did you mean `path`? (expected one of: method, path, params, headers, body, body_format, records, paginate, max_requests, flatten, fields, dirty_records, signature, incremental, parent, strict)",
            "read.flatten.arrays: expected one of \"error\", \"json\", \"drop\"",
            "extra: unknown key (expected one of: $schema, source, read, streams, write)",
            "source.name: ` ` is not allowed: only Chinese characters, letters, digits, `_` and `-`",
            "source.url: scheme `ftp` is not allowed: use http:// or https://",
        ];
        assert_eq!(ps, expected);
        // Once the structure is right, the semantic checks speak.
        let ps = problems(
            r#"{"source":{"name":"my source","url":"ftp://x"},"read":{"body":{"a":1},"params":{"t":{"timestamp":"%Q"}}}}"#,
        );
        assert_eq!(ps.len(), 4, "{ps:?}");
        assert!(ps[0].starts_with("source.name: ` ` is not allowed"));
        assert!(ps[1].starts_with("source.url: scheme `ftp`"));
        assert!(ps[2].starts_with("read.params.t: "));
        assert!(ps[3].starts_with("read.body: a GET request has no body"));
    }

    #[test]
    fn request_and_pagination_shapes_are_checked() {
        let config =
            |read: &str| format!(r#"{{"source":{{"name":"a","url":"http://x"}},"read":{read}}}"#);
        // An incremental value in the body of a GET would never be sent.
        assert_eq!(
            problems(&config(
                r#"{"incremental":{"param":"since","in":"body","from_field":"id"}}"#
            )),
            ["read.incremental.in: a GET request has no body: use `in: params`, or `method: POST`"]
        );
        // Offsets: the step is the page size the config sends.
        assert!(
            problems(&config(
                r#"{"params":{"limit":50},"paginate":{"type":"offset","param":"offset"}}"#
            ))
            .is_empty()
        );
        assert!(problems(&config(r#"{"params":{"n":"50"},"paginate":{"type":"offset","param":"o","limit_param":"n"}}"#)).is_empty());
        assert_eq!(
            problems(&config(
                r#"{"paginate":{"type":"offset","param":"offset"}}"#
            )),
            [
                "read.paginate.step: an offset loop needs `step` (the page size), or `limit_param` naming the page-size value in read.params (none of limit, _limit, page_size, pageSize, per_page, size is set)"
            ]
        );
        assert_eq!(
            problems(&config(
                r#"{"params":{"limit":5,"size":5},"paginate":{"type":"offset","param":"o"}}"#
            )),
            [
                "read.paginate.step: read.params sets limit and size: say which is the page size with `limit_param`, or give `step`"
            ]
        );
        assert_eq!(
            problems(&config(
                r#"{"params":{"limit":{"random":"hex32"}},"paginate":{"type":"offset","param":"o"}}"#
            )),
            [
                r#"read.paginate.step: the page size read.params.limit is {"random":"hex32"}, not a whole number of at least 1; give `step`"#
            ]
        );
        // `from`: the Link header is `header`; a cursor reads `header:NAME`.
        assert_eq!(
            problems(&config(r#"{"paginate":{"type":"link","from":"Link"}}"#)),
            [
                "read.paginate.from: `Link` is read as a JSON path in the body; for the `Link` header write `header`, for another header `header:NAME`"
            ]
        );
        assert_eq!(
            problems(&config(
                r#"{"paginate":{"type":"cursor","param":"c","from":"header"}}"#
            )),
            [
                "read.paginate.from: a cursor is not read from the `Link` header: write `header:NAME` for a response header, or use `type: link`"
            ]
        );
        assert_eq!(
            problems(&config(
                r#"{"paginate":{"type":"cursor","param":"c","from":"header: "}}"#
            )),
            [
                "read.paginate.from: `header: `: write `header:NAME` with NAME a response header (`header:X-Next-Cursor`)"
            ]
        );
        // Bodies: any JSON, generated values checked at any depth; forms hold scalars.
        let ps = problems(&config(
            r#"{"method":"POST","body":{"query":{"range":{"ts":{"lte":{"timestamp":"%Q"}}}},"sort":[{"ts":"asc"}]}}"#,
        ));
        assert_eq!(ps.len(), 1, "{ps:?}");
        assert!(
            ps[0].starts_with("read.body.query.range.ts.lte: "),
            "{ps:?}"
        );
        assert_eq!(
            problems(&config(
                r#"{"method":"POST","body_format":"form","body":{"q":{"a":1},"t":{"timestamp":"ms"}}}"#
            )),
            ["read.body.q: a form body holds strings, numbers, booleans and generated values only"]
        );
    }

    #[test]
    fn hmac_signatures_need_a_secret_in_reads_and_writes() {
        let sig = r#"{"name":"sign","location":"headers","function":"HMAC_SHA1"}"#;
        let ps = problems(&format!(
            r#"{{"source":{{"name":"a","url":"http://x"}},"read":{{"signature":{sig}}},"write":{{"signature":{sig}}}}}"#
        ));
        assert_eq!(
            ps,
            [
                "read.signature.secret: HMAC_SHA1 needs a `secret`",
                "write.signature.secret: HMAC_SHA1 needs a `secret`"
            ]
        );
    }

    #[test]
    fn writes_filled_from_records_need_single_mode() {
        let ps = |write: &str| {
            problems(&format!(
                r#"{{"source":{{"name":"a","url":"http://x"}},"write":{write}}}"#
            ))
        };
        assert_eq!(
            ps(r#"{"path":"/c/{id}/","mode":"batch","method_field":"op","bisect":false}"#),
            [
                "write.path: a path filled from the record needs `mode: single` (a batch has many records)",
                "write.method_field: a method per record needs `mode: single`"
            ]
        );
        assert_eq!(
            ps(r#"{"method":"DELETE","mode":"batch","path":"/c/{id"}"#),
            [
                "write.path: `/c/{id`: `{` opens a field that is not closed by `}` (write `{{` for a literal brace)",
                "write.method: DELETE sends no body, so it cannot carry a batch: use `mode: single`"
            ]
        );
        assert_eq!(
            ps(r#"{"method":"DELETE"}"#),
            ["write.method: DELETE needs a path filled from the record, such as `/contacts/{id}/`"]
        );
        assert_eq!(
            ps(r#"{"bisect":true,"separator":""}"#),
            [
                "write.separator: must not be empty",
                "write.bisect: only a batch can be split: use `mode: batch`"
            ]
        );
        assert!(ps(r#"{"method":"PATCH","path":"/c/{id}/","method_field":"op","nest":true,"json_fields":["t"]}"#).is_empty());
        assert!(ps(r#"{"mode":"batch","bisect":true,"method":"PATCH"}"#).is_empty());
    }

    #[test]
    fn login_auth_is_checked_with_paths() {
        let ps = |auth: &str| {
            problems(&format!(
                r#"{{"source":{{"name":"a","url":"http://x/api","auth":{auth}}},"read":{{}}}}"#
            ))
        };
        assert!(ps(r#"{"type":"login","url":"/token/","body":{"username":"u","password":"p"},"token_path":"access",
                     "refresh":{"url":"http://auth.x/token/refresh/"}}"#).is_empty());
        assert_eq!(
            ps(
                r#"{"type":"login","url":"token/","token_header":"X-T","token_cookie":"s","token_path":"a[",
                   "refresh":{"url":"ftp://x/r","access_path":"b["},"lifetime_seconds":0,"add_to":"body"}"#
            ),
            [
                "source.auth.lifetime_seconds: must be at least 1",
                "source.auth.add_to: expected one of \"headers\", \"params\", \"cookie\"",
                "source.auth.url: `token/` is neither an http:// or https:// URL nor a path starting with `/`",
                "source.auth.refresh.url: `ftp://x/r` is neither an http:// or https:// URL nor a path starting with `/`",
                "source.auth: give `token_header` or `token_cookie`, not both",
                "source.auth.token_path: bad JSON path `a[` at character 2: `[` without `]`",
                "source.auth.refresh.access_path: bad JSON path `b[` at character 2: `[` without `]`",
            ]
        );
        assert_eq!(
            ps(r#"{"type":"login","url":"/t","pasword":"x"}"#),
            [
                "source.auth.pasword: unknown key (expected one of: type, url, method, body_format, body, headers, token_path, token_header, token_cookie, add_to, name, token_prefix, expires_in_path, lifetime_seconds, refresh)"
            ]
        );
    }

    #[test]
    fn unknown_auth_type_lists_the_known_ones() {
        let ps = problems(
            r#"{"source":{"name":"a","url":"http://x","auth":{"type":"kerberos"}},"read":{}}"#,
        );
        assert_eq!(
            ps,
            [
                "source.auth.type: expected one of \"none\", \"basic\", \"bearer\", \"api_key\", \"appkey\", \"oauth2\", \"login\""
            ]
        );
    }

    #[test]
    fn chinese_names_are_allowed() {
        assert!(
            problems(r#"{"source":{"name":"订单_api-1","url":"http://x"},"read":{}}"#).is_empty()
        );
        let long = "a".repeat(65);
        let ps = problems(&format!(
            r#"{{"source":{{"name":"{long}","url":"http://x"}},"read":{{}}}}"#
        ));
        assert_eq!(ps, ["source.name: must be at most 64 characters"]);
    }
}
