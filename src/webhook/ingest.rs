//! Durable ingest: one store job per verified delivery that records the event in
//! `webhook_events` (idempotent on the event id) and enqueues its work in the same
//! transaction. The verification-token state lives in `tokens` (re-exported here).
//!
//! Invariants: an event is acknowledged (200) only after this job committed; a redelivered
//! id changes nothing; its work is due `debounce` after the change (the event's
//! timestamp), clamped to between a quarter of `debounce` and `debounce` after receipt.

use std::time::Duration;

use rusqlite::{params, Connection};
use serde_json::Value;

use super::events;
use crate::mirror::StoreError;
use crate::queue;

pub use super::tokens::{accept_pending, Offer, Tokens, ACTIVE_TOKEN_KEY, PENDING_TOKEN_KEY};

/// What happened to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    Queued,
    Duplicate,
    Ignored,
}

impl Ingested {
    pub fn as_str(self) -> &'static str {
        match self {
            Ingested::Queued => "queued",
            Ingested::Duplicate => "duplicate",
            Ingested::Ignored => "ignored",
        }
    }
}

/// When an event's work is due: `debounce` after the change happened (the event's
/// `timestamp`) — Notion already held the event for its aggregation window, so waiting the
/// whole debounce again after receipt only adds latency. Never sooner than a quarter of
/// `debounce` after receipt (a burst still coalesces; a retried delivery of an old event
/// does not skip coalescing) and never later than `debounce` after it (a sender clock
/// ahead of ours, or no timestamp, changes nothing).
pub fn due_at(now_ms: i64, debounce: Duration, timestamp: Option<&str>) -> i64 {
    let debounce_ms = debounce.as_millis() as i64;
    let latest = now_ms + debounce_ms;
    let earliest = now_ms + debounce_ms / 4;
    let changed_ms = timestamp
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis());
    match changed_ms {
        Some(at) => (at + debounce_ms).clamp(earliest, latest),
        None => latest,
    }
}

/// Records one verified event and enqueues its work, due at `due_ms` (runs on the writer).
pub fn ingest(
    conn: &Connection,
    body: &str,
    event: &Value,
    now_ms: i64,
    due_ms: i64,
) -> Result<Ingested, StoreError> {
    let Some(env) = events::envelope(event) else {
        return Err(StoreError::Invalid("an event without id or type".into()));
    };
    let work = events::signals(event, due_ms);
    let status = if work.is_empty() { "ignored" } else { "queued" };
    let inserted = conn
        .prepare_cached(
            "INSERT INTO webhook_events (id, raw, type, entity_type, entity_id, timestamp,
                                         attempt_number, received_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            env.id,
            body,
            env.event_type,
            env.entity_type,
            env.entity_id,
            env.timestamp,
            env.attempt_number,
            queue::iso_ms(now_ms),
            status
        ])?;
    if inserted == 0 {
        return Ok(Ingested::Duplicate);
    }
    for signal in &work {
        queue::enqueue(conn, signal, now_ms)?;
    }
    Ok(if work.is_empty() {
        Ingested::Ignored
    } else {
        Ingested::Queued
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_due_a_debounce_after_the_change_clamped_to_the_receipt() {
        let d = Duration::from_millis(1000);
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-05T10:00:00.600Z")
            .unwrap()
            .timestamp_millis();
        // Changed 0.6 s ago (Notion's aggregation): due 0.4 s after receipt.
        assert_eq!(due_at(now, d, Some("2026-12-05T10:00:00.000Z")), now + 400);
        // A retried delivery of an old event still waits a quarter of the debounce.
        assert_eq!(due_at(now, d, Some("2026-12-04T10:00:00.000Z")), now + 250);
        // A sender clock ahead of ours, or no timestamp: the whole debounce.
        assert_eq!(due_at(now, d, Some("2026-12-05T10:00:09.000Z")), now + 1000);
        assert_eq!(due_at(now, d, None), now + 1000);
        assert_eq!(due_at(now, d, Some("not a time")), now + 1000);
    }
}
