//! The shapes of real APIs, played by [`TestApi`] handlers: Stripe,
//! Elasticsearch, GraphQL, Zendesk, Salesforce and GitHub, each serving the
//! same [`records`] the way that API pages through them, with its own small
//! page size (so the recipes in `examples/recipes/` keep their real page
//! sizes and still page here). Each handler refuses a request that is not
//! the shape the API expects (wrong auth, missing or unknown cursor).
//!
//! Also a reverse proxy in front of another server that sends it a wrong
//! `Host`, as nginx's default `proxy_set_header Host $proxy_host` does, so
//! the server's next links name a host the client cannot reach.

use crate::api::{Reply, Seen};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How many records every shape serves.
pub const TOTAL: usize = 7;

/// The records: `id` 1..=7 with a name and a creation time.
pub fn records() -> Vec<Value> {
    (1..=TOTAL)
        .map(|i| {
            json!({"id": i, "name": format!("Customer {i}"),
                   "created": format!("2024-01-0{i}T00:00:00Z")})
        })
        .collect()
}

fn refuse(status: u16, why: &str) -> Reply {
    Reply::json(status, &json!({"error": why}))
}

fn with_header(mut reply: Reply, name: &str, value: String) -> Reply {
    reply.headers.push((name.into(), value));
    reply
}

/// Stripe's list API: `GET /v1/customers?limit=N&starting_after=ID`,
/// `{"object": "list", "data": [...], "has_more": bool}`, at most 3 per page.
pub fn stripe(key: &'static str) -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |seen| {
        if seen.header("authorization") != Some(&format!("Bearer {key}")) {
            return refuse(401, "Invalid API Key provided");
        }
        if seen.method != "GET" || seen.path != "/v1/customers" {
            return refuse(404, "Unrecognized request URL");
        }
        let limit: usize = seen
            .param("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(10);
        let all: Vec<Value> = records()
            .into_iter()
            .map(|r| {
                json!({"id": format!("cus_{}", r["id"]), "object": "customer",
                            "name": r["name"], "metadata": {"tier": "gold"}})
            })
            .collect();
        let from = match seen.param("starting_after") {
            None => 0,
            Some(id) => match all.iter().position(|r| r["id"] == id) {
                Some(i) => i + 1,
                None => return refuse(400, "No such customer"),
            },
        };
        let page: Vec<Value> = all.iter().skip(from).take(limit.min(3)).cloned().collect();
        let has_more = from + page.len() < all.len();
        Reply::json(
            200,
            &json!({"object": "list", "url": "/v1/customers", "has_more": has_more, "data": page}),
        )
    }
}

/// Elasticsearch `POST /customers/_search` with `search_after`: hits sorted
/// by `created` then `_id`, each with its `sort` array, at most 3 per page.
pub fn elasticsearch() -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |seen| {
        if seen.method != "POST" || seen.path != "/customers/_search" {
            return refuse(405, "only POST /customers/_search");
        }
        let body = seen.body_json();
        let expected_sort = json!([{"created": "asc"}, {"_id": "asc"}]);
        if body["sort"] != expected_sort || !body["query"]["range"]["created"]["lte"].is_string() {
            return refuse(400, "query and sort are not the expected ones");
        }
        let size = body["size"].as_u64().unwrap_or(10) as usize;
        let hits: Vec<Value> = records()
            .into_iter()
            .map(|r| {
                let id = r["id"].to_string();
                let created = r["created"].as_str().unwrap().to_string();
                let millis = 1_704_067_200_000i64 + (r["id"].as_i64().unwrap() - 1) * 86_400_000;
                json!({"_index": "customers", "_id": id, "_score": null,
                       "_source": {"name": r["name"], "created": created},
                       "sort": [millis, id]})
            })
            .collect();
        let from = match &body["search_after"] {
            Value::Null => 0,
            after => match hits.iter().position(|h| &h["sort"] == after) {
                Some(i) => i + 1,
                None => return refuse(400, "search_after matches no hit"),
            },
        };
        let page: Vec<Value> = hits.iter().skip(from).take(size.min(3)).cloned().collect();
        Reply::json(
            200,
            &json!({"took": 1, "timed_out": false,
                    "hits": {"total": {"value": TOTAL, "relation": "eq"}, "hits": page}}),
        )
    }
}

/// A GraphQL connection: `POST /graphql` with `variables.first` and
/// `variables.after`; `nodes` and `pageInfo { endCursor hasNextPage }`, at
/// most 3 per page.
pub fn graphql() -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |seen| {
        if seen.method != "POST" || seen.path != "/graphql" {
            return refuse(405, "only POST /graphql");
        }
        let body = seen.body_json();
        if !body["query"]
            .as_str()
            .is_some_and(|q| q.contains("pageInfo"))
        {
            return Reply::json(200, &json!({"errors": [{"message": "no query"}]}));
        }
        let first = body["variables"]["first"].as_u64().unwrap_or(10) as usize;
        let from = match &body["variables"]["after"] {
            Value::Null => 0,
            Value::String(c) => match c.strip_prefix("cursor:").and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return Reply::json(200, &json!({"errors": [{"message": "bad cursor"}]})),
            },
            _ => return Reply::json(200, &json!({"errors": [{"message": "bad cursor"}]})),
        };
        let page: Vec<Value> = records()
            .into_iter()
            .skip(from)
            .take(first.min(3))
            .collect();
        let end = from + page.len();
        Reply::json(
            200,
            &json!({"data": {"customers": {"nodes": page, "pageInfo": {
                "endCursor": format!("cursor:{end}"), "hasNextPage": end < TOTAL}}}}),
        )
    }
}

/// Zendesk's cursor pagination: `GET /api/v2/tickets.json?page[size]=N
/// &page[after]=C`, `meta.has_more`, `meta.after_cursor`, `links.next`, at
/// most 3 per page; HTTP Basic `email/token:TOKEN`.
pub fn zendesk(basic: &'static str) -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |seen| {
        if seen.header("authorization") != Some(&format!("Basic {basic}")) {
            return refuse(401, "Couldn't authenticate you");
        }
        if seen.path != "/api/v2/tickets.json" {
            return refuse(404, "InvalidEndpoint");
        }
        let size: usize = seen
            .param("page[size]")
            .and_then(|s| s.parse().ok())
            .unwrap_or(100);
        let from = match seen.param("page[after]") {
            None => 0,
            Some(c) => match c.strip_prefix("aCursor").and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return refuse(400, "invalid cursor"),
            },
        };
        let page: Vec<Value> = records()
            .into_iter()
            .skip(from)
            .take(size.min(3))
            .map(|r| json!({"id": r["id"], "subject": r["name"], "status": "open"}))
            .collect();
        let end = from + page.len();
        let has_more = end < TOTAL;
        let host = seen.header("host").unwrap_or("example.zendesk.com");
        Reply::json(
            200,
            &json!({"tickets": page,
                    "meta": {"has_more": has_more, "after_cursor": format!("aCursor{end}"),
                             "before_cursor": format!("bCursor{from}")},
                    "links": {"next": has_more.then(|| format!(
                        "https://{host}/api/v2/tickets.json?page%5Bafter%5D=aCursor{end}&page%5Bsize%5D={size}")),
                              "prev": null}}),
        )
    }
}

/// Salesforce SOQL: `GET /services/data/v59.0/query?q=...` gives 3 records,
/// `done: false` and a relative `nextRecordsUrl`; the last batch has
/// `done: true` and no `nextRecordsUrl`.
pub fn salesforce(token: &'static str) -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |seen| {
        if seen.header("authorization") != Some(&format!("Bearer {token}")) {
            return Reply::json(
                401,
                &json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
            );
        }
        let from = if seen.path == "/services/data/v59.0/query" {
            if !seen
                .param("q")
                .is_some_and(|q| q.starts_with("SELECT Id, Name FROM Account"))
            {
                return Reply::json(
                    400,
                    &json!([{"message": "bad query", "errorCode": "MALFORMED_QUERY"}]),
                );
            }
            0
        } else if let Some(n) = seen
            .path
            .strip_prefix("/services/data/v59.0/query/01gD0000002HU6KIAW-")
            .and_then(|n| n.parse().ok())
        {
            n
        } else {
            return Reply::json(
                404,
                &json!([{"message": "not found", "errorCode": "NOT_FOUND"}]),
            );
        };
        let page: Vec<Value> = records()
            .into_iter()
            .skip(from)
            .take(3)
            .map(|r| {
                let id = format!("001D000000IqhS{}", r["id"]);
                json!({"attributes": {"type": "Account",
                                      "url": format!("/services/data/v59.0/sobjects/Account/{id}")},
                       "Id": id, "Name": r["name"]})
            })
            .collect();
        let end = from + page.len();
        let mut body = json!({"totalSize": TOTAL, "done": end >= TOTAL, "records": page});
        if end < TOTAL {
            body["nextRecordsUrl"] = json!(format!(
                "/services/data/v59.0/query/01gD0000002HU6KIAW-{end}"
            ));
        }
        Reply::json(200, &body)
    }
}

/// When each request of a [`github`] API arrived.
pub type Arrivals = Arc<Mutex<Vec<(Instant, SystemTime)>>>;

/// GitHub's issues list: `GET /repos/{owner}/{repo}/issues?per_page=N&page=P`,
/// a `Link` header with `rel="next"`, at most 3 per page, and rate-limit
/// headers. The second request is refused with `403` and
/// `X-RateLimit-Remaining: 0` until the reset it names (epoch seconds, about
/// 1–2 s later); the answer after it says `X-RateLimit-Remaining: 0` again
/// with a reset 1 s later, which the client must wait for before the next
/// page.
pub fn github(token: &'static str) -> (impl Fn(&Seen) -> Reply + Send + Sync, Arrivals) {
    let arrivals: Arrivals = Default::default();
    let log = arrivals.clone();
    let resets: Arc<Mutex<Vec<u64>>> = Default::default();
    let handler = move |seen: &Seen| {
        let now = SystemTime::now();
        let n = {
            let mut log = log.lock().unwrap();
            log.push((Instant::now(), now));
            log.len()
        };
        if seen.header("authorization") != Some(&format!("Bearer {token}")) {
            return refuse(401, "Bad credentials");
        }
        let Some(rest) = seen.path.strip_prefix("/repos/") else {
            return refuse(404, "Not Found");
        };
        let epoch = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let mut resets = resets.lock().unwrap();
        let limited = |reset: u64| {
            vec![
                ("X-RateLimit-Limit".to_string(), "5000".to_string()),
                ("X-RateLimit-Remaining".to_string(), "0".to_string()),
                ("X-RateLimit-Reset".to_string(), reset.to_string()),
            ]
        };
        if n == 2 {
            let reset = epoch + 2;
            resets.push(reset);
            let mut reply = refuse(403, "API rate limit exceeded for user ID 1.");
            reply.headers.extend(limited(reset));
            return reply;
        }
        if let Some(reset) = resets.last()
            && epoch < *reset
        {
            return refuse(
                500,
                &format!("request {n} came before the reset at {reset}"),
            );
        }
        let per_page: usize = seen
            .param("per_page")
            .and_then(|s| s.parse().ok())
            .unwrap_or(30);
        let per_page = per_page.min(3);
        let page: usize = seen.param("page").and_then(|s| s.parse().ok()).unwrap_or(1);
        let items: Vec<Value> = records()
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|r| {
                json!({"id": r["id"], "number": r["id"], "title": r["name"],
                            "state": "open", "user": {"login": "octocat"}})
            })
            .collect();
        let mut reply = Reply::json(200, &Value::Array(items));
        let host = seen.header("host").unwrap_or("api.github.com");
        let last = TOTAL.div_ceil(per_page);
        if page < last {
            reply = with_header(
                reply,
                "Link",
                format!(
                    "<http://{host}/repos/{rest}?state=all&per_page={per_page}&page={}>; rel=\"next\", \
                     <http://{host}/repos/{rest}?state=all&per_page={per_page}&page={last}>; rel=\"last\"",
                    page + 1
                ),
            );
        }
        if n == 3 {
            // Allowed again, and at once used up: the next page waits.
            let reset = epoch + 1;
            resets.push(reset);
            reply.headers.extend(limited(reset));
        } else {
            reply
                .headers
                .push(("X-RateLimit-Remaining".into(), "4999".into()));
            reply
                .headers
                .push(("X-RateLimit-Reset".into(), (epoch + 3600).to_string()));
        }
        reply
    };
    (handler, arrivals)
}

/// A reverse proxy to `upstream` (`127.0.0.1:PORT`) that sends it `Host:
/// host` instead of the client's, like nginx's default `Host: $proxy_host`:
/// the upstream's absolute next links then name `host`. One HTTP/1.0
/// exchange per request (the upstream closes the connection after it).
pub fn proxy(upstream: String, host: &'static str) -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |seen| {
        let mut conn = std::net::TcpStream::connect(&upstream).expect("connecting upstream");
        let mut target = seen.path.clone();
        if !seen.query.is_empty() {
            target.push('?');
            target.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&seen.query)
                    .finish(),
            );
        }
        let mut head = format!(
            "{} {target} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n",
            seen.method
        );
        for (n, v) in &seen.headers {
            if !["host", "connection", "content-length"].contains(&n.to_ascii_lowercase().as_str())
            {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", seen.body.len()));
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(&seen.body).unwrap();
        let mut raw = Vec::new();
        conn.read_to_end(&mut raw).unwrap();
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .filter(|(n, _)| {
                !["connection", "content-length", "transfer-encoding"]
                    .contains(&n.to_ascii_lowercase().as_str())
            })
            .collect();
        Reply {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }
}
