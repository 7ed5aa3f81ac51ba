//! The reader's tests: whole reads against scripted APIs, through
//! [`next_batch`], as the component drives them.

use super::*;
use crate::config;
use crate::request::testing::FixedEnv;
use crate::requester::testing::Script;
use serde_json::Value;

fn reader(config_json: &str) -> Reader {
    Reader::open(config::load(config_json, None).unwrap(), None).unwrap()
}

fn read_all(reader: &mut Reader, script: &mut dyn Transport) -> Result<Vec<Batch>, Error> {
    let mut env = FixedEnv {
        now_ms: 1_700_000_000_000,
        next: 0,
    };
    let mut out = vec![];
    while let Some(b) = next_batch(reader, script, &mut env)? {
        out.push(b);
    }
    Ok(out)
}

#[test]
fn a_get_with_params_headers_and_bearer_auth() {
    let mut r = reader(
        r#"{"source":{"name":"a","url":"http://h/api/","auth":{"type":"bearer","token":"T"}},
            "read":{"path":"/users","params":{"page_size":50,"q":"a b"},"headers":{"X-Trace":{"random":"hex32"}},
                    "records":"data.items"}}"#,
    );
    let mut s = Script::default().respond(
        200,
        r#"{"data":{"items":[{"id":1,"user":{"name":"x"}},{"id":2,"user":{"name":"y"}}]}}"#,
    );
    let batches = read_all(&mut r, &mut s).unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(
        String::from_utf8(batches[0].records.clone()).unwrap(),
        "{\"id\":1,\"user.name\":\"x\"}\n{\"id\":2,\"user.name\":\"y\"}\n"
    );
    assert_eq!(batches[0].count, 2);
    assert_eq!(batches[0].checkpoint, r#"{"done":true}"#);
    let sent = &s.sent[0];
    assert_eq!(sent.url.as_str(), "http://h/api/users?page_size=50&q=a+b");
    assert_eq!(sent.header("authorization"), Some("Bearer T"));
    assert_eq!(
        sent.header("x-trace"),
        Some("000102030405060708090a0b0c0d0e0f")
    );
    assert_eq!(sent.body, None);
    // A reader opened at the checkpoint has nothing left to do.
    let mut again = Reader::open(
        config::load(
            r#"{"source":{"name":"a","url":"http://h"},"read":{}}"#,
            None,
        )
        .unwrap(),
        Some(&batches[0].checkpoint),
    )
    .unwrap();
    assert!(
        read_all(&mut again, &mut Script::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_post_with_a_form_body() {
    let mut r = reader(
        r#"{"source":{"name":"a","url":"http://h","auth":{"type":"basic","username":"u","password":"p"}},
            "read":{"method":"POST","body":{"since":"2024-01-01","n":3},"body_format":"form"}}"#,
    );
    let mut s = Script::default().respond(200, r#"{"id":1}"#);
    read_all(&mut r, &mut s).unwrap();
    let sent = &s.sent[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.body.as_deref(), Some(&b"since=2024-01-01&n=3"[..]));
    assert_eq!(
        sent.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(sent.header("authorization"), Some("Basic dTpw"));
}

#[test]
fn arrays_fail_the_run_naming_record_and_field() {
    let mut r = reader(r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"rows"}}"#);
    let mut s =
        Script::default().respond(200, r#"{"rows":[{"id":1},{"id":2,"user":{"tags":["a"]}}]}"#);
    let err = read_all(&mut r, &mut s).unwrap_err();
    assert_eq!(
        err,
        Error::NonCompliantRecord(
            "record 1 (item 1 of response 1): field `user.tags` is an array (set read.flatten.arrays to \"json\" or \"drop\" to accept it)".into()
        )
    );
}

#[test]
fn fields_convert_and_dirty_records_are_counted() {
    let config = |allowed: u32| {
        format!(
            r#"{{"source":{{"name":"a","url":"http://h"}},"read":{{"dirty_records":{allowed},
            "fields":[{{"name":"id","type":"long"}},{{"name":"user.name","as":"name"}}]}}}}"#
        )
    };
    let body = r#"[{"id":"1","user":{"name":"x"}},{"id":"one"},{"id":3}]"#;
    let mut r = reader(&config(1));
    let batches = read_all(&mut r, &mut Script::default().respond(200, body)).unwrap();
    assert_eq!(
        String::from_utf8(batches[0].records.clone()).unwrap(),
        "{\"id\":1,\"name\":\"x\"}\n{\"id\":3,\"name\":null}\n"
    );
    assert_eq!(batches[0].warnings.len(), 1);
    let mut r = reader(&config(0));
    let err = read_all(&mut r, &mut Script::default().respond(200, body)).unwrap_err();
    assert!(
        matches!(&err, Error::DirtyRecords(m) if m.starts_with("record 1 (item 1 of response 1): field `id`")),
        "{err}"
    );
}

#[test]
fn a_passing_bad_body_is_asked_again() {
    let mut r = reader(r#"{"source":{"name":"a","url":"http://h","retries":2},"read":{}}"#);
    let mut s = Script::default()
        .respond(200, "<html>proxy error</html>")
        .respond(200, r#"{"truncated":"#)
        .respond(200, r#"[{"id":1}]"#);
    let batches = read_all(&mut r, &mut s).unwrap();
    assert_eq!(batches[0].records, b"{\"id\":1}\n");
    assert_eq!(batches[0].requests, 3);
    assert_eq!(s.slept.len(), 2);
}

#[test]
fn a_body_that_is_not_json_is_a_clear_error() {
    let mut r =
        reader(r#"{"source":{"name":"a","url":"http://h","retries":0},"read":{"path":"x"}}"#);
    let err = read_all(
        &mut r,
        &mut Script::default().respond(200, "<html>oops</html>"),
    )
    .unwrap_err();
    let Error::Response(m) = err else { panic!() };
    assert!(
        m.starts_with("GET http://h/x answered 200 with a body that is not JSON"),
        "{m}"
    );
    assert!(m.ends_with("<html>oops</html>"));
}

mod pagination {
    use super::*;
    use crate::requester::testing::{Responder, ok};
    use serde_json::json;

    fn param(req: &HttpRequest, name: &str) -> Option<String> {
        req.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// 23 items served 10 per page by `page`.
    fn pages(req: &HttpRequest) -> HttpResponse {
        let page: usize = param(req, "page").unwrap().parse().unwrap();
        let items: Vec<Value> = (1..=23)
            .skip((page - 1) * 10)
            .take(10)
            .map(|i| json!({"id": i}))
            .collect();
        ok(json!({"items": items, "pages": 3}))
    }

    pub(super) fn ids(batches: &[Batch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                String::from_utf8(b.records.clone())
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .map(|l| {
                serde_json::from_str::<Value>(&l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    }

    fn drain(reader: &mut Reader, t: &mut dyn Transport) -> Result<Vec<Batch>, Error> {
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let mut out = vec![];
        while let Some(b) = next_batch(reader, t, &mut env)? {
            out.push(b);
        }
        Ok(out)
    }

    const PAGED: &str = r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"items",
        "paginate":{"type":"page","param":"page"}}}"#;

    #[test]
    fn page_loop_ends_at_the_first_empty_page() {
        let mut t = Responder::new(pages);
        let batches = drain(&mut reader(PAGED), &mut t).unwrap();
        assert_eq!(ids(&batches), (1..=23).collect::<Vec<_>>());
        assert_eq!(t.sent.len(), 4, "three pages and the empty fourth");
        assert_eq!(batches.last().unwrap().checkpoint, r#"{"done":true}"#);
    }

    #[test]
    fn a_stop_condition_on_the_request_and_the_response() {
        let config = PAGED.replace(
            r#""param":"page"}"#,
            r#""param":"page","stop":["request.page >= response.pages"]}"#,
        );
        let mut t = Responder::new(pages);
        let batches = drain(&mut reader(&config), &mut t).unwrap();
        assert_eq!(ids(&batches).len(), 23);
        assert_eq!(t.sent.len(), 3, "no request for an empty page");
    }

    #[test]
    fn records_kept_raw_or_parsed_whole_come_out_the_same() {
        // Nested records with an array, a key repeated in the JSON and a
        // collision (that one fails the run either way).
        let page = |req: &HttpRequest| -> HttpResponse {
            let body = match param(req, "page").as_deref() {
                Some("1") => {
                    r#"{"items":[{"id":1,"u":{"n":"a","t":[1,2],"e":{}},"x":1.5},
                                {"id":2,"id":3,"u":{"n":"\u00e9\n"}}],"more":true}"#
                }
                _ => r#"{"items":[],"more":false}"#,
            };
            HttpResponse {
                status: 200,
                headers: vec![],
                body: body.as_bytes().to_vec(),
            }
        };
        let split = PAGED.replace(
            r#""records":"items","#,
            r#""records":"items","flatten":{"arrays":"json"},"#,
        );
        // A stop condition that reads the records: the page is parsed whole.
        let whole = split.replace(
            r#""param":"page"}"#,
            r#""param":"page","stop":["response.items[0].id == null"]}"#,
        );
        assert!(
            reader(&split).selector.splits_records() && !reader(&whole).selector.splits_records()
        );
        let out = |config: &str| {
            let batches = drain(&mut reader(config), &mut Responder::new(page)).unwrap();
            batches
                .iter()
                .flat_map(|b| b.records.clone())
                .collect::<Vec<u8>>()
        };
        assert_eq!(
            String::from_utf8(out(&split)).unwrap(),
            "{\"id\":1,\"u.n\":\"a\",\"u.t\":\"[1,2]\",\"u.e\":null,\"x\":1.5}\n{\"id\":3,\"u.n\":\"\u{e9}\\n\"}\n"
        );
        assert_eq!(out(&split), out(&whole));
        let colliding = |config: &str| {
            let page = |_: &HttpRequest| ok(json!({"items": [{"a.b": 1, "a": {"b": 2}}]}));
            drain(&mut reader(config), &mut Responder::new(page))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(colliding(&split), colliding(&whole));
        assert!(colliding(&split).contains("two fields flatten to the same key `a.b`"));
    }

    #[test]
    fn resuming_from_a_checkpoint_has_no_gap_and_no_duplicate() {
        let full = ids(&drain(&mut reader(PAGED), &mut Responder::new(pages)).unwrap());
        let mut first = reader(PAGED);
        let mut env = FixedEnv { now_ms: 0, next: 0 };
        let mut t = Responder::new(pages);
        let b1 = next_batch(&mut first, &mut t, &mut env).unwrap().unwrap();
        let b2 = next_batch(&mut first, &mut t, &mut env).unwrap().unwrap();
        assert_eq!(
            b2.checkpoint,
            r#"{"done":false,"position":{"number":3},"loop_requests":2}"#
        );
        let mut resumed =
            Reader::open(config::load(PAGED, None).unwrap(), Some(&b2.checkpoint)).unwrap();
        let rest = drain(&mut resumed, &mut Responder::new(pages)).unwrap();
        let mut union = ids(&[b1, b2]);
        union.extend(ids(&rest));
        assert_eq!(union, full);
    }

    #[test]
    fn offsets_go_into_a_json_body_path() {
        let config = r#"{"source":{"name":"a","url":"http://h"},"read":{"method":"POST","records":"rows",
            "body":{"paging.size":2,"q":"x"},
            "paginate":{"type":"offset","param":"paging.offset","in":"body","step":2}}}"#;
        let mut t = Responder::new(|req: &HttpRequest| {
            let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
            let offset = body["paging"]["offset"].as_u64().unwrap();
            let rows: Vec<Value> = (offset..5).take(2).map(|i| json!({"id": i})).collect();
            ok(json!({"rows": rows}))
        });
        let batches = drain(&mut reader(config), &mut t).unwrap();
        assert_eq!(ids(&batches), vec![0, 1, 2, 3, 4]);
        let first: Value = serde_json::from_slice(t.sent[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(first, json!({"paging": {"size": 2, "offset": 0}, "q": "x"}));
    }

    #[test]
    fn a_repeated_cursor_is_an_error_not_a_loop() {
        let config = r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"data",
            "paginate":{"type":"cursor","param":"after","from":"next"}}}"#;
        let mut n = 0;
        let mut t = Responder::new(move |_: &HttpRequest| {
            n += 1;
            ok(json!({"data": [{"id": n}], "next": "c1"}))
        });
        let err = drain(&mut reader(config), &mut t).unwrap_err();
        assert_eq!(
            err,
            Error::Response(
                "the API gave the cursor \"c1\" a second time: stopping instead of looping".into()
            )
        );
        assert_eq!(param(&t.sent[1], "after").as_deref(), Some("c1"));
        assert_eq!(
            param(&t.sent[0], "after"),
            None,
            "no cursor on the first request"
        );
    }

    #[test]
    fn an_identical_page_is_an_error_not_a_loop() {
        let config = PAGED.replace(
            r#""param":"page"}"#,
            r#""param":"page","stop":["response.done == true"]}"#,
        );
        let mut t = Responder::new(|_: &HttpRequest| ok(json!({"items": [{"id": 1}]})));
        let err = drain(&mut reader(&config), &mut t).unwrap_err();
        assert!(
            matches!(&err, Error::Response(m) if m.contains("returned the same page")),
            "{err}"
        );
    }

    #[test]
    fn max_requests_with_the_stop_unmet_is_an_error() {
        let config = r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"items","max_requests":5,
            "paginate":{"type":"page","param":"page","stop":["response.has_more == false"]}}}"#;
        let mut t = Responder::new(|req: &HttpRequest| {
            ok(json!({"items": [{"id": param(req, "page")}], "has_more": true}))
        });
        let err = drain(&mut reader(config), &mut t).unwrap_err();
        assert!(
            matches!(&err, Error::Limit(m) if m.starts_with("read.max_requests (5) reached")),
            "{err}"
        );
        assert_eq!(t.sent.len(), 5);
    }

    #[test]
    fn traverse_values_with_a_page_loop_for_each() {
        let config = r#"{"source":{"name":"a","url":"http://h","auth":{"type":"bearer","token":"T"}},"read":{"records":"items",
            "paginate":{"type":"traverse","param":"city","values_from":{"url":"http://list/cities","extract":"ids"},
                        "then":{"type":"page","param":"page"}}}}"#;
        let mut t = Responder::new(|req: &HttpRequest| {
            if req.url.host_str() == Some("list") {
                assert_eq!(
                    req.header("authorization"),
                    None,
                    "values_from has no credentials"
                );
                return ok(json!({"ids": [10, 20]}));
            }
            let city: i64 = param(req, "city").unwrap().parse().unwrap();
            let page: i64 = param(req, "page").unwrap().parse().unwrap();
            let items: Vec<Value> = if page <= 2 {
                vec![json!({"id": city + page})]
            } else {
                vec![]
            };
            ok(json!({"items": items}))
        });
        let batches = drain(&mut reader(config), &mut t).unwrap();
        assert_eq!(ids(&batches), vec![11, 12, 21, 22]);
        assert_eq!(t.sent.len(), 1 + 3 + 3);
        assert_eq!(
            batches[2].checkpoint,
            r#"{"done":false,"values":[10,20],"index":1}"#
        );
    }
}

#[test]
fn incremental_reads_ask_from_the_greatest_value_seen_and_skip_what_was_seen() {
    let config = r#"{"source":{"name":"a","url":"http://h"},"read":{"records":"items",
        "paginate":{"type":"page","param":"page"},
        "incremental":{"param":"id_gte","from_field":"id","start":0}}}"#;
    let store = std::cell::RefCell::new((1..=5).collect::<Vec<i64>>());
    let serve = |req: &HttpRequest| {
        let q = |n: &str| {
            req.url
                .query_pairs()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.parse::<i64>().unwrap())
                .unwrap()
        };
        let (from, page) = (q("id_gte"), q("page"));
        let items: Vec<Value> = store
            .borrow()
            .iter()
            .filter(|i| **i >= from)
            .skip(((page - 1) * 2) as usize)
            .take(2)
            .map(|i| serde_json::json!({"id": i}))
            .collect();
        crate::requester::testing::ok(serde_json::json!({"items": items}))
    };
    let ids = pagination::ids;
    let mut r = reader(config);
    let mut t = crate::requester::testing::Responder::new(serve);
    let first = read_all(&mut r, &mut t).unwrap();
    assert_eq!(ids(&first), vec![1, 2, 3, 4, 5]);
    let state = first.last().unwrap().checkpoint.clone();
    assert_eq!(state, r#"{"done":true,"since":0,"seen_max":5}"#);
    drop(t);
    store.borrow_mut().extend([6, 7, 8]);
    let mut again = Reader::open(config::load(config, None).unwrap(), Some(&state)).unwrap();
    let mut t = crate::requester::testing::Responder::new(serve);
    let second = read_all(&mut again, &mut t).unwrap();
    // The API's `>=` gives 5 again; it is skipped.
    assert_eq!(ids(&second), vec![6, 7, 8]);
    assert!(
        t.sent
            .iter()
            .all(|r| r.url.query().unwrap().contains("id_gte=5"))
    );
}

/// customers (two pages) → invoices (one request each): resuming from the
/// checkpoint of any batch emits exactly the records after it.
#[test]
fn a_child_stream_resumes_from_every_checkpoint_with_the_rest() {
    let config = config::load(
        r#"{"source":{"name":"a","url":"http://h"},
            "streams":{
              "customers":{"path":"/c","records":"data","paginate":{"type":"page","param":"p","stop":["response.last == true"]}},
              "invoices":{"parent":{"stream":"customers","fields":{"cid":"id"}},"path":"/c/{cid}/i","records":"data"}}}"#,
        None,
    )
    .unwrap();
    let answer = |req: &HttpRequest| -> String {
        match req.url.path() {
            "/c" if req.url.query() == Some("p=1") => {
                r#"{"data":[{"id":"a"},{"id":"b b"}],"last":false}"#.into()
            }
            "/c" => r#"{"data":[{"id":"c"}],"last":true}"#.into(),
            p => {
                let cid = p.trim_start_matches("/c/").trim_end_matches("/i");
                format!(r#"{{"data":[{{"n":1,"of":"{cid}"}},{{"n":2,"of":"{cid}"}}]}}"#)
            }
        }
    };
    let run = |state: Option<&str>| -> Vec<Batch> {
        let mut r = Reader::open_stream(&config, Some("invoices"), state).unwrap();
        let mut s = Answering(&answer);
        read_all(&mut r, &mut s).unwrap()
    };
    let lines = |batches: &[Batch]| -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| {
                String::from_utf8(b.records.clone())
                    .unwrap()
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let full = run(None);
    let all = lines(&full);
    assert_eq!(all.len(), 6);
    assert_eq!(all[0], r#"{"n":1,"of":"a","cid":"a"}"#);
    assert_eq!(all[2], r#"{"n":1,"of":"b%20b","cid":"b b"}"#);
    // The first batch carries the parent's page request too.
    assert_eq!(
        full.iter().map(|b| b.requests).collect::<Vec<_>>(),
        [2, 1, 2]
    );
    for (i, b) in full.iter().enumerate() {
        let rest = lines(&run(Some(&b.checkpoint)));
        assert_eq!(rest, lines(&full[i + 1..]), "resumed after batch {i}");
    }
}

/// A transport that answers each request by a function of it.
struct Answering<'f>(&'f dyn Fn(&HttpRequest) -> String);

impl Transport for Answering<'_> {
    fn send(
        &mut self,
        req: &HttpRequest,
        _timeout_ms: u32,
    ) -> Result<HttpResponse, crate::requester::TransportError> {
        Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: (self.0)(req).into_bytes(),
        })
    }
    fn sleep(&mut self, _: std::time::Duration) {}
}
