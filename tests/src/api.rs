//! A scriptable HTTP test API on 127.0.0.1: each test gives the handler,
//! the server records every request it saw.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the handler answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
    pub fn text(status: u16, content_type: &str, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct TestApi {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestApi {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestApi {
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let seen2 = seen.clone();
        let thread = std::thread::spawn(move || {
            // Several workers: a handler that blocks (to play a slow API)
            // holds up only its own request.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(8)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                let serve = async {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        let handler = handler.clone();
                        let seen = seen2.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(
                                move |req: hyper::Request<hyper::body::Incoming>| {
                                    let handler = handler.clone();
                                    let seen = seen.clone();
                                    async move {
                                        let (parts, body) = req.into_parts();
                                        let body = body
                                            .collect()
                                            .await
                                            .map(|b| b.to_bytes().to_vec())
                                            .unwrap_or_default();
                                        let query = url::form_urlencoded::parse(
                                            parts.uri.query().unwrap_or("").as_bytes(),
                                        )
                                        .into_owned()
                                        .collect();
                                        let request = Seen {
                                            method: parts.method.to_string(),
                                            path: parts.uri.path().to_string(),
                                            query,
                                            headers: parts
                                                .headers
                                                .iter()
                                                .map(|(n, v)| {
                                                    (
                                                        n.to_string(),
                                                        String::from_utf8_lossy(v.as_bytes())
                                                            .into_owned(),
                                                    )
                                                })
                                                .collect(),
                                            body,
                                        };
                                        let reply = handler(&request);
                                        seen.lock().unwrap().push(request);
                                        let mut resp =
                                            hyper::Response::builder().status(reply.status);
                                        for (n, v) in &reply.headers {
                                            resp = resp.header(n, v);
                                        }
                                        Ok::<_, std::convert::Infallible>(
                                            resp.body(Full::new(Bytes::from(reply.body))).unwrap(),
                                        )
                                    }
                                },
                            );
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = ready_rx.recv().unwrap();
        TestApi {
            addr,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
