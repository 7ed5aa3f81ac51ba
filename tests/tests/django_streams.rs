//! A parent and a child stream against Django REST framework
//! (tests/peers/django): the customers (PageNumberPagination, next links)
//! and `/api/customers/{id}/invoices/` of each, every request with the
//! source's JWT bearer token — the parent too, and with its pagination.

use apiconn_tests::bin::{Run, config_file, run_with_env};
use apiconn_tests::peers::{Django, DjangoOptions};
use serde_json::{Value, json};
use std::io::{Read, Write};

/// A simplejwt access token from `/api/token/`.
fn jwt(server: &Django, user: &str, password: &str) -> String {
    let body = json!({"username": user, "password": password}).to_string();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        s,
        "POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.port,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(json).unwrap();
    v["access"].as_str().unwrap().to_string()
}

fn config(server: &Django) -> Value {
    json!({
        "source": {"name": "django", "url": server.url(),
                   "auth": {"type": "bearer", "token": "${env:APICONN_SECRET_JWT}"}},
        "streams": {
            "customers": {"path": "/api/page/customers/", "params": {"page_size": 2},
                          "records": "results", "paginate": {"type": "link", "from": "next"},
                          "flatten": {"arrays": "json"},
                          "fields": [{"name": "id", "type": "long"}, {"name": "name"}]},
            "invoices": {"parent": {"stream": "customers", "fields": {"customer_id": "id"}},
                         "path": "/api/customers/{customer_id}/invoices/", "params": {"page_size": 2},
                         "records": "results", "paginate": {"type": "link", "from": "next"}}
        }
    })
}

fn read(config: &Value, token: &str, extra: &[&str]) -> Run {
    let path = config_file(&config.to_string(), "json");
    let mut args = vec![
        "read",
        path.to_str().unwrap(),
        "--allow-private",
        "--allow-env",
        "APICONN_SECRET_JWT",
    ];
    args.extend_from_slice(extra);
    run_with_env(&args, &[("APICONN_SECRET_JWT", token)])
}

fn invoices() -> Vec<Value> {
    let mut out = Vec::new();
    let mut id = 0;
    for i in 1..=3 {
        for j in 1..=3 {
            id += 1;
            out.push(
                json!({"id": id, "customer": i, "number": format!("INV-{i:03}-{j:02}"),
                            "amount": format!("{}.50", i * 10 + j), "paid": j % 2 == 0,
                            "customer_id": i}),
            );
        }
    }
    out
}

#[test]
fn invoices_of_every_customer_with_the_parent_read_authenticated_and_paginated() {
    let options = DjangoOptions {
        customers: 3,
        invoices: 3,
        ..DjangoOptions::default()
    };
    let server = Django::start(&options);
    let token = jwt(&server, &options.user, &options.password);
    let out = read(&config(&server), &token, &["--stream", "invoices"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records(), invoices());
    // customers: 2 pages of 2; invoices: 2 pages of each of 3 customers.
    assert!(
        out.stderr.contains("read 9 records in 8 requests"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(&token));

    // Both streams: the customers, then the invoices (the parent read again).
    let out = read(&config(&server), &token, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = out.records();
    let customers: Vec<Value> = (1..=3)
        .map(|i| json!({"_stream": "customers", "id": i, "name": format!("Customer {i:03}")}))
        .collect();
    assert_eq!(records[..3], customers[..]);
    let tagged: Vec<Value> = invoices()
        .into_iter()
        .map(|r| {
            let mut t = serde_json::Map::new();
            t.insert("_stream".into(), json!("invoices"));
            t.extend(r.as_object().unwrap().clone());
            Value::Object(t)
        })
        .collect();
    assert_eq!(records[3..], tagged[..]);
    assert!(
        out.stderr.contains("read 12 records in 10 requests"),
        "{}",
        out.stderr
    );

    // Without the token the parent's first page is refused.
    let out = read(&config(&server), "not-a-jwt", &["--stream", "invoices"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("401"), "{}", out.stderr);
}
