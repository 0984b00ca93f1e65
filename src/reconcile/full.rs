//! The full sweep: enumerate everything visible (search, every data source's rows,
//! windowed past the row cap), refetch what differs, then confirm absences.
//!
//! Invariant: an object missing from the enumeration only gets a direct-GET check; rows of
//! a data source whose query failed are not checked at all.

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{
    advance_watermark, bump, edited, enqueue_content, is_row, object_id, row_source, sweep_signal,
    wait_for_sweep_work, SweepOptions,
};
use crate::fetch::{pages, sources, Ctx, FetchError, Report};
use crate::ids;
use crate::mirror::{read, write};
use crate::notion::NotionError;
use crate::queue::{self, reason, Kind, Signal, PRIORITY_SWEEP};

/// The listing part of a full sweep, then absences, then waiting for the enqueued work.
pub(super) async fn full(
    ctx: &Ctx,
    options: &SweepOptions,
    shutdown: &CancellationToken,
) -> Result<(Report, Vec<String>), FetchError> {
    // A full sweep gives work parked by earlier failures a fresh start.
    let revived = ctx
        .store
        .write(|c| queue::retry_parked(c, queue::now_ms()))
        .await?;
    if revived > 0 {
        tracing::info!(items = revived, "parked work requeued by the full sweep");
    }
    let cutoff = queue::iso_ms(queue::now_ms() - options.event_retention.as_millis() as i64);
    let pruned = ctx
        .store
        .write(move |c| write::prune_events(c, &cutoff))
        .await?;
    if pruned > 0 {
        tracing::info!(events = pruned, "old webhook events pruned");
    }
    let mut report = sources::refresh_users(ctx).await?;
    let mut errors = Vec::new();
    let mut seen_pages: HashSet<String> = HashSet::new();
    let mut seen_sources: BTreeSet<String> = BTreeSet::new();
    let mut watermark: Option<String> = None;
    // Rows search showed, with their data source: normally their query lists them again.
    let mut rows_in_search: Vec<(String, String)> = Vec::new();

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
                Some("page") => {
                    if let Some(ds) = row_source(&object) {
                        rows_in_search.push((id, ds));
                    }
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

    // A row shared on its own, whose data source the integration cannot query: no listing
    // will show it again, so it is fetched directly.
    let orphans: Vec<Signal> = rows_in_search
        .into_iter()
        .filter(|(id, ds)| !seen_sources.contains(ds) && seen_pages.insert(id.clone()))
        .map(|(id, _)| sweep_signal(Kind::Page, &id, reason::PROPERTIES))
        .collect();
    ctx.enqueue(orphans).await?;

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
