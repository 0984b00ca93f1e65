//! Simulated Notion webhook sender: aggregates raw workspace changes per entity, then signs and
//! POSTs them to the daemon with Notion's delivery semantics (retries, drops, duplicates, reordering).
//!
//! Invariant: a delivery keeps one event `id` across all its retries and duplicate copies, and
//! every event body is signed over its exact bytes; a failed POST is counted and retried, it
//! never panics a task.
//!
//! Simulated (source tags from `docs/reference/notion.md`):
//! - envelope keys and shapes, `api_version: "2025-09-03"`, `attempt_number` 1..=8 [S9][S5];
//! - `X-Notion-Signature: sha256=<hex HMAC-SHA256(token, raw body)>` [S10][S5]; the
//!   verification handshake `{"verification_token": ...}` is sent unsigned [S10][S28];
//! - per-entity aggregation in a window: merged `updated_properties` / `updated_blocks` /
//!   schema changes, `*.created` absorbing later updates, create+delete collapsing to nothing,
//!   delete+undelete cancelling, repeated moves keeping the last parent [S9];
//! - `comment.*` and `page.locked` / `page.unlocked` are not aggregated [S9];
//! - up to 8 attempts with exponential backoff, the last ~24 h after the first (scaled by
//!   `time_factor`) [S9];
//! - unordered delivery (random extra delay), and as knobs the lossiness a receiver must survive:
//!   dropped and duplicated deliveries ("at-most-once aim", webhooks are lossy) [S9].
//!
//! Knowingly not simulated:
//! - the 2026-10-15 "faster page webhooks" change (immediate `page.created` and first
//!   `page.properties_updated`) [S20]: a 2025-09-03-era subscription is modelled;
//! - `accessible_by` (public integrations only) [S9];
//! - access/capability filtering and paused subscriptions [S10]: the emitter decides what exists;
//! - the 5-minute latency bound [S9]: latency is the window plus the extra-delay knob;
//! - NEWER event types (`file_upload.*`, `view.*`, transcripts) [S5]: their aggregation is
//!   unknown ("?"), so if emitted they pass through unaggregated.
//!
//! UNCONFIRMED (notion.md §6.4, §8), decided here: any 2xx acknowledges an attempt; the receiver
//! timeout is the configured `delivery_timeout`; a timeout or connection error is a failed attempt.
//!
//! Layout: `aggregate` (the pure per-entity rules) → `window` (the aggregator task: windows and
//! fault dice) → `deliver` (envelope, signature, POST, retries); `shared` holds the state the
//! handle and its tasks share. This file is the public handle.

mod aggregate;
mod deliver;
mod shared;
#[cfg(test)]
mod test_fixtures;
mod window;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::events::RawEvent;
use deliver::{build_client, describe};
use shared::{bump, Faults, Shared};
use window::Aggregator;

pub use aggregate::{aggregate, is_aggregated};
pub use deliver::retry_delay;

/// Notion stops retrying a delivery after this many attempts [S9].
pub const MAX_ATTEMPTS: u32 = 8;
/// The payload shape version written into every envelope.
pub const API_VERSION: &str = "2025-09-03";

/// How the simulated subscription delivers events.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Where events are POSTed, e.g. `http://127.0.0.1:8787/webhook`.
    pub url: String,
    /// The subscription's verification token; also the HMAC key for `X-Notion-Signature`.
    pub verification_token: String,
    /// Events for one entity within this window are aggregated into one delivery.
    pub aggregation_window: Duration,
    /// Scales the retry schedule (1.0 = Notion's real schedule, ~24 h over 8 attempts).
    pub time_factor: f64,
    /// Probability that a delivery is silently never sent.
    pub drop_rate: f64,
    /// Probability that a delivery is sent twice (same event id).
    pub duplicate_rate: f64,
    /// Each delivery is delayed by a uniform random extra delay in `0..=max_extra_delay`
    /// (this is what reorders deliveries).
    pub max_extra_delay: Duration,
    /// Per-attempt HTTP timeout; a timeout counts as a failed attempt.
    pub delivery_timeout: Duration,
    /// Seed for the fault dice and event ids.
    pub seed: u64,
    pub workspace_id: String,
    pub workspace_name: String,
    pub subscription_id: String,
    pub integration_id: String,
}

/// Counters for tests and `GET /_sim/stats`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WebhookStats {
    /// Raw events received through [`WebhookSender::emit`].
    pub emitted: u64,
    /// Deliveries produced after aggregation.
    pub deliveries: u64,
    /// Raw events absorbed by aggregation (merged or cancelled out).
    pub aggregated_away: u64,
    /// Deliveries dropped by the drop knob.
    pub dropped: u64,
    /// Extra copies sent by the duplicate knob.
    pub duplicated: u64,
    /// HTTP attempts made (all attempts, including retries and duplicates).
    pub attempts: u64,
    /// Attempts answered with 2xx.
    pub acknowledged: u64,
    /// Attempts that failed (non-2xx, timeout, connection error).
    pub failed_attempts: u64,
    /// Deliveries abandoned after the 8th failed attempt (each duplicate copy retries, and
    /// can give up, on its own).
    pub gave_up: u64,
}

/// The sending half of a simulated webhook subscription. Dropping it stops its tasks.
pub struct WebhookSender {
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<RawEvent>,
}

impl WebhookSender {
    /// Starts the sender's background tasks on the current tokio runtime.
    ///
    /// # Panics
    /// When called outside a tokio runtime (like `tokio::spawn`).
    pub fn start(config: WebhookConfig) -> Self {
        let (events, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(config, build_client()));
        tokio::spawn(Aggregator::new(Arc::clone(&shared)).run(rx));
        Self { shared, events }
    }

    /// Queues one raw event for aggregation and delivery. Never blocks.
    pub fn emit(&self, event: RawEvent) {
        self.shared.work_added(1);
        match self.events.send(event) {
            Ok(()) => bump(&self.shared.counters.emitted, 1),
            // The aggregator is gone (shut down): the event is abandoned like pending work.
            Err(_) => self.shared.work_done(1),
        }
    }

    /// POSTs `{"verification_token": ...}` (unsigned) and returns the HTTP status.
    pub async fn send_verification(&self) -> Result<u16, String> {
        let cfg = &self.shared.config;
        let body = serde_json::json!({ "verification_token": cfg.verification_token }).to_string();
        let client = self
            .shared
            .client
            .as_ref()
            .ok_or("HTTP client unavailable")?;
        let response = client
            .post(&cfg.url)
            .timeout(cfg.delivery_timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(response.status().as_u16())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> WebhookStats {
        self.shared.counters.snapshot()
    }

    /// Replaces the fault knobs (drop, duplicate, extra delay) at run time.
    pub fn set_faults(&self, drop_rate: f64, duplicate_rate: f64, max_extra_delay: Duration) {
        let faults = Faults::new(drop_rate, duplicate_rate, max_extra_delay);
        self.shared.set_faults(faults);
    }

    /// Waits until nothing is pending (windows flushed, deliveries acknowledged, dropped or
    /// given up, retries finished) or `timeout` passes; true when quiet.
    ///
    /// After [`shutdown`](Self::shutdown) it answers at once: abandoned work never drains.
    pub async fn quiesce(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            // Register before checking, so a wake-up between check and await is not lost.
            idle.as_mut().enable();
            if self.shared.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if self.shared.cancel.is_cancelled() {
                return false;
            }
            tokio::select! {
                _ = &mut idle => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return self.shared.pending.load(Ordering::SeqCst) == 0;
                }
            }
        }
    }

    /// Stops every background task; pending deliveries are abandoned.
    pub fn shutdown(&self) {
        self.shared.cancel.cancel();
    }
}

impl Drop for WebhookSender {
    fn drop(&mut self) {
        self.shutdown();
    }
}
