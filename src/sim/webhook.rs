//! Webhook sender with Notion's delivery semantics (stub: interface only, being implemented).

use std::time::Duration;

use super::events::RawEvent;

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
    /// Deliveries abandoned after the 8th failed attempt.
    pub gave_up: u64,
}

/// The sending half of a simulated webhook subscription.
pub struct WebhookSender {
    _private: (),
}

impl WebhookSender {
    /// Starts the sender's background tasks on the current tokio runtime.
    pub fn start(_config: WebhookConfig) -> Self {
        todo!("webhook sender")
    }
    /// Queues one raw event for aggregation and delivery. Never blocks.
    pub fn emit(&self, _event: RawEvent) {
        todo!("webhook sender")
    }
    /// POSTs `{"verification_token": ...}` (unsigned) and returns the HTTP status.
    pub async fn send_verification(&self) -> Result<u16, String> {
        todo!("webhook sender")
    }
    /// A snapshot of the counters.
    pub fn stats(&self) -> WebhookStats {
        todo!("webhook sender")
    }
    /// Replaces the fault knobs (drop, duplicate, extra delay) at run time.
    pub fn set_faults(&self, _drop_rate: f64, _duplicate_rate: f64, _max_extra_delay: Duration) {
        todo!("webhook sender")
    }
    /// Waits until nothing is pending (windows flushed, deliveries acknowledged, dropped or
    /// given up, retries finished) or `timeout` passes; true when quiet.
    pub async fn quiesce(&self, _timeout: Duration) -> bool {
        todo!("webhook sender")
    }
    /// Stops every background task; pending deliveries are abandoned.
    pub fn shutdown(&self) {
        todo!("webhook sender")
    }
}
