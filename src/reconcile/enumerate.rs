//! The enumerating sweeps — presence, full (daily) and resync: everything visible is
//! listed (search, every data source's rows, windowed past the row cap), what differs is
//! written, absences are checked with direct GETs, and content is queued by the sweep's
//! rule (docs/freshness.md):
//!
//! | | presence | full | resync |
//! |---|---|---|---|
//! | users list | – | yes | yes |
//! | data source and database GETs | only changed/new (from search) | every one | every one |
//! | content | never fetched or unverified | never fetched or unverified | every page, regardless of timestamps |
//! | comment lists | – | every page (`comments.full_sweep`; once a full sweep settled before) | every page |
//! | views (list per database, GET per view) | – | yes | yes |
//! | parked work requeued, old events pruned, files collected | – | yes | yes |
//!
//! Invariant: an object missing from the enumeration only gets a direct-GET check; rows of
//! a data source whose query failed are not checked at all.

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::sources::{from_search, refresh_source_and_rows, rows, SourceFailure};
use super::{
    enqueue, enqueue_content_check, is_row, object_id, row_source, Listed, SweepKind, SweepOptions,
};
use crate::fetch::{pages, sources as fetch_sources, Ctx, FetchError, Origin};
use crate::mirror::{read, write};
use crate::queue::{self, reason, Kind, Signal};

/// What one enumerating sweep does beyond listing.
#[derive(Debug, Clone, Copy)]
struct Plan {
    users: bool,
    source_gets: bool,
    all_content: bool,
    all_comments: bool,
    housekeeping: bool,
}

impl Plan {
    /// `completed_once`: a full sweep or resync settled before. Until then (a cold sync,
    /// or one resumed after a restart or a restore) every page's comments were listed with
    /// its first content fetch, so a full sweep lists only the comments of pages whose
    /// content it fetches; re-listing every page's comments starts with the first full
    /// sweep after the mirror was complete once.
    fn of(kind: SweepKind, options: &SweepOptions, completed_once: bool) -> Plan {
        let wide = matches!(kind, SweepKind::Full | SweepKind::Resync);
        Plan {
            users: wide,
            source_gets: wide,
            all_content: kind == SweepKind::Resync,
            all_comments: kind == SweepKind::Resync
                || (kind == SweepKind::Full && options.full_sweep_comments && completed_once),
            housekeeping: wide,
        }
    }
}

/// What the enumeration saw.
#[derive(Debug, Default)]
struct Seen {
    pages: HashSet<String>,
    sources: BTreeSet<String>,
    /// Data sources whose rows were not listed (gone, or their query failed).
    unlisted_sources: HashSet<String>,
    databases: HashSet<String>,
    /// Rows search showed, with their data source (normally their query lists them again).
    rows_in_search: Vec<(String, String)>,
}

pub(super) async fn enumerate(
    ctx: &Ctx,
    kind: SweepKind,
    options: &SweepOptions,
    origin: Origin,
    shutdown: &CancellationToken,
) -> Result<Listed, FetchError> {
    let completed_once = ctx.store.read(read::completed_once).await?;
    let plan = Plan::of(kind, options, completed_once);
    let mut listed = Listed::default();
    if plan.housekeeping {
        housekeeping(ctx, options).await?;
    }
    if plan.users {
        listed.report.add(fetch_sources::refresh_users(ctx).await?);
    }
    let mut seen = Seen::default();

    // 1. Search: standalone pages (written from the results) and data sources.
    let mut found_sources = Vec::new();
    let mut search = ctx.client.search(json!({}));
    while let Some(page) = search.next_page().await? {
        let mut standalone = Vec::new();
        for object in page.results {
            let Some(id) = object_id(&object) else {
                continue;
            };
            listed.bump(super::edited(&object));
            match object.get("object").and_then(Value::as_str) {
                Some("data_source") => {
                    seen.sources.insert(id);
                    found_sources.push(object);
                }
                Some("page") if !is_row(&object) => {
                    seen.pages.insert(id);
                    standalone.push(object);
                }
                Some("page") => {
                    if let Some(ds) = row_source(&object) {
                        seen.rows_in_search.push((id, ds));
                    }
                }
                _ => {}
            }
        }
        let (written, queued) = pages::write_pages(ctx, standalone, true, origin, true).await?;
        listed.report.add(written);
        listed.queued += queued;
        if shutdown.is_cancelled() {
            listed.errors.push("cancelled".into());
            return Ok(listed);
        }
    }
    if !plan.source_gets {
        from_search(ctx, found_sources, origin, &mut listed).await?;
    }

    // 2. Every data source's rows (after its GET, and its database's, in the wide sweeps).
    let mirrored_sources = ctx.store.read(read::live_data_sources).await?;
    let mut sources = seen.sources.clone();
    sources.extend(mirrored_sources);
    for ds in &sources {
        if shutdown.is_cancelled() {
            listed.errors.push("cancelled".into());
            return Ok(listed);
        }
        let result = if plan.source_gets {
            refresh_source_and_rows(ctx, ds, &mut seen.databases, origin).await
        } else if seen.sources.contains(ds) {
            rows(ctx, ds, origin).await
        } else {
            // Mirrored but not in search (search is not an inventory): a direct GET decides.
            let verify = vec![origin.signal(Kind::DataSource, ds, reason::VERIFY)];
            enqueue(ctx, &mut listed, verify).await?;
            seen.unlisted_sources.insert(ds.clone());
            continue;
        };
        match result {
            Ok((r, rows, newest)) => {
                listed.report.add(r);
                seen.pages.extend(rows);
                listed.bump(newest.as_deref());
            }
            Err(SourceFailure::Gone) => {
                seen.unlisted_sources.insert(ds.clone());
            }
            Err(SourceFailure::Error(e)) => {
                seen.unlisted_sources.insert(ds.clone());
                listed.errors.push(format!("data source {ds}: {e}"));
            }
        }
    }
    seen.sources.extend(sources);

    // Views of every database fetched (wide sweeps only; the cost is in the floor).
    if plan.source_gets && !shutdown.is_cancelled() {
        super::views::list(ctx, &seen.databases, origin, &mut listed).await?;
    }

    // A row shared on its own, whose data source the integration cannot query: no listing
    // will show it again, so it is fetched directly.
    let orphans: Vec<Signal> = std::mem::take(&mut seen.rows_in_search)
        .into_iter()
        .filter(|(id, ds)| !seen.sources.contains(ds) && seen.pages.insert(id.clone()))
        .map(|(id, _)| origin.signal(Kind::Page, &id, reason::PROPERTIES))
        .collect();
    enqueue(ctx, &mut listed, orphans).await?;

    // 3. Content, comment lists, and absences to confirm.
    content(ctx, plan, origin, &seen, &mut listed).await?;
    let absent = absences(ctx, plan, origin, &seen).await?;
    enqueue(ctx, &mut listed, absent).await?;
    if kind == SweepKind::Resync {
        // Typed views dropped or edited by hand come back too.
        ctx.store.write(crate::mirror::views::rebuild_all).await?;
    }
    Ok(listed)
}

/// Parked work gets a fresh start; finished webhook events past retention go, and so do
/// changes past the history retention (`NOTION_MIRROR_HISTORY_DAYS`) that every outbound
/// destination has handled; file references are re-derived and files unreferenced for a
/// day are collected.
async fn housekeeping(ctx: &Ctx, options: &SweepOptions) -> Result<(), FetchError> {
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
    if let Some(files) = &options.files {
        crate::files::sweep(&ctx.store, &files.blobs, files.mode).await?;
    }
    if let Some(keep) = options.history_retention {
        let cutoff = queue::iso_ms(queue::now_ms() - keep.as_millis() as i64);
        let pruned = ctx
            .store
            .write(move |c| write::changes::prune_changes(c, &cutoff))
            .await?;
        if pruned > 0 {
            tracing::info!(
                changes = pruned,
                "changes past the history retention pruned"
            );
        }
    }
    Ok(())
}

/// Queues content by the plan: every page's tree and comments (resync), or the trees
/// never fetched or not re-read since webhook events changed them, plus every other
/// page's comment lists (full).
async fn content(
    ctx: &Ctx,
    plan: Plan,
    origin: Origin,
    seen: &Seen,
    listed: &mut Listed,
) -> Result<(), FetchError> {
    if plan.all_content {
        let all = ctx.store.read(read::live_pages).await?;
        let signals = all
            .iter()
            .map(|p| origin.signal(Kind::Page, p, reason::CONTENT | reason::COMMENTS))
            .collect();
        return Ok(enqueue(ctx, listed, signals).await?);
    }
    let all_comments = plan.all_comments;
    let seen_pages = seen.pages.clone();
    let queued = enqueue_content_check(
        ctx,
        origin,
        read::ContentCheck::Unverified,
        move |due, signals| {
            if !all_comments {
                return;
            }
            // Pages whose content is due re-list their comments too (comments move no
            // timestamp: a changed page's lost `comment.*` event is found only here).
            for s in signals.iter_mut() {
                s.reasons |= reason::COMMENTS;
            }
            let due: HashSet<&String> = due.iter().map(|(id, _)| id).collect();
            signals.extend(
                seen_pages
                    .iter()
                    .filter(|p| !due.contains(p))
                    .map(|p| origin.signal(Kind::Page, p, reason::COMMENTS)),
            );
        },
    )
    .await?;
    listed.queued += queued;
    Ok(())
}

/// Mirrored objects the enumeration did not see: each gets a direct GET.
async fn absences(
    ctx: &Ctx,
    plan: Plan,
    origin: Origin,
    seen: &Seen,
) -> Result<Vec<Signal>, FetchError> {
    let unlisted: Vec<String> = seen.unlisted_sources.iter().cloned().collect();
    // Trashed pages are in no listing: every sweep would GET each of them. The hourly
    // presence sweep leaves them to the daily one.
    let with_trashed = plan.source_gets;
    let (pages, sources, databases) = ctx
        .store
        .read(move |c| {
            let mut exempt = HashSet::new();
            for ds in &unlisted {
                exempt.extend(read::rows_of(c, ds)?);
            }
            let pages: Vec<String> = read::freshness(c, "pages")?
                .into_iter()
                .filter(|(p, (_, trashed))| !exempt.contains(p) && (with_trashed || !trashed))
                .map(|(p, _)| p)
                .collect();
            let sources: Vec<(String, Option<String>)> = read::data_source_databases(c)?;
            let databases: Vec<String> = read::freshness(c, "databases")?.into_keys().collect();
            Ok((pages, sources, databases))
        })
        .await?;
    let mut signals: Vec<Signal> = pages
        .iter()
        .filter(|p| !seen.pages.contains(*p))
        .map(|p| origin.signal(Kind::Page, p, reason::VERIFY))
        .collect();
    signals.extend(
        sources
            .iter()
            .filter(|(s, _)| !seen.sources.contains(s))
            .map(|(s, _)| origin.signal(Kind::DataSource, s, reason::VERIFY)),
    );
    // A database is checked when the sweep fetched it (wide sweeps) and did not see it,
    // or (presence) when search showed none of its data sources.
    let databases_seen: HashSet<String> = if plan.source_gets {
        seen.databases.clone()
    } else {
        sources
            .iter()
            .filter(|(s, _)| seen.sources.contains(s) && !seen.unlisted_sources.contains(s))
            .filter_map(|(_, db)| db.clone())
            .collect()
    };
    signals.extend(
        databases
            .iter()
            .filter(|d| !databases_seen.contains(*d))
            .map(|d| origin.signal(Kind::Database, d, reason::PROPERTIES)),
    );
    Ok(signals)
}
