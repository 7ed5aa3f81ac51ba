//! The endpoint (README "`read`": `method`, `path`, `params`, `headers`,
//! `body`): the data request as the config writes it, and the request
//! values that the read's state sets on it — the traverse value,
//! the incremental cursor, the loop value — with fresh generated values
//! for each try.

use crate::config::{BodyFormat, Location, Read, ReadMethod, Source, Values};
use crate::error::Error;
use crate::request::{self, Env, HttpRequest, Resolved};
use serde_json::Value;

pub struct Endpoint {
    url: String,
    method: ReadMethod,
    path: String,
    params: Values,
    headers: Values,
    body: Values,
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
        let (params, body) = self.values(set, env);
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
            let (body, content_type) = request::body(&body, self.body_format);
            req.set_header("Content-Type", content_type.into());
            req.body = Some(body);
        }
        for (name, value) in request::resolve(&self.headers, env) {
            req.set_header(&name, request::text(&value));
        }
        Ok(req)
    }

    /// The query parameters and body values, with `set` over them.
    fn values(&self, set: &[Set<'_>], env: &mut dyn Env) -> (Resolved, Resolved) {
        let mut params = request::resolve(&self.params, env);
        let mut body = request::resolve(&self.body, env);
        for &(name, location, value) in set {
            let list = match location {
                Location::Params => &mut params,
                Location::Body => &mut body,
            };
            match list.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => list.push((name.to_string(), value.clone())),
            }
        }
        (params, body)
    }
}
