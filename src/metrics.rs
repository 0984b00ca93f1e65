//! Counters, gauges and histograms, rendered in the Prometheus text format for
//! `GET /metrics`. Hand-written: a few maps behind one mutex are all the daemon needs.
//!
//! Invariant: metric names and label values never contain secrets; every family rendered
//! has `# HELP` and `# TYPE` lines from [`FAMILIES`].

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Every metric family the daemon exports: (name, type, help).
pub const FAMILIES: &[(&str, &str, &str)] = &[
    ("notion_mirror_webhook_events_total", "counter", "Webhook events received, by type (types Notion does not document count as `other`) and outcome (queued, duplicate, ignored)."),
    ("notion_mirror_webhook_rejected_total", "counter", "Webhook requests rejected, by reason (signature, no_token, malformed, too_large, timeout, method, path)."),
    ("notion_mirror_http_connections", "gauge", "HTTP connections open now (capped at half the descriptor limit)."),
    ("notion_mirror_http_connections_closed_total", "counter", "HTTP connections closed by the server, by reason (deadline: request incomplete in time; idle: keep-alive timeout; evicted: made room at the cap; refused: at the cap with every connection busy)."),
    ("notion_mirror_webhook_ingest_seconds", "histogram", "Time to verify, store durably and answer a webhook delivery."),
    ("notion_mirror_queue_depth", "gauge", "Work items waiting or running in the durable queue."),
    ("notion_mirror_queue_oldest_due_age_seconds", "gauge", "How long the oldest due work item has been waiting."),
    ("notion_mirror_queue_parked", "gauge", "Work items parked as failed (see `notion-mirror status`, requeue with `notion-mirror retry`)."),
    ("notion_mirror_work_total", "counter", "Work items finished, by kind and outcome (done, retry, parked)."),
    ("notion_mirror_refetch_seconds", "histogram", "Time from a work item becoming due to its object written to the mirror."),
    ("notion_mirror_notion_requests_total", "counter", "Notion API requests, by endpoint and HTTP status (0: no answer)."),
    ("notion_mirror_notion_rate_limited_total", "counter", "Notion API answers 429 rate_limited."),
    ("notion_mirror_notion_request_seconds", "histogram", "Notion API request latency."),
    ("notion_mirror_sweeps_total", "counter", "Reconciliation sweeps, by kind and outcome."),
    ("notion_mirror_last_reconcile_timestamp_seconds", "gauge", "Unix time of the last successful sweep, by kind."),
    ("notion_mirror_mirror_commits_total", "counter", "Mirror transactions committed by the writer (group commits)."),
    ("notion_mirror_sweep_work_items", "gauge", "Sweep work items pending or running (a cold sync, a resync, a restored mirror catching up)."),
    ("notion_mirror_sweep_eta_seconds", "gauge", "Time left of the sweeps' work at the configured request rate: items left × requests per item so far ÷ rate; -1 while a sweep lists or too few items are done."),
    ("notion_mirror_wal_bytes", "gauge", "Size of mirror.db-wal at the last look (every second)."),
    ("notion_mirror_wal_max_bytes", "gauge", "Largest size of mirror.db-wal since the daemon started."),
    ("notion_mirror_checkpoints_by_litestream", "gauge", "1 while WAL checkpoints are left to Litestream (checkpoint = litestream, or auto with its metadata directory beside the mirror), else 0."),
    ("notion_mirror_mirror_failed_commits_total", "counter", "Mirror group commits that failed to commit or to reach the disk (/healthz fails while the last one did)."),
    ("notion_mirror_files", "gauge", "Archived files by status (stored, pending, failed, too_large)."),
    ("notion_mirror_files_bytes", "gauge", "Bytes of the distinct archived blobs on disk."),
    ("notion_mirror_files_downloads_total", "counter", "File download attempts by outcome (stored, too_large, rejected: URL expired or refused so its object is refetched, retry, failed)."),
    ("notion_mirror_files_download_bytes_total", "counter", "Bytes of files downloaded and stored."),
    ("notion_mirror_files_refetches_total", "counter", "Objects refetched for a fresh file URL (one Notion request each)."),
    ("notion_mirror_changes_seq", "gauge", "The newest seq of the change feed (`changes`)."),
    ("notion_mirror_outbound_cursor", "gauge", "Last seq an outbound destination has handled (delivered with a 2xx, or skipped by its filters), by destination."),
    ("notion_mirror_outbound_lag", "gauge", "Changes after an outbound destination's cursor, by destination."),
    ("notion_mirror_outbound_lag_seconds", "gauge", "Age of the oldest change not yet delivered to a destination (0 when none), by destination."),
    ("notion_mirror_outbound_failures", "gauge", "Failed POSTs to a destination since its last 2xx, by destination."),
    ("notion_mirror_outbound_last_error_timestamp_seconds", "gauge", "Unix time of a destination's last failed POST (0: none), by destination."),
    ("notion_mirror_outbound_posts_total", "counter", "Outbound POSTs, by destination and outcome (ok: 2xx, error: anything else)."),
    ("notion_mirror_outbound_changes_total", "counter", "Changes delivered (2xx), by destination."),
    ("notion_mirror_outbound_delivery_seconds", "histogram", "Time from a change being written to the mirror to its delivery answered 2xx."),
];

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

type Labels = Vec<(String, String)>;

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Families {
    counters: BTreeMap<(String, Labels), u64>,
    gauges: BTreeMap<(String, Labels), f64>,
    histograms: BTreeMap<(String, Labels), Histogram>,
}

/// The registry. Shared as `Arc<Metrics>`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Families>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` to a counter.
    pub fn add(&self, name: &str, pairs: &[(&str, &str)], n: u64) {
        if let Ok(mut f) = self.inner.lock() {
            *f.counters
                .entry((name.to_string(), labels(pairs)))
                .or_default() += n;
        }
    }

    /// Adds one to a counter.
    pub fn inc(&self, name: &str, pairs: &[(&str, &str)]) {
        self.add(name, pairs, 1);
    }

    /// Sets a counter to a total kept elsewhere (e.g. the writer's commit count).
    pub fn set_counter(&self, name: &str, pairs: &[(&str, &str)], total: u64) {
        if let Ok(mut f) = self.inner.lock() {
            f.counters.insert((name.to_string(), labels(pairs)), total);
        }
    }

    /// Sets a gauge.
    pub fn set(&self, name: &str, pairs: &[(&str, &str)], value: f64) {
        if let Ok(mut f) = self.inner.lock() {
            f.gauges.insert((name.to_string(), labels(pairs)), value);
        }
    }

    /// Records one observation (seconds) in a histogram.
    pub fn observe(&self, name: &str, pairs: &[(&str, &str)], seconds: f64) {
        if let Ok(mut f) = self.inner.lock() {
            let h = f
                .histograms
                .entry((name.to_string(), labels(pairs)))
                .or_insert_with(|| Histogram {
                    counts: vec![0; BUCKETS.len()],
                    ..Histogram::default()
                });
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        }
    }

    /// The current value of a counter (tests, progress lines).
    pub fn counter(&self, name: &str, pairs: &[(&str, &str)]) -> u64 {
        self.inner
            .lock()
            .ok()
            .and_then(|f| f.counters.get(&(name.to_string(), labels(pairs))).copied())
            .unwrap_or(0)
    }

    /// The sum of a counter over all label sets.
    pub fn counter_sum(&self, name: &str) -> u64 {
        self.inner
            .lock()
            .map(|f| {
                f.counters
                    .iter()
                    .filter(|((n, _), _)| n == name)
                    .map(|(_, v)| *v)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Renders every family in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let Ok(f) = self.inner.lock() else {
            return String::new();
        };
        let mut out = String::new();
        for (name, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            match *kind {
                "counter" => render_values(&mut out, name, &f.counters, |v| v.to_string()),
                "gauge" => render_values(&mut out, name, &f.gauges, format_float),
                _ => render_histograms(&mut out, name, &f.histograms),
            }
        }
        out
    }
}

fn format_float(v: &f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", *v as i64)
    } else {
        format!("{v}")
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn render_values<T>(
    out: &mut String,
    name: &str,
    values: &BTreeMap<(String, Labels), T>,
    fmt: impl Fn(&T) -> String,
) {
    for ((n, labels), v) in values {
        if n == name {
            let _ = writeln!(out, "{name}{} {}", label_text(labels, None), fmt(v));
        }
    }
}

fn render_histograms(out: &mut String, name: &str, values: &BTreeMap<(String, Labels), Histogram>) {
    for ((n, labels), h) in values {
        if n != name {
            continue;
        }
        for (bound, count) in BUCKETS.iter().zip(&h.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{} {count}",
                label_text(labels, Some(("le", format!("{bound}"))))
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{} {}",
            label_text(labels, Some(("le", "+Inf".into()))),
            h.count
        );
        let _ = writeln!(out, "{name}_sum{} {}", label_text(labels, None), h.sum);
        let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.inc(
            "notion_mirror_webhook_events_total",
            &[("type", "page.created"), ("outcome", "queued")],
        );
        m.set("notion_mirror_queue_depth", &[], 3.0);
        m.observe("notion_mirror_webhook_ingest_seconds", &[], 0.004);
        let text = m.render();
        assert!(text.contains("# TYPE notion_mirror_webhook_events_total counter"));
        assert!(text.contains(
            "notion_mirror_webhook_events_total{type=\"page.created\",outcome=\"queued\"} 1"
        ));
        assert!(text.contains("notion_mirror_queue_depth 3"));
        assert!(text.contains("notion_mirror_webhook_ingest_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("notion_mirror_webhook_ingest_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("notion_mirror_webhook_ingest_seconds_count 1"));
        assert_eq!(m.counter_sum("notion_mirror_webhook_events_total"), 1);
    }
}
