//! The bundled demo API: a small CRM on 127.0.0.1 with nested customer
//! records behind a bearer token, for `apiconn demo`.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// The example config the demo runs (its `source.url` is replaced by the
/// demo server's address).
pub const CONFIG: &str = include_str!("../../examples/demo.json");
pub const TOKEN: &str = "demo-token";

const CITIES: [(&str, &str); 5] = [
    ("Hangzhou", "CN"),
    ("Berlin", "DE"),
    ("Lisbon", "PT"),
    ("Austin", "US"),
    ("Osaka", "JP"),
];

/// The demo's customers: nested objects, as real CRMs return them.
pub fn customers() -> Vec<Value> {
    (1..=12)
        .map(|id: u32| {
            let (city, country) = CITIES[id as usize % CITIES.len()];
            let tier = ["free", "team", "enterprise"][id as usize % 3];
            json!({
                "id": id,
                "name": format!("Customer {id:02}"),
                "status": if id.is_multiple_of(4) { "paused" } else { "active" },
                "contact": { "email": format!("c{id}@example.com"), "phone": format!("+1-555-01{id:02}") },
                "address": { "city": city, "country": country },
                "plan": { "tier": tier, "seats": id * 5 },
                "created_at": format!("2024-{:02}-{:02}T09:00:00Z", id % 12 + 1, id + 10),
            })
        })
        .collect()
}

async fn handle(
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let reply = |status: StatusCode, body: Value| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("static response"))
    };
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"));
    if !authorized {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "missing or wrong bearer token"}),
        );
    }
    if req.uri().path() != "/v1/customers" {
        return reply(StatusCode::NOT_FOUND, json!({"error": "no such endpoint"}));
    }
    let status = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.into_owned());
    let rows: Vec<Value> = customers()
        .into_iter()
        .filter(|c| status.as_deref().is_none_or(|s| c["status"] == s))
        .collect();
    reply(
        StatusCode::OK,
        json!({"code": 0, "data": {"total": rows.len(), "customers": rows}}),
    )
}

/// Starts the demo API on a free port of 127.0.0.1; it runs until the
/// process ends.
pub async fn serve() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, hyper::service::service_fn(handle))
                    .await;
            });
        }
    });
    Ok(addr)
}
