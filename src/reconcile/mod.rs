//! The reconciler: what makes the mirror correct when webhooks are lost, late or
//! aggregated away. Four sweeps (docs/freshness.md has their costs):
//! - **incremental** (every 5 minutes): what changed since a watermark, found by one
//!   search sorted by `last_edited_time` and one query per data source — 1 + data sources
//!   requests when nothing changed; content only where no webhook explained the change;
//! - **presence** (hourly): search and every data source's rows, so absences (unshared,
//!   deleted) are confirmed and removed; trees changed only through webhook events since
//!   their last whole read are re-read once;
//! - **full** (daily): presence, plus every data source and database object and every
//!   page's comment lists (comments move no timestamp);
//! - **resync** (SIGHUP, `notion-mirror resync`): everything refetched regardless of
//!   timestamps — the cold-sync floor — so a mirror damaged by hand heals.
//!
//! Invariants:
//! - Sweeps never overlap; triggers arriving during a sweep coalesce into one more run (a
//!   pending resync covers a full sweep, which covers presence, which covers incremental).
//! - A sweep ends when its listings end; its work runs in the queue at sweep priority,
//!   tagged with its run, and the watermark advances when that work is done ([`settle`]),
//!   so a sweep never waits for webhook work and the next one starts on schedule.
//! - Nothing is removed because a listing lacked it: absent objects are queued for a
//!   direct GET (`VERIFY`), and only a 404/403 there, with users/me proving the token,
//!   removes them. Rows of a data source whose query failed are not even checked.
//! - Sweep requests use the low-priority client and sweep work the low queue priority, so
//!   webhook work goes first; the mirror stays readable throughout (WAL).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::fetch::{Ctx, FetchError, Origin, Report};
use crate::ids;
use crate::mirror::{write, StoreError};
use crate::notion::Priority;
use crate::queue::{reason, Kind, Signal};

mod enumerate;
mod incremental;
mod settle;
mod sources;
mod views;

pub use settle::{settle_inline, Settler};

/// Settings key of the incremental watermark (a Notion `last_edited_time`).
pub const WATERMARK_KEY: &str = "watermark.incremental";

/// Which sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SweepKind {
    Incremental,
    Presence,
    Full,
    Resync,
}

impl SweepKind {
    pub const ALL: [SweepKind; 4] = [
        SweepKind::Incremental,
        SweepKind::Presence,
        SweepKind::Full,
        SweepKind::Resync,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SweepKind::Incremental => "incremental",
            SweepKind::Presence => "presence",
            SweepKind::Full => "full",
            SweepKind::Resync => "resync",
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
    /// Changes older than this are pruned by full sweeps (`None`: kept forever).
    pub history_retention: Option<Duration>,
    /// Webhooks are configured: an incremental sweep leaves changes that events explain to
    /// them (when events actually arrived in the last hour).
    pub webhooks_enabled: bool,
    /// Files are archived: full sweeps re-derive references and collect unreferenced files.
    pub files: Option<crate::files::FileSweep>,
}

/// What a sweep's listings did (also written to `sync_runs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepFigures {
    pub kind: Option<SweepKind>,
    /// The `sync_runs` row.
    pub run_id: i64,
    /// Requests the listings made (their work items add theirs to `sync_runs` as they
    /// finish).
    pub requests: u64,
    /// Objects the listings wrote or removed.
    pub report: Report,
    /// Listing failures that limited the sweep (it still did the rest).
    pub errors: Vec<String>,
    /// Where the watermark moves once the sweep's work is done.
    pub watermark: Option<String>,
    /// Work items the sweep queued.
    pub queued: u64,
}

/// What a sweep's listing phase returns to [`sweep`].
#[derive(Debug, Default)]
pub(crate) struct Listed {
    pub report: Report,
    pub errors: Vec<String>,
    pub watermark: Option<String>,
    pub queued: u64,
}

impl Listed {
    fn bump(&mut self, candidate: Option<&str>) {
        bump(&mut self.watermark, candidate);
    }
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

/// Enqueues a sweep's signals and counts them.
async fn enqueue(ctx: &Ctx, listed: &mut Listed, signals: Vec<Signal>) -> Result<(), StoreError> {
    listed.queued += signals.len() as u64;
    ctx.enqueue(signals).await
}

/// Runs the listing phase of one sweep of `kind`, recording it in `sync_runs`. The work
/// it queued is still running when this returns: [`Settler`] (the daemon) or
/// [`settle_inline`] (`sync`) finish the job.
pub async fn sweep(
    ctx: &Ctx,
    kind: SweepKind,
    options: &SweepOptions,
    shutdown: &CancellationToken,
) -> Result<SweepFigures, FetchError> {
    let mut ctx = ctx.clone();
    let (client, tally) = ctx.client.with_priority(Priority::Low).tallied();
    ctx.client = client;
    let run_id = ctx
        .store
        .write(move |c| write::start_run(c, kind.as_str()))
        .await?;
    let origin = Origin::sweep(Some(run_id));
    // What the listings write is recorded in the change feed with the sweep's kind.
    ctx.store = ctx
        .store
        .with_cause(crate::mirror::changes::Cause::of_sweep(kind.as_str()));
    let result = match kind {
        SweepKind::Incremental => incremental::incremental(&ctx, options, origin, shutdown).await,
        _ => enumerate::enumerate(&ctx, kind, options, origin, shutdown).await,
    };
    let requests = tally.load(Ordering::Relaxed);
    let (figures, failure) = match result {
        Ok(listed) => (
            SweepFigures {
                kind: Some(kind),
                run_id,
                requests,
                report: listed.report,
                errors: listed.errors,
                watermark: listed.watermark,
                queued: listed.queued,
            },
            None,
        ),
        Err(e) => (
            SweepFigures {
                kind: Some(kind),
                run_id,
                requests,
                errors: vec![e.to_string()],
                ..SweepFigures::default()
            },
            Some(e),
        ),
    };
    let error = (!figures.errors.is_empty()).then(|| figures.errors.join("; "));
    let record = write::RunFigures {
        requests,
        objects: figures.report.written,
        removed: figures.report.removed,
        error: error.clone(),
        watermark: figures.watermark.clone(),
    };
    ctx.store
        .write(move |c| write::finish_run(c, run_id, &record))
        .await?;
    let outcome = if error.is_none() { "ok" } else { "error" };
    ctx.metrics.inc(
        "notion_mirror_sweeps_total",
        &[("kind", kind.as_str()), ("outcome", outcome)],
    );
    tracing::info!(
        kind = kind.as_str(),
        run = run_id,
        requests,
        written = figures.report.written,
        removed = figures.report.removed,
        queued = figures.queued,
        error = error.as_deref().unwrap_or(""),
        "sweep listed; its work continues in the queue"
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

/// Moves the incremental watermark forward (never back).
pub(crate) async fn advance_watermark(ctx: &Ctx, mark: String) -> Result<(), StoreError> {
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

/// Finds the pages `check` says need content and queues their work in the same
/// transaction (a content item finishing between a separate read and the enqueue would
/// otherwise be queued again). `more` adds signals given the pages found (comment lists).
/// Returns how many signals were queued.
async fn enqueue_content_check(
    ctx: &Ctx,
    origin: Origin,
    check: crate::mirror::read::ContentCheck,
    more: impl FnOnce(&[(String, crate::mirror::read::PageState)], &mut Vec<Signal>) + Send + 'static,
) -> Result<u64, StoreError> {
    let grace = ctx.options.event_grace.as_millis() as i64;
    let (queued, earliest) = ctx
        .store
        .write(move |c| {
            let due = crate::mirror::read::pages_needing_content(c, check)?;
            let mut signals = content_signals(grace, origin, &due);
            more(&due, &mut signals);
            let now = crate::queue::now_ms();
            for s in &signals {
                crate::queue::enqueue(c, s, now)?;
            }
            Ok((signals.len() as u64, signals.iter().map(|s| s.due_at).min()))
        })
        .await?;
    if let Some(at) = earliest {
        ctx.wake.due_at(at);
    }
    Ok(queued)
}

/// Content signals for pages a sweep found needing it: never-fetched pages get their
/// tree and comments; pages whose change no event explained get a check after the event
/// grace (ms); the rest (unverified, unsettled) get their tree.
fn content_signals(
    grace: i64,
    origin: Origin,
    pages: &[(String, crate::mirror::read::PageState)],
) -> Vec<Signal> {
    pages
        .iter()
        .map(|(id, state)| {
            if state.content_new {
                origin.signal(Kind::Page, id, reason::CONTENT | reason::COMMENTS)
            } else if state.unexplained {
                let mut s = origin.signal(Kind::Page, id, reason::CONTENT_IF_DUE);
                s.due_at = crate::queue::now_ms() + grace;
                s
            } else {
                origin.signal(Kind::Page, id, reason::CONTENT)
            }
        })
        .collect()
}

/// Sweep requests from cron, SIGHUP and start-up, coalesced.
#[derive(Debug, Default)]
pub struct Triggers {
    /// Bit per [`SweepKind`] requested.
    wanted: AtomicU8,
    notify: Notify,
}

impl Triggers {
    pub fn request(&self, kind: SweepKind) {
        self.wanted.fetch_or(1 << kind as u8, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// The next sweep to run, if any: the widest requested; it also satisfies every
    /// narrower request.
    fn take(&self) -> Option<SweepKind> {
        let wanted = self.wanted.swap(0, Ordering::SeqCst);
        SweepKind::ALL
            .iter()
            .rev()
            .find(|k| wanted & (1 << **k as u8) != 0)
            .copied()
    }
}

/// Runs sweeps one at a time as they are triggered, until `shutdown`; each sweep's work is
/// handed to `settler`. A sweep interrupted by shutdown is recorded as such.
pub async fn run(
    ctx: Ctx,
    options: SweepOptions,
    triggers: Arc<Triggers>,
    settler: Arc<Settler>,
    shutdown: CancellationToken,
) {
    loop {
        while let Some(kind) = triggers.take() {
            if shutdown.is_cancelled() {
                return;
            }
            tracing::info!(kind = kind.as_str(), "sweep started");
            let result = tokio::select! {
                r = sweep(&ctx, kind, &options, &shutdown) => Some(r),
                _ = shutdown.cancelled() => None,
            };
            match result {
                Some(Ok(figures)) => settler.watch(figures),
                Some(Err(e)) => {
                    tracing::error!(kind = kind.as_str(), error = %e, "sweep failed")
                }
                None => {
                    tracing::info!(kind = kind.as_str(), "sweep interrupted by shutdown");
                    return;
                }
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
    fn the_widest_request_covers_the_narrower_ones() {
        let t = Triggers::default();
        t.request(SweepKind::Incremental);
        t.request(SweepKind::Full);
        t.request(SweepKind::Full);
        assert_eq!(t.take(), Some(SweepKind::Full));
        assert_eq!(t.take(), None);
        t.request(SweepKind::Incremental);
        assert_eq!(t.take(), Some(SweepKind::Incremental));
        t.request(SweepKind::Presence);
        t.request(SweepKind::Resync);
        assert_eq!(t.take(), Some(SweepKind::Resync));
        assert_eq!(t.take(), None);
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
