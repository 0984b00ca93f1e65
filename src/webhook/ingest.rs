//! Durable ingest: one store job per verified delivery that records the event in
//! `webhook_events` (idempotent on the event id) and enqueues its work in the same
//! transaction. The verification-token state (active / pending) lives here too.
//!
//! Invariants: an event is acknowledged (200) only after this job committed; a redelivered
//! id changes nothing; a verification token received while one is active never replaces
//! it — it waits as *pending* for the operator.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use serde_json::Value;

use super::events;
use crate::config::Secret;
use crate::mirror::{write, Store, StoreError};
use crate::queue;

pub const ACTIVE_TOKEN_KEY: &str = "webhook.verification_token";
pub const PENDING_TOKEN_KEY: &str = "webhook.pending_token";

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

/// How a received verification token was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// No token was known: this one is now active (trust on first use).
    Activated,
    /// The active token was sent again.
    Same,
    /// A different token while one is active: kept as pending for the operator.
    Pending,
}

/// The verification token used to check signatures.
pub struct Tokens {
    active: RwLock<Option<Secret>>,
    from_env: bool,
    reloaded: RwLock<Option<Instant>>,
}

impl Tokens {
    /// The active token: `NOTION_WEBHOOK_TOKEN` if set, else the stored one.
    pub async fn load(store: &Store, from_env: Option<Secret>) -> Result<Tokens, StoreError> {
        let stored = match &from_env {
            Some(_) => None,
            None => {
                store
                    .read(|c| write::get_setting(c, ACTIVE_TOKEN_KEY))
                    .await?
            }
        };
        Ok(Tokens {
            from_env: from_env.is_some(),
            active: RwLock::new(from_env.or(stored.map(Secret::new))),
            reloaded: RwLock::new(None),
        })
    }

    pub fn active(&self) -> Option<Secret> {
        self.active.read().ok().and_then(|t| t.clone())
    }

    /// Re-reads the stored token (after `status --accept-pending-token`), at most every 2 s.
    pub async fn reload(&self, store: &Store) -> bool {
        if self.from_env {
            return false;
        }
        let recent = self
            .reloaded
            .read()
            .ok()
            .and_then(|r| *r)
            .is_some_and(|t| t.elapsed() < Duration::from_secs(2));
        if recent {
            return false;
        }
        if let Ok(mut r) = self.reloaded.write() {
            *r = Some(Instant::now());
        }
        let Ok(stored) = store
            .read(|c| write::get_setting(c, ACTIVE_TOKEN_KEY))
            .await
        else {
            return false;
        };
        let stored = stored.map(Secret::new);
        let changed = stored != self.active();
        if changed {
            if let Ok(mut a) = self.active.write() {
                *a = stored;
            }
        }
        changed
    }

    /// Handles `{"verification_token": …}`.
    pub async fn offer(&self, store: &Store, token: String) -> Result<Offer, StoreError> {
        let current = self.active();
        if current.as_ref().map(Secret::expose) == Some(token.as_str()) {
            return Ok(Offer::Same);
        }
        if current.is_some() {
            store
                .write(move |c| write::set_setting(c, PENDING_TOKEN_KEY, &token))
                .await?;
            return Ok(Offer::Pending);
        }
        let stored = token.clone();
        store
            .write(move |c| write::set_setting(c, ACTIVE_TOKEN_KEY, &stored))
            .await?;
        if let Ok(mut a) = self.active.write() {
            *a = Some(Secret::new(token));
        }
        Ok(Offer::Activated)
    }
}

/// `status --accept-pending-token`: the pending token becomes the active one.
pub fn accept_pending(conn: &Connection) -> Result<bool, StoreError> {
    let Some(pending) = write::get_setting(conn, PENDING_TOKEN_KEY)? else {
        return Ok(false);
    };
    write::set_setting(conn, ACTIVE_TOKEN_KEY, &pending)?;
    write::delete_setting(conn, PENDING_TOKEN_KEY)?;
    Ok(true)
}
