//! The partition router (`read.paginate` of type `traverse`, README
//! "Pagination" and "Partitions, concurrency and rate limits"): which
//! traverse value the next request is for, and where the values come from
//! — the config, or a `values_from` list API called without credentials.
//! Each value is a partition; without a traverse the read is one.

use crate::config::{Location, Paginate, ReadMethod, ValuesFrom};
use crate::error::Error;
use crate::flatten;
use crate::read::Reader;
use crate::read::checkpoint::Checkpoint;
use crate::read::page::parse_json;
use crate::request::{self, Env, HttpRequest, HttpResponse};
use serde_json::Value;

/// A traverse: the request value it sets, and where its values come from.
struct Traverse {
    param: String,
    location: Location,
    values_from: Option<ValuesFrom>,
}

pub struct Router {
    traverse: Option<Traverse>,
    /// A child stream: its partitions are its parent's records.
    parents: Option<Parents>,
    /// The values, once known.
    values: Option<Vec<Value>>,
    /// The value the next request is for.
    index: usize,
}

impl Router {
    /// The router of `read.paginate` where `saved` stands, and the loop it
    /// runs for each value (the whole `paginate` when it is not a traverse).
    pub fn open<'p>(
        paginate: Option<&'p Paginate>,
        saved: &Checkpoint,
    ) -> (Router, Option<&'p Paginate>) {
        let mut router = Router {
            traverse: None,
            parents: None,
            values: saved.values.clone(),
            index: saved.index,
        };
        let Some(Paginate::Traverse {
            param,
            location,
            values,
            values_from,
            then,
        }) = paginate
        else {
            return (router, paginate);
        };
        // The config checks let exactly one of `values` and `values_from` through.
        if values_from.is_none() && router.values.is_none() {
            router.values = Some(values.iter().flatten().map(|s| s.0.clone()).collect());
        }
        router.traverse = Some(Traverse {
            param: param.clone(),
            location: *location,
            values_from: values_from.clone(),
        });
        (router, then.as_deref())
    }

    /// The router of a child stream: `parents` give its partitions, one
    /// per parent record; `saved` holds the parent records still to read.
    pub fn of_parents(parents: Parents, saved: &Checkpoint) -> Router {
        Router {
            traverse: None,
            parents: Some(parents),
            values: saved.values.clone(),
            index: saved.index,
        }
    }

    /// The read is split by a traverse.
    pub fn traverses(&self) -> bool {
        self.traverse.is_some()
    }

    /// The values are still to be fetched from `values_from`.
    pub fn needs_values(&self) -> bool {
        self.traverse.is_some() && self.values.is_none()
    }

    /// A child stream has read every record of the parent page it had: the
    /// next page of the parent is due.
    pub fn needs_parents(&self) -> bool {
        self.parents.as_ref().is_some_and(|p| {
            !p.reader.is_done() && self.values.as_ref().is_none_or(|v| self.index >= v.len())
        })
    }

    /// The parents of a child stream.
    pub fn parents(&mut self) -> Option<&mut Parents> {
        self.parents.as_mut()
    }

    /// The records of the parent's next page, as the partitions to read.
    pub fn take_parents(&mut self, values: Vec<Value>) {
        self.values = Some(values);
        self.index = 0;
    }

    /// Every value has been read.
    pub fn finished(&self) -> bool {
        let values_done = |v: &Vec<Value>| self.index >= v.len();
        match &self.parents {
            Some(p) => p.reader.is_done() && self.values.as_ref().is_none_or(values_done),
            None => self.values.as_ref().is_some_and(values_done),
        }
    }

    /// A child stream's current parent fields: the `{NAME}` values of its
    /// path and the fields copied onto its records.
    pub fn parent_values(&self) -> Option<&serde_json::Map<String, Value>> {
        self.parents.as_ref()?;
        self.values.as_ref()?.get(self.index)?.as_object()
    }

    /// The request for the values: `values_from`, without credentials.
    pub fn values_request(&self, env: &mut dyn Env) -> Result<HttpRequest, Error> {
        let Some(from) = self.traverse.as_ref().and_then(|t| t.values_from.as_ref()) else {
            return Err(Error::Internal("no values_from to request".into()));
        };
        let mut url = from.url.get().0.clone();
        request::add_query(&mut url, &request::resolve(&from.params, env));
        let mut req = HttpRequest {
            method: if from.method == ReadMethod::POST {
                "POST"
            } else {
                "GET"
            },
            url,
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
        };
        for (name, value) in request::resolve(&from.headers, env) {
            req.set_header(&name, request::text(&value));
        }
        Ok(req)
    }

    /// Takes the values from the answer to [`Router::values_request`].
    pub fn take_values(&mut self, req: &HttpRequest, resp: &HttpResponse) -> Result<(), Error> {
        let Some(from) = self.traverse.as_ref().and_then(|t| t.values_from.as_ref()) else {
            return Err(Error::Internal("no values_from to read".into()));
        };
        let doc = parse_json(req, resp)?;
        let values: Vec<Value> = flatten::extract(&doc, from.extract.get())
            .into_iter()
            .map(std::borrow::Cow::into_owned)
            .collect();
        if let Some(bad) = values.iter().find(|v| v.is_array() || v.is_object()) {
            return Err(Error::Response(format!(
                "read.paginate.values_from: the values must be scalars, found {bad}"
            )));
        }
        self.values = Some(values);
        self.index = 0;
        Ok(())
    }

    /// The request value of the current partition: name, place, value.
    pub fn request_value(&self) -> Option<(&str, Location, &Value)> {
        let t = self.traverse.as_ref()?;
        let value = self.values.as_ref()?.get(self.index)?;
        Some((&t.param, t.location, value))
    }

    /// The current partition's loop ended: on to the next value. Whether
    /// the read is done.
    pub fn next_partition(&mut self) -> bool {
        match &self.values {
            Some(values) if self.index + 1 < values.len() => {
                self.index += 1;
                false
            }
            Some(values) => {
                self.index = values.len();
                self.parents.as_ref().is_none_or(|p| p.reader.is_done())
            }
            None => self.parents.as_ref().is_none_or(|p| p.reader.is_done()),
        }
    }

    /// The initial checkpoints of the partitions, one per value, each
    /// asking from `since`.
    pub fn partitions(&self, since: Option<&Value>) -> Vec<String> {
        let values = self.values.clone().unwrap_or_default();
        values
            .into_iter()
            .map(|v| {
                Checkpoint {
                    values: Some(vec![v]),
                    since: since.cloned(),
                    ..Checkpoint::default()
                }
                .text()
            })
            .collect()
    }

    /// This router's piece of the checkpoint.
    pub fn save(&self, checkpoint: &mut Checkpoint) {
        if let Some(parents) = &self.parents {
            // Only the parent records still to read, and where the parent stands.
            let rest = self
                .values
                .as_ref()
                .map(|v| v[self.index.min(v.len())..].to_vec());
            checkpoint.values = rest;
            checkpoint.index = 0;
            checkpoint.parent = Some(Box::new(parents.reader.checkpoint()));
            return;
        }
        checkpoint.values.clone_from(&self.values);
        checkpoint.index = self.index;
    }
}

/// A child stream's parent (`parent`): the parent stream read by its own
/// reader — with the source's auth and the parent's pagination — page by
/// page, and the fields each of its records gives the child.
pub struct Parents {
    /// The parent stream's name and the child's config path, for messages.
    pub stream: String,
    pub at: String,
    pub fields: indexmap::IndexMap<String, String>,
    pub reader: Box<Reader>,
}

impl Parents {
    /// The partitions of a parent page: for each record, its `fields`.
    pub fn values(&self, records: &[u8]) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        for line in records.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let record: serde_json::Map<String, Value> = serde_json::from_slice(line)
                .map_err(|e| Error::Internal(format!("a record of `{}`: {e}", self.stream)))?;
            let mut picked = serde_json::Map::new();
            for (name, field) in &self.fields {
                match record.get(field) {
                    Some(v) if !v.is_null() => {
                        picked.insert(name.clone(), v.clone());
                    }
                    _ => {
                        return Err(Error::Response(format!(
                            "{}.parent.fields.{name}: a record of `{}` has no value at `{field}`: {}",
                            self.at,
                            self.stream,
                            String::from_utf8_lossy(line)
                        )));
                    }
                }
            }
            out.push(Value::Object(picked));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paginate(p: Value) -> Paginate {
        serde_json::from_value(p).unwrap()
    }

    #[test]
    fn given_values_are_partitions_read_in_turn() {
        let p = paginate(
            json!({"type": "traverse", "param": "city", "values": ["hz", "bj"],
                                 "then": {"type": "page", "param": "page"}}),
        );
        let (mut router, then) = Router::open(Some(&p), &Checkpoint::default());
        assert!(matches!(then, Some(Paginate::Page { .. })));
        assert!(router.traverses() && !router.needs_values());
        assert_eq!(
            router.request_value(),
            Some(("city", Location::Params, &json!("hz")))
        );
        assert_eq!(
            router.partitions(Some(&json!(4))),
            [
                r#"{"done":false,"values":["hz"],"since":4}"#,
                r#"{"done":false,"values":["bj"],"since":4}"#
            ]
        );
        assert!(!router.next_partition());
        assert_eq!(
            router.request_value(),
            Some(("city", Location::Params, &json!("bj")))
        );
        assert!(
            router.next_partition(),
            "the last value's loop ends the read"
        );
        assert!(router.finished());
    }

    #[test]
    fn without_a_traverse_the_read_is_one_partition() {
        let p = paginate(json!({"type": "cursor", "param": "c", "from": "next"}));
        let (mut router, then) = Router::open(Some(&p), &Checkpoint::default());
        assert!(matches!(then, Some(Paginate::Cursor { .. })));
        assert!(!router.traverses() && !router.needs_values() && !router.finished());
        assert_eq!(router.request_value(), None);
        assert!(router.next_partition());
    }

    #[test]
    fn values_from_a_list_must_be_scalars() {
        let p = paginate(json!({"type": "traverse", "param": "id",
                                 "values_from": {"url": "http://list/ids", "extract": "data"}}));
        let (mut router, then) = Router::open(Some(&p), &Checkpoint::default());
        assert!(then.is_none() && router.needs_values());
        let req = router
            .values_request(&mut crate::request::testing::FixedEnv { now_ms: 0, next: 0 })
            .unwrap();
        assert_eq!(req.url.as_str(), "http://list/ids");
        let answer = |body: &str| HttpResponse {
            status: 200,
            headers: vec![],
            body: body.into(),
        };
        let err = router
            .take_values(&req, &answer(r#"{"data": [1, [2]]}"#))
            .unwrap_err();
        assert_eq!(
            err,
            Error::Response(
                "read.paginate.values_from: the values must be scalars, found [2]".into()
            )
        );
        router
            .take_values(&req, &answer(r#"{"data": [1, "a"]}"#))
            .unwrap();
        assert_eq!(
            router.request_value(),
            Some(("id", Location::Params, &json!(1)))
        );
    }
}
