//! The endpoint (README "`read`": `method`, `path`, `params`, `headers`,
//! `body`): the data request as the config writes it, and the request
//! values that the read's state sets on it — the traverse value,
//! the incremental cursor, the loop value — with fresh generated values
//! for each try.

use crate::config::{Body, BodyFormat, Location, Read, ReadMethod, Source, Values};
use crate::error::Error;
use crate::request::{self, Env, HttpRequest, Resolved};
use serde_json::{Map, Value};

pub struct Endpoint {
    url: String,
    method: ReadMethod,
    path: String,
    params: Values,
    headers: Values,
    body: Body,
    body_format: BodyFormat,
}

/// A request value set by the read's state: name, place, value.
pub type Set<'a> = (&'a str, Location, &'a Value);

impl Endpoint {
    pub fn new(source: &Source, read: &Read) -> Endpoint {
        Endpoint {
            url: source.url.clone(),
            method: read.method,
            path: read.path.clone(),
            params: read.params.clone(),
            headers: read.headers.clone(),
            body: read.body.clone(),
            body_format: read.body_format,
        }
    }

    /// The request with `set` over the configured values (later ones win),
    /// to `next_url` when the loop follows one. Generated values are made
    /// anew: call again for a retry.
    pub fn request(
        &self,
        set: &[Set<'_>],
        next_url: Option<&str>,
        fill: Option<&Map<String, Value>>,
        env: &mut dyn Env,
    ) -> Result<HttpRequest, Error> {
        let params = self.query(set, env);
        let url = match next_url {
            // A next URL is used as it is: its query string replaces `params`.
            Some(u) => url::Url::parse(u)
                .map_err(|e| Error::Response(format!("next-page URL `{u}`: {e}")))?,
            None => {
                let path = match fill {
                    Some(values) => fill_path(&self.path, values),
                    None => std::borrow::Cow::Borrowed(self.path.as_str()),
                };
                let mut url = request::join_url(&self.url, &path)?;
                request::add_query(&mut url, &params);
                url
            }
        };
        let mut req = HttpRequest {
            method: match self.method {
                ReadMethod::GET => "GET",
                ReadMethod::POST => "POST",
            },
            url,
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
        };
        if self.method == ReadMethod::POST {
            let in_body: Vec<(&str, &Value)> = set
                .iter()
                .filter(|(_, location, _)| *location == Location::Body)
                .map(|&(name, _, value)| (name, value))
                .collect();
            let (body, content_type) = request::body(&self.body, &in_body, self.body_format, env);
            req.set_header("Content-Type", content_type.into());
            req.body = Some(body);
        }
        for (name, value) in request::resolve(&self.headers, env) {
            req.set_header(&name, request::text(&value));
        }
        Ok(req)
    }

    /// The query parameters, with the `set` values in `params` over them.
    fn query(&self, set: &[Set<'_>], env: &mut dyn Env) -> Resolved {
        let mut params = request::resolve(&self.params, env);
        for &(name, location, value) in set {
            if location != Location::Params {
                continue;
            }
            match params.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => params.push((name.to_string(), value.clone())),
            }
        }
        params
    }
}

/// Bytes of a path value that go as they are; every other byte is
/// percent-encoded (RFC 3986 unreserved characters).
const PATH_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `path` with each `{NAME}` replaced by the percent-encoded text of
/// `values[NAME]` (a child stream's parent fields).
pub fn fill_path<'p>(path: &'p str, values: &Map<String, Value>) -> std::borrow::Cow<'p, str> {
    if !path.contains('{') {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 16);
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open + 1..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + 1 + len];
        out.push_str(&rest[..open]);
        match values.get(name) {
            Some(v) => out.extend(percent_encoding::utf8_percent_encode(
                &request::text(v),
                PATH_VALUE,
            )),
            None => out.push_str(&rest[open..open + 2 + len]),
        }
        rest = &rest[open + 2 + len..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn path_values_are_percent_encoded() {
        let values = json!({"id": "a/b c?d#é", "n": 7})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            fill_path("/c/{id}/i/{n}/", &values),
            "/c/a%2Fb%20c%3Fd%23%C3%A9/i/7/"
        );
        assert_eq!(fill_path("/plain", &values), "/plain");
    }
}
