//! The HTTP server: `POST /webhook` (DESIGN.md §3), `GET /healthz`, `GET /metrics`.
//!
//! Invariants: the raw body is verified before it is parsed (except the unsigned
//! verification handshake); nothing is stored for a rejected request; 200 is sent only
//! after the event's row committed; bodies over 1 MiB are refused without being buffered.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::ingest::{self, Ingested, Offer, Tokens};
use super::signature;
use crate::metrics::Metrics;
use crate::mirror::Store;
use crate::queue;

/// The largest webhook body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// What the server needs; shared by every connection.
pub struct Ingress {
    pub store: Store,
    pub tokens: Arc<Tokens>,
    pub metrics: Arc<Metrics>,
    pub debounce: Duration,
    pub wake: Arc<crate::queue::Wake>,
    /// `--no-webhooks`: `/webhook` answers 404 (polling-only mode).
    pub webhooks_enabled: bool,
    /// Cleared when the worker pool stops (for `/healthz`).
    pub worker_alive: Arc<AtomicBool>,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: Value) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: &str) -> Reply {
    reply(status, json!({"error": message}))
}

/// Serves until `shutdown`, then lets open requests finish (bounded by `grace`).
pub async fn serve(
    listener: TcpListener,
    ingress: Arc<Ingress>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let ingress = ingress.clone();
        let service = service_fn(move |request| {
            let ingress = ingress.clone();
            async move { Ok::<_, Infallible>(route(&ingress, request).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), service);
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = watched.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open at the shutdown deadline");
    }
}

async fn route(ingress: &Ingress, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    match (path.as_str(), &method) {
        ("/webhook", &Method::POST) if ingress.webhooks_enabled => webhook(ingress, request).await,
        ("/webhook", _) if ingress.webhooks_enabled => {
            ingress.metrics.inc(
                "notion_mirror_webhook_rejected_total",
                &[("reason", "method")],
            );
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            r
        }
        ("/healthz", &Method::GET) | ("/healthz", &Method::HEAD) => health(ingress).await,
        ("/metrics", &Method::GET) => metrics(ingress).await,
        ("/healthz", _) | ("/metrics", _) => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            r
        }
        _ => {
            ingress.metrics.inc(
                "notion_mirror_webhook_rejected_total",
                &[("reason", "path")],
            );
            error(StatusCode::NOT_FOUND, "not found")
        }
    }
}

fn reject(ingress: &Ingress, why: &str, status: StatusCode, message: &str) -> Reply {
    ingress
        .metrics
        .inc("notion_mirror_webhook_rejected_total", &[("reason", why)]);
    error(status, message)
}

async fn webhook(ingress: &Ingress, request: Request<Incoming>) -> Reply {
    let started = Instant::now();
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let signature_header = request
        .headers()
        .get("x-notion-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if declared.is_some_and(|n| n > MAX_BODY) {
        discard(request.into_body()).await;
        return reject(
            ingress,
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            "body over 1 MiB",
        );
    }
    let mut body = request.into_body();
    let collected = Limited::new(&mut body, MAX_BODY).collect().await;
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            discard(body).await;
            return reject(
                ingress,
                "too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "body over 1 MiB",
            );
        }
        Err(_) => {
            return reject(
                ingress,
                "malformed",
                StatusCode::BAD_REQUEST,
                "cannot read the body",
            )
        }
    };
    // Parsed once: the unsigned handshake is recognised by its shape, events are used
    // only after their signature checked out.
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if let Some(token) = parsed.as_ref().and_then(verification_token) {
        return handshake(ingress, token).await;
    }
    let Some(header) = signature_header else {
        return reject(
            ingress,
            "signature",
            StatusCode::UNAUTHORIZED,
            "missing X-Notion-Signature",
        );
    };
    if !verified(ingress, &body, &header).await {
        let why = if ingress.tokens.active().is_none() {
            "no_token"
        } else {
            "signature"
        };
        return reject(ingress, why, StatusCode::UNAUTHORIZED, "invalid signature");
    }
    let event = match parsed {
        Some(v @ Value::Object(_)) => v,
        _ => {
            return reject(
                ingress,
                "malformed",
                StatusCode::BAD_REQUEST,
                "body is not a JSON object",
            )
        }
    };
    // Valid JSON is valid UTF-8.
    let text = String::from_utf8_lossy(&body).into_owned();
    let Some(envelope) = super::events::envelope(&event) else {
        return reject(
            ingress,
            "malformed",
            StatusCode::BAD_REQUEST,
            "event without id or type",
        );
    };
    let debounce = ingress.debounce;
    let now = queue::now_ms();
    let stored = ingress
        .store
        .write(move |c| ingest::ingest(c, &text, &event, now, debounce))
        .await;
    let outcome = match stored {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "cannot store a webhook event; answering 500 so Notion retries");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "cannot store the event");
        }
    };
    if outcome == Ingested::Queued {
        ingress.wake.due_at(now + debounce.as_millis() as i64);
    }
    if outcome == Ingested::Ignored {
        tracing::info!(event_type = %envelope.event_type, "webhook event of a type not mirrored: stored as ignored");
    }
    ingress.metrics.inc(
        "notion_mirror_webhook_events_total",
        &[
            ("type", &envelope.event_type),
            ("outcome", outcome.as_str()),
        ],
    );
    ingress.metrics.observe(
        "notion_mirror_webhook_ingest_seconds",
        &[],
        started.elapsed().as_secs_f64(),
    );
    reply(
        StatusCode::OK,
        json!({"ok": true, "outcome": outcome.as_str()}),
    )
}

/// Reads and drops what is left of an oversized body (up to 8 MiB, for at most 2 s) so the
/// client gets its 413 instead of a reset connection; anything bigger is cut off.
async fn discard(mut body: Incoming) {
    const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
    let drain = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

/// `{"verification_token": "…"}` (and nothing that looks like an event).
fn verification_token(value: &Value) -> Option<String> {
    let map = value.as_object()?;
    if map.contains_key("type") || map.contains_key("id") {
        return None;
    }
    map.get("verification_token")?.as_str().map(str::to_string)
}

async fn handshake(ingress: &Ingress, token: String) -> Reply {
    match ingress.tokens.offer(&ingress.store, token).await {
        Ok(Offer::Activated) => {
            tracing::info!("webhook verification token received and stored; print it with `notion-mirror status --show-token` and paste it into Notion's Verify dialog");
            reply(StatusCode::OK, json!({"ok": true}))
        }
        Ok(Offer::Same) => reply(StatusCode::OK, json!({"ok": true})),
        Ok(Offer::Pending) => {
            tracing::warn!("a different webhook verification token arrived while one is active; it is stored as pending (see `notion-mirror status`; accept it with `notion-mirror status --accept-pending-token`)");
            reply(StatusCode::OK, json!({"ok": true}))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store the verification token");
            error(StatusCode::INTERNAL_SERVER_ERROR, "cannot store the token")
        }
    }
}

async fn verified(ingress: &Ingress, body: &[u8], header: &str) -> bool {
    if let Some(token) = ingress.tokens.active() {
        if signature::verify(token.expose(), body, header) {
            return true;
        }
    }
    // The operator may have accepted a new token from another process: look once more.
    if ingress.tokens.reload(&ingress.store).await {
        if let Some(token) = ingress.tokens.active() {
            return signature::verify(token.expose(), body, header);
        }
    }
    false
}

async fn health(ingress: &Ingress) -> Reply {
    let writable = ingress
        .store
        .write(|c| {
            Ok(c.execute(
                "UPDATE settings SET value = value WHERE key = 'healthz'",
                [],
            )?)
        })
        .await
        .is_ok();
    let worker = ingress.worker_alive.load(Ordering::Relaxed);
    let status = if writable && worker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    reply(
        status,
        json!({"database_writable": writable, "worker_alive": worker}),
    )
}

async fn metrics(ingress: &Ingress) -> Reply {
    let now = queue::now_ms();
    if let Ok(depth) = ingress.store.read(move |c| queue::depth(c, now)).await {
        let m = &ingress.metrics;
        m.set(
            "notion_mirror_queue_depth",
            &[],
            (depth.pending + depth.running) as f64,
        );
        m.set("notion_mirror_queue_parked", &[], depth.failed as f64);
        let age = depth
            .oldest_due
            .map(|d| (now - d).max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        m.set("notion_mirror_queue_oldest_due_age_seconds", &[], age);
    }
    let commits = ingress.store.counters().commits.load(Ordering::Relaxed);
    ingress
        .metrics
        .set_counter("notion_mirror_mirror_commits_total", &[], commits);
    let mut r = Response::new(Full::new(Bytes::from(ingress.metrics.render())));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_bodies_are_recognised() {
        let token = |body: &str| verification_token(&serde_json::from_str(body).unwrap());
        assert_eq!(
            token(r#"{"verification_token":"secret_x"}"#).as_deref(),
            Some("secret_x")
        );
        assert_eq!(
            token(r#"{"verification_token":"x","type":"page.created","id":"1"}"#),
            None
        );
        assert_eq!(token(r#"["verification_token"]"#), None);
    }
}
