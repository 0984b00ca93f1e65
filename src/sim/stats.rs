//! Request counters per `(endpoint, status)` and per `(endpoint, object id)`.
//!
//! Invariant: every API request (including 401, 429, injected failures and requests the
//! client abandoned mid-hang, recorded as status 499) is counted exactly once; `/_sim/*`
//! requests never are.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    by_status: BTreeMap<(String, u16), u64>,
    by_object: BTreeMap<(String, String), u64>,
}

impl Stats {
    /// All counted requests.
    pub fn total(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// Requests to one endpoint, any status.
    pub fn endpoint(&self, ep: &str) -> u64 {
        self.by_status
            .iter()
            .filter(|((e, _), _)| e == ep)
            .map(|(_, n)| n)
            .sum()
    }

    /// 2xx answers of one endpoint.
    pub fn ok(&self, ep: &str) -> u64 {
        self.by_status
            .iter()
            .filter(|((e, s), _)| e == ep && (200..300).contains(s))
            .map(|(_, n)| n)
            .sum()
    }

    /// Answers of one endpoint with one status.
    pub fn status(&self, ep: &str, code: u16) -> u64 {
        self.by_status
            .get(&(ep.to_string(), code))
            .copied()
            .unwrap_or(0)
    }

    /// Requests to one endpoint naming one object (id in any form).
    pub fn object(&self, ep: &str, id: &str) -> u64 {
        let id = crate::ids::normalize_or_keep(id);
        self.by_object
            .get(&(ep.to_string(), id))
            .copied()
            .unwrap_or(0)
    }

    /// Requests per endpoint, any status.
    pub fn by_endpoint(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for ((ep, _), n) in &self.by_status {
            *m.entry(ep.clone()).or_insert(0) += n;
        }
        m
    }

    /// All 429 answers.
    pub fn rate_limited(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|((_, s), _)| *s == 429)
            .map(|(_, n)| n)
            .sum()
    }

    /// JSON for `GET /_sim/stats`.
    pub fn to_json(&self) -> Value {
        let mut statuses = serde_json::Map::new();
        for ((ep, s), n) in &self.by_status {
            let e = statuses.entry(ep.clone()).or_insert_with(|| json!({}));
            e[s.to_string()] = json!(n);
        }
        json!({
            "total": self.total(),
            "rate_limited": self.rate_limited(),
            "by_endpoint": self.by_endpoint(),
            "by_endpoint_status": statuses,
            "objects": self.by_object.len(),
        })
    }

    fn record(&mut self, ep: &str, status: u16, object: Option<&str>) {
        *self.by_status.entry((ep.to_string(), status)).or_insert(0) += 1;
        if let Some(id) = object {
            *self
                .by_object
                .entry((ep.to_string(), id.to_string()))
                .or_insert(0) += 1;
        }
    }
}

/// Records one request when finished (or as 499 when dropped unfinished).
pub(crate) struct Counted {
    stats: Arc<Mutex<Stats>>,
    endpoint: &'static str,
    object: Option<String>,
    done: bool,
}

impl Counted {
    pub fn new(stats: Arc<Mutex<Stats>>, endpoint: &'static str, object: Option<String>) -> Self {
        Counted {
            stats,
            endpoint,
            object,
            done: false,
        }
    }

    pub fn finish(mut self, status: u16) {
        self.write(status);
        self.done = true;
    }

    fn write(&self, status: u16) {
        if let Ok(mut s) = self.stats.lock() {
            s.record(self.endpoint, status, self.object.as_deref());
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if !self.done {
            self.write(499);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_endpoint_status_and_object() {
        let stats = Arc::new(Mutex::new(Stats::default()));
        let id = "be633bf1-dfa0-436d-b259-571129a590e5";
        Counted::new(stats.clone(), "pages.retrieve", Some(id.into())).finish(200);
        Counted::new(stats.clone(), "pages.retrieve", Some(id.into())).finish(429);
        drop(Counted::new(stats.clone(), "search", None));
        let s = stats.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(s.total(), 3);
        assert_eq!(s.endpoint("pages.retrieve"), 2);
        assert_eq!(s.ok("pages.retrieve"), 1);
        assert_eq!(s.rate_limited(), 1);
        assert_eq!(
            s.object("pages.retrieve", "BE633BF1DFA0436DB259571129A590E5"),
            2
        );
        assert_eq!(s.status("search", 499), 1);
    }
}
