//! The semantic rules of a config: what its JSON Schema cannot say
//! (README "The config" and the sections it links). Each rule is written
//! here once.

use super::parsed::{Grammar, HttpUrl, NextLink};
use super::values::RequestValue;
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
        for block in ["params", "headers", "body"] {
            check_values(&read[block], &format!("read.{block}"), &mut problem);
        }
        let is_get = read["method"].as_str().is_none_or(|m| m == "GET");
        let loops = [&read["paginate"], &read["paginate"]["then"]];
        if is_get && loops.iter().any(|l| l["in"].as_str() == Some("body")) {
            problem(
                "read.paginate.in",
                "a GET request has no body: use `method: POST`".into(),
            );
        }
        if is_get && read["body"].as_object().is_some_and(|b| !b.is_empty()) {
            problem(
                "read.body",
                "a GET request has no body: use `method: POST`".into(),
            );
        }
        grammar::<Path>(&read["records"], "read.records", &mut problem);
        check_paginate(&read["paginate"], "read.paginate", &mut problem);
        let auth = &source["auth"];
        if is_get && auth["type"] == "api_key" && auth["add_to"] == "body" {
            problem(
                "source.auth.add_to",
                "a GET request has no body: use `params` or `headers`, or `read.method: POST`"
                    .into(),
            );
        }
        let sig = &read["signature"];
        if is_get && sig["location"] == "body" {
            problem(
                "read.signature.location",
                "a GET request has no body: use `params` or `headers`".into(),
            );
        }
        check_signature(sig, "read", &mut problem);
        if let Some(fields) = read["fields"].as_array() {
            let mut seen = std::collections::HashSet::new();
            for (i, f) in fields.iter().enumerate() {
                let Some(out) = f["as"].as_str().or_else(|| f["name"].as_str()) else {
                    continue;
                };
                if !seen.insert(out.to_string()) {
                    problem(
                        &format!("read.fields[{i}]"),
                        format!("output field `{out}` appears twice"),
                    );
                }
            }
        }
    }
    let write = &config["write"];
    if write.is_object() {
        for block in ["params", "headers"] {
            check_values(&write[block], &format!("write.{block}"), &mut problem);
        }
        grammar::<Path>(&write["write_path"], "write.write_path", &mut problem);
        check_signature(&write["signature"], "write", &mut problem);
    }
    if config.is_object() && !read.is_object() && !write.is_object() {
        problem(
            "",
            "the config has neither a `read` nor a `write` block".into(),
        );
    }
    problems
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
    if kind == "link" {
        grammar::<NextLink>(&p["from"], &from, problem);
    } else {
        grammar::<Path>(&p["from"], &from, problem);
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
            "read.pathh: unknown key: did you mean `path`? (expected one of: method, path, params, headers, body, body_format, records, paginate, max_requests, flatten, fields, dirty_records, signature, incremental, strict)",
            "read.flatten.arrays: expected one of \"error\", \"json\", \"drop\"",
            "extra: unknown key (expected one of: $schema, source, read, write)",
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
    fn unknown_auth_type_lists_the_known_ones() {
        let ps = problems(
            r#"{"source":{"name":"a","url":"http://x","auth":{"type":"kerberos"}},"read":{}}"#,
        );
        assert_eq!(
            ps,
            [
                "source.auth.type: expected one of \"none\", \"basic\", \"bearer\", \"api_key\", \"appkey\", \"oauth2\""
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
