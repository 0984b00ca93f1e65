//! Page content: the block tree (recursive, paginated, never into child pages or
//! databases), block-level refresh from a webhook's `updated_blocks`, and comment lists.
//!
//! Invariants: a full content refresh records the page version it started from
//! (`content_edited_time`) so the reconciler knows exactly which pages are stale; a
//! block-level refresh never claims the whole tree is fresh (it only lets the page's item
//! record what its events explained, see `pages::explain`); comments are listed only when
//! asked (a page new to the mirror, the daily sweep, a resync) — a content refresh never
//! re-lists them, `comment.*` events keep them current; a block whose children cannot be
//! listed (400/403/404) is logged and counted and its subtree skipped — it never aborts
//! the page.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use super::remove::{remove, Gone};
use super::{Ctx, FetchError, Report};
use crate::ids;
use crate::mirror::write::{BlockRow, CommentScope};
use crate::mirror::{now_iso, read, write};
use crate::notion::NotionError;
use crate::queue::Kind;

/// Blocks that stand for other objects: their content is mirrored with that object.
fn is_boundary(kind: &str) -> bool {
    matches!(kind, "child_page" | "child_database")
}

/// The object a boundary block stands for.
fn boundary_kind(block_type: &str) -> Kind {
    if block_type == "child_page" {
        Kind::Page
    } else {
        Kind::Database
    }
}

fn block_id(block: &Value) -> Option<String> {
    block
        .get("id")
        .and_then(Value::as_str)
        .and_then(ids::normalize)
}

fn block_kind(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or("")
}

fn descends(block: &Value) -> bool {
    block
        .get("has_children")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        && !is_boundary(block_kind(block))
}

/// Lists every block under `root` (a page or a block), depth first.
pub async fn fetch_tree(ctx: &Ctx, root: &str) -> Result<Vec<BlockRow>, FetchError> {
    let mut rows = Vec::new();
    let mut stack = vec![root.to_string()];
    while let Some(parent) = stack.pop() {
        let children = match ctx.client.block_children(&parent).collect_all().await {
            Ok(children) => children,
            Err(e)
                if parent != root
                    && !e.is_retryable()
                    && !matches!(e, NotionError::Unauthorized(_)) =>
            {
                ctx.metrics.inc(
                    "notion_mirror_work_total",
                    &[("kind", "block_children"), ("outcome", "skipped")],
                );
                tracing::warn!(block = %parent, error = %e, "cannot list a block's children; subtree skipped");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for (position, child) in children.into_iter().enumerate() {
            if descends(&child) {
                if let Some(id) = block_id(&child) {
                    stack.push(id);
                }
            }
            rows.push(BlockRow {
                raw: child,
                parent_id: parent.clone(),
                position: position as i64,
            });
        }
    }
    Ok(rows)
}

/// Lists a page's open comments: page-level discussions, plus each block's when
/// `scan_block_comments` (inline discussions are only listed per block).
pub async fn fetch_comments(
    ctx: &Ctx,
    page_id: &str,
    blocks: &[(String, String)],
) -> Result<Vec<Value>, FetchError> {
    let mut comments = ctx.client.list_comments(page_id).collect_all().await?;
    if ctx.options.scan_block_comments {
        for (id, kind) in blocks {
            if is_boundary(kind) {
                continue;
            }
            match ctx.client.list_comments(id).collect_all().await {
                Ok(more) => comments.extend(more),
                // The block went away since the tree was listed: nothing to list.
                Err(NotionError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(comments)
}

fn scope(ctx: &Ctx) -> CommentScope {
    if ctx.options.scan_block_comments {
        CommentScope::PageAndBlocks
    } else {
        CommentScope::PageLevel
    }
}

/// Refetches a page's whole block tree, and its comments when `with_comments`; `version`
/// is the page's `last_edited_time` read before the fetch started.
pub async fn refresh_content(
    ctx: &Ctx,
    page_id: &str,
    version: &str,
    with_comments: bool,
) -> Result<Report, FetchError> {
    let started = now_iso();
    let rows = match fetch_tree(ctx, page_id).await {
        Ok(rows) => rows,
        Err(FetchError::Notion(e)) if e.is_gone() => return confirm_gone(ctx, page_id, e).await,
        Err(e) => return Err(e),
    };
    let comments = if with_comments {
        let listed: Vec<(String, String)> = rows
            .iter()
            .filter_map(|r| Some((block_id(&r.raw)?, block_kind(&r.raw).to_string())))
            .collect();
        Some(fetch_comments(ctx, page_id, &listed).await?)
    } else {
        None
    };
    let (page, version, scope) = (page_id.to_string(), version.to_string(), scope(ctx));
    ctx.store
        .write(move |c| {
            let blocks = write::replace_page_blocks(c, &page, &rows, &version, &started)?;
            let (written, removed) = match comments {
                Some(comments) => write::replace_page_comments(c, &page, comments, scope)?,
                None => (0, 0),
            };
            Ok(Report {
                written: blocks + written,
                removed,
            })
        })
        .await
        .map_err(FetchError::from)
}

/// Re-lists a page's comments without touching its blocks.
pub async fn refresh_comments(ctx: &Ctx, page_id: &str) -> Result<Report, FetchError> {
    let page = page_id.to_string();
    let blocks = ctx
        .store
        .read(move |c| read::block_ids_of_page(c, &page))
        .await?;
    let comments = match fetch_comments(ctx, page_id, &blocks).await {
        Ok(comments) => comments,
        Err(FetchError::Notion(e)) if e.is_gone() => return confirm_gone(ctx, page_id, e).await,
        Err(e) => return Err(e),
    };
    let (page, scope) = (page_id.to_string(), scope(ctx));
    let (written, removed) = ctx
        .store
        .write(move |c| write::replace_page_comments(c, &page, comments, scope))
        .await?;
    Ok(Report { written, removed })
}

/// A page's children list answered 404/403: confirm with a direct GET before removing.
async fn confirm_gone(
    ctx: &Ctx,
    page_id: &str,
    listing_error: NotionError,
) -> Result<Report, FetchError> {
    match ctx.client.retrieve_page(page_id).await {
        Err(e) if e.is_gone() => remove(ctx, Gone::Page, page_id, &e).await,
        Err(e) => Err(e.into()),
        // Readable page, unreadable content (e.g. a missing capability): report the error.
        Ok(_) => Err(listing_error.into()),
    }
}

/// Refetches only what `updated_blocks` names, one children list per parent involved: a
/// named block the mirror has is re-read in its parent's list (which shows an edit, a
/// deletion or a move away in one request); blocks the mirror lacks are new, and are
/// looked for in the lists already read, then in the children of the named blocks
/// (Notion names the block whose children changed), then in the page's top level; only
/// a block still not found costs a GET to learn its parent. New children come with their
/// whole subtrees. A block that belongs to another page falls back to the whole tree
/// (without comments). Returns the report and the newest `last_edited_time` among the
/// named blocks read (evidence that the reads show the events' edits).
pub async fn refresh_blocks(
    ctx: &Ctx,
    page_id: &str,
    version: &str,
    block_ids: &[String],
) -> Result<BlockRefresh, FetchError> {
    let whole = |report: Report| BlockRefresh {
        report,
        ..BlockRefresh::default()
    };
    let named: Vec<String> = block_ids
        .iter()
        .filter(|b| b.as_str() != page_id)
        .cloned()
        .collect();
    let infos = {
        let ids = named.clone();
        ctx.store
            .read(move |c| {
                ids.iter()
                    .map(|id| Ok((id.clone(), read::block_info(c, id)?)))
                    .collect::<Result<Vec<_>, crate::mirror::StoreError>>()
            })
            .await?
    };
    if infos
        .iter()
        .any(|(_, k)| k.as_ref().is_some_and(|k| k.page_id != page_id))
    {
        return refresh_content(ctx, page_id, version, false)
            .await
            .map(whole);
    }
    let known: Vec<(String, String)> = infos
        .iter()
        .filter_map(|(id, k)| k.as_ref().map(|k| (id.clone(), k.parent_id.clone())))
        .collect();
    let mut missing: BTreeSet<String> = infos
        .iter()
        .filter(|(_, k)| k.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    let mut levels: Vec<(String, Vec<BlockRow>, Vec<BlockRow>)> = Vec::new();
    let mut read_parents: BTreeSet<String> = BTreeSet::new();
    // 1. The parents of the named blocks the mirror has.
    let first: BTreeSet<String> = known.iter().map(|(_, p)| p.clone()).collect();
    for parent in first {
        if !read_level(ctx, &parent, &mut levels, &mut read_parents, &mut missing).await? {
            return refresh_content(ctx, page_id, version, false)
                .await
                .map(whole);
        }
    }
    // 2. New blocks: under a named block, else at the page's top level.
    let mut candidates: Vec<String> = known.iter().map(|(id, _)| id.clone()).collect();
    candidates.push(page_id.to_string());
    for parent in candidates {
        if missing.is_empty() {
            break;
        }
        if !read_parents.contains(&parent)
            && !read_level(ctx, &parent, &mut levels, &mut read_parents, &mut missing).await?
        {
            return refresh_content(ctx, page_id, version, false)
                .await
                .map(whole);
        }
    }
    // 3. Still not found: ask each block where it is.
    let mut trashed_boundaries: Vec<(Kind, String)> = Vec::new();
    for id in std::mem::take(&mut missing) {
        let block = match ctx.client.retrieve_block(&id).await {
            Ok(block) => block,
            // Created and deleted before we looked: nothing to mirror.
            Err(e) if e.is_gone() => continue,
            Err(e) => return Err(e.into()),
        };
        if write::trashed(&block) {
            // A child page or database created and trashed between two reads of this
            // list: its own object may be mirrored live (found by a sweep, its
            // `page.deleted` lost), so it is refetched if the mirror holds it live.
            if is_boundary(block_kind(&block)) {
                trashed_boundaries.push((boundary_kind(block_kind(&block)), id));
            }
            continue;
        }
        let parent = write::parent_of(&block).1.unwrap_or_default();
        let inside = {
            let p = parent.clone();
            let page = page_id.to_string();
            parent == page_id
                || ctx
                    .store
                    .read(move |c| Ok(read::block_info(c, &p)?.is_some_and(|i| i.page_id == page)))
                    .await?
                || levels.iter().any(|(_, level, subtrees)| {
                    level
                        .iter()
                        .chain(subtrees)
                        .any(|r| block_id(&r.raw).as_deref() == Some(parent.as_str()))
                })
        };
        if !inside {
            return refresh_content(ctx, page_id, version, false)
                .await
                .map(whole);
        }
        let mut found = BTreeSet::from([id.clone()]);
        if !read_parents.contains(&parent)
            && !read_level(ctx, &parent, &mut levels, &mut read_parents, &mut found).await?
        {
            return refresh_content(ctx, page_id, version, false)
                .await
                .map(whole);
        }
    }
    let named_set: HashSet<&String> = named.iter().collect();
    let mut newest: Option<String> = None;
    for (_, level, subtrees) in &levels {
        for row in level.iter().chain(subtrees) {
            let is_named = block_id(&row.raw).is_some_and(|id| named_set.contains(&id));
            let edited = row.raw.get("last_edited_time").and_then(Value::as_str);
            if let (true, Some(t)) = (is_named, edited) {
                if newest.as_deref().is_none_or(|n| t > n) {
                    newest = Some(t.to_string());
                }
            }
        }
    }
    // A child page or database whose block left its parent's list was trashed or moved
    // away: its own object is refetched too (its own event may have been lost).
    let listed: HashSet<String> = levels
        .iter()
        .flat_map(|(_, level, _)| level.iter().filter_map(|r| block_id(&r.raw)))
        .collect();
    let parents: Vec<String> = levels.iter().map(|(p, _, _)| p.clone()).collect();
    let left = ctx
        .store
        .read(move |c| {
            let mut left = Vec::new();
            for parent in &parents {
                for (id, kind) in read::child_blocks(c, parent)? {
                    if is_boundary(&kind) && !listed.contains(&id) {
                        left.push((boundary_kind(&kind), id));
                    }
                }
            }
            for (kind, id) in trashed_boundaries {
                if read::holds_live(c, kind, &id)? && !left.iter().any(|(_, l)| *l == id) {
                    left.push((kind, id));
                }
            }
            Ok(left)
        })
        .await?;
    let page = page_id.to_string();
    let written = ctx
        .store
        .write(move |c| {
            let mut n = 0;
            for (parent, level, subtrees) in &levels {
                n += write::replace_children(c, &page, parent, level, subtrees)?;
            }
            Ok(n)
        })
        .await?;
    Ok(BlockRefresh {
        report: Report::written(written),
        newest,
        left,
    })
}

/// What a block-level refresh did.
#[derive(Debug, Default)]
pub struct BlockRefresh {
    pub report: Report,
    /// The newest `last_edited_time` among the named blocks read (evidence that the reads
    /// show the events' edits); `None` after a whole-tree fallback.
    pub newest: Option<String>,
    /// Child pages and databases whose block left a list that was read: their own objects
    /// need a refetch.
    pub left: Vec<(Kind, String)>,
}

/// Reads `parent`'s children list (with subtrees of new children), records it, and
/// crosses off the `missing` blocks it shows. `Ok(false)`: the parent is a block that is
/// gone (deleted with its subtree): the caller falls back to the whole tree.
async fn read_level(
    ctx: &Ctx,
    parent: &str,
    levels: &mut Vec<(String, Vec<BlockRow>, Vec<BlockRow>)>,
    read_parents: &mut BTreeSet<String>,
    missing: &mut BTreeSet<String>,
) -> Result<bool, FetchError> {
    let level = match relist_level(ctx, parent).await {
        Ok(level) => level,
        Err(FetchError::Notion(e)) if e.is_gone() && levels.iter().all(|l| l.0 != parent) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    for row in level.1.iter().chain(&level.2) {
        if let Some(id) = block_id(&row.raw) {
            missing.remove(&id);
        }
    }
    read_parents.insert(parent.to_string());
    levels.push(level);
    Ok(true)
}

/// One parent's fresh children list, plus full subtrees for children the mirror lacks.
async fn relist_level(
    ctx: &Ctx,
    parent: &str,
) -> Result<(String, Vec<BlockRow>, Vec<BlockRow>), FetchError> {
    let children = ctx.client.block_children(parent).collect_all().await?;
    let known: HashSet<String> = {
        let p = parent.to_string();
        ctx.store
            .read(move |c| read::child_block_ids(c, &p))
            .await?
            .into_iter()
            .collect()
    };
    let mut level = Vec::new();
    let mut subtrees = Vec::new();
    for (position, child) in children.into_iter().enumerate() {
        if let Some(id) = block_id(&child) {
            if descends(&child) && !known.contains(&id) {
                subtrees.extend(fetch_tree(ctx, &id).await?);
            }
        }
        level.push(BlockRow {
            raw: child,
            parent_id: parent.to_string(),
            position: position as i64,
        });
    }
    Ok((parent.to_string(), level, subtrees))
}
