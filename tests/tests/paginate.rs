//! Pagination and traversal against real servers: npm json-server, PyPI
//! datasette, and the scriptable test API.

use apiconn_tests::api::{Reply, Seen, TestApi};
use apiconn_tests::bin::{Run, config_file, run};
use apiconn_tests::peers::{Datasette, JsonServer, venv_bin};
use serde_json::{Value, json};

fn read(config: Value) -> Run {
    let path = config_file(&config.to_string(), "json");
    run(&["read", path.to_str().unwrap(), "--allow-private"])
}

fn ids(out: &Run) -> Vec<i64> {
    out.records()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

mod json_server {
    use super::*;

    const TOTAL: i64 = 2345;

    fn server() -> JsonServer {
        let items: Vec<Value> = (1..=TOTAL)
            .map(|i| json!({"id": i, "name": format!("item {i}"), "meta": {"group": i % 7}}))
            .collect();
        JsonServer::serve(&json!({ "items": items }))
    }

    fn config(server: &JsonServer, params: Value, paginate: Value) -> Value {
        json!({"source": {"name": "js", "url": server.url()},
               "read": {"path": "/items", "params": params, "paginate": paginate, "max_requests": 1000}})
    }

    fn assert_every_record_once(out: &Run) {
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(out), (1..=TOTAL).collect::<Vec<_>>());
        let first = &out.records()[0];
        assert_eq!(first, &json!({"id": 1, "name": "item 1", "meta.group": 1}));
    }

    #[test]
    fn page_numbers_with_sizes_that_divide_the_total_and_that_do_not() {
        let server = server();
        for limit in [469, 100, 1000] {
            let out = read(config(
                &server,
                json!({"_limit": limit}),
                json!({"type": "page", "param": "_page"}),
            ));
            assert_every_record_once(&out);
            let pages = (TOTAL + limit - 1) / limit;
            // Every page, then the first empty page ends the loop.
            assert!(
                out.stderr.contains(&format!("in {} requests", pages + 1)),
                "{}",
                out.stderr
            );
        }
    }

    #[test]
    fn offsets() {
        let server = server();
        for limit in [469, 500] {
            let out = read(config(
                &server,
                json!({"_limit": limit}),
                json!({"type": "offset", "param": "_start", "step": limit}),
            ));
            assert_every_record_once(&out);
        }
    }

    #[test]
    fn next_links_from_the_link_header() {
        let server = server();
        for limit in [250, 333] {
            let out = read(config(
                &server,
                json!({"_page": 1, "_limit": limit}),
                json!({"type": "link", "from": "header"}),
            ));
            assert_every_record_once(&out);
            let pages = (TOTAL + limit - 1) / limit;
            // No empty page: the last page has no rel="next".
            assert!(
                out.stderr.contains(&format!("in {pages} requests")),
                "{}",
                out.stderr
            );
        }
    }
}

mod datasette {
    use super::*;

    fn server() -> (Datasette, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("shop.db");
        let status = std::process::Command::new(venv_bin("datasette-0.65", "python"))
            .arg("-c")
            .arg(
                "import sqlite3, sys\n\
                 c = sqlite3.connect(sys.argv[1])\n\
                 c.execute('create table items (id integer primary key, name text, price real)')\n\
                 c.executemany('insert into items values (?, ?, ?)', [(i, 'item %d' % i, i / 4) for i in range(1, 10001)])\n\
                 c.commit()",
            )
            .arg(&db)
            .status()
            .unwrap();
        assert!(status.success());
        (Datasette::start("datasette-0.65", &db, &[]), dir)
    }

    fn assert_all_rows(out: &Run) {
        assert_eq!(out.code, 0, "{}", out.stderr);
        let got = ids(out);
        assert_eq!(got.len(), 10_000);
        assert_eq!(
            got,
            (1..=10_000).collect::<Vec<_>>(),
            "every row once, in order"
        );
        assert_eq!(
            out.records()[3],
            json!({"id": 4, "name": "item 4", "price": 1.0})
        );
        assert!(out.stderr.contains("in 10 requests"), "{}", out.stderr);
    }

    #[test]
    fn cursor_from_next_and_link_from_next_url() {
        let (server, _dir) = server();
        let base = json!({"source": {"name": "ds", "url": server.url()},
                          "read": {"path": "/shop/items.json", "params": {"_shape": "objects", "_size": 1000}, "records": "rows"}});
        let mut cursor = base.clone();
        cursor["read"]["paginate"] = json!({"type": "cursor", "param": "_next", "from": "next"});
        assert_all_rows(&read(cursor));
        let mut link = base;
        link["read"]["paginate"] = json!({"type": "link", "from": "next_url"});
        assert_all_rows(&read(link));
    }
}

mod test_api {
    use super::*;

    fn param(r: &Seen, name: &str) -> i64 {
        r.param(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", r.query))
            .parse()
            .unwrap()
    }

    #[test]
    fn has_more_flag() {
        let api = TestApi::start(|r| {
            let page = param(r, "page");
            Reply::json(
                200,
                &json!({"data": [{"id": page * 10}, {"id": page * 10 + 1}], "has_more": page < 4}),
            )
        });
        let out = read(json!({"source": {"name": "t", "url": api.url()},
            "read": {"records": "data", "paginate": {"type": "page", "param": "page", "stop": ["response.has_more == false"]}}}));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(&out), vec![10, 11, 20, 21, 30, 31, 40, 41]);
        assert_eq!(api.seen().len(), 4);
    }

    #[test]
    fn total_pages_compared_with_the_page_sent() {
        let api = TestApi::start(|r| {
            let page = param(r, "p");
            Reply::json(
                200,
                &json!({"result": {"items": [{"id": page}]}, "pages": "3"}),
            )
        });
        let out = read(json!({"source": {"name": "t", "url": api.url()},
            "read": {"records": "result.items", "paginate": {"type": "page", "param": "p", "start": 1, "stop": ["request.p >= response.pages"]}}}));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(&out), vec![1, 2, 3]);
        assert_eq!(api.seen().len(), 3);
    }

    #[test]
    fn nested_cursor() {
        let api = TestApi::start(|r| {
            let (ids, next) = match r.param("cursor") {
                None => (vec![1, 2], json!("c2")),
                Some("c2") => (vec![3, 4], json!("c3")),
                Some("c3") => (vec![5], json!("")),
                Some(other) => panic!("unexpected cursor {other}"),
            };
            let items: Vec<Value> = ids.iter().map(|i| json!({"id": i})).collect();
            Reply::json(200, &json!({"data": {"items": items, "next_cursor": next}}))
        });
        let out = read(json!({"source": {"name": "t", "url": api.url()},
            "read": {"records": "data.items", "paginate": {"type": "cursor", "param": "cursor", "from": "data.next_cursor"}}}));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(&out), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn link_header_with_relative_urls() {
        let api = TestApi::start(|r| {
            let page = r.param("page").map_or(1, |p| p.parse().unwrap());
            let mut reply = Reply::json(200, &json!([{"id": page}]));
            if page < 3 {
                reply.headers.push((
                    "link".into(),
                    format!(
                        r#"</v1/things?page={}>; rel="next", </v1/things?page=1>; rel="first""#,
                        page + 1
                    ),
                ));
            }
            reply
        });
        let out = read(
            json!({"source": {"name": "t", "url": format!("{}/v1", api.url()), "auth": {"type": "bearer", "token": "tk"}},
            "read": {"path": "things", "params": {"fields": "all"}, "paginate": {"type": "link", "from": "header"}}}),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(&out), vec![1, 2, 3]);
        let seen = api.seen();
        assert_eq!(seen[0].param("fields"), Some("all"));
        // The next URL is used as it is: its query string replaces the params.
        assert_eq!(seen[1].query, vec![("page".to_string(), "2".to_string())]);
        // Same origin: credentials still go.
        assert!(
            seen.iter()
                .all(|r| r.header("authorization") == Some("Bearer tk"))
        );
    }

    #[test]
    fn traverse_three_cities_from_a_list_api_paginating_each() {
        let api = TestApi::start(|r| {
            if r.path == "/cities" {
                assert_eq!(
                    r.header("authorization"),
                    None,
                    "the list API gets no credentials"
                );
                return Reply::json(200, &json!({"data": {"ids": ["hz", "bj", "sh"]}}));
            }
            let city = r.param("city").unwrap().to_string();
            let page = param(r, "page");
            let rows: Vec<Value> = if page <= 2 {
                vec![json!({"id": page, "city": city})]
            } else {
                vec![]
            };
            Reply::json(200, &json!({"rows": rows}))
        });
        let out = read(
            json!({"source": {"name": "t", "url": api.url(), "auth": {"type": "bearer", "token": "tk"}},
            "read": {"path": "/weather", "records": "rows", "paginate": {
                "type": "traverse", "param": "city",
                "values_from": {"url": format!("{}/cities", api.url()), "extract": "data.ids"},
                "then": {"type": "page", "param": "page"}}}}),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let got: Vec<(String, i64)> = out
            .records()
            .iter()
            .map(|r| {
                (
                    r["city"].as_str().unwrap().to_string(),
                    r["id"].as_i64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, i64)> = ["hz", "bj", "sh"]
            .iter()
            .flat_map(|c| [(c.to_string(), 1), (c.to_string(), 2)])
            .collect();
        assert_eq!(got, want);
        assert_eq!(api.seen().len(), 1 + 3 * 3);
    }

    #[test]
    fn traverse_manual_values_one_request_each() {
        let api = TestApi::start(|r| {
            Reply::json(
                200,
                &json!({"id": r.param("city").unwrap().parse::<i64>().unwrap()}),
            )
        });
        let out = read(json!({"source": {"name": "t", "url": api.url()},
            "read": {"paginate": {"type": "traverse", "param": "city", "values": [101, 102, 103]}}}));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(&out), vec![101, 102, 103]);
    }

    #[test]
    fn page_number_in_a_json_body_path() {
        let api = TestApi::start(|r| {
            let body = r.body_json();
            assert_eq!(body["filter"]["status"], "open");
            let page = body["paging"]["page"].as_i64().unwrap();
            let rows: Vec<Value> = if page <= 3 {
                vec![json!({"id": page})]
            } else {
                vec![]
            };
            Reply::json(200, &json!({"rows": rows, "size": body["paging"]["size"]}))
        });
        let out = read(json!({"source": {"name": "t", "url": api.url()},
            "read": {"method": "POST", "path": "/search", "records": "rows",
                     "body": {"filter.status": "open", "paging.size": 1},
                     "paginate": {"type": "page", "param": "paging.page", "in": "body"}}}));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(ids(&out), vec![1, 2, 3]);
        assert_eq!(api.seen().len(), 4);
    }

    #[test]
    fn an_api_that_always_has_more_ends_at_max_requests_with_an_error() {
        let api = TestApi::start(|r| {
            Reply::json(
                200,
                &json!({"data": [{"id": param(r, "page")}], "has_more": true}),
            )
        });
        let out = read(json!({"source": {"name": "t", "url": api.url()},
            "read": {"records": "data", "max_requests": 7,
                     "paginate": {"type": "page", "param": "page", "stop": ["response.has_more == false"]}}}));
        assert_eq!(out.code, 6);
        assert!(
            out.stderr.contains(
                "limit reached: read.max_requests (7) reached before the read was complete"
            ),
            "{}",
            out.stderr
        );
        assert_eq!(api.seen().len(), 7);
        // What was read before the limit is out, flushed batch by batch.
        assert_eq!(ids(&out), (1..=7).collect::<Vec<_>>());
    }

    #[test]
    fn a_cursor_that_repeats_is_stopped_by_the_safety_rail() {
        let api = TestApi::start(|r| {
            let n = if r.param("c").is_some() { 2 } else { 1 };
            Reply::json(200, &json!({"items": [{"id": n}], "next": "same"}))
        });
        let out = read(json!({"source": {"name": "t", "url": api.url()},
            "read": {"records": "items", "paginate": {"type": "cursor", "param": "c", "from": "next"}}}));
        assert_eq!(out.code, 7);
        assert!(
            out.stderr.contains(
                "the API gave the cursor \"same\" a second time: stopping instead of looping"
            ),
            "{}",
            out.stderr
        );
        assert_eq!(api.seen().len(), 2);
    }

    #[test]
    fn a_bad_stop_condition_is_a_config_error_with_path_and_column() {
        let path = config_file(
            &json!({"source": {"name": "t", "url": "https://api.example.com"},
                    "read": {"paginate": {"type": "page", "param": "p", "stop": ["response.done = true"]}}})
            .to_string(),
            "json",
        );
        let out = run(&["validate", path.to_str().unwrap()]);
        assert_eq!(out.code, 3);
        assert!(
            out.stderr
                .contains("read.paginate.stop[0]: `response.done = true` has no operator"),
            "{}",
            out.stderr
        );
        let path = config_file(
            &json!({"source": {"name": "t", "url": "https://api.example.com"},
                    "read": {"paginate": {"type": "page", "param": "p", "stop": ["requests >= ten"]}}})
            .to_string(),
            "json",
        );
        let out = run(&["validate", path.to_str().unwrap()]);
        assert!(
            out.stderr
                .contains("read.paginate.stop[0]: `requests >= ten` at column 13: `ten` is not"),
            "{}",
            out.stderr
        );
    }
}

mod resume {
    use super::*;
    use apiconn::run::{self, Options};
    use apiconn::runtime::Runtime;

    /// Reads with the host library: every batch's records and checkpoint,
    /// starting from `state`, stopping after `limit` batches.
    async fn batches(
        rt: &Runtime,
        config: &Value,
        state: Option<&str>,
        limit: usize,
    ) -> Vec<(Vec<i64>, String)> {
        let opts = Options {
            allow_private: true,
            ..Options::default()
        };
        let prepared = run::prepare(config.clone(), &opts.secrets).unwrap();
        let mut instance = run::sandboxed(rt, &prepared, &opts).await.unwrap();
        let reader = instance
            .open_reader(&prepared.json, None, None, state)
            .await
            .unwrap();
        let mut out = vec![];
        while out.len() < limit {
            let Some(batch) = instance.next_batch(reader).await.unwrap() else {
                break;
            };
            out.push((apiconn_tests::flat::ids(&batch.records), batch.checkpoint));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_reader_opened_at_the_third_checkpoint_continues_without_gap_or_duplicate() {
        let items: Vec<Value> = (1..=95).map(|i| json!({"id": i})).collect();
        let server = JsonServer::serve(&json!({ "items": items }));
        let rt = Runtime::new().unwrap();
        for paginate in [
            json!({"type": "page", "param": "_page"}),
            json!({"type": "offset", "param": "_start", "step": 10}),
        ] {
            let config = json!({"source": {"name": "js", "url": server.url()},
                                "read": {"path": "/items", "params": {"_limit": 10}, "paginate": paginate}});
            let full: Vec<i64> = batches(&rt, &config, None, usize::MAX)
                .await
                .into_iter()
                .flat_map(|(ids, _)| ids)
                .collect();
            assert_eq!(full, (1..=95).collect::<Vec<_>>());

            let first = batches(&rt, &config, None, 3).await;
            assert_eq!(first.len(), 3);
            let rest = batches(&rt, &config, Some(&first[2].1), usize::MAX).await;
            let union: Vec<i64> = first
                .into_iter()
                .chain(rest)
                .flat_map(|(ids, _)| ids)
                .collect();
            assert_eq!(union, full, "{paginate}");
        }
    }
}
