//! A fault-injecting API on 127.0.0.1, raw HTTP/1.1 so it can misbehave the
//! ways real servers and proxies do: failure statuses, 429 with
//! `Retry-After` in seconds or as a date, a connection cut mid-body, a
//! truncated JSON body, stalls before the first byte or mid-body, an HTML
//! page instead of JSON, or the previous page served again.
//!
//! It serves `GET /items?page=N&size=S` over `total` records `{"id": i}`
//! (1-based pages; an empty page after the last), and `POST /store`, which
//! keeps each JSON array body once per `Idempotency-Key`. Which requests
//! fail is decided by a seeded generator: deterministic for a seed.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Status(u16),
    TooManySeconds,
    TooManyDate,
    ResetMidBody,
    TruncatedJson,
    StallFirstByte,
    StallMidBody,
    Html,
    PageTwice,
}

pub const ALL: [Fault; 11] = [
    Fault::Status(500),
    Fault::Status(502),
    Fault::Status(503),
    Fault::TooManySeconds,
    Fault::TooManyDate,
    Fault::ResetMidBody,
    Fault::TruncatedJson,
    Fault::StallFirstByte,
    Fault::StallMidBody,
    Fault::Html,
    Fault::PageTwice,
];

/// How long a stall lasts: longer than the tests' `timeout_ms`.
pub const STALL: Duration = Duration::from_millis(1500);

struct Shared {
    faults: Vec<Fault>,
    /// Faults per thousand requests.
    rate: u64,
    seed: u64,
    requests: u64,
    faulted: u64,
    stored: HashMap<i64, serde_json::Value>,
    keys: HashSet<String>,
    duplicates: u64,
}

pub struct FaultyApi {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
}

impl FaultyApi {
    /// `rate` faults per thousand requests, drawn from `faults`.
    pub fn start(total: u64, faults: &[Fault], rate: u64, seed: u64) -> FaultyApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared {
            faults: faults.to_vec(),
            rate,
            seed,
            requests: 0,
            faulted: 0,
            stored: HashMap::new(),
            keys: HashSet::new(),
            duplicates: 0,
        }));
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, total, &s);
                });
            }
        });
        FaultyApi { port, shared }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops injecting faults.
    pub fn heal(&self) {
        self.shared.lock().unwrap().rate = 0;
    }

    /// (requests, faults injected).
    pub fn counts(&self) -> (u64, u64) {
        let s = self.shared.lock().unwrap();
        (s.requests, s.faulted)
    }

    /// Stored records by id, and how many retried duplicates were dropped.
    pub fn stored(&self) -> (HashMap<i64, serde_json::Value>, u64) {
        let s = self.shared.lock().unwrap();
        (s.stored.clone(), s.duplicates)
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn page_body(total: u64, page: u64, size: u64) -> String {
    let first = (page.max(1) - 1) * size + 1;
    let items: Vec<String> = (first..=total.min(first + size - 1))
        .map(|i| format!("{{\"id\":{i}}}"))
        .collect();
    format!("{{\"items\":[{}]}}", items.join(","))
}

fn serve(mut stream: TcpStream, total: u64, shared: &Mutex<Shared>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = String::new();
    let mut content_length = 0usize;
    let mut key = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("idempotency-key:") {
            key = Some(line[16..].trim().to_string());
        }
        head.push_str(&line);
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let url = url::Url::parse(&format!("http://x{target}")).unwrap();
    let param = |n: &str| {
        url.query_pairs()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };

    let fault = {
        let mut s = shared.lock().unwrap();
        s.requests += 1;
        let draw = splitmix(s.seed ^ s.requests);
        let fault = (draw % 1000 < s.rate && !s.faults.is_empty())
            .then(|| s.faults[(draw >> 20) as usize % s.faults.len()]);
        if fault.is_some() {
            s.faulted += 1;
        }
        fault
    };

    let mut answer = match url.path() {
        "/items" => {
            let (page, size) = (param("page").unwrap_or(1), param("size").unwrap_or(100));
            let shown = if fault == Some(Fault::PageTwice) && page > 1 {
                page - 1
            } else {
                page
            };
            page_body(total, shown, size)
        }
        "/store" => {
            let mut s = shared.lock().unwrap();
            let fresh = key.as_ref().is_none_or(|k| s.keys.insert(k.clone()));
            if fresh {
                let rows: Vec<serde_json::Value> =
                    serde_json::from_slice(&body).unwrap_or_default();
                for r in rows {
                    let id = r["id"].as_i64().unwrap_or(-1);
                    s.stored.insert(id, r);
                }
            } else {
                s.duplicates += 1;
            }
            // The work is done before any fault: a lost answer, as in life.
            "{\"ok\":true}".to_string()
        }
        _ => "{\"error\":\"no such path\"}".to_string(),
    };
    let mut status = 200;
    let mut extra = String::new();
    let mut content_type = "application/json";
    match fault {
        None | Some(Fault::PageTwice) => {}
        Some(Fault::Status(code)) => {
            status = code;
            answer = "{\"error\":\"injected\"}".into();
        }
        Some(Fault::TooManySeconds) => {
            status = 429;
            extra = "retry-after: 1\r\n".into();
        }
        Some(Fault::TooManyDate) => {
            status = 429;
            let at = std::time::SystemTime::now() + Duration::from_secs(2);
            extra = format!("retry-after: {}\r\n", httpdate::fmt_http_date(at));
        }
        Some(Fault::Html) => {
            content_type = "text/html";
            answer = "<html><body><h1>502 Bad Gateway</h1></body></html>".into();
        }
        Some(Fault::TruncatedJson) => {
            answer.truncate(answer.len() / 2);
        }
        Some(Fault::StallFirstByte) => {
            std::thread::sleep(STALL);
            return Ok(());
        }
        Some(Fault::ResetMidBody) | Some(Fault::StallMidBody) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                answer.len()
            );
            stream.write_all(head.as_bytes())?;
            stream.write_all(&answer.as_bytes()[..answer.len() / 2])?;
            stream.flush()?;
            if fault == Some(Fault::StallMidBody) {
                std::thread::sleep(STALL);
            }
            return Ok(());
        }
    }
    let reason = match status {
        200 => "OK",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
        answer.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(answer.as_bytes())?;
    stream.flush()
}
