//! Wake-ups for the worker pool: an in-memory nudge when work becomes due earlier than
//! the pool planned to look.
//!
//! Invariant: a lost or spurious wake-up only changes *when* the pool looks at the queue,
//! never what it finds there — the queue table is the truth.

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;

/// Wakes the worker pool when work becomes due earlier than the pool planned to look.
///
/// The pool tells it when it plans to look next ([`Wake::plan`]); an enqueue reports its
/// due time ([`Wake::due_at`]) and only wakes the pool when that is earlier. A flood of
/// debounced webhook events therefore wakes the pool once, not once per event.
#[derive(Debug)]
pub struct Wake {
    notify: Notify,
    earliest: AtomicI64,
}

impl Default for Wake {
    fn default() -> Self {
        Wake {
            notify: Notify::new(),
            earliest: AtomicI64::new(i64::MIN),
        }
    }
}

impl Wake {
    /// Work was enqueued that is due at `at` (unix ms).
    pub fn due_at(&self, at: i64) {
        let before = self.earliest.fetch_min(at, Ordering::SeqCst);
        if at < before {
            self.notify.notify_one();
        }
    }

    /// The pool will look again at `at` on its own; only earlier work wakes it.
    pub fn plan(&self, at: i64) {
        self.earliest.store(at, Ordering::SeqCst);
    }

    /// Wakes the pool now (a slot freed, shutdown, a sweep finished).
    pub fn now(&self) {
        self.notify.notify_one();
    }

    /// Resolves when woken.
    pub async fn woken(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_work_due_before_the_planned_look_wakes_the_pool() {
        let wake = Wake::default();
        let quick = std::time::Duration::from_millis(50);
        wake.plan(1_000);
        wake.due_at(2_000);
        wake.due_at(1_500);
        assert!(
            tokio::time::timeout(quick, wake.woken()).await.is_err(),
            "later work does not wake"
        );
        wake.due_at(900);
        assert!(
            tokio::time::timeout(quick, wake.woken()).await.is_ok(),
            "earlier work wakes"
        );
        wake.due_at(950);
        assert!(
            tokio::time::timeout(quick, wake.woken()).await.is_err(),
            "900 is already known"
        );
    }
}
