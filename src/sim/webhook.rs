//! Simulated Notion webhook sender: aggregates raw workspace changes per entity, then signs and
//! POSTs them to the daemon with Notion's delivery semantics (retries, drops, duplicates, reordering).
//!
//! Invariant: a delivery keeps one event `id` across all its retries and duplicate copies, and
//! every event body is signed over its exact bytes; a failed POST is counted and retried, it
//! never panics a task.
//!
//! Simulated (source tags from `notion-api-facts.md`):
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
//! UNCONFIRMED (facts §6.4, §8), decided here: any 2xx acknowledges an attempt; the receiver
//! timeout is the configured `delivery_timeout`; a timeout or connection error is a failed attempt.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::SecondsFormat;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::events::RawEvent;
use crate::webhook::signature::sign;

/// Notion stops retrying a delivery after this many attempts [S9].
pub const MAX_ATTEMPTS: u32 = 8;
/// The payload shape version written into every envelope.
pub const API_VERSION: &str = "2025-09-03";
/// Seconds before the first retry at `time_factor` 1.0; doubles per attempt, so the 8th
/// attempt lands 675 s * 127 ≈ 23.8 h after the first ("the last ≈ 24 h after") [S9].
const FIRST_RETRY_SECS: f64 = 675.0;
/// At most this many HTTP requests in flight at once (Notion does not serialize deliveries).
const MAX_IN_FLIGHT: usize = 64;
/// Floor of the extra gap before a duplicate copy.
const MIN_DUPLICATE_GAP: Duration = Duration::from_millis(50);

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
        let faults = Faults::new(
            config.drop_rate,
            config.duplicate_rate,
            config.max_extra_delay,
        );
        let aggregator = Aggregator {
            rng: StdRng::seed_from_u64(config.seed),
            window: config.aggregation_window,
            buckets: HashMap::new(),
            deadlines: VecDeque::new(),
            shared: Arc::new(Shared {
                client: build_client(),
                config,
                faults: Mutex::new(faults),
                counters: Counters::default(),
                pending: AtomicU64::new(0),
                idle: Notify::new(),
                cancel: CancellationToken::new(),
                in_flight: Semaphore::new(MAX_IN_FLIGHT),
            }),
        };
        let shared = Arc::clone(&aggregator.shared);
        tokio::spawn(aggregator.run(rx));
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
        *self
            .shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = faults;
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

/// True for event types Notion aggregates per entity [S9]: `page.*`, `database.*` and
/// `data_source.*` lifecycle, move and update events. False for `comment.*`,
/// `page.locked` / `page.unlocked` and event types this simulator does not know.
pub fn is_aggregated(event_type: &str) -> bool {
    Kind::of(event_type).is_some()
}

/// Aggregates the raw events of ONE entity's window (in arrival order) into the deliveries
/// Notion would send. Pure; the rules are in the module docs and [S9]. Events that are not
/// aggregated ([`is_aggregated`]) pass through one by one.
pub fn aggregate(bucket: &[RawEvent]) -> Vec<RawEvent> {
    let mut lifecycle = Vec::new();
    let mut updates = Vec::new();
    let mut passed = Vec::new();
    for event in bucket {
        match Kind::of(&event.event_type) {
            Some(kind) if kind.is_lifecycle() => lifecycle.push((kind, event)),
            Some(kind) => updates.push((kind, event)),
            None => passed.push(event.clone()),
        }
    }
    let mut out = match (lifecycle.first(), lifecycle.last()) {
        (Some(first), Some(last)) => match (first.0.state_before(), last.0.state_after()) {
            // Born in this window and alive at its end: one `created` says it all.
            (Life::Absent, Life::Live) => vec![created_absorbing(&lifecycle, &updates)],
            // Born and trashed in the window: the receiver never needs to know.
            (Life::Absent, _) => Vec::new(),
            // Deleted then undeleted (or the reverse): the pair cancels out.
            (before, after) if before == after => merge_updates(&updates),
            _ => {
                let all: Vec<&RawEvent> = lifecycle.iter().map(|(_, e)| *e).collect();
                let mut out = vec![combined(last.1, &all)];
                out.extend(merge_updates(&updates));
                out
            }
        },
        _ => merge_updates(&updates),
    };
    out.extend(passed);
    out
}

/// The aggregation-relevant part of an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Created,
    Deleted,
    Undeleted,
    Moved,
    PropertiesUpdated,
    ContentUpdated,
    SchemaUpdated,
}

/// Whether an entity exists, as the receiver would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Absent,
    Live,
    Trashed,
}

impl Kind {
    fn of(event_type: &str) -> Option<Kind> {
        let (object, action) = event_type.split_once('.')?;
        if !matches!(object, "page" | "database" | "data_source") {
            return None;
        }
        Some(match action {
            "created" => Kind::Created,
            "deleted" => Kind::Deleted,
            "undeleted" => Kind::Undeleted,
            "moved" => Kind::Moved,
            "properties_updated" => Kind::PropertiesUpdated,
            "content_updated" => Kind::ContentUpdated,
            "schema_updated" => Kind::SchemaUpdated,
            _ => return None,
        })
    }

    fn is_lifecycle(self) -> bool {
        matches!(self, Kind::Created | Kind::Deleted | Kind::Undeleted)
    }

    fn state_before(self) -> Life {
        match self {
            Kind::Created => Life::Absent,
            Kind::Undeleted => Life::Trashed,
            _ => Life::Live,
        }
    }

    fn state_after(self) -> Life {
        match self {
            Kind::Deleted => Life::Trashed,
            _ => Life::Live,
        }
    }
}

/// The first `*.created`, with the parent of the last `*.moved`, stamped with every event.
fn created_absorbing(lifecycle: &[(Kind, &RawEvent)], updates: &[(Kind, &RawEvent)]) -> RawEvent {
    let all: Vec<&RawEvent> = lifecycle.iter().chain(updates).map(|(_, e)| *e).collect();
    let base = lifecycle
        .iter()
        .find(|(kind, _)| *kind == Kind::Created)
        .map_or(all[0], |(_, e)| *e);
    let mut out = combined(base, &all);
    let last_parent = updates
        .iter()
        .rev()
        .find(|(kind, _)| *kind == Kind::Moved)
        .and_then(|(_, e)| e.data.get("parent"));
    if let (Some(parent), Some(data)) = (last_parent, out.data.as_object_mut()) {
        data.insert("parent".to_string(), parent.clone());
    }
    out
}

/// One delivery per update type (first-seen order), each with merged `data`.
fn merge_updates(updates: &[(Kind, &RawEvent)]) -> Vec<RawEvent> {
    let mut groups: Vec<(Kind, Vec<&RawEvent>)> = Vec::new();
    for (kind, event) in updates {
        match groups
            .iter_mut()
            .find(|(_, g)| g[0].event_type == event.event_type)
        {
            Some((_, group)) => group.push(event),
            None => groups.push((*kind, vec![event])),
        }
    }
    groups
        .into_iter()
        .map(|(kind, group)| {
            let data = group[1..].iter().fold(group[0].data.clone(), |acc, e| {
                merge_data(kind, &acc, &e.data)
            });
            RawEvent {
                data,
                ..combined(group[0], &group)
            }
        })
        .collect()
}

/// `next`'s data (latest parent wins) with the update list merged per [S9] semantics.
fn merge_data(kind: Kind, acc: &Value, next: &Value) -> Value {
    let (key, by_id, latest_wins) = match kind {
        Kind::PropertiesUpdated => ("updated_properties", false, false),
        Kind::ContentUpdated => ("updated_blocks", true, false),
        Kind::SchemaUpdated => ("updated_properties", true, true),
        _ => return next.clone(),
    };
    let mut merged: Vec<Value> = Vec::new();
    let items = [acc, next]
        .into_iter()
        .filter_map(|d| d.get(key).and_then(Value::as_array))
        .flatten();
    for item in items {
        let same = |seen: &Value| match (by_id, seen.get("id"), item.get("id")) {
            (true, Some(a), Some(b)) => a == b,
            _ => seen == item,
        };
        match merged.iter().position(same) {
            Some(i) if latest_wins => merged[i] = item.clone(),
            Some(_) => {}
            None => merged.push(item.clone()),
        }
    }
    let mut out = next.clone();
    if let Some(obj) = out.as_object_mut() {
        obj.insert(key.to_string(), Value::Array(merged));
    }
    out
}

/// `base` with the latest `at` and the union of authors (deduped by id) of `all`.
fn combined(base: &RawEvent, all: &[&RawEvent]) -> RawEvent {
    let mut out = base.clone();
    out.at = all.iter().map(|e| e.at).max().unwrap_or(base.at);
    out.authors = dedupe_authors(all.iter().flat_map(|e| e.authors.iter()));
    out
}

fn dedupe_authors<'a>(
    authors: impl Iterator<Item = &'a (String, String)>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for author in authors {
        if !out.iter().any(|(id, _)| *id == author.0) {
            out.push(author.clone());
        }
    }
    out
}

/// Fault knobs, sanitized so the dice never panic.
#[derive(Debug, Clone, Copy)]
struct Faults {
    drop_rate: f64,
    duplicate_rate: f64,
    max_extra_delay: Duration,
}

impl Faults {
    fn new(drop_rate: f64, duplicate_rate: f64, max_extra_delay: Duration) -> Self {
        let probability = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        Self {
            drop_rate: probability(drop_rate),
            duplicate_rate: probability(duplicate_rate),
            max_extra_delay,
        }
    }
}

#[derive(Default)]
struct Counters {
    emitted: AtomicU64,
    deliveries: AtomicU64,
    aggregated_away: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    attempts: AtomicU64,
    acknowledged: AtomicU64,
    failed_attempts: AtomicU64,
    gave_up: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> WebhookStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WebhookStats {
            emitted: get(&self.emitted),
            deliveries: get(&self.deliveries),
            aggregated_away: get(&self.aggregated_away),
            dropped: get(&self.dropped),
            duplicated: get(&self.duplicated),
            attempts: get(&self.attempts),
            acknowledged: get(&self.acknowledged),
            failed_attempts: get(&self.failed_attempts),
            gave_up: get(&self.gave_up),
        }
    }
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// State shared by the handle, the aggregator and the delivery tasks.
struct Shared {
    config: WebhookConfig,
    faults: Mutex<Faults>,
    counters: Counters,
    /// Raw events in buckets + delivery copies not yet acknowledged, given up or abandoned.
    /// Work is always added before the work it replaces is marked done, so 0 means quiet.
    pending: AtomicU64,
    /// Notified when `pending` drops to 0.
    idle: Notify,
    cancel: CancellationToken,
    /// `None` only if the TLS backend failed to initialise; every attempt then fails.
    client: Option<reqwest::Client>,
    in_flight: Semaphore,
}

impl Shared {
    fn work_added(&self, n: u64) {
        self.pending.fetch_add(n, Ordering::SeqCst);
    }

    fn work_done(&self, n: u64) {
        if n > 0 && self.pending.fetch_sub(n, Ordering::SeqCst) == n {
            self.idle.notify_waiters();
        }
    }
}

fn build_client() -> Option<reqwest::Client> {
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
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Owns the per-entity buckets and the dice; the one task that turns raw events into deliveries.
struct Aggregator {
    shared: Arc<Shared>,
    rng: StdRng,
    window: Duration,
    buckets: HashMap<String, Vec<RawEvent>>,
    /// Window deadlines in bucket-creation order; the window is fixed, so this is sorted.
    deadlines: VecDeque<(Instant, String)>,
}

impl Aggregator {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RawEvent>) {
        let cancel = self.shared.cancel.clone();
        loop {
            let next_deadline = self.deadlines.front().map(|(at, _)| *at);
            tokio::select! {
                _ = cancel.cancelled() => return,
                event = rx.recv() => match event {
                    Some(event) => self.accept(event),
                    None => return,
                },
                _ = sleep_until_some(next_deadline) => self.flush_due(Instant::now()),
            }
        }
    }

    fn accept(&mut self, event: RawEvent) {
        if !is_aggregated(&event.event_type) {
            self.release(vec![event], 1);
            return;
        }
        let id = event.entity_id.clone();
        let bucket = self.buckets.entry(id.clone()).or_default();
        if bucket.is_empty() {
            self.deadlines.push_back((Instant::now() + self.window, id));
        }
        bucket.push(event);
    }

    fn flush_due(&mut self, now: Instant) {
        while let Some((at, _)) = self.deadlines.front() {
            if *at > now {
                break;
            }
            let Some((_, id)) = self.deadlines.pop_front() else {
                break;
            };
            let bucket = self.buckets.remove(&id).unwrap_or_default();
            let raw = bucket.len() as u64;
            self.release(aggregate(&bucket), raw);
        }
    }

    /// Schedules `merged` (produced from `raw` raw events), then retires the raw events.
    fn release(&mut self, merged: Vec<RawEvent>, raw: u64) {
        let counters = &self.shared.counters;
        bump(&counters.deliveries, merged.len() as u64);
        bump(
            &counters.aggregated_away,
            raw.saturating_sub(merged.len() as u64),
        );
        for event in merged {
            self.schedule(event);
        }
        self.shared.work_done(raw);
    }

    /// Rolls the dice for one delivery and spawns its copies.
    fn schedule(&mut self, event: RawEvent) {
        let faults = *self
            .shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let delivery = Arc::new(Delivery {
            id: uuid_v4(&mut self.rng),
            event,
        });
        if self.rng.random_bool(faults.drop_rate) {
            bump(&self.shared.counters.dropped, 1);
            tracing::debug!(id = %delivery.id, "webhook delivery dropped (fault knob)");
            return;
        }
        let first = random_delay(&mut self.rng, faults.max_extra_delay);
        self.spawn_copy(Arc::clone(&delivery), first);
        if self.rng.random_bool(faults.duplicate_rate) {
            bump(&self.shared.counters.duplicated, 1);
            let gap = random_delay(&mut self.rng, faults.max_extra_delay.max(MIN_DUPLICATE_GAP));
            self.spawn_copy(delivery, first.saturating_add(gap));
        }
    }

    fn spawn_copy(&self, delivery: Arc<Delivery>, delay: Duration) {
        let shared = Arc::clone(&self.shared);
        shared.work_added(1);
        tokio::spawn(async move {
            let cancel = shared.cancel.clone();
            let run = async {
                tokio::time::sleep(delay).await;
                deliver(&shared, &delivery).await;
            };
            // Cancelled copies are abandoned and stay counted as pending (see `quiesce`).
            if cancel.run_until_cancelled(run).await.is_some() {
                shared.work_done(1);
            }
        });
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A uniform random delay in `0..=max` (microsecond resolution).
fn random_delay(rng: &mut StdRng, max: Duration) -> Duration {
    let max_micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rng.random_range(0..=max_micros))
}

/// A random (version 4) UUID, lowercase and dashed, drawn from the seeded RNG.
fn uuid_v4(rng: &mut StdRng) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// One aggregated event on its way out; shared by its duplicate copies.
struct Delivery {
    id: String,
    event: RawEvent,
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
async fn deliver(shared: &Shared, delivery: &Delivery) {
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
    // UNCONFIRMED which statuses Notion accepts (facts §6.4): any 2xx here.
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("http.status {}", status.as_u16()))
    }
}

/// Pure aggregation and envelope rules; the HTTP behaviour is tested in `tests/sim_webhook.rs`.
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    const PAGE: &str = "153104cd-477e-809d-8dc4-ff2d96ae3090";

    fn raw(event_type: &str, second: u32, author: &str, data: Value) -> RawEvent {
        RawEvent {
            event_type: event_type.to_string(),
            entity_type: "page".to_string(),
            entity_id: PAGE.to_string(),
            data,
            at: Utc.with_ymd_and_hms(2024, 12, 5, 23, 55, second).unwrap(),
            authors: vec![(author.to_string(), "person".to_string())],
        }
    }

    fn parent(id: &str) -> Value {
        json!({ "id": id, "type": "page" })
    }

    fn types(events: &[RawEvent]) -> Vec<&str> {
        events.iter().map(|e| e.event_type.as_str()).collect()
    }

    #[test]
    fn property_edits_merge_into_one_union_in_first_seen_order() {
        let edits = [vec!["a", "b"], vec!["c", "a"], vec!["b", "d"]];
        let bucket: Vec<RawEvent> = (edits.iter().enumerate())
            .map(|(i, props)| {
                let data = json!({ "parent": parent("p1"), "updated_properties": props });
                raw(
                    "page.properties_updated",
                    i as u32,
                    &format!("u{}", i % 2),
                    data,
                )
            })
            .collect();
        let out = aggregate(&bucket);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].data["updated_properties"],
            json!(["a", "b", "c", "d"])
        );
        assert_eq!(out[0].at, bucket[2].at, "timestamp is the latest raw `at`");
        let authors: Vec<&str> = out[0].authors.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(authors, ["u0", "u1"]);
    }

    #[test]
    fn content_updates_union_blocks_and_schema_updates_keep_latest_action() {
        let block = |id: &str| json!({ "id": id, "type": "block" });
        let bucket = [
            raw(
                "page.content_updated",
                1,
                "u",
                json!({ "updated_blocks": [block("x")] }),
            ),
            raw(
                "page.content_updated",
                2,
                "u",
                json!({ "updated_blocks": [block("y"), block("x")] }),
            ),
        ];
        let out = aggregate(&bucket);
        assert_eq!(
            out[0].data["updated_blocks"],
            json!([block("x"), block("y")])
        );

        let prop = |id: &str, action: &str| json!({ "id": id, "name": id, "action": action });
        let schema = |props: Vec<Value>| json!({ "updated_properties": props });
        let bucket = [
            raw(
                "data_source.schema_updated",
                1,
                "u",
                schema(vec![prop("k", "created"), prop("w", "updated")]),
            ),
            raw(
                "data_source.schema_updated",
                2,
                "u",
                schema(vec![prop("k", "deleted")]),
            ),
        ];
        let out = aggregate(&bucket);
        let expected = json!([prop("k", "deleted"), prop("w", "updated")]);
        assert_eq!(out[0].data["updated_properties"], expected);
    }

    #[test]
    fn created_absorbs_updates_and_moves_and_takes_the_last_parent() {
        let bucket = [
            raw("page.created", 1, "u1", json!({ "parent": parent("p1") })),
            raw(
                "page.properties_updated",
                2,
                "u2",
                json!({ "updated_properties": ["a"] }),
            ),
            raw("page.moved", 3, "u1", json!({ "parent": parent("p2") })),
            raw(
                "page.content_updated",
                4,
                "u3",
                json!({ "updated_blocks": [] }),
            ),
        ];
        let out = aggregate(&bucket);
        assert_eq!(types(&out), ["page.created"]);
        assert_eq!(out[0].data, json!({ "parent": parent("p2") }));
        assert_eq!(out[0].at, bucket[3].at);
        assert_eq!(out[0].authors.len(), 3);
    }

    #[test]
    fn create_then_delete_collapses_to_nothing() {
        let bucket = [
            raw("page.created", 1, "u", json!({ "parent": parent("p1") })),
            raw(
                "page.properties_updated",
                2,
                "u",
                json!({ "updated_properties": ["a"] }),
            ),
            raw("page.deleted", 3, "u", json!({ "parent": parent("p1") })),
        ];
        assert!(aggregate(&bucket).is_empty());
    }

    #[test]
    fn delete_then_undelete_cancels_but_keeps_other_updates() {
        let bucket = [
            raw("page.deleted", 1, "u", json!({ "parent": parent("p1") })),
            raw("page.undeleted", 2, "u", json!({ "parent": parent("p1") })),
            raw(
                "page.properties_updated",
                3,
                "u",
                json!({ "updated_properties": ["a"] }),
            ),
        ];
        assert_eq!(types(&aggregate(&bucket)), ["page.properties_updated"]);
        let bucket = [
            raw("page.undeleted", 1, "u", json!({ "parent": parent("p1") })),
            raw("page.deleted", 2, "u", json!({ "parent": parent("p1") })),
        ];
        assert!(aggregate(&bucket).is_empty());
        let bucket = [
            raw("page.deleted", 1, "u1", json!({ "parent": parent("p1") })),
            raw("page.undeleted", 2, "u2", json!({ "parent": parent("p1") })),
            raw("page.deleted", 3, "u3", json!({ "parent": parent("p1") })),
        ];
        let out = aggregate(&bucket);
        assert_eq!(types(&out), ["page.deleted"]);
        assert_eq!((out[0].at, out[0].authors.len()), (bucket[2].at, 3));
    }

    #[test]
    fn repeated_moves_become_one_with_the_last_parent() {
        let bucket = [
            raw("page.moved", 1, "u", json!({ "parent": parent("p1") })),
            raw("page.moved", 2, "u", json!({ "parent": parent("p2") })),
            raw("page.moved", 3, "u", json!({ "parent": parent("p3") })),
        ];
        let out = aggregate(&bucket);
        assert_eq!(types(&out), ["page.moved"]);
        assert_eq!(out[0].data["parent"], parent("p3"));
    }

    #[test]
    fn comments_locks_and_unknown_types_are_not_aggregated() {
        for t in [
            "comment.created",
            "comment.deleted",
            "page.locked",
            "page.unlocked",
            "view.updated",
        ] {
            assert!(!is_aggregated(t), "{t}");
        }
        for t in [
            "page.created",
            "database.moved",
            "data_source.schema_updated",
            "page.undeleted",
        ] {
            assert!(is_aggregated(t), "{t}");
        }
        let bucket = [
            raw("comment.created", 1, "u", json!({})),
            raw("comment.created", 2, "u", json!({})),
        ];
        assert_eq!(aggregate(&bucket).len(), 2);
    }

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
