//! State one simulated subscription shares between its handle, the aggregator task and the
//! delivery tasks: configuration, fault knobs, counters and the pending-work count.
//!
//! Invariant: work is always added before the work it replaces is marked done, so a pending
//! count of 0 means quiet; the counters only ever grow.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{WebhookConfig, WebhookStats};

/// At most this many HTTP requests in flight at once (Notion does not serialize deliveries).
const MAX_IN_FLIGHT: usize = 64;

/// Fault knobs, sanitized so the dice never panic.
#[derive(Debug, Clone, Copy)]
pub(super) struct Faults {
    pub(super) drop_rate: f64,
    pub(super) duplicate_rate: f64,
    pub(super) max_extra_delay: Duration,
}

impl Faults {
    pub(super) fn new(drop_rate: f64, duplicate_rate: f64, max_extra_delay: Duration) -> Self {
        let probability = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        Self {
            drop_rate: probability(drop_rate),
            duplicate_rate: probability(duplicate_rate),
            max_extra_delay,
        }
    }
}

/// The live counters behind [`WebhookStats`].
#[derive(Default)]
pub(super) struct Counters {
    pub(super) emitted: AtomicU64,
    pub(super) deliveries: AtomicU64,
    pub(super) aggregated_away: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) duplicated: AtomicU64,
    pub(super) attempts: AtomicU64,
    pub(super) acknowledged: AtomicU64,
    pub(super) failed_attempts: AtomicU64,
    pub(super) gave_up: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> WebhookStats {
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

pub(super) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// State shared by the handle, the aggregator and the delivery tasks.
pub(super) struct Shared {
    pub(super) config: WebhookConfig,
    faults: Mutex<Faults>,
    pub(super) counters: Counters,
    /// Raw events in buckets + delivery copies not yet acknowledged, given up or abandoned.
    /// Work is always added before the work it replaces is marked done, so 0 means quiet.
    pub(super) pending: AtomicU64,
    /// Notified when `pending` drops to 0.
    pub(super) idle: Notify,
    pub(super) cancel: CancellationToken,
    /// `None` only if the TLS backend failed to initialise; every attempt then fails.
    pub(super) client: Option<reqwest::Client>,
    pub(super) in_flight: Semaphore,
}

impl Shared {
    /// Fresh state for `config`: sanitized fault knobs, zero counters, nothing pending.
    pub(super) fn new(config: WebhookConfig, client: Option<reqwest::Client>) -> Self {
        let faults = Faults::new(
            config.drop_rate,
            config.duplicate_rate,
            config.max_extra_delay,
        );
        Self {
            client,
            config,
            faults: Mutex::new(faults),
            counters: Counters::default(),
            pending: AtomicU64::new(0),
            idle: Notify::new(),
            cancel: CancellationToken::new(),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
        }
    }

    /// The current fault knobs (a poisoned lock still yields its value).
    pub(super) fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the fault knobs; deliveries scheduled from now on roll the new dice.
    pub(super) fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner) = faults;
    }

    pub(super) fn work_added(&self, n: u64) {
        self.pending.fetch_add(n, Ordering::SeqCst);
    }

    pub(super) fn work_done(&self, n: u64) {
        if n > 0 && self.pending.fetch_sub(n, Ordering::SeqCst) == n {
            self.idle.notify_waiters();
        }
    }
}
