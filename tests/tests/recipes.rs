//! The recipes of the README ("Recipes", `examples/recipes/`), each run as
//! it is written — only `source.url` is replaced by a local server's — against
//! the API shape it is for (`apiconn_tests::shapes`) or against Django REST
//! framework: every record once, in order, with the exact number of
//! requests.

use apiconn_tests::api::{Seen, TestApi};
use apiconn_tests::bin::{Run, config_file, root, run_with_env};
use apiconn_tests::peers::{Django, DjangoOptions};
use apiconn_tests::shapes;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

/// `examples/recipes/NAME.json` with `source.url` set to `url`.
fn recipe(name: &str, url: &str) -> Value {
    let path = root().join(format!("examples/recipes/{name}.json"));
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["source"]["url"] = json!(url);
    config
}

/// Reads `config` with the secret `env` allowed.
fn read(config: &Value, env: &[(&str, &str)]) -> Run {
    let path = config_file(&config.to_string(), "json");
    let mut args = vec!["read", path.to_str().unwrap(), "--allow-private"];
    for (name, _) in env {
        args.extend(["--allow-env", name]);
    }
    run_with_env(&args, env)
}

fn ok(out: &Run) {
    assert_eq!(out.code, 0, "{}", out.stderr);
}

fn requests(out: &Run, n: usize) {
    assert!(
        out.stderr.contains(&format!(
            "read {} records in {n} requests",
            out.records().len()
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn stripe_starting_after_the_last_record() {
    let api = TestApi::start(shapes::stripe("sk_test_4eC39Hq"));
    let out = read(
        &recipe("stripe", &api.url()),
        &[("APICONN_SECRET_STRIPE_KEY", "sk_test_4eC39Hq")],
    );
    ok(&out);
    let ids: Vec<Value> = out.records().iter().map(|r| r["id"].clone()).collect();
    let expected: Vec<Value> = (1..=7).map(|i| json!(format!("cus_{i}"))).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        out.records()[0],
        json!({"id": "cus_1", "object": "customer", "name": "Customer 1", "metadata.tier": "gold"})
    );
    requests(&out, 3);
    let after: Vec<Option<String>> = api
        .seen()
        .iter()
        .map(|s| s.param("starting_after").map(String::from))
        .collect();
    assert_eq!(
        after,
        [None, Some("cus_3".into()), Some("cus_6".into())],
        "the id of the last record of the page before"
    );
    assert!(!out.stderr.contains("sk_test_4eC39Hq"));
}

#[test]
fn a_wrong_last_record_path_fails_after_the_first_page_naming_the_keys() {
    let api = TestApi::start(shapes::stripe("sk_test_wrong_path"));
    let mut config = recipe("stripe", &api.url());
    config["read"]["paginate"]["from"] = json!("data[-1].customer_id");
    config["read"]["paginate"]["stop"] = json!([]);
    let out = read(
        &config,
        &[("APICONN_SECRET_STRIPE_KEY", "sk_test_wrong_path")],
    );
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "read.paginate.from: `data[-1].customer_id` is not in the first response (keys found there: id, object, name, metadata), which had 3 records"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(api.seen().len(), 1);
}

#[test]
fn elasticsearch_search_after_the_last_hit_s_sort_values() {
    let api = TestApi::start(shapes::elasticsearch());
    let out = read(&recipe("elasticsearch", &api.url()), &[]);
    ok(&out);
    let expected: Vec<Value> = shapes::records()
        .iter()
        .map(|r| json!({"id": r["id"].to_string(), "name": r["name"], "created": r["created"]}))
        .collect();
    assert_eq!(out.records(), expected);
    // Pages of 3, 3, 1, then an empty page ends the loop.
    requests(&out, 4);
    let seen = api.seen();
    let after: Vec<Value> = seen
        .iter()
        .map(|s| s.body_json()["search_after"].clone())
        .collect();
    assert_eq!(
        after,
        [
            Value::Null,
            json!([1_704_240_000_000i64, "3"]),
            json!([1_704_499_200_000i64, "6"]),
            json!([1_704_585_600_000i64, "7"])
        ]
    );
    // The body is sent as written, with its generated value made.
    let body = seen[0].body_json();
    assert_eq!(body["size"], 1000);
    assert_eq!(body["sort"], json!([{"created": "asc"}, {"_id": "asc"}]));
    let lte = body["query"]["range"]["created"]["lte"].as_str().unwrap();
    assert!(lte.starts_with("20") && lte.ends_with('Z'), "{lte}");
}

#[test]
fn graphql_connection_end_cursor_until_has_next_page_is_false() {
    let api = TestApi::start(shapes::graphql());
    let out = read(&recipe("graphql", &api.url()), &[]);
    ok(&out);
    assert_eq!(out.records(), shapes::records());
    requests(&out, 3);
    let variables: Vec<Value> = api
        .seen()
        .iter()
        .map(|s| s.body_json()["variables"].clone())
        .collect();
    assert_eq!(
        variables,
        [
            json!({"first": 100, "after": null}),
            json!({"first": 100, "after": "cursor:3"}),
            json!({"first": 100, "after": "cursor:6"})
        ]
    );
}

#[test]
fn zendesk_cursor_pagination_until_has_more_is_false() {
    let api = TestApi::start(shapes::zendesk("YWdlbnRAZXhhbXBsZS5jb20vdG9rZW46enQ="));
    let out = read(
        &recipe("zendesk", &api.url()),
        &[("APICONN_SECRET_ZENDESK_TOKEN", "zt")],
    );
    ok(&out);
    let ids: Vec<i64> = out
        .records()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=7).collect::<Vec<_>>());
    requests(&out, 3);
    let after: Vec<Option<String>> = api
        .seen()
        .iter()
        .map(|s| s.param("page[after]").map(String::from))
        .collect();
    assert_eq!(
        after,
        [None, Some("aCursor3".into()), Some("aCursor6".into())]
    );

    // The same through `links.next`, whose `https://` the local server does
    // not speak: only its `page[after]` parameter is taken.
    let mut config = recipe("zendesk", &api.url());
    config["read"]["paginate"] = json!({"type": "cursor", "param": "page[after]",
        "from": "links.next", "url_param": "page[after]"});
    let out = read(&config, &[("APICONN_SECRET_ZENDESK_TOKEN", "zt")]);
    ok(&out);
    let ids: Vec<i64> = out
        .records()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=7).collect::<Vec<_>>());
    requests(&out, 3);
    let after: Vec<Option<String>> = api.seen()[3..]
        .iter()
        .map(|s| s.param("page[after]").map(String::from))
        .collect();
    assert_eq!(
        after,
        [None, Some("aCursor3".into()), Some("aCursor6".into())]
    );
}

#[test]
fn salesforce_relative_next_records_urls_until_done() {
    let api = TestApi::start(shapes::salesforce("00Dx!token"));
    let out = read(
        &recipe("salesforce", &api.url()),
        &[("APICONN_SECRET_SALESFORCE_TOKEN", "00Dx!token")],
    );
    ok(&out);
    let expected: Vec<Value> = (1..=7)
        .map(|i| json!({"id": format!("001D000000IqhS{i}"), "name": format!("Customer {i}"), "type": "Account"}))
        .collect();
    assert_eq!(out.records(), expected);
    requests(&out, 3);
    let paths: Vec<String> = api.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/services/data/v59.0/query",
            "/services/data/v59.0/query/01gD0000002HU6KIAW-3",
            "/services/data/v59.0/query/01gD0000002HU6KIAW-6"
        ]
    );
}

#[test]
fn github_link_header_waits_out_a_used_up_rate_limit() {
    let (handler, arrivals) = shapes::github("ghp_secret");
    let api = TestApi::start(handler);
    let out = read(
        &recipe("github", &api.url()),
        &[("APICONN_SECRET_GITHUB_TOKEN", "ghp_secret")],
    );
    ok(&out);
    let expected: Vec<Value> = (1..=7)
        .map(|i| json!({"number": i, "title": format!("Customer {i}"), "author": "octocat"}))
        .collect();
    assert_eq!(out.records(), expected);
    // Page 1; page 2 refused with 403 and remaining 0, then given after the
    // reset (saying remaining 0 again); page 3 after that reset.
    requests(&out, 4);
    let pages: Vec<Option<String>> = api
        .seen()
        .iter()
        .map(|s| s.param("page").map(String::from))
        .collect();
    assert_eq!(
        pages,
        [None, Some("2".into()), Some("2".into()), Some("3".into())]
    );
    let arrivals = arrivals.lock().unwrap().clone();
    // Each wait lasted until the epoch second of its reset.
    let second = |i: usize| arrivals[i].1.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(second(2) > second(1), "{arrivals:?}");
    assert!(second(3) > second(2), "{arrivals:?}");
    assert!(
        arrivals[2].0 - arrivals[1].0 >= Duration::from_millis(900),
        "{arrivals:?}"
    );
}

#[test]
fn a_used_up_rate_limit_pauses_every_partition_of_the_run() {
    // Two repositories read at once: when one partition's answer says the
    // limit is used up, the other partition waits too.
    use std::sync::{Arc, Mutex};
    use std::time::{Instant, SystemTime};
    let log: Arc<Mutex<Vec<(Instant, String)>>> = Default::default();
    let reset_at: Arc<Mutex<Option<Instant>>> = Default::default();
    let (l, r) = (log.clone(), reset_at.clone());
    let api = TestApi::start(move |seen: &Seen| {
        let n = {
            let mut l = l.lock().unwrap();
            l.push((
                Instant::now(),
                seen.param("repo").unwrap_or_default().to_string(),
            ));
            l.len()
        };
        let page: usize = seen.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let repo = seen.param("repo").unwrap_or_default().to_string();
        let mut reply = apiconn_tests::api::Reply::json(200, &json!([{"id": page, "repo": repo}]));
        if page < 3 {
            let host = seen.header("host").unwrap();
            reply.headers.push((
                "Link".into(),
                format!(
                    "<http://{host}{}?repo={repo}&page={}>; rel=\"next\"",
                    seen.path,
                    page + 1
                ),
            ));
        }
        if n == 1 {
            // Used up until 2 s from now (the IETF field, a delta).
            *r.lock().unwrap() = Some(Instant::now() + Duration::from_secs(2));
            reply
                .headers
                .push(("RateLimit".into(), "\"default\";r=0;t=2".into()));
        }
        reply
    });
    let config = json!({
        "source": {"name": "two-repos", "url": api.url()},
        "read": {"path": "/issues", "paginate": {"type": "traverse", "param": "repo",
                 "values": ["a", "b"], "then": {"type": "link", "from": "header"}}}
    });
    let path = config_file(&config.to_string(), "json");
    let started = SystemTime::now();
    let out = run_with_env(
        &[
            "read",
            path.to_str().unwrap(),
            "--allow-private",
            "--concurrency",
            "2",
        ],
        &[],
    );
    ok(&out);
    let mut got: Vec<(String, i64)> = out
        .records()
        .iter()
        .map(|r| {
            (
                r["repo"].as_str().unwrap().to_string(),
                r["id"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let expected: Vec<(String, i64)> = ["a", "b"]
        .iter()
        .flat_map(|r| (1..=3).map(move |i| (r.to_string(), i)))
        .collect();
    assert_eq!(got, expected);
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 6);
    let reset = reset_at.lock().unwrap().unwrap();
    // Only the first request of each partition may come before the reset
    // (the other partition's may be on its way when the first answer
    // arrives); every later one, of either partition, waited for it.
    let before: Vec<_> = log
        .iter()
        .filter(|(at, _)| *at < reset - Duration::from_millis(50))
        .collect();
    assert!(
        before.len() <= 2,
        "requests before the reset: {before:?} (reset {reset:?})"
    );
    // Both partitions sent requests after it.
    for repo in ["a", "b"] {
        assert!(
            log.iter()
                .any(|(at, r)| r == repo && *at >= reset - Duration::from_millis(50)),
            "{log:?}"
        );
    }
    assert!(started.elapsed().unwrap() >= Duration::from_millis(1900));
}

mod django {
    use super::*;

    fn django() -> Django {
        Django::start(&DjangoOptions {
            open: true,
            customers: 25,
            ..DjangoOptions::default()
        })
    }

    fn names(out: &Run) -> Vec<String> {
        out.records()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn all() -> Vec<String> {
        (1..=25).map(|i| format!("Customer {i:03}")).collect()
    }

    #[test]
    fn the_three_pagination_classes_and_a_proxy_that_breaks_next_links() {
        let server = django();
        for (name, requests_made) in [
            ("drf-page-number", 3),
            ("drf-limit-offset", 3),
            ("drf-cursor", 3),
        ] {
            let out = read(&recipe(name, &server.url()), &[]);
            ok(&out);
            assert_eq!(names(&out), all(), "{name}");
            requests(&out, requests_made);
            let first = &out.records()[0];
            assert_eq!(first["id"], 1, "{name}");
            assert_eq!(first["address.city"], "Berlin", "{name}");
        }

        // Behind a proxy that sends Django a Host it does not listen on, its
        // next links name that host: followed as links they are refused by
        // the sandbox; read as the next URL's `page` parameter they work.
        let proxy = TestApi::start(shapes::proxy(
            format!("127.0.0.1:{}", server.port),
            "localhost:1",
        ));
        let out = read(&recipe("drf-behind-a-proxy", &proxy.url()), &[]);
        ok(&out);
        assert_eq!(names(&out), all());
        requests(&out, 3);
        let pages: Vec<Option<String>> = proxy
            .seen()
            .iter()
            .map(|s| s.param("page").map(String::from))
            .collect();
        assert_eq!(pages, [None, Some("2".into()), Some("3".into())]);
        let mut as_links = recipe("drf-behind-a-proxy", &proxy.url());
        as_links["read"]["paginate"] = json!({"type": "link", "from": "next"});
        let out = read(&as_links, &[]);
        assert_ne!(out.code, 0);
        assert!(out.stderr.contains("http://localhost:1"), "{}", out.stderr);
    }

    #[test]
    fn a_traverse_picks_a_field_out_of_a_list_of_objects() {
        let server = django();
        // The cities of the first five customers, each read as a partition.
        let config = json!({
            "source": {"name": "drf-cities", "url": server.url()},
            "read": {"path": "/api/page/customers/", "params": {"page_size": 100},
                     "records": "results", "flatten": {"arrays": "json"},
                     "fields": [{"name": "name"}, {"name": "city"}],
                     "paginate": {"type": "traverse", "param": "city",
                        "values_from": {"url": format!("{}/api/cursor/customers/?page_size=5", server.url()),
                                        "extract": "results[*].city"}}}
        });
        let out = read(&config, &[]);
        ok(&out);
        let cities = ["Berlin", "Paris", "Madrid", "Rome", "Vienna"];
        let expected: Vec<Value> = cities
            .iter()
            .enumerate()
            .flat_map(|(c, city)| {
                (1..=25)
                    .filter(move |i| (i - 1) % 5 == c)
                    .map(move |i| json!({"name": format!("Customer {i:03}"), "city": city}))
            })
            .collect();
        assert_eq!(out.records(), expected);
        requests(&out, 5);
    }
}
