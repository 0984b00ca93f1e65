//! A receiver of outbound webhooks on 127.0.0.1: verifies each POST's signature, answers
//! 503 to every `fail_every`-th one, dedupes on `seq`, and checks the order contract (a
//! seq it had not seen is never older than one it had).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// What arrived.
#[derive(Debug, Default)]
pub struct Received {
    /// Every POST, answered or failed on purpose.
    pub posts: usize,
    /// POSTs answered 503 on purpose.
    pub failed: usize,
    /// Times each seq arrived in a POST answered 200.
    pub seqs: BTreeMap<i64, usize>,
    /// Signatures that did not verify (must stay 0).
    pub bad_signatures: usize,
    /// `X-Notion-Mirror-Seq` different from the batch's last seq (must stay 0).
    pub bad_seq_headers: usize,
    /// A new seq older than one already seen, or a batch out of order (must stay 0).
    pub out_of_order: usize,
    /// The largest batch (changes).
    pub largest: usize,
    /// When each seq first arrived, and its `at`.
    pub arrivals: BTreeMap<i64, (Instant, String)>,
}

impl Received {
    /// Seqs seen more than once (delivered again after a crash or a lost answer).
    pub fn duplicates(&self) -> usize {
        self.seqs.values().map(|n| n - 1).sum()
    }
}

/// Starts the receiver; 503 to every `fail_every`-th POST (0: never).
pub async fn start(secret: &str, fail_every: usize) -> (SocketAddr, Arc<Mutex<Received>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(Mutex::new(Received::default()));
    let (shared, secret) = (state.clone(), secret.to_string());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (state, secret) = (shared.clone(), secret.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (state, secret) = (state.clone(), secret.clone());
                    async move { Ok::<_, hyper::Error>(handle(req, &state, &secret, fail_every).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, state)
}

fn answer(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

async fn handle(
    req: Request<Incoming>,
    state: &Mutex<Received>,
    secret: &str,
    fail_every: usize,
) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (signature, seq_header) = (
        header("x-notion-mirror-signature"),
        header("x-notion-mirror-seq"),
    );
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let now = Instant::now();
    let mut s = state.lock().unwrap();
    s.posts += 1;
    if fail_every > 0 && s.posts.is_multiple_of(fail_every) {
        s.failed += 1;
        return answer(StatusCode::SERVICE_UNAVAILABLE);
    }
    if !notion_mirror::webhook::signature::verify(secret, &body, &signature) {
        s.bad_signatures += 1;
        return answer(StatusCode::UNAUTHORIZED);
    }
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let changes = json["changes"].as_array().cloned().unwrap_or_default();
    let seqs: Vec<i64> = changes.iter().filter_map(|c| c["seq"].as_i64()).collect();
    if seqs.last().map(|s| s.to_string()) != Some(seq_header) {
        s.bad_seq_headers += 1;
    }
    if seqs.windows(2).any(|w| w[0] >= w[1]) {
        s.out_of_order += 1;
    }
    s.largest = s.largest.max(seqs.len());
    for (c, seq) in changes.iter().zip(&seqs) {
        let newest = s.seqs.keys().next_back().copied().unwrap_or(0);
        if !s.seqs.contains_key(seq) && *seq < newest {
            s.out_of_order += 1;
        }
        *s.seqs.entry(*seq).or_insert(0) += 1;
        let at = c["at"].as_str().unwrap_or("").to_string();
        s.arrivals.entry(*seq).or_insert((now, at));
    }
    answer(StatusCode::OK)
}
