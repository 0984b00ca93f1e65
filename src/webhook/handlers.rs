//! The endpoints: `POST /webhook` (verify, store durably, answer; the unsigned
//! verification handshake), `GET /healthz` and `GET /metrics`.
//!
//! Invariants: the raw body is read within the connection's request deadline (else 408)
//! and verified before it is parsed (except the handshake); nothing is stored for a
//! rejected request; 200 only after the event's row committed; a body declared over 1 MiB
//! is refused before it is read — without `100 Continue` when the client asked for one;
//! untrusted strings reach logs and metrics only escaped or as a bounded label.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, EXPECT};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::events::{printable, type_label};
use super::ingest::{self, Ingested, Offer};
use super::server::{Conn, Ingress};
use super::signature;
use crate::mirror::Store;
use crate::queue;

/// The largest webhook body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

pub type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: Value) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn error(status: StatusCode, message: &str) -> Reply {
    reply(status, json!({"error": message}))
}

/// An error after which the connection closes (the rest of the request is not read).
fn closing(mut r: Reply) -> Reply {
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

fn reject(ingress: &Ingress, why: &str, status: StatusCode, message: &str) -> Reply {
    ingress
        .metrics
        .inc("notion_mirror_webhook_rejected_total", &[("reason", why)]);
    error(status, message)
}

/// The parts of a webhook request the handler uses, read within the deadline.
struct Delivery {
    body: Bytes,
    signature: Option<String>,
    /// The peer, and the `X-Forwarded-For` a proxy in front added (escaped, bounded).
    peer: String,
}

pub async fn webhook(ingress: &Ingress, conn: &Conn, request: Request<Incoming>) -> Reply {
    let started = Instant::now();
    let delivery = match read(ingress, conn, request).await {
        Ok(delivery) => delivery,
        Err(reply) => return reply,
    };
    conn.tracker.request_read();
    let Delivery {
        body,
        signature: signature_header,
        peer,
    } = delivery;
    // Parsed once: the unsigned handshake is recognised by its shape, events are used
    // only after their signature checked out.
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if let Some(token) = parsed.as_ref().and_then(verification_token) {
        return handshake(ingress, token, peer).await;
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
    let now = queue::now_ms();
    let due = ingest::due_at(now, ingress.debounce, envelope.timestamp.as_deref());
    let stored = ingress
        .store
        .write(move |c| ingest::ingest(c, &text, &event, now, due))
        .await;
    let outcome = match stored {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "cannot store a webhook event; answering 500 so Notion retries");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "cannot store the event");
        }
    };
    if outcome == Ingested::Queued {
        ingress.wake.due_at(due);
    }
    if outcome == Ingested::Ignored {
        tracing::info!(event_type = %printable(&envelope.event_type, 80), "webhook event of a type not mirrored: stored as ignored");
    }
    ingress.metrics.inc(
        "notion_mirror_webhook_events_total",
        &[
            ("type", type_label(&envelope.event_type)),
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

/// Reads the body (at most 1 MiB) before the connection's request deadline.
async fn read(
    ingress: &Ingress,
    conn: &Conn,
    request: Request<Incoming>,
) -> Result<Delivery, Reply> {
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let declared = text(CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    let expects_continue =
        text(EXPECT.as_str()).is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let signature = text("x-notion-signature").map(str::to_string);
    let peer = match text("x-forwarded-for") {
        Some(via) => format!("{} (X-Forwarded-For: {})", conn.peer, printable(via, 64)),
        None => conn.peer.to_string(),
    };
    let too_large = || {
        closing(reject(
            ingress,
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            "body over 1 MiB",
        ))
    };
    let deadline = conn.tracker.read_deadline();
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        // A client waiting for `100 Continue` has not sent the body: it gets the 413
        // instead (hyper sends the 100 only when the body is read, so it is not read).
        if !expects_continue {
            let _ = tokio::time::timeout_at(deadline, discard(request.into_body())).await;
        }
        return Err(too_large());
    }
    let mut body = request.into_body();
    let collected =
        tokio::time::timeout_at(deadline, Limited::new(&mut body, MAX_BODY).collect()).await;
    match collected {
        Ok(Ok(collected)) => Ok(Delivery {
            body: collected.to_bytes(),
            signature,
            peer,
        }),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            let _ = tokio::time::timeout_at(deadline, discard(body)).await;
            Err(too_large())
        }
        Ok(Err(_)) => Err(reject(
            ingress,
            "malformed",
            StatusCode::BAD_REQUEST,
            "cannot read the body",
        )),
        Err(_) => Err(closing(reject(
            ingress,
            "timeout",
            StatusCode::REQUEST_TIMEOUT,
            "the request did not arrive completely within the deadline",
        ))),
    }
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

async fn handshake(ingress: &Ingress, token: String, peer: String) -> Reply {
    let from = peer.clone();
    match ingress.tokens.offer(&ingress.store, token, peer).await {
        Ok(Offer::Activated) => {
            tracing::info!(%from, "webhook verification token received and stored; print it with `notion-mirror status --show-token` and paste it into Notion's Verify dialog");
        }
        Ok(Offer::Same) | Ok(Offer::PendingAgain) => {}
        Ok(Offer::Pending) => {
            tracing::warn!(%from, "a different webhook verification token arrived while one is active; it is kept as pending (see `notion-mirror status` for how to check it before accepting it)");
        }
        Ok(Offer::Ignored) => {
            tracing::warn!(%from, "yet another webhook verification token arrived while one is pending; it is ignored (counted in `notion-mirror status`)");
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store the verification token");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "cannot store the token");
        }
    }
    reply(StatusCode::OK, json!({"ok": true}))
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

/// Whether the mirror takes commits: a probe write commits and reaches the disk, and the
/// last batch did not fail (`/healthz`, and the systemd watchdog's ping).
pub async fn commits_work(store: &Store) -> bool {
    let probe = store
        .write(|c| {
            Ok(c.execute(
                "UPDATE settings SET value = value WHERE key = 'healthz'",
                [],
            )?)
        })
        .await
        .is_ok();
    probe && !store.health().failing()
}

pub async fn health(ingress: &Ingress) -> Reply {
    let writable = commits_work(&ingress.store).await;
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

pub async fn metrics(ingress: &Ingress, conn: &Conn) -> Reply {
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
    let rate = ingress.rate;
    if let Ok(estimate) = ingress
        .store
        .read(move |c| crate::eta::estimate(c, rate))
        .await
    {
        let m = &ingress.metrics;
        let items = estimate.as_ref().map_or(0, |e| e.items_left);
        m.set("notion_mirror_sweep_work_items", &[], items as f64);
        let eta = match &estimate {
            None => 0.0,
            Some(e) => e.eta.map_or(-1.0, |d| d.as_secs_f64().round()),
        };
        m.set("notion_mirror_sweep_eta_seconds", &[], eta);
    }
    if let Ok((seq, destinations)) = ingress
        .store
        .read(|c| Ok((crate::history::last_seq(c)?, crate::outbound::status(c)?)))
        .await
    {
        outbound_metrics(&ingress.metrics, seq, &destinations);
    }
    let wal = ingress.store.wal_stats();
    let m = &ingress.metrics;
    m.set(
        "notion_mirror_wal_bytes",
        &[],
        wal.current.load(Ordering::Relaxed) as f64,
    );
    m.set(
        "notion_mirror_wal_max_bytes",
        &[],
        wal.max.load(Ordering::Relaxed) as f64,
    );
    m.set(
        "notion_mirror_checkpoints_by_litestream",
        &[],
        f64::from(u8::from(wal.litestream.load(Ordering::Relaxed))),
    );
    if let Ok(Some(files)) = ingress.store.read(crate::files::counts).await {
        let m = &ingress.metrics;
        for (status, n) in [
            ("stored", files.stored),
            ("pending", files.pending),
            ("failed", files.failed),
            ("too_large", files.too_large),
        ] {
            m.set("notion_mirror_files", &[("status", status)], n as f64);
        }
        m.set("notion_mirror_files_bytes", &[], files.bytes as f64);
    }
    let commits = ingress.store.counters().commits.load(Ordering::Relaxed);
    let m = &ingress.metrics;
    m.set_counter("notion_mirror_mirror_commits_total", &[], commits);
    let failed = ingress
        .store
        .health()
        .failed_commits
        .load(Ordering::Relaxed);
    m.set_counter("notion_mirror_mirror_failed_commits_total", &[], failed);
    m.set(
        "notion_mirror_http_connections",
        &[],
        conn.registry.open() as f64,
    );
    let mut r = Response::new(Full::new(Bytes::from(ingress.metrics.render())));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// The change feed's newest seq and each outbound destination's cursor, lag and errors.
fn outbound_metrics(
    m: &crate::metrics::Metrics,
    seq: i64,
    destinations: &[crate::outbound::DestinationStatus],
) {
    m.set("notion_mirror_changes_seq", &[], seq as f64);
    for d in destinations {
        let label = [("destination", d.name.as_str())];
        m.set("notion_mirror_outbound_cursor", &label, d.cursor as f64);
        m.set("notion_mirror_outbound_lag", &label, d.lag as f64);
        m.set("notion_mirror_outbound_lag_seconds", &label, d.lag_seconds);
        m.set("notion_mirror_outbound_failures", &label, d.failures as f64);
        let last_error = d
            .last_error_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(0.0, |t| t.timestamp() as f64);
        m.set(
            "notion_mirror_outbound_last_error_timestamp_seconds",
            &label,
            last_error,
        );
    }
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
