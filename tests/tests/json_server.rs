//! `apiconn read examples/json-server.json` against a real npm json-server
//! prints exactly the records of its db file, flattened, in order.

use apiconn_tests::bin::{config_file, root, run};
use apiconn_tests::flat::flatten;
use apiconn_tests::peers::JsonServer;
use serde_json::Value;

#[test]
fn reads_every_record_of_the_db_flattened() {
    let db_path = root().join("examples/json-server/db.json");
    let server = JsonServer::start(&db_path);
    let mut config: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/json-server.json")).unwrap(),
    )
    .unwrap();
    config["source"]["url"] = server.url().into();
    let path = config_file(&config.to_string(), "json");

    let out = run(&["read", path.to_str().unwrap(), "--allow-private"]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let db: Value = serde_json::from_str(&std::fs::read_to_string(&db_path).unwrap()).unwrap();
    let expected: Vec<Value> = db["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(flatten)
        .collect();
    assert_eq!(expected.len(), 20);
    assert_eq!(out.records(), expected);
    // Keys keep the order of the source, nested ones dotted in place.
    let first_line = out.stdout.lines().next().unwrap();
    assert!(
        first_line.starts_with(r#"{"id":1,"name":"User 1","username":"user1","email":"user1@example.org","address.city":"Berlin","address.country":"DE","address.geo.lat":52.52"#),
        "{first_line}"
    );
    assert!(
        out.stderr.contains("read 20 records in 1 requests"),
        "{}",
        out.stderr
    );
}
