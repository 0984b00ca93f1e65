//! One delivery on the wire: the envelope, its `X-Notion-Signature`, the HTTP POST and the
//! retry schedule (up to [`MAX_ATTEMPTS`] attempts, exponential backoff scaled by `time_factor`).
//!
//! Invariant: every attempt and duplicate copy of a delivery carries the same event `id`, each
//! body is signed over its exact bytes, and a failed POST is counted and retried, never a panic.

use std::time::Duration;

use chrono::SecondsFormat;
use rand::rngs::StdRng;
use rand::RngExt;
use serde::Serialize;
use serde_json::Value;

use super::super::events::RawEvent;
use super::shared::{bump, Shared};
use super::{WebhookConfig, API_VERSION, MAX_ATTEMPTS};
use crate::webhook::signature::sign;

/// Seconds before the first retry at `time_factor` 1.0; doubles per attempt, so the 8th
/// attempt lands 675 s * 127 ≈ 23.8 h after the first ("the last ≈ 24 h after") [S9].
const FIRST_RETRY_SECS: f64 = 675.0;

/// The delay before retrying after failed attempt number `attempt` (1-based):
/// `675 s * 2^(attempt-1) * time_factor`. Negative or NaN factors mean no delay.
pub fn retry_delay(attempt: u32, time_factor: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(62) as i32;
    let secs = FIRST_RETRY_SECS * 2f64.powi(exponent) * time_factor;
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// A random (version 4) UUID, lowercase and dashed, drawn from the seeded RNG.
pub(super) fn uuid_v4(rng: &mut StdRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    crate::ids::uuid_v4_from(bytes)
}

/// One aggregated event on its way out; shared by its duplicate copies.
pub(super) struct Delivery {
    pub(super) id: String,
    pub(super) event: RawEvent,
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    timestamp: String,
    workspace_id: &'a str,
    workspace_name: &'a str,
    subscription_id: &'a str,
    integration_id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    authors: Vec<ObjectRef<'a>>,
    attempt_number: u32,
    api_version: &'static str,
    entity: ObjectRef<'a>,
    data: &'a Value,
}

#[derive(Serialize)]
struct ObjectRef<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

impl Delivery {
    /// The exact body bytes of attempt `attempt_number`.
    fn body(&self, cfg: &WebhookConfig, attempt_number: u32) -> Result<Vec<u8>, String> {
        let e = &self.event;
        let envelope = Envelope {
            id: &self.id,
            timestamp: e.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            workspace_id: &cfg.workspace_id,
            workspace_name: &cfg.workspace_name,
            subscription_id: &cfg.subscription_id,
            integration_id: &cfg.integration_id,
            event_type: &e.event_type,
            authors: (e.authors.iter())
                .map(|(id, kind)| ObjectRef { id, kind })
                .collect(),
            attempt_number,
            api_version: API_VERSION,
            entity: ObjectRef {
                id: &e.entity_id,
                kind: &e.entity_type,
            },
            data: &e.data,
        };
        serde_json::to_vec(&envelope).map_err(|err| format!("serialize envelope: {err}"))
    }
}

/// Attempts one delivery copy until acknowledged or `MAX_ATTEMPTS` attempts have failed.
pub(super) async fn deliver(shared: &Shared, delivery: &Delivery) {
    let counters = &shared.counters;
    for attempt in 1..=MAX_ATTEMPTS {
        match post_event(shared, delivery, attempt).await {
            Ok(()) => {
                bump(&counters.acknowledged, 1);
                return;
            }
            Err(reason) => {
                bump(&counters.failed_attempts, 1);
                tracing::debug!(id = %delivery.id, attempt, %reason, "webhook attempt failed");
            }
        }
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(retry_delay(attempt, shared.config.time_factor)).await;
        }
    }
    bump(&counters.gave_up, 1);
    tracing::warn!(id = %delivery.id, event_type = %delivery.event.event_type,
        "webhook delivery given up after {MAX_ATTEMPTS} attempts");
}

/// One signed POST; `Err` says why the attempt did not count as acknowledged.
async fn post_event(shared: &Shared, delivery: &Delivery, attempt: u32) -> Result<(), String> {
    let cfg = &shared.config;
    let body = delivery.body(cfg, attempt)?;
    let signature = sign(&cfg.verification_token, &body);
    let _permit = shared
        .in_flight
        .acquire()
        .await
        .map_err(|_| "sender closed".to_string())?;
    bump(&shared.counters.attempts, 1);
    let client = shared.client.as_ref().ok_or("HTTP client unavailable")?;
    let response = client
        .post(&cfg.url)
        .timeout(cfg.delivery_timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Notion-Signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status();
    // Read the (small) answer so the connection can be reused; its content is irrelevant.
    let _ = response.bytes().await;
    // UNCONFIRMED which statuses Notion accepts (notion.md §6.4): any 2xx here.
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("http.status {}", status.as_u16()))
    }
}

/// The sender's HTTP client, or `None` (logged) if it cannot be built.
pub(super) fn build_client() -> Option<reqwest::Client> {
    // reqwest is built with `rustls-no-provider`: a provider must exist before any Client.
    // An error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The simulator talks to the local daemon: never through an environment proxy. Redirects
    // are not followed: a 3xx is a non-2xx answer, i.e. a failed attempt (UNCONFIRMED, §6.4).
    let builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    match builder.build() {
        Ok(client) => Some(client),
        Err(e) => {
            tracing::error!(reason = %describe(&e), "webhook sender: cannot build HTTP client");
            None
        }
    }
}

/// A reqwest error with its source chain ("error sending request: connection refused").
pub(super) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The retry schedule and envelope rules; the HTTP behaviour is tested in `tests/sim_webhook.rs`.
#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    use crate::sim::webhook::test_fixtures::{parent, raw, PAGE};

    #[test]
    fn retry_schedule_doubles_and_ends_about_a_day_after_the_first_attempt() {
        assert_eq!(retry_delay(1, 1.0), Duration::from_secs(675));
        assert_eq!(retry_delay(2, 1.0), Duration::from_secs(1350));
        let total: Duration = (1..MAX_ATTEMPTS).map(|a| retry_delay(a, 1.0)).sum();
        assert_eq!(total, Duration::from_secs(675 * 127)); // 23.8 h
        assert_eq!(retry_delay(1, 0.0001), Duration::from_secs_f64(0.0675));
        assert_eq!(retry_delay(3, -1.0), Duration::ZERO);
        assert_eq!(retry_delay(3, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn envelope_has_the_sample_keys_in_order_and_a_uuid_v4_id() {
        let mut rng = StdRng::seed_from_u64(7);
        let id = uuid_v4(&mut rng);
        assert_eq!(id.len(), 36);
        assert_eq!((&id[14..15], id.matches('-').count()), ("4", 4));
        assert!("89ab".contains(&id[19..20]), "{id}");
        assert_eq!(id, id.to_ascii_lowercase());
        assert_ne!(id, uuid_v4(&mut rng));

        let cfg = WebhookConfig {
            url: "http://127.0.0.1:1/webhook".into(),
            verification_token: "secret_x".into(),
            aggregation_window: Duration::ZERO,
            time_factor: 1.0,
            drop_rate: 0.0,
            duplicate_rate: 0.0,
            max_extra_delay: Duration::ZERO,
            delivery_timeout: Duration::from_secs(1),
            seed: 0,
            workspace_id: "w".into(),
            workspace_name: "Quantify Labs".into(),
            subscription_id: "s".into(),
            integration_id: "i".into(),
        };
        let mut event = raw("page.created", 34, "c7", json!({ "parent": parent("p1") }));
        event.at += chrono::Duration::milliseconds(285);
        let delivery = Delivery { id, event };
        let body: Value = serde_json::from_slice(&delivery.body(&cfg, 3).unwrap()).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "timestamp",
                "workspace_id",
                "workspace_name",
                "subscription_id",
                "integration_id",
                "type",
                "authors",
                "attempt_number",
                "api_version",
                "entity",
                "data"
            ]
        );
        assert_eq!(body["timestamp"], "2024-12-05T23:55:34.285Z");
        assert_eq!(body["attempt_number"], 3);
        assert_eq!(body["authors"], json!([{ "id": "c7", "type": "person" }]));
        assert_eq!(body["entity"], json!({ "id": PAGE, "type": "page" }));
    }
}
