//! The rate limit (token bucket per token) and the fault knobs' dice and injections.
//!
//! Invariant: a 429 always carries an integer `Retry-After` ≥ 1 — the knob's override or
//! the whole seconds until the bucket holds one token again [S2].

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use super::util::SimRng;
use super::RateLimit;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Mutable limiter state (behind one mutex in the `Sim`).
pub(crate) struct Limits {
    buckets: BTreeMap<String, Bucket>,
    injections: BTreeMap<String, VecDeque<(u16, u32)>>,
    rng: SimRng,
}

impl Limits {
    pub fn new(seed: u64) -> Self {
        Limits {
            buckets: BTreeMap::new(),
            injections: BTreeMap::new(),
            rng: SimRng::new(seed ^ 0x5EED_F00D),
        }
    }

    /// Takes one token; `Err(seconds)` when the bucket is empty.
    pub fn take(&mut self, token: &str, rl: RateLimit, now: Instant) -> Result<(), u64> {
        let rate = rl.rate.max(1e-6);
        let burst = rl.burst.max(1.0);
        let b = self.buckets.entry(token.to_string()).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }

    /// Forgets all buckets (after the rate knob changes, buckets restart full).
    pub fn reset_buckets(&mut self) {
        self.buckets.clear();
    }

    /// Queues `times` forced answers with `status` for `endpoint` (`*` = any endpoint).
    pub fn inject(&mut self, endpoint: &str, status: u16, times: u32) {
        if times > 0 {
            self.injections
                .entry(endpoint.to_string())
                .or_default()
                .push_back((status, times));
        }
    }

    /// The next injected status for this endpoint, if any (consumes one).
    pub fn injected(&mut self, endpoint: &str) -> Option<u16> {
        for key in [endpoint, "*"] {
            if let Some(q) = self.injections.get_mut(key) {
                if let Some((status, left)) = q.front_mut() {
                    let s = *status;
                    *left -= 1;
                    if *left == 0 {
                        q.pop_front();
                    }
                    return Some(s);
                }
            }
        }
        None
    }

    pub fn dice(&mut self, p: f64) -> bool {
        self.rng.chance(p)
    }

    /// One of Notion's transient server errors, uniformly [S1].
    pub fn pick_5xx(&mut self) -> u16 {
        [500, 502, 503, 504][self.rng.index(4)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_empties_then_refills() {
        let mut l = Limits::new(1);
        let rl = RateLimit {
            rate: 2.0,
            burst: 3.0,
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take("t", rl, t0).is_ok());
        }
        assert_eq!(l.take("t", rl, t0), Err(1));
        assert!(l.take("t", rl, t0 + Duration::from_millis(600)).is_ok());
        // Another token has its own bucket.
        assert!(l.take("u", rl, t0).is_ok());
    }

    #[test]
    fn injections_are_consumed_in_order() {
        let mut l = Limits::new(1);
        l.inject("search", 503, 2);
        l.inject("*", 500, 1);
        assert_eq!(l.injected("search"), Some(503));
        assert_eq!(l.injected("search"), Some(503));
        assert_eq!(l.injected("search"), Some(500));
        assert_eq!(l.injected("search"), None);
    }
}
