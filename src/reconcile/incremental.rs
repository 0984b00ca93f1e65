//! The incremental sweep: what changed since the watermark (minus the overlap), found by
//! one search sorted by `last_edited_time` and one query per data source; objects are
//! written from the listings (free), and only content nothing explained is queued.
//!
//! Invariant: with nothing changed it costs 1 + data sources requests; it never refetches
//! what a webhook already brought up to date (a page whose `last_edited_time` its events
//! explain has no content work; a data source whose schema did not change is written from
//! the search result).

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{
    edited, enqueue, enqueue_content_check, enumerate::enumerate, is_row, object_id, row_source,
    sources, Listed, SweepKind, SweepOptions, WATERMARK_KEY,
};
use crate::fetch::{pages, sources as fetch_sources, Ctx, FetchError, Origin};
use crate::mirror::{read, write};
use crate::queue::{reason, Kind};

pub(super) async fn incremental(
    ctx: &Ctx,
    options: &SweepOptions,
    origin: Origin,
    shutdown: &CancellationToken,
) -> Result<Listed, FetchError> {
    let stored = ctx
        .store
        .read(|c| write::get_setting(c, WATERMARK_KEY))
        .await?;
    let Some(mark) = stored else {
        tracing::info!("no watermark yet: running a full sweep instead");
        return enumerate(ctx, SweepKind::Full, options, origin, shutdown).await;
    };
    let since = fetch_sources::minus(&mark, ctx.options.overlap);
    let mut listed = Listed {
        watermark: Some(mark),
        ..Listed::default()
    };

    // 1. Search, newest first, until past `since`.
    let mut changed_sources: Vec<Value> = Vec::new();
    let mut rows: Vec<Value> = Vec::new();
    let mut search = ctx
        .client
        .search(json!({"sort": {"timestamp": "last_edited_time", "direction": "descending"}}));
    while let Some(page) = search.next_page().await? {
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
            listed.bump(Some(&when));
            match object.get("object").and_then(Value::as_str) {
                Some("data_source") => changed_sources.push(object),
                Some("page") if !is_row(&object) => standalone.push(object),
                Some("page") => rows.push(object),
                _ => {}
            }
        }
        let (written, queued) = pages::write_pages(ctx, standalone, true, origin, true).await?;
        listed.report.add(written);
        listed.queued += queued;
        if past || shutdown.is_cancelled() {
            break;
        }
    }

    // 2. Data sources search saw change.
    let changed_ids: Vec<String> = changed_sources.iter().filter_map(object_id).collect();
    sources::from_search(ctx, changed_sources, origin, &mut listed).await?;

    // Rows whose data source the mirror does not query (a row shared on its own) are
    // written from the search result; the others come from their source's query below.
    let live = ctx.store.read(read::live_data_sources).await?;
    rows.retain(|r| {
        row_source(r).is_some_and(|ds| !live.contains(&ds) && !changed_ids.contains(&ds))
    });
    let (written, queued) = pages::write_pages(ctx, rows, true, origin, true).await?;
    listed.report.add(written);
    listed.queued += queued;

    // 3. Rows edited since `since`, per data source (search misses rows).
    for ds in live {
        if shutdown.is_cancelled() {
            break;
        }
        match fetch_sources::sync_rows(ctx, &ds, Some(&since), origin).await {
            Ok((r, _)) => listed.report.add(r),
            Err(FetchError::Notion(e)) if e.is_gone() => {
                let verify = vec![origin.signal(Kind::DataSource, &ds, reason::VERIFY)];
                enqueue(ctx, &mut listed, verify).await?;
            }
            Err(e) => listed.errors.push(format!("data source {ds}: {e}")),
        }
        let id = ds.clone();
        let newest = ctx.store.read(move |c| read::row_watermark(c, &id)).await?;
        listed.bump(newest.as_deref());
    }

    // 4. Pages whose content changed without an event explaining it (or, without live
    //    webhooks, whose last read is unsettled).
    let live_hooks = options.webhooks_enabled
        && ctx
            .store
            .read(|c| read::webhooks_live(c, std::time::Duration::from_secs(3600)))
            .await?;
    listed.queued += enqueue_content_check(
        ctx,
        origin,
        read::ContentCheck::Due {
            webhooks_live: live_hooks,
        },
        |_, _| {},
    )
    .await?;
    Ok(listed)
}
