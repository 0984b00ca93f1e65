//! Retry timing: exponential backoff with full jitter, capped. Pure.
//!
//! Invariant: the delay for attempt `n` is uniform in `[0, min(cap, base * 2^n)]`
//! ("full jitter"), so many clients retrying at once spread out instead of colliding.

use std::time::Duration;

/// The upper bound of the jittered delay before retry number `attempt` (0-based).
pub fn ceiling(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(30));
    base.saturating_mul(factor).min(cap)
}

/// A full-jitter delay: `unit` in `[0, 1)` picks the point in `[0, ceiling]`.
pub fn full_jitter(attempt: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    ceiling(attempt, base, cap).mul_f64(unit.clamp(0.0, 1.0))
}

/// A full-jitter delay drawn from the thread RNG.
pub fn delay(attempt: u32, base: Duration, cap: Duration) -> Duration {
    full_jitter(attempt, base, cap, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(30);
        assert_eq!(ceiling(0, base, cap), Duration::from_millis(500));
        assert_eq!(ceiling(1, base, cap), Duration::from_secs(1));
        assert_eq!(ceiling(3, base, cap), Duration::from_secs(4));
        assert_eq!(ceiling(10, base, cap), cap);
        assert_eq!(ceiling(u32::MAX, base, cap), cap);
    }

    #[test]
    fn jitter_stays_within_the_ceiling() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(30);
        assert_eq!(full_jitter(2, base, cap, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(2, base, cap, 0.5), Duration::from_secs(1));
        assert_eq!(full_jitter(2, base, cap, 7.0), Duration::from_secs(2));
        for attempt in 0..12 {
            assert!(delay(attempt, base, cap) <= ceiling(attempt, base, cap));
        }
    }
}
