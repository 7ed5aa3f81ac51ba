//! Incremental reads (README "Incremental reads"): `>=` with the boundary
//! de-duplicated by a primary key across runs, a lookback, an end value,
//! and date windows — against an events API on 127.0.0.1 that filters by
//! the values it is sent, with a state file between runs.

use apiconn_tests::api::{Reply, TestApi};
use apiconn_tests::bin::{Run, config_file, run};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

type Events = Arc<Mutex<Vec<Value>>>;

fn event(id: u64, at: &str) -> Value {
    json!({"id": id, "updated_at": at})
}

/// `/events?since=T[&until=U]`: the events with `since <= updated_at`
/// (and `< until`), in `updated_at, id` order, two a page with `page`.
fn events_api(events: Events) -> TestApi {
    TestApi::start(move |r| {
        let all = events.lock().unwrap().clone();
        let since = r.param("since").map(String::from);
        let until = r.param("until").map(String::from);
        let mut picked: Vec<Value> = all
            .into_iter()
            .filter(|e| {
                let at = e["updated_at"].as_str().unwrap();
                since.as_deref().is_none_or(|s| at >= s) && until.as_deref().is_none_or(|u| at < u)
            })
            .collect();
        picked.sort_by_key(|e| {
            (
                e["updated_at"].as_str().unwrap().to_string(),
                e["id"].as_u64(),
            )
        });
        match r.param("page") {
            None => Reply::json(200, &json!({"data": picked})),
            Some(p) => {
                let p: usize = p.parse().unwrap();
                let page: Vec<Value> = picked.iter().skip((p - 1) * 2).take(2).cloned().collect();
                let more = picked.len() > p * 2;
                Reply::json(200, &json!({"data": page, "has_more": more}))
            }
        }
    })
}

fn read(config: &Value, state: &std::path::Path, extra: &[&str]) -> Run {
    let path = config_file(&config.to_string(), "json");
    let mut args = vec![
        "read",
        path.to_str().unwrap(),
        "--allow-private",
        "--state",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// The value of `name` in each request the API saw since `from`.
/// The `id` of every record a run printed, in order.
fn record_ids(out: &Run) -> Vec<u64> {
    out.records()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

fn sent(api: &TestApi, from: usize, name: &str) -> Vec<Option<String>> {
    api.seen()[from..]
        .iter()
        .map(|s| s.param(name).map(String::from))
        .collect()
}

#[test]
fn records_that_share_the_boundary_value_are_neither_lost_nor_repeated() {
    let events: Events = Arc::new(Mutex::new(vec![
        event(1, "2024-01-01T00:00:00Z"),
        event(2, "2024-01-01T01:00:00Z"),
        event(3, "2024-01-01T02:00:00Z"),
        event(4, "2024-01-01T02:00:00Z"),
    ]));
    let api = events_api(events.clone());
    let config = json!({"source": {"name": "ev", "url": api.url()},
        "read": {"path": "/events", "records": "data",
                 "incremental": {"param": "since", "from_field": "updated_at",
                                 "start": "2024-01-01T00:00:00Z", "primary_key": "id"}}});
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let out = read(&config, &state, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        record_ids(&out),
        [1, 2, 3, 4],
        "`>=`: the start value itself is read"
    );
    assert_eq!(
        sent(&api, 0, "since"),
        [Some("2024-01-01T00:00:00Z".into())]
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["seen_max"], "2024-01-01T02:00:00Z");
    assert_eq!(saved["max_keys"], json!([3, 4]));

    // A late record with the same time as the last ones, and a newer one.
    events
        .lock()
        .unwrap()
        .push(event(5, "2024-01-01T02:00:00Z"));
    events
        .lock()
        .unwrap()
        .push(event(6, "2024-01-01T03:00:00Z"));
    let out = read(&config, &state, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        record_ids(&out),
        [5, 6],
        "3 and 4 were emitted before; 5 is not lost"
    );
    assert_eq!(
        sent(&api, 1, "since"),
        [Some("2024-01-01T02:00:00Z".into())]
    );

    // Nothing new: the boundary record 6 is not emitted again.
    let out = read(&config, &state, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(
        sent(&api, 2, "since"),
        [Some("2024-01-01T03:00:00Z".into())]
    );
    assert_eq!(api.seen().len(), 3);
}

#[test]
fn a_lookback_asks_from_earlier_and_reads_that_stretch_again() {
    let events: Events = Arc::new(Mutex::new(vec![
        event(1, "2024-01-01T00:00:00Z"),
        event(2, "2024-01-01T05:00:00Z"),
        event(3, "2024-01-01T06:00:00Z"),
    ]));
    let api = events_api(events.clone());
    let config = json!({"source": {"name": "ev", "url": api.url()},
        "read": {"path": "/events", "records": "data",
                 "incremental": {"param": "since", "from_field": "updated_at",
                                 "start": "2024-01-01T03:00:00Z", "lookback": "PT2H",
                                 "primary_key": "id"}}});
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let out = read(&config, &state, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ids = record_ids(&out);
    assert_eq!(ids, [2, 3]);
    assert_eq!(
        sent(&api, 0, "since"),
        [Some("2024-01-01T01:00:00Z".into())]
    );
    // A record that arrived late, within the lookback of the last value.
    events
        .lock()
        .unwrap()
        .push(event(4, "2024-01-01T04:30:00Z"));
    let out = read(&config, &state, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ids = record_ids(&out);
    assert_eq!(
        ids,
        [4, 2, 3],
        "the late record, and the lookback's stretch again"
    );
    assert_eq!(
        sent(&api, 1, "since"),
        [Some("2024-01-01T04:00:00Z".into())]
    );
}

#[test]
fn an_end_value_is_sent_and_newer_records_are_skipped() {
    let events: Events = Arc::new(Mutex::new(vec![
        event(1, "2024-01-01T00:00:00Z"),
        event(2, "2024-01-02T00:00:00Z"),
        event(3, "2024-01-03T00:00:00Z"),
    ]));
    let api = events_api(events);
    // The API does not know `to`: the records after `end` come back and are skipped.
    let config = json!({"source": {"name": "ev", "url": api.url()},
        "read": {"path": "/events", "records": "data",
                 "incremental": {"param": "since", "from_field": "updated_at",
                                 "start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z",
                                 "end_param": "to", "primary_key": "id"}}});
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let out = read(&config, &state, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ids = record_ids(&out);
    assert_eq!(ids, [1, 2]);
    assert_eq!(sent(&api, 0, "to"), [Some("2024-01-02T00:00:00Z".into())]);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        saved["seen_max"], "2024-01-02T00:00:00Z",
        "the end caps the cursor"
    );
}

fn windowed(api: &TestApi, end: Option<&str>) -> Value {
    let mut inc = json!({"param": "since", "end_param": "until", "from_field": "updated_at",
                         "start": "2024-01-01", "window": "1d", "primary_key": "id"});
    if let Some(end) = end {
        inc["end"] = json!(end);
    }
    json!({"source": {"name": "ev", "url": api.url()},
        "read": {"path": "/events", "records": "data",
                 "paginate": {"type": "page", "param": "page", "stop": ["response.has_more == false"]},
                 "incremental": inc}})
}

fn window_events() -> Events {
    Arc::new(Mutex::new(vec![
        event(1, "2024-01-01T10:00:00Z"),
        event(2, "2024-01-02T01:00:00Z"),
        event(3, "2024-01-02T02:00:00Z"),
        event(4, "2024-01-02T03:00:00Z"),
        event(5, "2024-01-03T23:00:00Z"),
        event(6, "2024-01-05T00:00:00Z"),
    ]))
}

#[test]
fn date_windows_step_through_the_range_each_with_its_pages_and_checkpoint() {
    // examples/recipes/incremental-windows.yaml: `windowed(api, Some("2024-01-04"))`.
    let api = events_api(window_events());
    let recipe = std::fs::read_to_string(
        apiconn_tests::bin::root().join("examples/recipes/incremental-windows.yaml"),
    )
    .unwrap()
    .replace("http://127.0.0.1:8080", &api.url());
    let recipe_path = config_file(&recipe, "yaml");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let read_recipe = || {
        run(&[
            "read",
            recipe_path.to_str().unwrap(),
            "--allow-private",
            "--state",
            state.to_str().unwrap(),
        ])
    };
    let out = read_recipe();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ids = record_ids(&out);
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    // Day 2 has three events: two pages.
    let windows: Vec<(Option<String>, Option<String>, Option<String>)> = api
        .seen()
        .iter()
        .map(|s| {
            (
                s.param("since").map(String::from),
                s.param("until").map(String::from),
                s.param("page").map(String::from),
            )
        })
        .collect();
    let w = |a: &str, b: &str, p: &str| {
        (
            Some(a.to_string()),
            Some(b.to_string()),
            Some(p.to_string()),
        )
    };
    assert_eq!(
        windows,
        [
            w("2024-01-01", "2024-01-02", "1"),
            w("2024-01-02", "2024-01-03", "1"),
            w("2024-01-02", "2024-01-03", "2"),
            w("2024-01-03", "2024-01-04", "1"),
        ]
    );
    assert!(
        out.stderr.contains("read 5 records in 4 requests"),
        "{}",
        out.stderr
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["done"], true);
    assert_eq!(saved["range_end"], "2024-01-04");
    // The range is read: the next run asks for nothing.
    let out = read_recipe();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(api.seen().len(), 4);
}

#[test]
fn a_window_checkpoint_resumes_in_its_window() {
    let api = events_api(window_events());
    let config = windowed(&api, Some("2024-01-04"));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    // Where the read stood after the first page of the second window.
    std::fs::write(
        &state,
        json!({"done": false, "position": {"number": 2}, "loop_requests": 1,
               "since": "2024-01-01", "seen_max": "2024-01-02T02:00:00Z", "max_keys": [3],
               "window": ["2024-01-02", "2024-01-03"], "range_end": "2024-01-04"})
        .to_string(),
    )
    .unwrap();
    let out = read(&config, &state, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ids = record_ids(&out);
    assert_eq!(ids, [4, 5]);
    assert_eq!(
        sent(&api, 0, "since"),
        [Some("2024-01-02".into()), Some("2024-01-03".into())]
    );
}

#[test]
fn windows_are_the_partitions_of_a_concurrent_read() {
    let api = events_api(window_events());
    let config = windowed(&api, Some("2024-01-04"));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let out = read(&config, &state, &["--concurrency", "3"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut ids = record_ids(&out);
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert_eq!(api.seen().len(), 4);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["partitions"].as_object().unwrap().len(), 3);
}

#[test]
fn epoch_second_windows_end_with_a_shorter_last_window() {
    // Epoch seconds: windows of a day from 2024-01-01, the last one an hour.
    let api = TestApi::start(|r| {
        let since: i64 = r.param("from").unwrap().parse().unwrap();
        let until: i64 = r.param("to").unwrap().parse().unwrap();
        assert!(until - since <= 86_400);
        Reply::json(200, &json!([{"at": since}]))
    });
    let config = json!({"source": {"name": "ev", "url": api.url()},
        "read": {"path": "/t",
                 "incremental": {"param": "from", "end_param": "to", "from_field": "at",
                                 "start": 1_704_067_200, "end": 1_704_067_200 + 3 * 86_400 + 3600,
                                 "window": "P1D"}}});
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let out = read(&config, &state, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let froms: Vec<Option<String>> = sent(&api, 0, "from");
    let tos: Vec<Option<String>> = sent(&api, 0, "to");
    let day = |n: i64| Some((1_704_067_200 + n * 86_400).to_string());
    assert_eq!(froms, [day(0), day(1), day(2), day(3)]);
    assert_eq!(
        tos,
        [
            day(1),
            day(2),
            day(3),
            Some((1_704_067_200 + 3 * 86_400 + 3600).to_string())
        ]
    );
}
