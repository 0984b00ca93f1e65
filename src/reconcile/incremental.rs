//! The incremental sweep: what changed since the watermark (minus the overlap), found by
//! one search sorted by `last_edited_time` and one query per data source, plus pages whose
//! content is due.
//!
//! Invariant: the watermark moves only after the enqueued work is done and only when every
//! query succeeded.

use std::collections::HashSet;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{
    advance_watermark, bump, edited, enqueue_content, full::full, is_row, object_id, row_source,
    sweep_signal, wait_for_sweep_work, SweepOptions, WATERMARK_KEY,
};
use crate::fetch::{pages, sources, Ctx, FetchError, Report};
use crate::mirror::{read, write};
use crate::queue::{reason, Kind, PRIORITY_SWEEP};

/// The incremental sweep: search (newest first, down to the watermark minus the overlap),
/// a `last_edited_time on_or_after` query per data source, and pages whose content is due.
pub(super) async fn incremental(
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
    let mut rows: Vec<Value> = Vec::new();
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
                Some("page") => rows.push(object),
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

    // Rows whose data source the mirror does not query (a row shared on its own) are
    // written from the search result; the others come from their source's query below.
    let queried: HashSet<String> = ctx
        .store
        .read(read::live_data_sources)
        .await?
        .into_iter()
        .chain(changed_sources.iter().filter_map(object_id))
        .collect();
    rows.retain(|r| row_source(r).is_some_and(|ds| !queried.contains(&ds)));
    let (written, due) = pages::write_pages(ctx, rows, true, PRIORITY_SWEEP).await?;
    report.add(written);
    enqueue_content(ctx, &due).await?;

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
