//! Request and pagination shapes that are not a whole recipe: cursors and
//! stop conditions from response headers (json-server's `X-Total-Count`, an
//! `X-Next-Cursor`), an offset loop stepping by its limit, and the config
//! errors of a `from` that cannot be right.

use apiconn_tests::api::{Reply, TestApi};
use apiconn_tests::bin::{Run, config_file, run};
use apiconn_tests::peers::JsonServer;
use serde_json::{Value, json};

fn apiconn(command: &str, config: &Value) -> Run {
    let path = config_file(&config.to_string(), "json");
    run(&[command, path.to_str().unwrap(), "--allow-private"])
}

fn ids(out: &Run) -> Vec<i64> {
    out.records()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn offsets_step_by_their_limit_and_stop_on_a_total_count_header() {
    let items: Vec<Value> = (1..=23).map(|i| json!({"id": i})).collect();
    let server = JsonServer::serve(&json!({ "items": items }));
    // No `step`: the loop steps by `_limit`; the stop adds request values
    // and compares with json-server's X-Total-Count header, so no empty
    // page is asked for.
    let config = json!({"source": {"name": "js", "url": server.url()},
        "read": {"path": "/items", "params": {"_limit": 5},
                 "paginate": {"type": "offset", "param": "_start",
                              "stop": ["request._start + request._limit >= header:X-Total-Count"]}}});
    let out = apiconn("read", &config);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ids(&out), (1..=23).collect::<Vec<_>>());
    assert!(
        out.stderr.contains("read 23 records in 5 requests"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_cursor_from_a_response_header() {
    let api = TestApi::start(|seen| {
        let at: usize = seen
            .param("cursor")
            .map_or(0, |c| c.trim_start_matches('c').parse().unwrap());
        let page: Vec<Value> = (at + 1..=(at + 2).min(5))
            .map(|i| json!({"id": i}))
            .collect();
        let mut reply = Reply::json(200, &Value::Array(page));
        if at + 2 < 5 {
            reply
                .headers
                .push(("X-Next-Cursor".into(), format!("c{}", at + 2)));
        }
        reply
    });
    let config = json!({"source": {"name": "h", "url": api.url()},
        "read": {"path": "/items", "paginate": {"type": "cursor", "param": "cursor", "from": "header:X-Next-Cursor"}}});
    let out = apiconn("read", &config);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
    let cursors: Vec<Option<String>> = api
        .seen()
        .iter()
        .map(|s| s.param("cursor").map(String::from))
        .collect();
    assert_eq!(cursors, [None, Some("c2".into()), Some("c4".into())]);

    // A header the API does not send: an error after the first page, not one silent page.
    let mut wrong = config.clone();
    wrong["read"]["paginate"]["from"] = json!("header:X-Next-Page");
    let out = apiconn("read", &wrong);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("read.paginate.from: the first response, which had 2 records, has no header `X-Next-Page`"), "{}", out.stderr);
    assert!(
        out.stdout.is_empty(),
        "the failed batch is not printed: {}",
        out.stdout
    );
}

#[test]
fn a_link_from_that_names_the_header_as_a_path_is_a_config_error() {
    let config = json!({"source": {"name": "v", "url": "http://127.0.0.1:9"},
        "read": {"paginate": {"type": "link", "from": "Link"}}});
    let out = apiconn("validate", &config);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("read.paginate.from: `Link` is read as a JSON path in the body; for the `Link` header write `header`, for another header `header:NAME`"), "{}", out.stderr);
    let config = json!({"source": {"name": "v", "url": "http://127.0.0.1:9"},
        "read": {"incremental": {"param": "since", "in": "body", "from_field": "id"}}});
    let out = apiconn("validate", &config);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("read.incremental.in: a GET request has no body"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_next_link_missing_from_a_first_page_with_records_is_an_error() {
    let api = TestApi::start(|_| {
        Reply::json(
            200,
            &json!({"results": [{"id": 1}], "links": {"self": "/x"}}),
        )
    });
    let config = json!({"source": {"name": "l", "url": api.url()},
        "read": {"records": "results", "paginate": {"type": "link", "from": "links.next"}}});
    let out = apiconn("read", &config);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("read.paginate.from: `links.next` is not in the first response (keys found there: self), which had 1 records"), "{}", out.stderr);
    assert_eq!(api.seen().len(), 1);
}
