//! Pages: a page work item (properties, content, trash state, confirmed removal) and the
//! batch write of pages that arrived in listings (query and search results).
//!
//! Invariants: a page's properties are written from the object the API returned (GET or a
//! listing), completed first; a page missing from the mirror always gets its content (and,
//! unless a `page.created` event says it is brand new, its comments); a webhook item that
//! finished records which edit minute its events explained (`pages.events_edited_time`),
//! never more than the page object it read shows.

use serde_json::Value;

use super::remove::{remove, Gone};
use super::{complete, content, Ctx, FetchError, Origin, Report};
use crate::ids;
use crate::mirror::{minute_of, read, text, write, StoreError};
use std::collections::HashMap;

use crate::queue::{self, reason, Kind, Signal, WorkItem};

/// Runs one page work item.
pub async fn refresh(ctx: &Ctx, item: &WorkItem) -> Result<Report, FetchError> {
    let id = item.id.clone();
    let origin = Origin::of(item);
    let mut report = Report::default();
    let before = state(ctx, &id).await?;
    let before_title = match before {
        Some(_) => title_of(ctx, &id).await?,
        None => None,
    };
    // A page the mirror holds as trashed is in no listing a sweep reads (search and
    // queries omit trashed pages): an event about it is the only news of its new version
    // (`last_edited_by`/`time` moved by an edit under it, or a restore whose own event was
    // lost), so even a content event reads the page object.
    let trashed_before = before.as_ref().is_some_and(|s| s.in_trash);
    let wants_get = item.reasons
        & (reason::PROPERTIES | reason::VERIFY | reason::TRASH | reason::TITLE_OR_CONTENT)
        != 0
        || (trashed_before && item.from_webhook());
    let mut fetched: Option<(String, String)> = None; // (last_edited_time, title)
    if wants_get || before.is_none() {
        match ctx.client.retrieve_page(&id).await {
            Ok(page) => {
                let edited = write::str_field(&page, "last_edited_time").unwrap_or_default();
                fetched = Some((edited, text::page_title(&page)));
                report.add(write_pages(ctx, vec![page], false, origin, false).await?.0);
            }
            Err(e) if e.is_gone() => return remove(ctx, Gone::Page, &id, &e).await,
            Err(e) => return Err(e.into()),
        }
    }
    let Some(after) = state(ctx, &id).await? else {
        return Ok(report);
    };
    if after.in_trash {
        explain(ctx, item, fetched.as_ref().map(|f| f.0.as_str()), None).await?;
        return Ok(report); // kept as it was; Notion can restore it
    }
    let title_changed = fetched
        .as_ref()
        .is_some_and(|(_, title)| before_title.as_deref() != Some(title.as_str()));
    let whole_tree = item.reasons & reason::CONTENT != 0
        || after.content_new
        || (item.reasons & reason::BLOCKS != 0 && after.content_edited_time.is_none())
        || (item.reasons & reason::TITLE_OR_CONTENT != 0 && !title_changed)
        || (item.reasons & reason::CONTENT_IF_DUE != 0 && after.unexplained);
    // A page new to the mirror has comments to list, unless `page.created` says it was
    // created just now (its comments, if any, arrive as `comment.*` events).
    let comments = item.reasons & reason::COMMENTS != 0
        || (after.content_new && item.reasons & reason::CREATED == 0);
    let mut evidence: Option<String> = None;
    if whole_tree {
        report.add(content::refresh_content(ctx, &id, &after.last_edited_time, comments).await?);
    } else if item.reasons & reason::BLOCKS != 0 {
        let done = content::refresh_blocks(ctx, &id, &after.last_edited_time, &item.blocks).await?;
        report.add(done.report);
        evidence = done.newest;
        let follow: Vec<Signal> = done
            .left
            .iter()
            .map(|(kind, object)| {
                let extra = if *kind == Kind::Database {
                    reason::DATA_SOURCES
                } else {
                    0
                };
                origin.signal(*kind, object, reason::PROPERTIES | extra)
            })
            .collect();
        ctx.enqueue(follow).await?;
    } else if comments {
        report.add(content::refresh_comments(ctx, &id).await?);
    }
    if !whole_tree {
        explain(
            ctx,
            item,
            fetched.as_ref().map(|f| f.0.as_str()),
            evidence.as_deref(),
        )
        .await?;
    }
    Ok(report)
}

/// Records the edit minute a webhook item's events explained: the minute of the newest
/// event, bounded by what was read — the page object's `last_edited_time` when the item
/// fetched it, or else the newest `last_edited_time` among the blocks it fetched (a read
/// that shows the edit). Sweep items explain nothing.
async fn explain(
    ctx: &Ctx,
    item: &WorkItem,
    page_edited: Option<&str>,
    newest_block: Option<&str>,
) -> Result<(), StoreError> {
    let Some(event_minute) = item
        .from_webhook()
        .then_some(item.signalled_at.as_deref())
        .flatten()
        .and_then(minute_of)
    else {
        return Ok(());
    };
    let explained = match (page_edited, newest_block) {
        (Some(read), _) => Some(event_minute.as_str().min(read).to_string()),
        (None, Some(read)) if read >= event_minute.as_str() => Some(event_minute),
        _ => None,
    };
    let Some(minute) = explained else {
        return Ok(());
    };
    let id = item.id.clone();
    ctx.store
        .write(move |c| write::explain_page_edits(c, &id, &minute))
        .await
}

async fn state(ctx: &Ctx, id: &str) -> Result<Option<read::PageState>, StoreError> {
    let id = id.to_string();
    ctx.store.read(move |c| read::page_state(c, &id)).await
}

async fn title_of(ctx: &Ctx, id: &str) -> Result<Option<String>, StoreError> {
    let id = id.to_string();
    ctx.store.read(move |c| read::page_title(c, &id)).await
}

/// Pages a listing wrote whose content needs work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentWork {
    /// Never fetched: the whole tree and the comments.
    pub new: Vec<String>,
    /// `last_edited_time` moved past what the tree and webhook events explain: checked
    /// again after the event grace (see [`reason::CONTENT_IF_DUE`]).
    pub unexplained: Vec<String>,
}

impl ContentWork {
    pub fn extend(&mut self, more: ContentWork) {
        self.new.extend(more.new);
        self.unexplained.extend(more.unexplained);
    }

    /// The signals for this work from `origin`; unexplained pages are checked after
    /// `grace_ms`.
    pub fn signals(&self, grace_ms: i64, origin: Origin) -> Vec<Signal> {
        let grace = grace_ms;
        let mut out: Vec<Signal> = self
            .new
            .iter()
            .map(|p| origin.signal(Kind::Page, p, reason::CONTENT | reason::COMMENTS))
            .collect();
        out.extend(self.unexplained.iter().map(|p| {
            let mut s = origin.signal(Kind::Page, p, reason::CONTENT_IF_DUE);
            s.due_at = queue::now_ms() + grace;
            s
        }));
        out
    }
}

/// Completes and writes pages from a listing in one transaction, and queues in it (from
/// `origin`) a re-query of the rows whose rollups read a changed page (one per data source
/// holding them, `reason::ROLLUPS`) and, with `queue_content`, the
/// content work the written pages need (in the same transaction: a content item of one of
/// them finishing meanwhile is not queued again). With `only_if_newer` (search results,
/// which may lag), a page is skipped when the mirror already holds a newer version (equal
/// versions are written: that heals rows damaged in the mirror). Returns the report and
/// how many signals were queued.
pub async fn write_pages(
    ctx: &Ctx,
    mut pages: Vec<Value>,
    only_if_newer: bool,
    origin: Origin,
    queue_content: bool,
) -> Result<(Report, u64), FetchError> {
    if ctx.client.version().lists_title_only() {
        refetch_short_rows(ctx, &mut pages).await?;
    }
    let versions: Vec<(String, String, bool)> = pages
        .iter()
        .filter_map(|p| {
            let id = p
                .get("id")
                .and_then(Value::as_str)
                .and_then(ids::normalize)?;
            let edited = p
                .get("last_edited_time")
                .and_then(Value::as_str)?
                .to_string();
            Some((id, edited, !complete::truncated(p).is_empty()))
        })
        .collect();
    // What the mirror holds: its version of each page, and the completed copy of the
    // truncated ones whose version did not move (their completion is reused).
    let mirrored: HashMap<String, (String, Option<Value>)> = ctx
        .store
        .read(move |c| {
            let mut out = HashMap::new();
            for (id, edited, cut) in versions {
                let Some(state) = read::page_state(c, &id)? else {
                    continue;
                };
                let known = if cut && state.last_edited_time == edited {
                    read::raw_of(c, "pages", &id)?.and_then(|r| serde_json::from_str(&r).ok())
                } else {
                    None
                };
                out.insert(id, (state.last_edited_time, known));
            }
            Ok(out)
        })
        .await?;
    if only_if_newer {
        pages.retain(|p| {
            let id = p.get("id").and_then(Value::as_str).and_then(ids::normalize);
            let edited = p
                .get("last_edited_time")
                .and_then(Value::as_str)
                .unwrap_or("");
            match id.and_then(|id| mirrored.get(&id)) {
                Some((mine, _)) => mine.as_str() <= edited,
                None => true,
            }
        });
    }
    for page in pages.iter_mut() {
        let id = page
            .get("id")
            .and_then(Value::as_str)
            .and_then(ids::normalize)
            .unwrap_or_default();
        let known = mirrored.get(&id).and_then(|(_, k)| k.as_ref());
        complete::complete_page(&ctx.client, page, known).await?;
    }
    let grace = ctx.options.event_grace.as_millis() as i64;
    let (report, queued, earliest) = ctx
        .store
        .write(move |c| {
            let links = read::rollup_links(c)?;
            let mut report = Report::default();
            let mut work = ContentWork::default();
            // (data source to re-query, the row its rollups read)
            let mut dependents: Vec<(String, String)> = Vec::new();
            for page in pages {
                let Some(id) = page
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(ids::normalize)
                else {
                    continue;
                };
                let source = page
                    .pointer("/parent/data_source_id")
                    .and_then(Value::as_str)
                    .map(ids::normalize_or_keep);
                // Rollups over this page change with no event and no timestamp of their
                // own: pages whose rollups read a property that changed are refetched.
                let watched = source
                    .as_ref()
                    .is_some_and(|ds| links.iter().any(|l| &l.target == ds));
                let previous: Option<Value> = if watched {
                    read::raw_of(c, "pages", &id)?.and_then(|r| serde_json::from_str(&r).ok())
                } else {
                    None
                };
                let changed = previous
                    .as_ref()
                    .map(|old| read::changed_properties(old, &page))
                    .unwrap_or_default();
                let upsert = write::upsert_page(c, page)?;
                if let (Some(ds), false) = (&source, changed.is_empty()) {
                    for d in read::rollup_dependent_sources(c, &links, &id, ds, &changed)? {
                        dependents.push((d, id.clone()));
                    }
                }
                if upsert.changed() {
                    report.written += 1;
                }
                match read::page_state(c, &id)? {
                    Some(s) if s.in_trash => {}
                    Some(s) if s.content_new => work.new.push(id),
                    Some(s) if s.unexplained => work.unexplained.push(id),
                    _ => {}
                }
            }
            let mut signals: Vec<Signal> = dependents
                .into_iter()
                .map(|(ds, row)| {
                    // Always once more, even when the source is being queried right now:
                    // that query may have read the rollup before this change.
                    let mut s = origin.signal(Kind::DataSource, &ds, reason::ROLLUPS);
                    s.blocks = vec![row];
                    s.if_idle = false;
                    s
                })
                .collect();
            if queue_content {
                signals.extend(work.signals(grace, origin));
            }
            let now = queue::now_ms();
            for s in &signals {
                queue::enqueue(c, s, now)?;
            }
            Ok((
                report,
                signals.len() as u64,
                signals.iter().map(|s| s.due_at).min(),
            ))
        })
        .await?;
    if let Some(at) = earliest {
        ctx.wake.due_at(at);
    }
    Ok((report, queued))
}

/// 2026-12-01 lists show a row's properties only as far as `filter_properties` asked: a
/// row lacking a property its data source's schema has (or whose schema the mirror does
/// not know) is fetched whole with `GET /v1/pages/{id}` and written from that — a row is
/// never stored short. A row that GET no longer finds is left for the next sweep.
async fn refetch_short_rows(ctx: &Ctx, pages: &mut Vec<Value>) -> Result<(), FetchError> {
    let sources: Vec<String> = pages
        .iter()
        .filter_map(|p| p.pointer("/parent/data_source_id").and_then(Value::as_str))
        .map(ids::normalize_or_keep)
        .collect();
    if sources.is_empty() {
        return Ok(());
    }
    let schemas: HashMap<String, Option<Vec<String>>> = ctx
        .store
        .read(move |c| {
            let mut out = HashMap::new();
            for ds in sources {
                let ids = read::schema_property_ids(c, &ds)?;
                out.insert(ds, ids);
            }
            Ok(out)
        })
        .await?;
    let mut kept = Vec::with_capacity(pages.len());
    for page in pages.drain(..) {
        let Some(ds) = page
            .pointer("/parent/data_source_id")
            .and_then(Value::as_str)
            .map(ids::normalize_or_keep)
        else {
            kept.push(page);
            continue;
        };
        let has: std::collections::HashSet<String> = page
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| {
                m.values()
                    .filter_map(|p| p.get("id").and_then(Value::as_str))
                    .map(read::percent_decode)
                    .collect()
            })
            .unwrap_or_default();
        let short = match schemas.get(&ds) {
            Some(Some(schema)) => schema.iter().any(|id| !has.contains(id)),
            _ => true,
        };
        if !short {
            kept.push(page);
            continue;
        }
        let Some(id) = page
            .get("id")
            .and_then(Value::as_str)
            .and_then(ids::normalize)
        else {
            continue;
        };
        ctx.metrics.inc(
            "notion_mirror_work_total",
            &[("kind", "short_row"), ("outcome", "refetched")],
        );
        match ctx.client.retrieve_page(&id).await {
            Ok(whole) => kept.push(whole),
            Err(e) if e.is_gone() => {}
            Err(e) => return Err(e.into()),
        }
    }
    *pages = kept;
    Ok(())
}
