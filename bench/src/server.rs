//! The API under test: pre-generated pages of nested records served from
//! memory, so the server is never what is measured.
//!
//! `GET /records?page=P&pages=T` answers `{"page":P,"total_pages":T,"data":[…]}`
//! with the records of blob `(P-1) % blobs`; a page past `T` has no data.
//! `POST /records` takes a JSON array and counts its elements.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One page's `data` arrays, as bytes.
pub struct Dataset {
    pub blobs: Vec<Bytes>,
    pub records_per_page: usize,
}

/// A small deterministic generator (xorshift), so every run serves the same bytes.
pub struct Rng(pub u64);

impl Rng {
    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.draw() % from.len() as u64) as usize]
    }
}

const CITIES: &[&str] = &["Lisbon", "Osaka", "Nairobi", "Quito", "Tallinn", "Hobart"];
const TAGS: &[&str] = &["alpha", "beta", "gamma", "delta", "ops", "vip"];
const DEPARTMENTS: &[&str] = &["Sales", "Research", "Support", "Finance"];

/// Record `id`: about 400 bytes of JSON, three levels deep, one array.
pub fn record(id: u64, rng: &mut Rng) -> serde_json::Value {
    let city = rng.pick(CITIES);
    serde_json::json!({
        "id": id,
        "uuid": format!("{:016x}{:016x}", rng.draw(), rng.draw()),
        "name": format!("User {id}"),
        "email": format!("user.{id}@example.com"),
        "active": !rng.draw().is_multiple_of(3),
        "score": (rng.draw() % 100_000) as f64 / 100.0,
        "created_at": format!("2024-{:02}-{:02}T{:02}:{:02}:00Z",
            1 + rng.draw() % 12, 1 + rng.draw() % 28, rng.draw() % 24, rng.draw() % 60),
        "address": {
            "street": format!("{} Harbour Road", 1 + rng.draw() % 999),
            "city": city,
            "zip": format!("{:05}", rng.draw() % 100_000),
            "geo": {"lat": (rng.draw() % 18_000) as f64 / 100.0 - 90.0,
                    "lng": (rng.draw() % 36_000) as f64 / 100.0 - 180.0}
        },
        "company": {
            "name": format!("{city} Trading {}", rng.draw() % 50),
            "department": {"name": rng.pick(DEPARTMENTS), "code": format!("D{:03}", rng.draw() % 1000)}
        },
        "tags": [rng.pick(TAGS), rng.pick(TAGS)],
        "metrics": {"visits": rng.draw() % 10_000, "purchases": rng.draw() % 500,
                    "last_seen": format!("2024-11-{:02}", 1 + rng.draw() % 28)}
    })
}

/// Record `id` of the second dataset: about 370 bytes of JSON, three
/// levels of objects, no array.
pub fn plain_record(id: u64, rng: &mut Rng) -> serde_json::Value {
    let city = rng.pick(CITIES);
    serde_json::json!({
        "id": id,
        "name": format!("User {id}"),
        "email": format!("user.{id}@example.com"),
        "active": !rng.draw().is_multiple_of(3),
        "score": (rng.draw() % 100_000) as f64 / 100.0,
        "created_at": format!("2024-{:02}-{:02}T{:02}:{:02}:00Z",
            1 + rng.draw() % 12, 1 + rng.draw() % 28, rng.draw() % 24, rng.draw() % 60),
        "address": {
            "street": format!("{} Harbour Road", 1 + rng.draw() % 999),
            "city": city,
            "zip": format!("{:05}", rng.draw() % 100_000),
            "geo": {"lat": (rng.draw() % 18_000) as f64 / 100.0 - 90.0,
                    "lng": (rng.draw() % 36_000) as f64 / 100.0 - 180.0}
        },
        "company": {
            "name": format!("{city} Trading {}", rng.draw() % 50),
            "department": {"name": rng.pick(DEPARTMENTS), "code": format!("D{:03}", rng.draw() % 1000)}
        },
        "metrics": {"visits": rng.draw() % 10_000, "purchases": rng.draw() % 500,
                    "last_seen": format!("2024-11-{:02}", 1 + rng.draw() % 28)}
    })
}

/// Which records a dataset has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// [`record`]: nested, one array each.
    WithArrays,
    /// [`plain_record`]: nested objects, no array.
    NoArrays,
}

impl Dataset {
    /// `blobs` distinct pages of `records_per_page` records each.
    pub fn generate(blobs: usize, records_per_page: usize) -> Dataset {
        Dataset::generate_shaped(Shape::WithArrays, blobs, records_per_page)
    }

    /// [`Dataset::generate`], with records of `shape`.
    pub fn generate_shaped(shape: Shape, blobs: usize, records_per_page: usize) -> Dataset {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let make = match shape {
            Shape::WithArrays => record,
            Shape::NoArrays => plain_record,
        };
        let blobs = (0..blobs)
            .map(|b| {
                let records: Vec<_> = (0..records_per_page)
                    .map(|i| make((b * records_per_page + i + 1) as u64, &mut rng))
                    .collect();
                Bytes::from(serde_json::to_vec(&records).expect("records are JSON"))
            })
            .collect();
        Dataset {
            blobs,
            records_per_page,
        }
    }

    /// The head and the records of page `page` (1-based) of a `pages`-page
    /// read; a closing `}` follows them.
    fn parts(&self, page: u64, pages: u64) -> (String, &[u8]) {
        let head = format!(r#"{{"page":{page},"total_pages":{pages},"data":"#);
        let data = if page >= 1 && page <= pages {
            &self.blobs[((page - 1) % self.blobs.len() as u64) as usize][..]
        } else {
            b"[]"
        };
        (head, data)
    }

    /// The size of a page.
    pub fn page_len(&self, page: u64, pages: u64) -> usize {
        let (head, data) = self.parts(page, pages);
        head.len() + data.len() + 1
    }

    /// A page: one copy of a few hundred KB, tens of microseconds next to
    /// the milliseconds a client spends on it.
    pub fn page(&self, page: u64, pages: u64) -> Bytes {
        let (head, data) = self.parts(page, pages);
        let mut body = bytes::BytesMut::with_capacity(head.len() + data.len() + 1);
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"}");
        body.freeze()
    }
}

/// A running server; it stops when dropped.
pub struct Server {
    pub port: u16,
    /// Records received by `POST /records`.
    pub inserted: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn start(data: Arc<Dataset>) -> anyhow::Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-server")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let port = listener.local_addr()?.port();
        let inserted = Arc::new(AtomicU64::new(0));
        let counter = inserted.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let data = data.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(req, data.clone(), counter.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Server {
            port,
            inserted,
            _runtime: runtime,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn query_number(query: &str, name: &str) -> Option<u64> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.parse().ok())?
    })
}

async fn answer(
    req: Request<Incoming>,
    data: Arc<Dataset>,
    inserted: Arc<AtomicU64>,
) -> Result<Response<Body>, Infallible> {
    let reply = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)).boxed())
            .expect("a valid response")
    };
    if req.uri().path() != "/records" {
        return Ok(reply(404, r#"{"error":"not found"}"#.into()));
    }
    if req.method() == hyper::Method::POST {
        let Ok(body) = req.into_body().collect().await else {
            return Ok(reply(400, r#"{"error":"body"}"#.into()));
        };
        let body = body.to_bytes();
        return Ok(
            match serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&body) {
                Ok(rows) => {
                    inserted.fetch_add(rows.len() as u64, Ordering::Relaxed);
                    reply(201, format!(r#"{{"inserted":{}}}"#, rows.len()))
                }
                Err(e) => reply(400, serde_json::json!({"error": e.to_string()}).to_string()),
            },
        );
    }
    let query = req.uri().query().unwrap_or("");
    let page = query_number(query, "page").unwrap_or(1);
    let pages = query_number(query, "pages").unwrap_or(data.blobs.len() as u64);
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(data.page(page, pages)).boxed())
        .expect("a valid response"))
}
