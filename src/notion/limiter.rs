//! The one rate limit every Notion request passes: a token bucket (average `rate` per
//! second, up to `burst` at once) plus a shared "paused until" instant set by 429
//! `Retry-After`, and two priorities so webhook work goes ahead of sweep work.
//!
//! Invariants: at most `burst + rate * t` requests start in any window of length `t`;
//! after a 429 nobody starts a request before the pause ends, and the bucket restarts
//! empty (no burst right after a rate limit); a low-priority caller never takes a token
//! while a high-priority caller is waiting; among high-priority callers, one with a lower
//! [`Rank`] never waits for a token one with a higher rank takes (equal ranks race).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Orders high-priority callers: the work item that has made the fewest requests goes
/// first, then the one due first. Most webhook work is one request (a page GET, a comment
/// GET), so it no longer waits behind an item on its fifth request (a new database, a
/// re-queried data source); an item that made many waits only while fewer-request work
/// waits too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rank {
    /// Requests this work item has made so far.
    pub served: u64,
    /// The work item's due time (unix ms).
    pub due_at: i64,
}

/// Who is asking: webhook-driven work (`High`) or sweeps (`Low`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    High,
    Low,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
    /// High-priority callers waiting, by rank.
    high_waiting: BTreeMap<Rank, usize>,
}

impl State {
    /// High-priority callers waiting with a rank below `rank`.
    fn ahead_of(&self, rank: Rank) -> usize {
        self.high_waiting.range(..rank).map(|(_, n)| n).sum()
    }
}

/// The shared limiter. Cheap to call; lives in the client's `Arc`.
#[derive(Debug)]
pub struct Limiter {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

/// Removes a high-priority waiter from `high_waiting` when it leaves (even if cancelled).
struct HighWaiter<'a>(&'a Limiter, Rank);

impl Drop for HighWaiter<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            if let Some(n) = s.high_waiting.get_mut(&self.1) {
                *n -= 1;
                if *n == 0 {
                    s.high_waiting.remove(&self.1);
                }
            }
        }
    }
}

impl Limiter {
    /// `rate` requests/second on average (> 0), bursts of up to `burst` (≥ 1).
    pub fn new(rate: f64, burst: f64) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            3.0
        };
        let burst = burst.max(1.0);
        Limiter {
            rate,
            burst,
            state: Mutex::new(State {
                tokens: burst,
                refilled_at: Instant::now(),
                paused_until: None,
                high_waiting: BTreeMap::new(),
            }),
        }
    }

    /// The configured average rate.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Waits until a request may start, then takes its token. `rank` orders
    /// high-priority callers (lower first); it does not matter for low-priority ones.
    pub async fn acquire(&self, priority: Priority, rank: Rank) {
        let _guard = (priority == Priority::High).then(|| {
            if let Ok(mut s) = self.state.lock() {
                *s.high_waiting.entry(rank).or_insert(0) += 1;
            }
            HighWaiter(self, rank)
        });
        loop {
            let wait = match self.try_take(priority, rank) {
                None => return,
                Some(wait) => wait,
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token now (`None`) or says how long to wait before trying again.
    fn try_take(&self, priority: Priority, rank: Rank) -> Option<Duration> {
        let Ok(mut s) = self.state.lock() else {
            return None; // a poisoned lock must not stop every request
        };
        let now = Instant::now();
        if let Some(until) = s.paused_until {
            if until > now {
                return Some(until - now);
            }
            s.paused_until = None;
            s.refilled_at = now;
        }
        let elapsed = now.saturating_duration_since(s.refilled_at).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.refilled_at = now;
        let yield_to_high = priority == Priority::Low && !s.high_waiting.is_empty();
        // A high-priority caller leaves one token for each lower-ranked caller waiting.
        let needed = match priority {
            Priority::High => 1.0 + s.ahead_of(rank) as f64,
            Priority::Low => 1.0,
        };
        if s.tokens >= needed && !yield_to_high {
            s.tokens -= 1.0;
            return None;
        }
        let until_token = ((needed - s.tokens).max(0.0) / self.rate).max(0.001);
        // Low priority re-checks a little later than the next token so a waiting
        // high-priority caller wins it.
        let extra = if priority == Priority::Low {
            0.002
        } else {
            0.0
        };
        Some(Duration::from_secs_f64(until_token + extra))
    }

    /// Stops every caller for `pause` (a 429's `Retry-After`); the bucket restarts empty.
    pub fn pause_for(&self, pause: Duration) {
        if let Ok(mut s) = self.state.lock() {
            let until = Instant::now() + pause;
            if s.paused_until.is_none_or(|u| u < until) {
                s.paused_until = Some(until);
            }
            s.tokens = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn burst_then_average_rate() {
        let limiter = Limiter::new(3.0, 3.0);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire(Priority::Low, Rank::default()).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(5),
            "burst is immediate"
        );
        for _ in 0..30 {
            limiter.acquire(Priority::Low, Rank::default()).await;
        }
        let secs = start.elapsed().as_secs_f64();
        assert!((9.9..10.3).contains(&secs), "30 more at 3/s took {secs}s");
    }

    #[tokio::test(start_paused = true)]
    async fn pause_stops_everyone_and_empties_the_bucket() {
        let limiter = Limiter::new(10.0, 10.0);
        let start = Instant::now();
        limiter.pause_for(Duration::from_secs(2));
        limiter.acquire(Priority::High, Rank::default()).await;
        let first = start.elapsed().as_secs_f64();
        assert!(first >= 2.0, "waited for the pause: {first}");
        limiter.acquire(Priority::High, Rank::default()).await;
        let second = start.elapsed().as_secs_f64();
        assert!(second - first >= 0.09, "no burst right after a pause");
    }

    #[tokio::test(start_paused = true)]
    async fn high_priority_goes_first() {
        let limiter = Arc::new(Limiter::new(1.0, 1.0));
        limiter.acquire(Priority::Low, Rank::default()).await; // empty the bucket
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, prio) in [("low", Priority::Low), ("high", Priority::High)] {
            let l = limiter.clone();
            let o = order.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire(prio, Rank::default()).await;
                o.lock().unwrap().push(name);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec!["high", "low"]);
    }

    #[tokio::test(start_paused = true)]
    async fn fewer_requests_then_older_work_go_first_among_high_priority() {
        let limiter = Arc::new(Limiter::new(1.0, 1.0));
        limiter.acquire(Priority::High, Rank::default()).await; // empty the bucket
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Arriving in the reverse order: fewer requests made first, then due first.
        let ranks = [(2, 10), (0, 30), (0, 20)];
        for (served, due_at) in ranks {
            let l = limiter.clone();
            let o = order.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire(Priority::High, Rank { served, due_at }).await;
                o.lock().unwrap().push((served, due_at));
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![(0, 20), (0, 30), (2, 10)]);
    }

    #[tokio::test(start_paused = true)]
    async fn ranks_keep_the_average_rate() {
        let limiter = Arc::new(Limiter::new(3.0, 3.0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..33_i64 {
            let l = limiter.clone();
            let rank = Rank {
                served: (i % 3) as u64,
                due_at: i % 4,
            };
            tasks.push(tokio::spawn(async move {
                l.acquire(Priority::High, rank).await
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        assert!((9.9..10.3).contains(&secs), "3 + 30 at 3/s took {secs}s");
    }
}
