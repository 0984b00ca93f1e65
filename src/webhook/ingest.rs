//! Durable ingest: one store job per verified delivery that records the event in
//! `webhook_events` (idempotent on the event id) and enqueues its work in the same
//! transaction. The verification-token state lives in `tokens` (re-exported here).
//!
//! Invariants: an event is acknowledged (200) only after this job committed; a redelivered
//! id changes nothing.

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

/// Records one verified event and enqueues its work (runs on the writer).
pub fn ingest(
    conn: &Connection,
    body: &str,
    event: &Value,
    now_ms: i64,
    debounce: Duration,
) -> Result<Ingested, StoreError> {
    let Some(env) = events::envelope(event) else {
        return Err(StoreError::Invalid("an event without id or type".into()));
    };
    let work = events::signals(event, now_ms + debounce.as_millis() as i64);
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
