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

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::fetch::{pages, sources, Ctx, FetchError, Report};
use crate::ids;
use crate::mirror::{read, write, StoreError};
use crate::notion::{NotionError, Priority};
use crate::queue::{self, reason, Kind, Signal, PRIORITY_SWEEP};

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
    let mut s = Signal::new(kind, id, reasons, queue::now_ms());
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

/// The listing part of a full sweep, then absences, then waiting for the enqueued work.
async fn full(
    ctx: &Ctx,
    options: &SweepOptions,
    shutdown: &CancellationToken,
) -> Result<(Report, Vec<String>), FetchError> {
    let mut report = sources::refresh_users(ctx).await?;
    let mut errors = Vec::new();
    let mut seen_pages: HashSet<String> = HashSet::new();
    let mut seen_sources: BTreeSet<String> = BTreeSet::new();
    let mut watermark: Option<String> = None;

    // 1. Search: standalone pages (written from the results) and data sources.
    let mut search = ctx.client.search(json!({}));
    while let Some(page) = search.next_page().await? {
        let mut standalone = Vec::new();
        for object in page.results {
            let Some(id) = object_id(&object) else {
                continue;
            };
            bump(&mut watermark, edited(&object));
            match object.get("object").and_then(Value::as_str) {
                Some("data_source") => {
                    seen_sources.insert(id);
                }
                Some("page") if !is_row(&object) => {
                    seen_pages.insert(id);
                    standalone.push(object);
                }
                _ => {}
            }
        }
        let (written, due) = pages::write_pages(ctx, standalone, true, PRIORITY_SWEEP).await?;
        report.add(written);
        enqueue_content(ctx, &due).await?;
        if shutdown.is_cancelled() {
            return Ok((report, vec!["cancelled".into()]));
        }
    }

    // 2. Data sources (schema, their databases) and every row.
    let mirrored_sources = ctx.store.read(read::live_data_sources).await?;
    seen_sources.extend(mirrored_sources);
    let mut seen_databases: HashSet<String> = HashSet::new();
    let mut unlisted_sources: HashSet<String> = HashSet::new();
    for ds in &seen_sources {
        if shutdown.is_cancelled() {
            return Ok((report, vec!["cancelled".into()]));
        }
        match refresh_source_and_rows(ctx, ds, &mut seen_databases).await {
            Ok((r, rows, edited_max)) => {
                report.add(r);
                seen_pages.extend(rows);
                bump(&mut watermark, edited_max.as_deref());
            }
            Err(SourceFailure::Gone) => {
                unlisted_sources.insert(ds.clone());
            }
            Err(SourceFailure::Error(e)) => {
                unlisted_sources.insert(ds.clone());
                errors.push(format!("data source {ds}: {e}"));
            }
        }
    }

    // 3. Content that is due, comment lists, and absences to confirm.
    let due = ctx.store.read(read::pages_with_content_due).await?;
    enqueue_content(ctx, &due).await?;
    if options.full_sweep_comments {
        let due: HashSet<&String> = due.iter().collect();
        let comments: Vec<Signal> = seen_pages
            .iter()
            .filter(|p| !due.contains(p))
            .map(|p| sweep_signal(Kind::Page, p, reason::COMMENTS))
            .collect();
        ctx.enqueue(comments).await?;
    }
    let absent = absences(
        ctx,
        &seen_pages,
        &seen_sources,
        &unlisted_sources,
        &seen_databases,
    )
    .await?;
    ctx.enqueue(absent).await?;

    wait_for_sweep_work(ctx, shutdown).await?;
    if let Some(mark) = watermark {
        advance_watermark(ctx, mark).await?;
    }
    Ok((report, errors))
}

enum SourceFailure {
    /// The data source is gone or unreadable: a VERIFY item decides.
    Gone,
    Error(FetchError),
}

/// GET the data source (and its database once), then query all of its rows.
async fn refresh_source_and_rows(
    ctx: &Ctx,
    ds: &str,
    seen_databases: &mut HashSet<String>,
) -> Result<(Report, HashSet<String>, Option<String>), SourceFailure> {
    let mut report = Report::default();
    let source = match ctx.client.retrieve_data_source(ds).await {
        Ok(source) => source,
        Err(e) if e.is_gone() => {
            let verify = vec![sweep_signal(Kind::DataSource, ds, reason::VERIFY)];
            ctx.enqueue(verify)
                .await
                .map_err(|e| SourceFailure::Error(e.into()))?;
            return Err(SourceFailure::Gone);
        }
        Err(e) => return Err(SourceFailure::Error(e.into())),
    };
    let trashed = source
        .get("in_trash")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let database = source
        .pointer("/parent/database_id")
        .and_then(Value::as_str)
        .and_then(ids::normalize);
    let changed = ctx
        .store
        .write(move |c| write::upsert_data_source(c, source))
        .await
        .map_err(|e| SourceFailure::Error(e.into()))?;
    report.written += u64::from(changed.changed());
    if let Some(db) = database {
        if seen_databases.insert(db.clone()) {
            match ctx.client.retrieve_database(&db).await {
                Ok(object) => {
                    let changed = ctx
                        .store
                        .write(move |c| write::upsert_database(c, object))
                        .await
                        .map_err(|e| SourceFailure::Error(e.into()))?;
                    report.written += u64::from(changed.changed());
                }
                Err(e) if e.is_gone() || matches!(e, NotionError::Validation { .. }) => {}
                Err(e) => return Err(SourceFailure::Error(e.into())),
            }
        }
    }
    if trashed {
        return Err(SourceFailure::Gone);
    }
    match sources::sync_rows(ctx, ds, None, PRIORITY_SWEEP).await {
        Ok((rows, seen)) => {
            report.add(rows);
            let id = ds.to_string();
            let edited_max = ctx
                .store
                .read(move |c| read::row_watermark(c, &id))
                .await
                .map_err(|e| SourceFailure::Error(e.into()))?;
            Ok((report, seen, edited_max))
        }
        Err(FetchError::Notion(e)) if e.is_gone() => {
            let verify = vec![sweep_signal(Kind::DataSource, ds, reason::VERIFY)];
            ctx.enqueue(verify)
                .await
                .map_err(|e| SourceFailure::Error(e.into()))?;
            Err(SourceFailure::Gone)
        }
        Err(e) => Err(SourceFailure::Error(e)),
    }
}

/// Mirrored objects the enumeration did not see: each gets a direct GET.
async fn absences(
    ctx: &Ctx,
    seen_pages: &HashSet<String>,
    seen_sources: &BTreeSet<String>,
    unlisted_sources: &HashSet<String>,
    seen_databases: &HashSet<String>,
) -> Result<Vec<Signal>, FetchError> {
    let unlisted: Vec<String> = unlisted_sources.iter().cloned().collect();
    let (pages, sources, databases) = ctx
        .store
        .read(move |c| {
            let mut exempt = HashSet::new();
            for ds in &unlisted {
                exempt.extend(read::rows_of(c, ds)?);
            }
            let pages: Vec<String> = read::freshness(c, "pages")?
                .into_keys()
                .filter(|p| !exempt.contains(p))
                .collect();
            let sources: Vec<String> = read::freshness(c, "data_sources")?.into_keys().collect();
            let databases: Vec<String> = read::freshness(c, "databases")?.into_keys().collect();
            Ok((pages, sources, databases))
        })
        .await?;
    let mut signals: Vec<Signal> = pages
        .iter()
        .filter(|p| !seen_pages.contains(*p))
        .map(|p| sweep_signal(Kind::Page, p, reason::VERIFY))
        .collect();
    signals.extend(
        sources
            .iter()
            .filter(|s| !seen_sources.contains(*s))
            .map(|s| sweep_signal(Kind::DataSource, s, reason::VERIFY)),
    );
    signals.extend(
        databases
            .iter()
            .filter(|d| !seen_databases.contains(*d))
            .map(|d| sweep_signal(Kind::Database, d, reason::PROPERTIES)),
    );
    Ok(signals)
}

/// The incremental sweep: search (newest first, down to the watermark minus the overlap),
/// a `last_edited_time on_or_after` query per data source, and pages whose content is due.
async fn incremental(
    ctx: &Ctx,
    options: &SweepOptions,
    shutdown: &CancellationToken,
) -> Result<(Report, Vec<String>), FetchError> {
    let stored = ctx
        .store
        .read(|c| write::get_setting(c, WATERMARK_KEY))
        .await?;
    let Some(mark) = stored else {
        tracing::info!("no watermark yet: running a full sweep instead");
        return full(ctx, options, shutdown).await;
    };
    let since = sources::minus(&mark, ctx.options.overlap);
    let mut watermark = Some(mark);
    let mut report = Report::default();
    let mut errors = Vec::new();

    // 1. Search, newest first, until past `since`.
    let mut changed_sources: Vec<Value> = Vec::new();
    let mut search = ctx
        .client
        .search(json!({"sort": {"timestamp": "last_edited_time", "direction": "descending"}}));
    'pages: while let Some(page) = search.next_page().await? {
        let mut standalone = Vec::new();
        let mut past = false;
        for object in page.results {
            let Some(when) = edited(&object).map(str::to_string) else {
                continue;
            };
            if when < since {
                past = true;
                break;
            }
            bump(&mut watermark, Some(&when));
            match object.get("object").and_then(Value::as_str) {
                Some("data_source") => changed_sources.push(object),
                Some("page") if !is_row(&object) => standalone.push(object),
                _ => {}
            }
        }
        let (written, due) = pages::write_pages(ctx, standalone, true, PRIORITY_SWEEP).await?;
        report.add(written);
        enqueue_content(ctx, &due).await?;
        if past || shutdown.is_cancelled() {
            break 'pages;
        }
    }

    // 2. Data sources search saw change: new ones in full, known ones re-listed (schema,
    //    and rows that left the source by trash or move).
    let mut signals = Vec::new();
    for source in &changed_sources {
        let Some(id) = object_id(source) else {
            continue;
        };
        let id2 = id.clone();
        let known = ctx
            .store
            .read(move |c| read::raw_of(c, "data_sources", &id2))
            .await?;
        let differs = known
            .as_deref()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .is_none_or(|k| edited(&k) != edited(source));
        if differs {
            signals.push(sweep_signal(
                Kind::DataSource,
                &id,
                reason::SCHEMA | reason::ROWS_ALL,
            ));
        }
    }
    ctx.enqueue(signals).await?;

    // 3. Rows edited since `since`, per data source (search misses rows).
    let live = ctx.store.read(read::live_data_sources).await?;
    for ds in live {
        if shutdown.is_cancelled() {
            break;
        }
        match sources::sync_rows(ctx, &ds, Some(&since), PRIORITY_SWEEP).await {
            Ok((r, _)) => report.add(r),
            Err(FetchError::Notion(e)) if e.is_gone() => {
                ctx.enqueue(vec![sweep_signal(Kind::DataSource, &ds, reason::VERIFY)])
                    .await?;
            }
            Err(e) => errors.push(format!("data source {ds}: {e}")),
        }
        let id = ds.clone();
        let newest = ctx.store.read(move |c| read::row_watermark(c, &id)).await?;
        bump(&mut watermark, newest.as_deref());
    }

    // 4. Pages whose content is stale or unsettled (e.g. after block-level refreshes).
    let due = ctx.store.read(read::pages_with_content_due).await?;
    enqueue_content(ctx, &due).await?;

    wait_for_sweep_work(ctx, shutdown).await?;
    if errors.is_empty() {
        if let Some(mark) = watermark {
            advance_watermark(ctx, mark).await?;
        }
    }
    Ok((report, errors))
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
