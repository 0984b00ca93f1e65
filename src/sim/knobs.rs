//! Run-time knobs: the rate limit, fault injection rates, latency, hangs, search lag,
//! the per-query row cap and the hosted-file URL lifetime and serving speed, plus their
//! JSON form for `/_sim/knobs`.
//!
//! Invariant: knobs are plain data, copied out of their mutex for each request; a request
//! sees one consistent set.

use std::time::Duration;

use serde_json::{json, Value};

/// The longest latency, hang or search lag the JSON knobs accept (one day).
const MAX_KNOB_MS: u64 = 86_400_000;

/// A token bucket: refills at `rate` tokens/s up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub rate: f64,
    pub burst: f64,
}

/// Fault and behaviour knobs, changeable at run time.
#[derive(Clone, Debug, PartialEq)]
pub struct Knobs {
    /// `None` = unlimited. Default `Some(3.0 rps, burst 10)`.
    pub rate_limit: Option<RateLimit>,
    /// Override the `Retry-After` seconds on 429 (`None` = computed from the bucket).
    pub retry_after: Option<u64>,
    /// Probability of answering 429 regardless of the bucket.
    pub storm_429_rate: f64,
    /// Probability of an injected 500/502/503/504.
    pub fail_rate: f64,
    /// Added to every API response.
    pub latency: Duration,
    /// Probability that a request hangs for `hang` before answering.
    pub hang_rate: f64,
    pub hang: Duration,
    /// Search answers from a snapshot this far behind the mutations.
    pub search_lag: Duration,
    /// Per-query row cap (Notion: 10,000).
    pub max_query_rows: usize,
    /// How long a hosted-file URL works after the answer that carried it (Notion: one
    /// hour; whole seconds, as `X-Amz-Expires`).
    pub file_url_ttl: Duration,
    /// Serve hosted files at most this fast (`None`: as fast as the client reads).
    pub file_bytes_per_sec: Option<u64>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            rate_limit: Some(RateLimit {
                rate: 3.0,
                burst: 10.0,
            }),
            retry_after: None,
            storm_429_rate: 0.0,
            fail_rate: 0.0,
            latency: Duration::ZERO,
            hang_rate: 0.0,
            hang: Duration::from_secs(30),
            search_lag: Duration::ZERO,
            max_query_rows: 10_000,
            file_url_ttl: Duration::from_secs(3600),
            file_bytes_per_sec: None,
        }
    }
}

impl Knobs {
    /// No rate limit, no faults (the usual test setting).
    pub fn unlimited() -> Self {
        Knobs {
            rate_limit: None,
            ..Knobs::default()
        }
    }

    /// JSON as `GET /_sim/knobs` shows it (durations in milliseconds).
    pub fn to_json(&self) -> Value {
        json!({
            "rate_limit": self.rate_limit.map(|r| json!({ "rate": r.rate, "burst": r.burst })),
            "retry_after": self.retry_after,
            "storm_429_rate": self.storm_429_rate,
            "fail_rate": self.fail_rate,
            "latency_ms": self.latency.as_millis() as u64,
            "hang_rate": self.hang_rate,
            "hang_ms": self.hang.as_millis() as u64,
            "search_lag_ms": self.search_lag.as_millis() as u64,
            "max_query_rows": self.max_query_rows,
            "file_url_ttl_ms": self.file_url_ttl.as_millis() as u64,
            "file_bytes_per_sec": self.file_bytes_per_sec,
        })
    }

    /// Applies a partial JSON update (the keys of [`Knobs::to_json`]).
    pub fn apply_json(&mut self, v: &Value) -> Result<(), String> {
        let obj = v.as_object().ok_or("knobs must be a JSON object")?;
        let prob = |k: &str, x: &Value| -> Result<f64, String> {
            x.as_f64()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or(format!("{k} must be a number in 0..=1"))
        };
        let ms = |k: &str, x: &Value| -> Result<Duration, String> {
            x.as_u64()
                .filter(|ms| *ms <= MAX_KNOB_MS)
                .map(Duration::from_millis)
                .ok_or(format!(
                    "{k} must be an integer number of milliseconds ≤ one day"
                ))
        };
        for (k, x) in obj {
            match k.as_str() {
                "rate_limit" if x.is_null() => self.rate_limit = None,
                "rate_limit" => {
                    let rate = x.get("rate").and_then(Value::as_f64).filter(|r| *r > 0.0);
                    let burst = x.get("burst").and_then(Value::as_f64).unwrap_or(10.0);
                    let rate = rate.ok_or("rate_limit.rate must be > 0")?;
                    self.rate_limit = Some(RateLimit {
                        rate,
                        burst: burst.max(1.0),
                    });
                }
                "retry_after" => self.retry_after = x.as_u64(),
                "storm_429_rate" => self.storm_429_rate = prob(k, x)?,
                "fail_rate" => self.fail_rate = prob(k, x)?,
                "hang_rate" => self.hang_rate = prob(k, x)?,
                "latency_ms" => self.latency = ms(k, x)?,
                "hang_ms" => self.hang = ms(k, x)?,
                "search_lag_ms" => self.search_lag = ms(k, x)?,
                "max_query_rows" => {
                    self.max_query_rows =
                        x.as_u64()
                            .filter(|n| *n >= 1)
                            .ok_or("max_query_rows must be ≥ 1")? as usize
                }
                "file_url_ttl_ms" => self.file_url_ttl = ms(k, x)?,
                "file_bytes_per_sec" if x.is_null() => self.file_bytes_per_sec = None,
                "file_bytes_per_sec" => {
                    self.file_bytes_per_sec = Some(
                        x.as_u64()
                            .filter(|n| *n >= 1)
                            .ok_or("file_bytes_per_sec must be ≥ 1 (or null)")?,
                    )
                }
                other => return Err(format!("unknown knob `{other}`")),
            }
        }
        Ok(())
    }
}
