//! The delivery task of one destination: wait for durable changes after its cursor, POST
//! them in batches, move the cursor after a 2xx, back off (capped, jittered) after
//! anything else.
//!
//! Invariants: one POST in flight per destination, so batches arrive in seq order; the
//! cursor is written to the mirror only after the 2xx that covers it; rows are read
//! through a read-only connection of its own (never the writer's queue), and only up to
//! the newest seq the store reports durable; a failing destination waits on its own timer
//! and touches nothing else.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio_util::sync::CancellationToken;

use super::batch::{self, Batch};
use super::Destination;
use crate::history::{self, ChangeRow};
use crate::metrics::Metrics;
use crate::mirror::{open, Store, StoreError};
use crate::notion::backoff;

/// Rows read from the mirror at a time (a batch takes at most 100 of them; the rest are
/// filtered ones the cursor may pass).
const READ_ROWS: usize = 1000;
/// The first retry waits up to this long (then doubling, up to the destination's cap).
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// One POST may take this long.
pub const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client of outbound deliveries: separate from the Notion client (no shared
/// rate limit), no redirects (a signed body goes where it was configured to go).
pub fn client() -> reqwest::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(POST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("notion-mirror/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One destination's delivery.
pub struct Delivery {
    pub store: Store,
    /// The mirror file (read through a read-only connection).
    pub path: PathBuf,
    pub destination: Destination,
    pub client: reqwest::Client,
    pub metrics: Arc<Metrics>,
}

impl Delivery {
    /// Delivers from `cursor` until `shutdown`.
    pub async fn run(self, mut cursor: i64, shutdown: CancellationToken) {
        let name = self.destination.name.clone();
        let filter = self.destination.filter();
        let mut durable = self.store.durable_seq();
        let mut reader: Option<Connection> = None;
        let mut failures = 0u32;
        self.gauge("notion_mirror_outbound_cursor", cursor as f64);
        loop {
            let target = *durable.borrow_and_update();
            if cursor >= target {
                tokio::select! {
                    changed = durable.changed() => if changed.is_err() { return },
                    _ = shutdown.cancelled() => return,
                }
                continue;
            }
            let rows = match read(&mut reader, &self.path, cursor, target).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(destination = %name, error = %e, "cannot read the change feed; retrying");
                    if !pause(Duration::from_secs(1), &shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            let mut next = batch::build(&rows, cursor, &filter);
            if rows.is_empty() {
                // Seqs up to the durable one that no row holds were rolled back.
                next.cursor = target;
            }
            if next.count == 0 {
                cursor = next.cursor;
                if !self.save(cursor, 0).await {
                    return;
                }
                continue;
            }
            let sent = tokio::select! {
                r = self.post(&next) => r,
                _ = shutdown.cancelled() => return,
            };
            match sent {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(destination = %name, after = failures, "outbound delivery recovered");
                    }
                    failures = 0;
                    cursor = next.cursor;
                    self.observe(&rows, &next);
                    if !self.save(cursor, next.count).await {
                        return;
                    }
                }
                Err(error) => {
                    failures += 1;
                    self.count("error");
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(destination = %name, attempt = failures, error = %error, "outbound delivery failed; retrying with backoff");
                    }
                    let store = self.store.clone();
                    let (n, e) = (name.clone(), error.clone());
                    if let Err(err) = store.write(move |c| super::failed(c, &n, &e)).await {
                        tracing::debug!(error = %err, "cannot record an outbound failure");
                    }
                    let wait =
                        backoff::delay(failures - 1, BACKOFF_BASE, self.destination.backoff_max);
                    if !pause(wait, &shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// POSTs one batch; `Err` with a line to record (never the URL's path or query).
    async fn post(&self, batch: &Batch) -> Result<(), String> {
        let d = &self.destination;
        let signature = crate::webhook::signature::sign(d.secret.expose(), &batch.body);
        let seq = batch.last_seq.unwrap_or(batch.cursor);
        let answer = self
            .client
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Notion-Mirror-Signature", signature)
            .header("X-Notion-Mirror-Seq", seq.to_string())
            .body(batch.body.clone())
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Err(e.without_url().to_string()),
        }
    }

    /// Writes the cursor (and what was delivered) to the mirror; false when the store is
    /// closed (the daemon is stopping).
    async fn save(&self, cursor: i64, changes: usize) -> bool {
        let name = self.destination.name.clone();
        match self
            .store
            .write(move |c| super::delivered(c, &name, cursor, changes))
            .await
        {
            Ok(()) => {
                self.gauge("notion_mirror_outbound_cursor", cursor as f64);
                true
            }
            Err(StoreError::Closed) => false,
            Err(e) => {
                tracing::warn!(destination = %self.destination.name, error = %e, "cannot record the outbound cursor; what follows may be delivered again");
                true
            }
        }
    }

    fn observe(&self, rows: &[ChangeRow], batch: &Batch) {
        self.count("ok");
        let name = self.destination.name.as_str();
        self.metrics.add(
            "notion_mirror_outbound_changes_total",
            &[("destination", name)],
            batch.count as u64,
        );
        let now = crate::queue::now_ms();
        let filter = self.destination.filter();
        for row in rows
            .iter()
            .filter(|r| r.seq <= batch.cursor && filter.matches(r))
        {
            if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&row.at) {
                let secs = (now - at.timestamp_millis()).max(0) as f64 / 1000.0;
                self.metrics.observe(
                    "notion_mirror_outbound_delivery_seconds",
                    &[("destination", name)],
                    secs,
                );
            }
        }
    }

    fn count(&self, outcome: &str) {
        self.metrics.inc(
            "notion_mirror_outbound_posts_total",
            &[
                ("destination", &self.destination.name),
                ("outcome", outcome),
            ],
        );
    }

    fn gauge(&self, name: &str, value: f64) {
        self.metrics
            .set(name, &[("destination", &self.destination.name)], value);
    }
}

/// Sleeps `wait` unless `shutdown` comes first (then false).
async fn pause(wait: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = shutdown.cancelled() => false,
    }
}

/// Reads rows `(cursor, target]` on a blocking thread through the kept read connection.
async fn read(
    reader: &mut Option<Connection>,
    path: &std::path::Path,
    cursor: i64,
    target: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    let conn = match reader.take() {
        Some(conn) => conn,
        None => open::open_read_only(path)?,
    };
    let joined = tokio::task::spawn_blocking(move || {
        let rows = history::rows_after(&conn, cursor, target, READ_ROWS);
        (conn, rows)
    })
    .await;
    match joined {
        Ok((conn, rows)) => {
            *reader = Some(conn);
            rows
        }
        Err(_) => Err(StoreError::Closed),
    }
}
