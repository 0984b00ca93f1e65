//! The fetcher: turns "refetch object X" into Notion calls and mirror writes, level-
//! triggered — it reads the current truth and converges the mirror to it.
//!
//! Invariants: nothing from a webhook payload is written as data (only ids steer the
//! work); no write transaction is open while a request is in flight (fetch first, then
//! one store job per object or per listing page); an object is removed only after a direct
//! GET answered 404/403 with `GET /v1/users/me` proving the token still works.
//!
//! Files: `complete` (truncated properties), `pages` (pages and listing results),
//! `content` (block trees, block-level refresh, comment lists), `sources` (databases, data
//! sources, row queries, users), `comments` (one comment), `views` (one database view),
//! `token` (the users/me check), `remove` (the removal step they share).

pub mod comments;
pub mod complete;
pub mod content;
pub mod pages;
pub mod remove;
pub mod sources;
pub mod token;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::mirror::{Store, StoreError};
use crate::notion::{backoff, Client, NotionError};
use crate::queue::{self, Kind, Outcome, Signal, WorkItem};

/// Tunables that change what a fetch covers.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// List comments of every block, not only page-level discussions.
    pub scan_block_comments: bool,
    /// Incremental sweeps and row queries look back this far.
    pub overlap: Duration,
    /// Work items are parked after this many failed attempts.
    pub max_attempts: u32,
    /// The first retry of a failed work item waits about this long (then doubling).
    pub retry_base: Duration,
    /// How long a sweep's content check waits before it looks again: a webhook event in
    /// flight usually explains the change first, and then nothing is fetched.
    pub event_grace: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            scan_block_comments: true,
            overlap: Duration::from_secs(120),
            max_attempts: 8,
            retry_base: Duration::from_secs(15),
            event_grace: Duration::from_secs(20),
        }
    }
}

/// Everything a fetch needs. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub client: Client,
    pub store: Store,
    pub options: FetchOptions,
    pub metrics: Arc<Metrics>,
    pub token: Arc<token::TokenCheck>,
    /// Wakes the workers when new work is enqueued.
    pub wake: Arc<queue::Wake>,
    /// Running totals of what work items changed (sweeps report deltas).
    pub totals: Arc<Totals>,
}

/// Running totals, updated by the workers.
#[derive(Debug, Default)]
pub struct Totals {
    pub written: std::sync::atomic::AtomicU64,
    pub removed: std::sync::atomic::AtomicU64,
    pub items: std::sync::atomic::AtomicU64,
}

impl Totals {
    pub fn record(&self, report: Report) {
        use std::sync::atomic::Ordering::Relaxed;
        self.written.fetch_add(report.written, Relaxed);
        self.removed.fetch_add(report.removed, Relaxed);
        self.items.fetch_add(1, Relaxed);
    }
    pub fn snapshot(&self) -> Report {
        use std::sync::atomic::Ordering::Relaxed;
        Report {
            written: self.written.load(Relaxed),
            removed: self.removed.load(Relaxed),
        }
    }
}

impl Ctx {
    pub fn new(client: Client, store: Store, options: FetchOptions, metrics: Arc<Metrics>) -> Self {
        Ctx {
            client,
            store,
            options,
            metrics,
            token: Arc::new(token::TokenCheck::default()),
            wake: Arc::new(queue::Wake::default()),
            totals: Arc::new(Totals::default()),
        }
    }

    /// Enqueues signals in one transaction and wakes the workers.
    pub async fn enqueue(&self, signals: Vec<Signal>) -> Result<(), StoreError> {
        if signals.is_empty() {
            return Ok(());
        }
        let now = queue::now_ms();
        let earliest = signals.iter().map(|s| s.due_at).min().unwrap_or(now);
        self.store
            .write(move |c| {
                for s in &signals {
                    queue::enqueue(c, s, now)?;
                }
                Ok(())
            })
            .await?;
        self.wake.due_at(earliest);
        Ok(())
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Notion(#[from] NotionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a fetch changed, for `sync_runs` and progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Objects written new or changed.
    pub written: u64,
    /// Objects removed (tombstoned).
    pub removed: u64,
}

impl Report {
    pub fn minus(self, earlier: Report) -> Report {
        Report {
            written: self.written.saturating_sub(earlier.written),
            removed: self.removed.saturating_sub(earlier.removed),
        }
    }
    pub fn add(&mut self, other: Report) {
        self.written += other.written;
        self.removed += other.removed;
    }
    pub fn written(n: u64) -> Self {
        Report {
            written: n,
            removed: 0,
        }
    }
}

/// Runs one claimed work item to completion.
pub async fn run_item(ctx: &Ctx, item: &WorkItem) -> Result<Report, FetchError> {
    match item.kind {
        Kind::Page => pages::refresh(ctx, item).await,
        Kind::Database => sources::refresh_database(ctx, item).await,
        Kind::DataSource => sources::refresh_data_source(ctx, item).await,
        Kind::Comment => comments::refresh(ctx, &item.id, item.hint.as_deref()).await,
        Kind::Users => sources::refresh_users(ctx).await,
        Kind::View => views::refresh(ctx, &item.id).await,
    }
}

/// Maps a failed attempt to the queue outcome (the one error policy).
pub fn error_policy(
    error: &FetchError,
    attempts_before: u32,
    options: &FetchOptions,
    now_ms: i64,
) -> Outcome {
    let message = error.to_string();
    let attempt = attempts_before + 1;
    let retryable = match error {
        FetchError::Notion(e) => e.is_retryable() || matches!(e, NotionError::Unauthorized(_)),
        FetchError::Store(_) => true,
    };
    if !retryable || attempt >= options.max_attempts {
        return Outcome::Park { error: message };
    }
    // An invalid token stops everything until the operator fixes it: retry slowly.
    let delay = match error {
        FetchError::Notion(NotionError::Unauthorized(_)) => Duration::from_secs(300),
        // By default 15 s, 30 s, 1 min … capped at 30 min (half to full of each ceiling): eight
        // attempts span about 45 minutes, longer than most Notion incidents.
        _ => backoff::full_jitter(
            attempt,
            options.retry_base,
            Duration::from_secs(1800),
            0.5 + rand::random::<f64>() / 2.0,
        ),
    };
    Outcome::RetryAt {
        at: now_ms + delay.as_millis() as i64,
        error: message,
    }
}

/// Where follow-up work comes from: a webhook-driven item (high priority) or a sweep
/// (low priority, tagged with its run so the sweep knows when its own work is done).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub priority: i64,
    pub sweep_run: Option<i64>,
}

impl Origin {
    pub const WEBHOOK: Origin = Origin {
        priority: queue::PRIORITY_WEBHOOK,
        sweep_run: None,
    };

    pub fn sweep(run: Option<i64>) -> Origin {
        Origin {
            priority: queue::PRIORITY_SWEEP,
            sweep_run: run,
        }
    }

    /// The origin of work an item discovers: the item's own.
    pub fn of(item: &WorkItem) -> Origin {
        Origin {
            priority: item.priority,
            sweep_run: item.sweep_run,
        }
    }

    pub fn is_sweep(self) -> bool {
        self.priority == queue::PRIORITY_SWEEP
    }

    /// A signal for `kind`/`id` from this origin, due now (sweep work: at the start of
    /// this minute, see [`queue::sweep_due_at`]). Sweep work never piles on work the
    /// object already has (`if_idle`).
    pub fn signal(self, kind: Kind, id: &str, reasons: u32) -> Signal {
        let now = queue::now_ms();
        let due_at = if self.is_sweep() {
            queue::sweep_due_at(now)
        } else {
            now
        };
        let mut s = Signal::new(kind, id, reasons, due_at);
        s.priority = self.priority;
        s.if_idle = self.is_sweep();
        s.sweep_run = self.sweep_run;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_retries_transient_and_parks_the_rest() {
        let transient = FetchError::Notion(NotionError::Transient("503".into()));
        match error_policy(&transient, 0, &FetchOptions::default(), 1_000) {
            Outcome::RetryAt { at, .. } => {
                assert!((16_000..=31_000).contains(&at), "{at}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            error_policy(&transient, 7, &FetchOptions::default(), 0),
            Outcome::Park { .. }
        ));
        let invalid = FetchError::Notion(NotionError::Validation {
            status: 400,
            code: "validation_error".into(),
            message: "linked database".into(),
        });
        assert!(matches!(
            error_policy(&invalid, 0, &FetchOptions::default(), 0),
            Outcome::Park { .. }
        ));
        let later = error_policy(&transient, 5, &FetchOptions::default(), 0);
        assert!(matches!(later, Outcome::RetryAt { at, .. } if at > 240_000));
    }
}
