//! The endpoint (README "`read`": `method`, `path`, `params`, `headers`,
//! `body`): the data request as the config writes it, and the request
//! values that the read's state sets on it — the traverse value,
//! the incremental cursor, the loop value — with fresh generated values
//! for each try.

use crate::config::{Body, BodyFormat, Location, Read, ReadMethod, Source, Values};
use crate::error::Error;
use crate::request::{self, Env, HttpRequest, Resolved};
use serde_json::Value;

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
        env: &mut dyn Env,
    ) -> Result<HttpRequest, Error> {
        let params = self.query(set, env);
        let url = match next_url {
            // A next URL is used as it is: its query string replaces `params`.
            Some(u) => url::Url::parse(u)
                .map_err(|e| Error::Response(format!("next-page URL `{u}`: {e}")))?,
            None => {
                let mut url = request::join_url(&self.url, &self.path)?;
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
