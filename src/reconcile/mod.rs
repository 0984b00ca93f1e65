//! The reconciler: what makes the mirror correct when webhooks are lost, late or
//! aggregated away. Incremental sweeps look at what changed since a watermark; full sweeps
//! enumerate everything visible and confirm absences with direct GETs.
//!
//! Invariants:
//! - Sweeps never overlap; triggers arriving during a sweep coalesce into one more run (a
//!   pending full sweep also covers a pending incremental one).
//! - Nothing is removed because a listing lacked it: absent objects are queued for a
//!   direct GET (`VERIFY`), and only a 404/403 there, with users/me proving the token,
//!   removes them. Rows of a data source whose query failed are not even checked.
//! - The watermark advances only after the work a sweep enqueued is done.
//! - Sweep requests use the low-priority client and sweep work the low queue priority, so
//!   webhook work goes first; the mirror stays readable throughout (WAL).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::fetch::{Ctx, FetchError, Report};
use crate::ids;
use crate::mirror::{write, StoreError};
use crate::notion::Priority;
use crate::queue::{self, reason, Kind, Signal, PRIORITY_SWEEP};

mod full;
mod incremental;

use full::full;
use incremental::incremental;

/// Settings key of the incremental watermark (a Notion `last_edited_time`).
pub const WATERMARK_KEY: &str = "watermark.incremental";

/// Which sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepKind {
    Full,
    Incremental,
}

impl SweepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SweepKind::Full => "full",
            SweepKind::Incremental => "incremental",
        }
    }
}

/// Sweep options beyond the fetch options.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Full sweeps re-list every page's comments (comments do not move a page's
    /// `last_edited_time`, so a lost `comment.*` webhook is only found by listing).
    pub full_sweep_comments: bool,
    /// Finished webhook events older than this are pruned by full sweeps.
    pub event_retention: Duration,
}

/// What a sweep did (also written to `sync_runs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepFigures {
    pub requests: u64,
    pub report: Report,
    /// Listing failures that limited the sweep (it still did the rest).
    pub errors: Vec<String>,
}

/// Sweep work: low priority, and never added on top of work the object already has.
fn sweep_signal(kind: Kind, id: &str, reasons: u32) -> Signal {
    let mut s = Signal::new(kind, id, reasons, queue::sweep_due_at(queue::now_ms()));
    s.priority = PRIORITY_SWEEP;
    s.if_idle = true;
    s
}

fn edited(object: &Value) -> Option<&str> {
    object.get("last_edited_time").and_then(Value::as_str)
}

fn object_id(object: &Value) -> Option<String> {
    object
        .get("id")
        .and_then(Value::as_str)
        .and_then(ids::normalize)
}

/// The data source a row page belongs to.
fn row_source(page: &Value) -> Option<String> {
    page.pointer("/parent/data_source_id")
        .and_then(Value::as_str)
        .and_then(ids::normalize)
}

fn is_row(page: &Value) -> bool {
    page.pointer("/parent/type").and_then(Value::as_str) == Some("data_source_id")
}

/// Runs one sweep of `kind`, recording it in `sync_runs`.
pub async fn sweep(
    ctx: &Ctx,
    kind: SweepKind,
    options: &SweepOptions,
    shutdown: &CancellationToken,
) -> Result<SweepFigures, FetchError> {
    let mut ctx = ctx.clone();
    ctx.client = ctx.client.with_priority(Priority::Low);
    let run_id = ctx
        .store
        .write(move |c| write::start_run(c, kind.as_str()))
        .await?;
    let requests_before = ctx.client.requests();
    let totals_before = ctx.totals.snapshot();
    let result = match kind {
        SweepKind::Full => full(&ctx, options, shutdown).await,
        SweepKind::Incremental => incremental(&ctx, options, shutdown).await,
    };
    let mut figures = SweepFigures {
        requests: ctx.client.requests() - requests_before,
        ..SweepFigures::default()
    };
    let (error, failure) = match result {
        Ok((listing, errors)) => {
            figures.report = listing;
            figures
                .report
                .add(ctx.totals.snapshot().minus(totals_before));
            figures.errors = errors;
            (
                (!figures.errors.is_empty()).then(|| figures.errors.join("; ")),
                None,
            )
        }
        Err(e) => (Some(e.to_string()), Some(e)),
    };
    let record = write::RunFigures {
        requests: figures.requests,
        objects: figures.report.written,
        removed: figures.report.removed,
        error: error.clone(),
    };
    ctx.store
        .write(move |c| write::finish_run(c, run_id, &record))
        .await?;
    let outcome = if error.is_none() { "ok" } else { "error" };
    ctx.metrics.inc(
        "notion_mirror_sweeps_total",
        &[("kind", kind.as_str()), ("outcome", outcome)],
    );
    if error.is_none() {
        ctx.metrics.set(
            "notion_mirror_last_reconcile_timestamp_seconds",
            &[("kind", kind.as_str())],
            chrono::Utc::now().timestamp() as f64,
        );
    }
    tracing::info!(
        kind = kind.as_str(),
        requests = figures.requests,
        written = figures.report.written,
        removed = figures.report.removed,
        error = error.as_deref().unwrap_or(""),
        "sweep finished"
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(figures),
    }
}

fn bump(mark: &mut Option<String>, candidate: Option<&str>) {
    if let Some(c) = candidate {
        if mark.as_deref().is_none_or(|m| c > m) {
            *mark = Some(c.to_string());
        }
    }
}

async fn advance_watermark(ctx: &Ctx, mark: String) -> Result<(), StoreError> {
    ctx.store
        .write(move |c| {
            let current = write::get_setting(c, WATERMARK_KEY)?;
            if current.as_deref().is_none_or(|cur| mark.as_str() > cur) {
                write::set_setting(c, WATERMARK_KEY, &mark)?;
            }
            Ok(())
        })
        .await
}

async fn enqueue_content(ctx: &Ctx, pages: &[String]) -> Result<(), StoreError> {
    ctx.enqueue(
        pages
            .iter()
            .map(|p| sweep_signal(Kind::Page, p, reason::CONTENT))
            .collect(),
    )
    .await
}

/// Waits until no sweep-priority work is pending or running (parked items do not count).
pub async fn wait_for_sweep_work(
    ctx: &Ctx,
    shutdown: &CancellationToken,
) -> Result<(), StoreError> {
    loop {
        let depth = ctx.store.read(|c| queue::depth(c, queue::now_ms())).await?;
        if depth.sweep_work == 0 || shutdown.is_cancelled() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
    }
}

/// Sweep requests from cron, SIGHUP and start-up, coalesced.
#[derive(Debug, Default)]
pub struct Triggers {
    full: AtomicBool,
    incremental: AtomicBool,
    notify: Notify,
}

impl Triggers {
    pub fn request(&self, kind: SweepKind) {
        match kind {
            SweepKind::Full => self.full.store(true, Ordering::SeqCst),
            SweepKind::Incremental => self.incremental.store(true, Ordering::SeqCst),
        }
        self.notify.notify_one();
    }

    /// The next sweep to run, if any (a full sweep also satisfies an incremental request).
    fn take(&self) -> Option<SweepKind> {
        if self.full.swap(false, Ordering::SeqCst) {
            self.incremental.store(false, Ordering::SeqCst);
            return Some(SweepKind::Full);
        }
        self.incremental
            .swap(false, Ordering::SeqCst)
            .then_some(SweepKind::Incremental)
    }
}

/// Runs sweeps one at a time as they are triggered, until `shutdown`.
pub async fn run(
    ctx: Ctx,
    options: SweepOptions,
    triggers: Arc<Triggers>,
    shutdown: CancellationToken,
) {
    loop {
        while let Some(kind) = triggers.take() {
            if shutdown.is_cancelled() {
                return;
            }
            tracing::info!(kind = kind.as_str(), "sweep started");
            if let Err(e) = sweep(&ctx, kind, &options, &shutdown).await {
                tracing::error!(kind = kind.as_str(), error = %e, "sweep failed");
            }
        }
        tokio::select! {
            _ = triggers.notify.notified() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_request_covers_a_pending_incremental() {
        let t = Triggers::default();
        t.request(SweepKind::Incremental);
        t.request(SweepKind::Full);
        t.request(SweepKind::Full);
        assert_eq!(t.take(), Some(SweepKind::Full));
        assert_eq!(t.take(), None);
        t.request(SweepKind::Incremental);
        assert_eq!(t.take(), Some(SweepKind::Incremental));
    }

    #[test]
    fn watermark_only_moves_forward() {
        let mut m = Some("2026-01-02T00:00:00.000Z".to_string());
        bump(&mut m, Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(m.as_deref(), Some("2026-01-02T00:00:00.000Z"));
        bump(&mut m, Some("2026-01-03T00:00:00.000Z"));
        assert_eq!(m.as_deref(), Some("2026-01-03T00:00:00.000Z"));
    }
}
