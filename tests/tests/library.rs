//! The library API that Rust services embed: a stream of record batches
//! with checkpoints, and a sink.

use apiconn::Connector;
use apiconn::run::Options;
use apiconn_tests::flat::ids;
use apiconn_tests::peers::JsonServer;
use futures::StreamExt;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_of_batches_that_resumes_and_a_sink() {
    let items: Vec<Value> = (1..=25).map(|i| json!({"id": i})).collect();
    let server = JsonServer::serve(&json!({"items": items, "copies": []}));
    let options = Options {
        allow_private: true,
        ..Options::default()
    };
    let reader = Connector::with_options(
        json!({"source": {"name": "lib", "url": server.url()},
               "read": {"path": "/items", "params": {"_limit": 10}, "paginate": {"type": "page", "param": "_page"}}}),
        options.clone(),
    )
    .unwrap();
    let batches: Vec<_> = reader.read(None).collect().await;
    let batches: Vec<_> = batches.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        batches.iter().map(|b| b.count).collect::<Vec<_>>(),
        vec![10, 10, 5, 0]
    );
    let all: Vec<i64> = batches.iter().flat_map(|b| ids(&b.records)).collect();
    assert_eq!(all, (1..=25).collect::<Vec<_>>());

    // From the first batch's checkpoint: the rest, once.
    let rest: Vec<i64> = reader
        .read(Some(batches[0].checkpoint.clone()))
        .map(|b| ids(&b.unwrap().records))
        .concat()
        .await;
    assert_eq!(rest, (11..=25).collect::<Vec<_>>());

    let writer = Connector::with_options(
        json!({"source": {"name": "lib", "url": server.url()}, "write": {"path": "/copies"}}),
        options,
    )
    .unwrap();
    let mut sink = writer.sink().await.unwrap();
    let report = sink.write(&batches[0].records, false).await.unwrap();
    assert_eq!(report.sent, 10);
    assert!(report.failed.is_empty() && report.rejected.is_empty());
    let finished = sink.finish().await.unwrap();
    assert_eq!(finished.sent, 0);
}
