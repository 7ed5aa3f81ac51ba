//! HTTP requests and responses as plain data, and how configs build them.

use crate::config::{Body, BodyFormat, Generated, Place, RequestValue, Values, generated_in};
use crate::error::Error;
use crate::jsonpath;
use serde_json::Value;
use url::Url;

#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn set_header(&mut self, name: &str, value: String) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value));
    }

    /// `GET http://host/path` for messages (no query string: it may hold keys).
    pub fn describe(&self) -> String {
        let mut u = self.url.clone();
        u.set_query(None);
        format!("{} {u}", self.method)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Where time and randomness come from: WASI clocks and random in the
/// component, fixed values in tests.
pub trait Env {
    fn now_ms(&mut self) -> i64;
    fn fill_random(&mut self, buf: &mut [u8]);
}

/// The real clock and random source.
pub struct SystemEnv;

impl Env for SystemEnv {
    fn now_ms(&mut self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("the host provides randomness");
    }
}

pub fn generate(g: &Generated, env: &mut dyn Env) -> Value {
    match g {
        Generated::Timestamp(f) => {
            let ms = env.now_ms();
            match f.as_str() {
                "ms" => Value::from(ms),
                "s" => Value::from(ms / 1000),
                format => {
                    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
                    Value::String(t.format(format).to_string())
                }
            }
        }
        Generated::Random(f) => {
            let mut bytes = [0u8; 64];
            env.fill_random(&mut bytes);
            let hex: String = bytes[..16].iter().map(|b| format!("{b:02x}")).collect();
            Value::String(match f.as_str() {
                "hex32" => hex,
                "uuid" => {
                    // Version 4, variant 1.
                    let mut b = [0u8; 16];
                    b.copy_from_slice(&bytes[..16]);
                    b[6] = (b[6] & 0x0f) | 0x40;
                    b[8] = (b[8] & 0x3f) | 0x80;
                    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
                    format!(
                        "{}-{}-{}-{}-{}",
                        &h[..8],
                        &h[8..12],
                        &h[12..16],
                        &h[16..20],
                        &h[20..]
                    )
                }
                digits => {
                    let n: usize = digits
                        .strip_prefix("digits:")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(6);
                    bytes[..n]
                        .iter()
                        .map(|b| char::from(b'0' + b % 10))
                        .collect()
                }
            })
        }
    }
}

/// Request values with generated values filled in, in configured order.
pub type Resolved = Vec<(String, Value)>;

/// Request values with generated ones filled in, once for this request.
pub fn resolve(values: &Values, env: &mut dyn Env) -> Resolved {
    values
        .iter()
        .map(|(k, v)| {
            let v = match v {
                RequestValue::Scalar(s) => s.0.clone(),
                RequestValue::Generated(g) => generate(g, env),
            };
            (k.clone(), v)
        })
        .collect()
}

/// A value as text on the wire: strings as they are, anything else as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `base` and `path` joined with exactly one `/` between.
pub fn join_url(base: &str, path: &str) -> Result<Url, Error> {
    let joined = if path.is_empty() {
        base.to_string()
    } else {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    };
    Url::parse(&joined).map_err(|e| Error::config("source.url", format!("`{joined}`: {e}")))
}

pub fn add_query(url: &mut Url, params: &[(String, Value)]) {
    if params.is_empty() {
        return;
    }
    let mut q = url.query_pairs_mut();
    for (k, v) in params {
        q.append_pair(k, &text(v));
    }
}

/// `v` with every generated value in it made, once for this request.
pub fn resolve_json(v: &Value, env: &mut dyn Env) -> Value {
    if let Some(g) = generated_in(v) {
        return generate(&g, env);
    }
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), resolve_json(v, env)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve_json(v, env)).collect()),
        other => other.clone(),
    }
}

/// The path a request value's name stands for in a JSON body: a JSON path
/// (`variables.after`, `query.bool.filter[0].range.ts.gte`), or, when the
/// name is not one, the name split at dots.
pub fn body_path(name: &str) -> Vec<jsonpath::Segment> {
    match jsonpath::parse(name) {
        Ok(p) if !p.is_empty() && jsonpath::is_plain(&p) => p,
        _ => dotted(name),
    }
}

/// `a.b.c` as a path of keys.
fn dotted(name: &str) -> Vec<jsonpath::Segment> {
    name.split('.')
        .map(|s| jsonpath::Segment::Key(s.to_string()))
        .collect()
}

/// A request body: the configured `body` with generated values made, and
/// `set` (name, value) over it — in a JSON body at the path each name
/// stands for ([`body_path`]), in a form as fields.
pub fn body(
    configured: &Body,
    set: &[(&str, &Value)],
    format: BodyFormat,
    env: &mut dyn Env,
) -> (Vec<u8>, &'static str) {
    match format {
        BodyFormat::Json => {
            let mut doc = Value::Object(Default::default());
            for (k, v) in configured {
                // Configured top-level keys: dotted paths, as always.
                jsonpath::put(&mut doc, &dotted(k), resolve_json(v, env));
            }
            for (name, v) in set {
                jsonpath::put(&mut doc, &body_path(name), (*v).clone());
            }
            (doc.to_string().into_bytes(), "application/json")
        }
        BodyFormat::Form => {
            let mut pairs: Vec<(String, Value)> = configured
                .iter()
                .map(|(k, v)| (k.clone(), resolve_json(v, env)))
                .collect();
            for (name, v) in set {
                match pairs.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = (*v).clone(),
                    None => pairs.push((name.to_string(), (*v).clone())),
                }
            }
            let mut f = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                f.append_pair(k, &text(v));
            }
            (f.finish().into_bytes(), "application/x-www-form-urlencoded")
        }
    }
}

/// The top-level values of a request body as text: JSON keys or form fields.
pub fn body_items(req: &HttpRequest) -> Vec<(String, String)> {
    let Some(body) = &req.body else {
        return vec![];
    };
    if is_form(req) {
        return url::form_urlencoded::parse(body).into_owned().collect();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        _ => vec![],
    }
}

pub fn is_form(req: &HttpRequest) -> bool {
    req.header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// Adds (or replaces) `name` in the query string, the headers, or the body.
pub fn place(req: &mut HttpRequest, place: Place, name: &str, value: Value) {
    match place {
        Place::Params => {
            let kept: Vec<(String, String)> = req
                .url
                .query_pairs()
                .filter(|(k, _)| k != name)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut q = req.url.query_pairs_mut();
            q.clear();
            for (k, v) in &kept {
                q.append_pair(k, v);
            }
            q.append_pair(name, &text(&value));
            drop(q);
        }
        Place::Headers => req.set_header(name, text(&value)),
        Place::Body => {
            if is_form(req) {
                let mut pairs: Vec<(String, String)> = body_items(req);
                pairs.retain(|(k, _)| k != name);
                pairs.push((name.to_string(), text(&value)));
                let mut f = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in &pairs {
                    f.append_pair(k, v);
                }
                req.body = Some(f.finish().into_bytes());
            } else {
                let mut doc = req
                    .body
                    .as_deref()
                    .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                    .filter(Value::is_object)
                    .unwrap_or_else(|| Value::Object(Default::default()));
                doc.as_object_mut()
                    .expect("an object")
                    .insert(name.to_string(), value);
                req.body = Some(doc.to_string().into_bytes());
                if req.header("content-type").is_none() {
                    req.set_header("Content-Type", "application/json".into());
                }
            }
        }
    }
}

/// `scheme://host:port` of a URL, the unit of trust for credentials and egress.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
pub mod testing {
    use super::Env;

    /// A fixed clock and a counting random source.
    pub struct FixedEnv {
        pub now_ms: i64,
        pub next: u8,
    }

    impl Env for FixedEnv {
        fn now_ms(&mut self) -> i64 {
            self.now_ms
        }
        fn fill_random(&mut self, buf: &mut [u8]) {
            for b in buf {
                *b = self.next;
                self.next = self.next.wrapping_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::FixedEnv;
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_join_with_one_slash() {
        for (base, path) in [
            ("http://h/api", "users"),
            ("http://h/api/", "/users"),
            ("http://h/api", "/users"),
        ] {
            assert_eq!(join_url(base, path).unwrap().as_str(), "http://h/api/users");
        }
        assert_eq!(
            join_url("http://h/api", "").unwrap().as_str(),
            "http://h/api"
        );
        let mut u = join_url("http://h", "/x?a=1").unwrap();
        add_query(
            &mut u,
            &[("b c".into(), json!("é&")), ("n".into(), json!(2))],
        );
        assert_eq!(u.as_str(), "http://h/x?a=1&b+c=%C3%A9%26&n=2");
    }

    #[test]
    fn generated_values() {
        let mut env = FixedEnv {
            now_ms: 1_700_000_000_123,
            next: 0,
        };
        let values: Values = serde_json::from_value(json!({
            "ms": {"timestamp": "ms"}, "s": {"timestamp": "s"},
            "day": {"timestamp": "%Y-%m-%d %H:%M"},
            "hex": {"random": "hex32"}, "uuid": {"random": "uuid"}, "pin": {"random": "digits:4"},
            "plain": 7
        }))
        .unwrap();
        let got: serde_json::Map<_, _> = resolve(&values, &mut env).into_iter().collect();
        assert_eq!(got["ms"], json!(1_700_000_000_123i64));
        assert_eq!(got["s"], json!(1_700_000_000));
        assert_eq!(got["day"], json!("2023-11-14 22:13"));
        assert_eq!(got["hex"], json!("000102030405060708090a0b0c0d0e0f"));
        let uuid = got["uuid"].as_str().unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert_eq!(got["pin"].as_str().unwrap().len(), 4);
        assert_eq!(got["plain"], json!(7));
    }

    #[test]
    fn bodies() {
        let mut env = FixedEnv {
            now_ms: 1_700_000_000_123,
            next: 0,
        };
        let values: Body =
            serde_json::from_value(json!({"a.b": 1, "a.c": "x", "d": true})).unwrap();
        let (json_body, ct) = body(&values, &[], BodyFormat::Json, &mut env);
        assert_eq!(
            String::from_utf8(json_body).unwrap(),
            r#"{"a":{"b":1,"c":"x"},"d":true}"#
        );
        assert_eq!(ct, "application/json");
        let (form, ct) = body(&values, &[("d", &json!(false))], BodyFormat::Form, &mut env);
        assert_eq!(String::from_utf8(form).unwrap(), "a.b=1&a.c=x&d=false");
        assert_eq!(ct, "application/x-www-form-urlencoded");
    }

    #[test]
    fn json_bodies_hold_any_json_with_generated_values_and_values_set_at_a_path() {
        let mut env = FixedEnv {
            now_ms: 1_700_000_000_123,
            next: 0,
        };
        let configured: Body = serde_json::from_value(json!({
            "size": 2,
            "query": {"bool": {"filter": [{"range": {"ts": {"lte": {"timestamp": "ms"}}}}]}},
            "sort": [{"ts": "asc"}, {"id": "asc"}],
            "variables": {"first": 2, "after": null, "user.name": "kept as one key"}
        }))
        .unwrap();
        let after = json!([1700000000000i64, "b"]);
        let cursor = json!("c2");
        let (b, _) = body(
            &configured,
            &[("search_after", &after), ("variables.after", &cursor)],
            BodyFormat::Json,
            &mut env,
        );
        let doc: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            doc,
            json!({
                "size": 2,
                "query": {"bool": {"filter": [{"range": {"ts": {"lte": 1_700_000_000_123i64}}}]}},
                "sort": [{"ts": "asc"}, {"id": "asc"}],
                "variables": {"first": 2, "after": "c2", "user.name": "kept as one key"},
                "search_after": [1700000000000i64, "b"]
            })
        );
        // Not generated: more than one key, or a value that is not a string.
        let literal = json!({"timestamp": {"gte": 1}});
        assert_eq!(resolve_json(&literal, &mut env), literal);
        assert_eq!(body_path("a[0].b"), jsonpath::parse("a[0].b").unwrap());
        assert_eq!(
            body_path("filter[status]"),
            vec![jsonpath::Segment::Key("filter[status]".into())]
        );
    }
}
