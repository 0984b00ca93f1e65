//! Page content: blocks (whole trees, one level, single blocks) and comments.
//!
//! Invariant: a complete listing replaces what it covers (blocks of the page, children of a
//! parent, comments of the page) and nothing else.

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::changes::{Place, Version};
use super::{
    clean_raw, files, id_of, parent_of, str_field, tombstone, trashed, Incoming, Removal, Upsert,
};
use crate::ids;
use crate::mirror::file_refs::Holder;
use crate::mirror::{text, StoreError};

/// A block as fetched, with its place in the tree.
#[derive(Debug, Clone)]
pub struct BlockRow {
    pub raw: Value,
    pub parent_id: String,
    pub position: i64,
}

/// Upserts blocks of `page_id`'s content; returns how many were new or changed.
pub fn upsert_blocks(
    conn: &Connection,
    page_id: &str,
    blocks: &[BlockRow],
) -> Result<u64, StoreError> {
    let mut changed = 0u64;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO blocks (id, raw, page_id, parent_id, position, type, has_children, text, in_trash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, page_id = excluded.page_id,
             parent_id = excluded.parent_id, position = excluded.position, type = excluded.type,
             has_children = excluded.has_children, text = excluded.text, in_trash = excluded.in_trash
         WHERE blocks.raw IS NOT excluded.raw OR blocks.page_id IS NOT excluded.page_id
            OR blocks.parent_id IS NOT excluded.parent_id OR blocks.position IS NOT excluded.position
            OR blocks.type IS NOT excluded.type OR blocks.has_children IS NOT excluded.has_children
            OR blocks.text IS NOT excluded.text OR blocks.in_trash IS NOT excluded.in_trash",
    )?;
    for block in blocks {
        let raw = clean_raw(block.raw.clone());
        let id = id_of(&raw)?;
        let kind = str_field(&raw, "type").unwrap_or_default();
        let has_children = raw
            .get("has_children")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut text = text::block(&raw);
        // A child page/database block shows the current title of what it stands for.
        if kind == "child_page" || kind == "child_database" {
            let table = if kind == "child_page" {
                "pages"
            } else {
                "databases"
            };
            if let Some(title) = conn
                .prepare_cached(&format!("SELECT title FROM {table} WHERE id = ?1"))?
                .query_row([&id], |r| r.get::<_, String>(0))
                .optional()?
            {
                text = title;
            }
        }
        let before = super::changes::block_before(conn, &id)?;
        let in_trash = trashed(&raw);
        let (raw_json, parent_id) = (raw.to_string(), ids::normalize_or_keep(&block.parent_id));
        let wrote = stmt.execute(params![
            id,
            raw_json,
            page_id,
            parent_id,
            block.position,
            kind,
            has_children,
            text,
            in_trash,
        ])?;
        if wrote > 0 {
            files::record(conn, Holder::Block, &id, &raw)?;
        }
        changed += wrote as u64;
        let after = Version {
            raw: raw_json,
            place: Some(Place {
                parent: parent_id,
                position: block.position,
                text,
                kind,
            }),
        };
        super::changes::note_block(conn, page_id, &id, before, Some(after))?;
    }
    Ok(changed)
}

/// Replaces the whole block tree of a page and records the content bookkeeping.
pub fn replace_page_blocks(
    conn: &Connection,
    page_id: &str,
    blocks: &[BlockRow],
    content_edited_time: &str,
    content_synced_at: &str,
) -> Result<u64, StoreError> {
    let changed = upsert_blocks(conn, page_id, blocks)?;
    let keep = ids_of_rows(blocks);
    let removed = delete_blocks_not_in(
        conn,
        "SELECT id FROM blocks WHERE page_id = ?1",
        page_id,
        &keep,
    )?;
    mark_content_synced(conn, page_id, content_edited_time, content_synced_at)?;
    follow_children(conn, page_id)?;
    Ok(changed + removed)
}

/// Keeps `has_children` of the `child_page` block that stands for `page_id` equal to
/// whether the page has content (Notion changes it without an event on the parent).
pub fn follow_children(conn: &Connection, page_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE blocks SET has_children = h.v, raw = json_set(raw, '$.has_children', json(CASE h.v WHEN 1 THEN 'true' ELSE 'false' END))
         FROM (SELECT EXISTS (SELECT 1 FROM blocks WHERE parent_id = ?1) AS v) AS h
         WHERE blocks.id = ?1 AND blocks.type = 'child_page' AND blocks.has_children IS NOT h.v",
    )?
    .execute([page_id])?;
    Ok(())
}

fn ids_of_rows(blocks: &[BlockRow]) -> HashSet<String> {
    blocks
        .iter()
        .filter_map(|b| {
            b.raw
                .get("id")
                .and_then(Value::as_str)
                .and_then(ids::normalize)
        })
        .collect()
}

/// Records that `page_id`'s whole tree was fetched, starting at `content_synced_at`, when
/// the page was at `content_edited_time`. Edits webhook events explained before that read
/// began are part of it: `events_edited_time` is cleared when it is not newer than the
/// minute the read started.
pub fn mark_content_synced(
    conn: &Connection,
    page_id: &str,
    content_edited_time: &str,
    content_synced_at: &str,
) -> Result<(), StoreError> {
    let started_minute = crate::mirror::minute_of(content_synced_at);
    conn.prepare_cached(
        "UPDATE pages SET content_edited_time = ?2, content_synced_at = ?3,
             events_edited_time = CASE WHEN events_edited_time <= ?4 THEN NULL
                                       ELSE events_edited_time END
         WHERE id = ?1",
    )?
    .execute(params![
        page_id,
        content_edited_time,
        content_synced_at,
        started_minute
    ])?;
    Ok(())
}

/// Records that webhook events explained `page_id`'s edits up to `minute` (their named
/// work is done). Never moves backwards.
pub fn explain_page_edits(
    conn: &Connection,
    page_id: &str,
    minute: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE pages SET events_edited_time = ?2
         WHERE id = ?1 AND (events_edited_time IS NULL OR events_edited_time < ?2)",
    )?
    .execute(params![page_id, minute])?;
    Ok(())
}

/// Replaces the direct children of `parent_id` with a fresh listing (`level`), keeping
/// the subtrees of children that are still there, and adds the subtrees fetched for new
/// children (`new_subtrees`). Children no longer listed go, with their descendants.
pub fn replace_children(
    conn: &Connection,
    page_id: &str,
    parent_id: &str,
    level: &[BlockRow],
    new_subtrees: &[BlockRow],
) -> Result<u64, StoreError> {
    let keep = ids_of_rows(level);
    let gone: Vec<String> = {
        let mut stmt = conn.prepare_cached("SELECT id FROM blocks WHERE parent_id = ?1")?;
        let rows = stmt.query_map([parent_id], |r| r.get::<_, String>(0))?;
        rows.filter_map(Result::ok)
            .filter(|id| !keep.contains(id))
            .collect()
    };
    let mut removed = 0;
    for id in gone {
        removed += delete_subtree(conn, &id)?;
    }
    let changed =
        upsert_blocks(conn, page_id, level)? + upsert_blocks(conn, page_id, new_subtrees)?;
    if parent_id == page_id {
        follow_children(conn, page_id)?;
    }
    Ok(changed + removed)
}

/// Deletes a block and everything under it in the same page's content; returns how many
/// rows went. A `child_page` block's children are that page's own content (their
/// `parent_id` is the page's id, which is the block's): they stay with their page.
fn delete_subtree(conn: &Connection, id: &str) -> Result<u64, StoreError> {
    super::changes::delete_blocks(
        conn,
        "WITH RECURSIVE d(id) AS (
             SELECT ?1 UNION SELECT b.id FROM blocks b JOIN d ON b.parent_id = d.id
             WHERE b.page_id = (SELECT page_id FROM blocks WHERE id = ?1))
         DELETE FROM blocks WHERE id IN (SELECT id FROM d)
         RETURNING id, raw, parent_id, position, text, type, page_id",
        id,
    )
}

fn delete_blocks_not_in(
    conn: &Connection,
    select_ids: &str,
    arg: &str,
    keep: &HashSet<String>,
) -> Result<u64, StoreError> {
    let stale: Vec<String> = {
        let mut stmt = conn.prepare_cached(select_ids)?;
        let rows = stmt.query_map([arg], |r| r.get::<_, String>(0))?;
        rows.filter_map(Result::ok)
            .filter(|id| !keep.contains(id))
            .collect()
    };
    for id in &stale {
        super::changes::delete_blocks(
            conn,
            "DELETE FROM blocks WHERE id = ?1
             RETURNING id, raw, parent_id, position, text, type, page_id",
            id,
        )?;
    }
    Ok(stale.len() as u64)
}

/// Upserts one comment belonging to `page_id`.
pub fn upsert_comment(
    conn: &Connection,
    page_id: &str,
    comment: Value,
) -> Result<Upsert, StoreError> {
    let incoming = Incoming::read(conn, "comments", comment)?;
    let (comment, id, raw) = (&incoming.object, &incoming.id, &incoming.raw);
    let (parent_type, parent_id) = parent_of(comment);
    let wrote =
        conn.prepare_cached(
            "INSERT INTO comments (id, raw, page_id, parent_type, parent_id, discussion_id, text,
                               created_time, last_edited_time, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, page_id = excluded.page_id,
             parent_type = excluded.parent_type, parent_id = excluded.parent_id,
             discussion_id = excluded.discussion_id, text = excluded.text,
             created_time = excluded.created_time, last_edited_time = excluded.last_edited_time,
             created_by = excluded.created_by
         WHERE comments.raw IS NOT excluded.raw OR comments.page_id IS NOT excluded.page_id
            OR comments.parent_type IS NOT excluded.parent_type
            OR comments.parent_id IS NOT excluded.parent_id
            OR comments.discussion_id IS NOT excluded.discussion_id
            OR comments.text IS NOT excluded.text
            OR comments.created_time IS NOT excluded.created_time
            OR comments.last_edited_time IS NOT excluded.last_edited_time
            OR comments.created_by IS NOT excluded.created_by",
        )?
        .execute(params![
            id,
            raw,
            page_id,
            parent_type,
            parent_id.unwrap_or_default(),
            str_field(comment, "discussion_id").map(|d| ids::normalize_or_keep(&d)),
            text::comment(comment),
            str_field(comment, "created_time").unwrap_or_default(),
            str_field(comment, "last_edited_time"),
            comment
                .pointer("/created_by/id")
                .and_then(Value::as_str)
                .map(ids::normalize_or_keep),
        ])? > 0;
    if !wrote {
        return Ok(Upsert::Unchanged);
    }
    incoming.written(conn, "comment")
}

/// Which of a page's comments a complete listing covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentScope {
    /// Page-level discussions only (`comments.scan_blocks = false`).
    PageLevel,
    /// The page and every one of its blocks.
    PageAndBlocks,
}

/// Replaces a page's comments with a complete listing; comments no longer listed are
/// removed with a `not_listed` tombstone (resolved or deleted: the API cannot tell which).
/// Returns `(written, removed)`.
pub fn replace_page_comments(
    conn: &Connection,
    page_id: &str,
    comments: Vec<Value>,
    scope: CommentScope,
) -> Result<(u64, u64), StoreError> {
    let mut keep = HashSet::new();
    let mut written = 0;
    for comment in comments {
        if let Ok(id) = id_of(&comment) {
            keep.insert(id);
        }
        if upsert_comment(conn, page_id, comment)?.changed() {
            written += 1;
        }
    }
    let sql = match scope {
        CommentScope::PageLevel => {
            "SELECT id FROM comments WHERE page_id = ?1 AND parent_type = 'page_id'"
        }
        CommentScope::PageAndBlocks => "SELECT id FROM comments WHERE page_id = ?1",
    };
    let stale: Vec<String> = {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([page_id], |r| r.get::<_, String>(0))?;
        rows.filter_map(Result::ok)
            .filter(|id| !keep.contains(id))
            .collect()
    };
    for id in &stale {
        remove_comment(conn, id, Removal::NotListed)?;
    }
    Ok((written, stale.len() as u64))
}

/// Removes one comment with a tombstone.
pub fn remove_comment(conn: &Connection, id: &str, why: Removal) -> Result<bool, StoreError> {
    super::changes::note_removed(conn, "comment", id)?;
    let n = conn
        .prepare_cached("DELETE FROM comments WHERE id = ?1")?
        .execute([id])?;
    if n > 0 {
        tombstone(conn, "comment", id, why)?;
    }
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block(id: &str, parent: &str, kind: &str, has_children: bool) -> BlockRow {
        BlockRow {
            raw: json!({"object": "block", "id": id, "type": kind, "has_children": has_children, kind: {}}),
            parent_id: parent.into(),
            position: 0,
        }
    }

    #[test]
    fn a_child_page_block_leaving_its_parent_leaves_the_child_pages_content() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
        let parent = "00000000-0000-4000-8000-00000000000a";
        let child = "00000000-0000-4000-8000-00000000000b";
        let para = "00000000-0000-4000-8000-00000000000c";
        upsert_blocks(&c, parent, &[block(child, parent, "child_page", true)]).unwrap();
        replace_page_blocks(
            &c,
            child,
            &[block(para, child, "paragraph", false)],
            "t",
            "t",
        )
        .unwrap();
        // The child page is trashed: its block leaves the parent's list.
        replace_children(&c, parent, parent, &[], &[]).unwrap();
        let left: Vec<String> = c
            .prepare("SELECT id FROM blocks ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(left, vec![para.to_string()]);
    }

    #[test]
    fn a_child_page_block_follows_whether_its_page_has_content() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
        let parent = "00000000-0000-4000-8000-00000000000a";
        let child = "00000000-0000-4000-8000-00000000000b";
        let para = "00000000-0000-4000-8000-00000000000c";
        upsert_blocks(&c, parent, &[block(child, parent, "child_page", false)]).unwrap();
        replace_page_blocks(
            &c,
            child,
            &[block(para, child, "paragraph", false)],
            "t",
            "t",
        )
        .unwrap();
        let (flag, raw): (bool, String) = c
            .query_row(
                "SELECT has_children, raw FROM blocks WHERE id = ?1",
                [child],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(flag);
        assert_eq!(
            serde_json::from_str::<Value>(&raw).unwrap()["has_children"],
            json!(true)
        );
        replace_page_blocks(&c, child, &[], "t", "t").unwrap();
        let flag: bool = c
            .query_row(
                "SELECT has_children FROM blocks WHERE id = ?1",
                [child],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!flag);
    }
}
