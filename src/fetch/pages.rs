//! Pages: a page work item (properties, content, trash state, confirmed removal) and the
//! batch write of pages that arrived in listings (query and search results).
//!
//! Invariant: a page's properties are written from the object the API returned (GET or a
//! listing), completed first; a page missing from the mirror always gets its content too.

use serde_json::Value;

use super::{complete, content, Ctx, FetchError, Report};
use crate::ids;
use crate::mirror::{read, write, StoreError};
use crate::notion::NotionError;
use std::collections::HashMap;

use crate::queue::{self, reason, Kind, Signal, WorkItem};

/// Runs one page work item.
pub async fn refresh(ctx: &Ctx, item: &WorkItem) -> Result<Report, FetchError> {
    let id = item.id.clone();
    let mut report = Report::default();
    let before = state(ctx, &id).await?;
    let wants_get = item.reasons & (reason::PROPERTIES | reason::VERIFY | reason::TRASH) != 0;
    if wants_get || before.is_none() {
        match ctx.client.retrieve_page(&id).await {
            Ok(page) => report.add(write_pages(ctx, vec![page], false, item.priority).await?.0),
            Err(e) if e.is_gone() => return remove(ctx, &id, &e).await,
            Err(e) => return Err(e.into()),
        }
    }
    let Some(after) = state(ctx, &id).await? else {
        return Ok(report);
    };
    if after.in_trash {
        return Ok(report); // kept as it was; Notion can restore it
    }
    let whole_tree = item.reasons & reason::CONTENT != 0
        || before.is_none()
        || (item.reasons & reason::BLOCKS != 0 && after.content_edited_time.is_none());
    if whole_tree {
        report.add(content::refresh_content(ctx, &id, &after.last_edited_time).await?);
    } else if item.reasons & reason::BLOCKS != 0 {
        report.add(content::refresh_blocks(ctx, &id, &after.last_edited_time, &item.blocks).await?);
    } else if item.reasons & reason::COMMENTS != 0 {
        report.add(content::refresh_comments(ctx, &id).await?);
    }
    Ok(report)
}

async fn state(ctx: &Ctx, id: &str) -> Result<Option<read::PageState>, StoreError> {
    let id = id.to_string();
    ctx.store.read(move |c| read::page_state(c, &id)).await
}

/// Removes a page a direct GET could not see, once users/me proves the token works.
pub async fn remove(ctx: &Ctx, id: &str, why: &NotionError) -> Result<Report, FetchError> {
    ctx.token.confirm(&ctx.client).await?;
    let reason = removal_reason(why);
    let id = id.to_string();
    let removed = ctx
        .store
        .write(move |c| write::remove_page(c, &id, reason))
        .await?;
    if removed {
        tracing::info!(
            object = "page",
            reason = reason.as_str(),
            "removed from the mirror"
        );
    }
    Ok(Report {
        written: 0,
        removed: u64::from(removed),
    })
}

/// `not_found` for 404, `restricted` for 403.
pub fn removal_reason(error: &NotionError) -> write::Removal {
    match error {
        NotionError::Restricted(_) => write::Removal::Restricted,
        _ => write::Removal::NotFound,
    }
}

/// Completes and writes pages from a listing in one transaction, and enqueues (at
/// `priority`) the pages whose rollups read a changed page. With `only_if_newer` (search
/// results, which may lag), a page is skipped when the mirror already holds a newer
/// version (equal versions are written: that heals rows damaged in the mirror). Returns
/// the report and the ids of pages whose content is due (new, changed, never settled).
pub async fn write_pages(
    ctx: &Ctx,
    mut pages: Vec<Value>,
    only_if_newer: bool,
    priority: i64,
) -> Result<(Report, Vec<String>), FetchError> {
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
    let (report, due, dependents) = ctx
        .store
        .write(move |c| {
            let links = read::rollup_links(c)?;
            let mut report = Report::default();
            let mut due = Vec::new();
            let mut dependents: Vec<String> = Vec::new();
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
                    for d in read::rollup_dependents(c, &links, &id, ds, &changed)? {
                        if !dependents.contains(&d) {
                            dependents.push(d);
                        }
                    }
                }
                if upsert.changed() {
                    report.written += 1;
                }
                if read::page_state(c, &id)?.is_some_and(|s| s.content_due && !s.in_trash) {
                    due.push(id);
                }
            }
            Ok((report, due, dependents))
        })
        .await?;
    if !dependents.is_empty() {
        let now = queue::now_ms();
        let signals = dependents
            .iter()
            .map(|d| {
                let mut s = Signal::new(Kind::Page, d, reason::PROPERTIES, now);
                s.priority = priority;
                s
            })
            .collect();
        ctx.enqueue(signals).await?;
    }
    Ok((report, due))
}
