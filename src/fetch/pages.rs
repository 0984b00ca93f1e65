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
use crate::queue::{reason, WorkItem};

/// Runs one page work item.
pub async fn refresh(ctx: &Ctx, item: &WorkItem) -> Result<Report, FetchError> {
    let id = item.id.clone();
    let mut report = Report::default();
    let before = state(ctx, &id).await?;
    let wants_get = item.reasons & (reason::PROPERTIES | reason::VERIFY | reason::TRASH) != 0;
    if wants_get || before.is_none() {
        match ctx.client.retrieve_page(&id).await {
            Ok(page) => report.add(write_pages(ctx, vec![page], false).await?.0),
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

/// Completes and writes pages from a listing in one transaction. With `only_if_newer`
/// (search results, which may lag), a page is skipped unless it is new or its
/// `last_edited_time` moved past the mirror's. Returns the report and the ids of pages
/// whose content is due (new, changed, or never settled).
pub async fn write_pages(
    ctx: &Ctx,
    mut pages: Vec<Value>,
    only_if_newer: bool,
) -> Result<(Report, Vec<String>), FetchError> {
    if only_if_newer {
        let candidates: Vec<(String, String)> = pages
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
                Some((id, edited))
            })
            .collect();
        let keep = ctx
            .store
            .read(move |c| {
                let mut keep = std::collections::HashSet::new();
                for (id, edited) in candidates {
                    match read::page_state(c, &id)? {
                        Some(s) if s.last_edited_time >= edited => {}
                        _ => {
                            keep.insert(id);
                        }
                    }
                }
                Ok(keep)
            })
            .await?;
        pages.retain(|p| {
            p.get("id")
                .and_then(Value::as_str)
                .and_then(ids::normalize)
                .is_some_and(|id| keep.contains(&id))
        });
    }
    for page in pages.iter_mut() {
        complete::complete_page(&ctx.client, page).await?;
    }
    let outcome = ctx
        .store
        .write(move |c| {
            let mut report = Report::default();
            let mut due = Vec::new();
            for page in pages {
                let Some(id) = page
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(ids::normalize)
                else {
                    continue;
                };
                if write::upsert_page(c, page)?.changed() {
                    report.written += 1;
                }
                if read::page_state(c, &id)?.is_some_and(|s| s.content_due && !s.in_trash) {
                    due.push(id);
                }
            }
            Ok((report, due))
        })
        .await?;
    Ok(outcome)
}
