//! The aggregator task: collects raw events per entity for one aggregation window, then rolls
//! the fault dice (drop, duplicate, extra delay) and spawns one delivery task per copy.
//!
//! Invariant: the only owner of the buckets and the seeded RNG; a bucket's raw events are
//! retired from the pending count only after the deliveries made from them are scheduled.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::super::events::RawEvent;
use super::aggregate::{aggregate, is_aggregated};
use super::deliver::{deliver, uuid_v4, Delivery};
use super::shared::{bump, Shared};

/// Floor of the extra gap before a duplicate copy.
const MIN_DUPLICATE_GAP: Duration = Duration::from_millis(50);

/// Owns the per-entity buckets and the dice; the one task that turns raw events into deliveries.
pub(super) struct Aggregator {
    shared: Arc<Shared>,
    rng: StdRng,
    window: Duration,
    buckets: HashMap<String, Vec<RawEvent>>,
    /// Window deadlines in bucket-creation order; the window is fixed, so this is sorted.
    deadlines: VecDeque<(Instant, String)>,
}

impl Aggregator {
    /// An aggregator for `shared`'s subscription, its RNG seeded from the config.
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            rng: StdRng::seed_from_u64(shared.config.seed),
            window: shared.config.aggregation_window,
            buckets: HashMap::new(),
            deadlines: VecDeque::new(),
            shared,
        }
    }

    /// Accepts raw events until cancelled or every sender is gone; flushes due windows.
    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RawEvent>) {
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
        let faults = self.shared.faults();
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
