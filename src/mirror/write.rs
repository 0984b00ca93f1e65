//! Object upserts and removals, each a plain function over the writer's `&Connection`.
//!
//! Invariants: ids are normalized before they are keys; `raw` never carries `request_id`;
//! a page upsert keeps its content bookkeeping (`content_edited_time`), re-renders its
//! `property_values` only when `raw` changed, and keeps the text of the `child_page` block
//! that stands for it in step; removing an object removes what hangs off it and writes a
//! tombstone; an object that comes back loses its tombstone.

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::{now_iso, properties, text, views, StoreError};
use crate::ids;

/// Why an object left the mirror (the `tombstones.reason` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// A direct GET answered 404 (deleted, or no longer shared) with the token still valid.
    NotFound,
    /// A direct GET answered 403 restricted_resource.
    Restricted,
    /// Absent from a complete listing of its parent (a resolved or deleted comment, a user
    /// who left the workspace).
    NotListed,
    /// Removed together with the object it belonged to (rows of a removed data source).
    ParentRemoved,
}

impl Removal {
    pub fn as_str(self) -> &'static str {
        match self {
            Removal::NotFound => "not_found",
            Removal::Restricted => "restricted",
            Removal::NotListed => "not_listed",
            Removal::ParentRemoved => "parent_removed",
        }
    }
}

/// Strips `request_id` (a property of the response, not the object).
pub fn clean_raw(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("request_id");
    }
    object
}

fn id_of(object: &Value) -> Result<String, StoreError> {
    object
        .get("id")
        .and_then(Value::as_str)
        .and_then(ids::normalize)
        .ok_or_else(|| StoreError::Invalid(format!("object without a valid id: {}", brief(object))))
}

fn brief(object: &Value) -> String {
    let s = object.to_string();
    s.chars().take(120).collect()
}

fn str_field(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_string)
}

fn trashed(object: &Value) -> bool {
    let flag = |k: &str| object.get(k).and_then(Value::as_bool).unwrap_or(false);
    flag("in_trash") || flag("archived")
}

/// `(parent.type, the id it names)`; the workspace names no id.
pub fn parent_of(object: &Value) -> (String, Option<String>) {
    let parent = object.get("parent").unwrap_or(&Value::Null);
    let kind = parent
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("workspace")
        .to_string();
    let id = parent
        .get(&kind)
        .and_then(Value::as_str)
        .map(ids::normalize_or_keep);
    (kind, id)
}

/// Did an upsert change anything?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    New,
    Changed,
    Unchanged,
}

impl Upsert {
    pub fn changed(self) -> bool {
        self != Upsert::Unchanged
    }
}

fn existing_raw(conn: &Connection, table: &str, id: &str) -> Result<Option<String>, StoreError> {
    let sql = format!("SELECT raw FROM {table} WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

fn forget_tombstone(conn: &Connection, object: &str, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM tombstones WHERE object = ?1 AND id = ?2")?
        .execute([object, id])?;
    Ok(())
}

/// Records that `object` `id` left the mirror.
pub fn tombstone(
    conn: &Connection,
    object: &str,
    id: &str,
    why: Removal,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO tombstones (object, id, removed_at, reason) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (object, id) DO UPDATE SET removed_at = excluded.removed_at, reason = excluded.reason",
    )?
    .execute(params![object, id, now_iso(), why.as_str()])?;
    Ok(())
}

/// Upserts a page (from GET, query or search results) and its property values.
pub fn upsert_page(conn: &Connection, page: Value) -> Result<Upsert, StoreError> {
    let page = clean_raw(page);
    let id = id_of(&page)?;
    let raw = page.to_string();
    let previous = existing_raw(conn, "pages", &id)?;
    if previous.as_deref() == Some(raw.as_str()) {
        conn.prepare_cached("UPDATE pages SET synced_at = ?2 WHERE id = ?1")?
            .execute(params![id, now_iso()])?;
        // Self-heal: property rows deleted or added behind our back are rewritten.
        let rows: i64 = conn
            .prepare_cached("SELECT count(*) FROM property_values WHERE page_id = ?1")?
            .query_row([&id], |r| r.get(0))?;
        let expected = page
            .get("properties")
            .and_then(Value::as_object)
            .map_or(0, |p| p.len() as i64);
        if rows != expected {
            write_property_values(conn, &id, &page)?;
        }
        return Ok(Upsert::Unchanged);
    }
    let (parent_type, parent_id) = parent_of(&page);
    let data_source_id = (parent_type == "data_source_id")
        .then(|| parent_id.clone())
        .flatten();
    let title = text::page_title(&page);
    conn.prepare_cached(
        "INSERT INTO pages (id, raw, parent_type, parent_id, data_source_id, title, url,
                            created_time, last_edited_time, in_trash, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, parent_type = excluded.parent_type,
             parent_id = excluded.parent_id, data_source_id = excluded.data_source_id,
             title = excluded.title, url = excluded.url, created_time = excluded.created_time,
             last_edited_time = excluded.last_edited_time, in_trash = excluded.in_trash,
             synced_at = excluded.synced_at",
    )?
    .execute(params![
        id,
        raw,
        parent_type,
        parent_id,
        data_source_id,
        title,
        str_field(&page, "url"),
        str_field(&page, "created_time").unwrap_or_default(),
        str_field(&page, "last_edited_time").unwrap_or_default(),
        trashed(&page),
        now_iso(),
    ])?;
    write_property_values(conn, &id, &page)?;
    follow_title(conn, &id, "child_page", &title)?;
    if previous.is_none() {
        forget_tombstone(conn, "page", &id)?;
        return Ok(Upsert::New);
    }
    Ok(Upsert::Changed)
}

fn write_property_values(conn: &Connection, page_id: &str, page: &Value) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM property_values WHERE page_id = ?1")?
        .execute([page_id])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO property_values (page_id, property_id, name, type, value, text, number,
                                      date_start, date_end, scalar)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for row in properties::rows(page) {
        insert.execute(params![
            page_id,
            row.property_id,
            row.name,
            row.kind,
            row.value,
            row.text,
            row.number,
            row.date_start,
            row.date_end,
            row.scalar,
        ])?;
    }
    Ok(())
}

/// Keeps a `child_page`/`child_database` block's text (and raw title) equal to the title of
/// the page/database it stands for.
fn follow_title(conn: &Connection, id: &str, kind: &str, title: &str) -> Result<(), StoreError> {
    let path = format!("$.{kind}.title");
    conn.prepare_cached(
        "UPDATE blocks SET text = ?1, raw = json_set(raw, ?4, ?1)
         WHERE id = ?2 AND type = ?3 AND text IS NOT ?1",
    )?
    .execute(params![title, id, kind, path])?;
    Ok(())
}

/// Upserts a database container.
pub fn upsert_database(conn: &Connection, db: Value) -> Result<Upsert, StoreError> {
    let db = clean_raw(db);
    let id = id_of(&db)?;
    let raw = db.to_string();
    let previous = existing_raw(conn, "databases", &id)?;
    if previous.as_deref() == Some(raw.as_str()) {
        return Ok(Upsert::Unchanged);
    }
    let (parent_type, parent_id) = parent_of(&db);
    let title = text::object_title(&db);
    conn.prepare_cached(
        "INSERT INTO databases (id, raw, parent_type, parent_id, title, in_trash, last_edited_time, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, parent_type = excluded.parent_type,
             parent_id = excluded.parent_id, title = excluded.title, in_trash = excluded.in_trash,
             last_edited_time = excluded.last_edited_time, synced_at = excluded.synced_at",
    )?
    .execute(params![
        id,
        raw,
        parent_type,
        parent_id,
        title,
        trashed(&db),
        str_field(&db, "last_edited_time").unwrap_or_default(),
        now_iso(),
    ])?;
    follow_title(conn, &id, "child_database", &title)?;
    if previous.is_none() {
        forget_tombstone(conn, "database", &id)?;
        return Ok(Upsert::New);
    }
    Ok(Upsert::Changed)
}

/// Upserts a data source; rebuilds the typed views when its title or schema changed.
pub fn upsert_data_source(conn: &Connection, ds: Value) -> Result<Upsert, StoreError> {
    let ds = clean_raw(ds);
    let id = id_of(&ds)?;
    let raw = ds.to_string();
    let previous = existing_raw(conn, "data_sources", &id)?;
    if previous.as_deref() == Some(raw.as_str()) {
        return Ok(Upsert::Unchanged);
    }
    let database_id = ds
        .pointer("/parent/database_id")
        .and_then(Value::as_str)
        .map(ids::normalize_or_keep);
    let title = text::object_title(&ds);
    conn.prepare_cached(
        "INSERT INTO data_sources (id, raw, database_id, title, in_trash, last_edited_time, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, database_id = excluded.database_id,
             title = excluded.title, in_trash = excluded.in_trash,
             last_edited_time = excluded.last_edited_time, synced_at = excluded.synced_at",
    )?
    .execute(params![
        id,
        raw,
        database_id,
        title,
        trashed(&ds),
        str_field(&ds, "last_edited_time").unwrap_or_default(),
        now_iso(),
    ])?;
    let schema_changed = match &previous {
        None => true,
        Some(old) => {
            let old: Value = serde_json::from_str(old).unwrap_or(Value::Null);
            old.get("properties") != ds.get("properties") || text::object_title(&old) != title
        }
    };
    if schema_changed {
        views::rebuild_all(conn)?;
    }
    if previous.is_none() {
        forget_tombstone(conn, "data_source", &id)?;
        return Ok(Upsert::New);
    }
    Ok(Upsert::Changed)
}

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
            OR blocks.parent_id IS NOT excluded.parent_id OR blocks.position IS NOT excluded.position",
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
        changed += stmt.execute(params![
            id,
            raw.to_string(),
            page_id,
            ids::normalize_or_keep(&block.parent_id),
            block.position,
            kind,
            has_children,
            text,
            trashed(&raw),
        ])? as u64;
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
    Ok(changed + removed)
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

/// Records that `page_id`'s content was fetched when it was at `content_edited_time`.
pub fn mark_content_synced(
    conn: &Connection,
    page_id: &str,
    content_edited_time: &str,
    content_synced_at: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE pages SET content_edited_time = ?2, content_synced_at = ?3 WHERE id = ?1",
    )?
    .execute(params![page_id, content_edited_time, content_synced_at])?;
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
    Ok(changed + removed)
}

/// Deletes a block and everything under it; returns how many rows went.
fn delete_subtree(conn: &Connection, id: &str) -> Result<u64, StoreError> {
    let n = conn.execute(
        "WITH RECURSIVE d(id) AS (
             SELECT ?1 UNION SELECT b.id FROM blocks b JOIN d ON b.parent_id = d.id)
         DELETE FROM blocks WHERE id IN (SELECT id FROM d)",
        [id],
    )?;
    Ok(n as u64)
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
    let mut delete = conn.prepare_cached("DELETE FROM blocks WHERE id = ?1")?;
    for id in &stale {
        delete.execute([id])?;
    }
    Ok(stale.len() as u64)
}

/// Upserts one comment belonging to `page_id`.
pub fn upsert_comment(
    conn: &Connection,
    page_id: &str,
    comment: Value,
) -> Result<Upsert, StoreError> {
    let comment = clean_raw(comment);
    let id = id_of(&comment)?;
    let raw = comment.to_string();
    let previous = existing_raw(conn, "comments", &id)?;
    if previous.as_deref() == Some(raw.as_str()) {
        return Ok(Upsert::Unchanged);
    }
    let (parent_type, parent_id) = parent_of(&comment);
    conn.prepare_cached(
        "INSERT INTO comments (id, raw, page_id, parent_type, parent_id, discussion_id, text,
                               created_time, last_edited_time, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, page_id = excluded.page_id,
             parent_type = excluded.parent_type, parent_id = excluded.parent_id,
             discussion_id = excluded.discussion_id, text = excluded.text,
             created_time = excluded.created_time, last_edited_time = excluded.last_edited_time,
             created_by = excluded.created_by",
    )?
    .execute(params![
        id,
        raw,
        page_id,
        parent_type,
        parent_id.unwrap_or_default(),
        str_field(&comment, "discussion_id").map(|d| ids::normalize_or_keep(&d)),
        text::comment(&comment),
        str_field(&comment, "created_time").unwrap_or_default(),
        str_field(&comment, "last_edited_time"),
        comment
            .pointer("/created_by/id")
            .and_then(Value::as_str)
            .map(ids::normalize_or_keep),
    ])?;
    if previous.is_none() {
        forget_tombstone(conn, "comment", &id)?;
        return Ok(Upsert::New);
    }
    Ok(Upsert::Changed)
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
    let n = conn
        .prepare_cached("DELETE FROM comments WHERE id = ?1")?
        .execute([id])?;
    if n > 0 {
        tombstone(conn, "comment", id, why)?;
    }
    Ok(n > 0)
}

/// Upserts a user.
pub fn upsert_user(conn: &Connection, user: Value) -> Result<Upsert, StoreError> {
    let user = clean_raw(user);
    let id = id_of(&user)?;
    let raw = user.to_string();
    let previous = existing_raw(conn, "users", &id)?;
    if previous.as_deref() == Some(raw.as_str()) {
        return Ok(Upsert::Unchanged);
    }
    conn.prepare_cached(
        "INSERT INTO users (id, raw, type, name, email) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, type = excluded.type,
             name = excluded.name, email = excluded.email",
    )?
    .execute(params![
        id,
        raw,
        str_field(&user, "type"),
        str_field(&user, "name"),
        user.pointer("/person/email").and_then(Value::as_str),
    ])?;
    if previous.is_none() {
        forget_tombstone(conn, "user", &id)?;
        return Ok(Upsert::New);
    }
    Ok(Upsert::Changed)
}

/// Replaces the users table with a complete listing. Returns `(changed, removed)`.
pub fn replace_users(conn: &Connection, users: Vec<Value>) -> Result<(usize, usize), StoreError> {
    let mut keep = HashSet::new();
    let mut changed = 0;
    for user in users {
        if let Ok(id) = id_of(&user) {
            keep.insert(id);
        }
        if upsert_user(conn, user)?.changed() {
            changed += 1;
        }
    }
    let stale: Vec<String> = {
        let mut stmt = conn.prepare("SELECT id FROM users")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.filter_map(Result::ok)
            .filter(|id| !keep.contains(id))
            .collect()
    };
    for id in &stale {
        conn.execute("DELETE FROM users WHERE id = ?1", [id])?;
        tombstone(conn, "user", id, Removal::NotListed)?;
    }
    Ok((changed, stale.len()))
}

/// Removes a page with its property values, blocks and comments. Returns false when the
/// mirror did not have it.
pub fn remove_page(conn: &Connection, id: &str, why: Removal) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM pages WHERE id = ?1")?
        .execute([id])?;
    for sql in [
        "DELETE FROM property_values WHERE page_id = ?1",
        "DELETE FROM blocks WHERE page_id = ?1",
        "DELETE FROM comments WHERE page_id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([id])?;
    }
    if n > 0 {
        tombstone(conn, "page", id, why)?;
    }
    Ok(n > 0)
}

/// Removes a data source and its rows. Returns how many objects left the mirror.
pub fn remove_data_source(conn: &Connection, id: &str, why: Removal) -> Result<usize, StoreError> {
    let rows: Vec<String> = {
        let mut stmt = conn.prepare_cached("SELECT id FROM pages WHERE data_source_id = ?1")?;
        let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut removed = 0;
    for row in rows {
        if remove_page(conn, &row, Removal::ParentRemoved)? {
            removed += 1;
        }
    }
    let n = conn
        .prepare_cached("DELETE FROM data_sources WHERE id = ?1")?
        .execute([id])?;
    if n > 0 {
        tombstone(conn, "data_source", id, why)?;
        views::rebuild_all(conn)?;
        removed += 1;
    }
    Ok(removed)
}

/// Removes a database and its data sources (with their rows).
pub fn remove_database(conn: &Connection, id: &str, why: Removal) -> Result<usize, StoreError> {
    let sources: Vec<String> = {
        let mut stmt = conn.prepare_cached("SELECT id FROM data_sources WHERE database_id = ?1")?;
        let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut removed = 0;
    for source in sources {
        removed += remove_data_source(conn, &source, Removal::ParentRemoved)?;
    }
    let n = conn
        .prepare_cached("DELETE FROM databases WHERE id = ?1")?
        .execute([id])?;
    if n > 0 {
        tombstone(conn, "database", id, why)?;
        removed += 1;
    }
    Ok(removed)
}

/// Reads a setting.
pub fn get_setting(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// Writes a setting.
pub fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

/// Deletes a setting.
pub fn delete_setting(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM settings WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

/// Opens a `sync_runs` row; returns its id.
pub fn start_run(conn: &Connection, kind: &str) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO sync_runs (kind, started_at) VALUES (?1, ?2)",
        params![kind, now_iso()],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The figures a finished sweep records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFigures {
    pub requests: u64,
    pub objects: u64,
    pub removed: u64,
    pub error: Option<String>,
}

/// Closes a `sync_runs` row.
pub fn finish_run(conn: &Connection, run_id: i64, figures: &RunFigures) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sync_runs SET finished_at = ?2, requests = ?3, objects = ?4, removed = ?5, error = ?6
         WHERE id = ?1",
        params![
            run_id,
            now_iso(),
            figures.requests as i64,
            figures.objects as i64,
            figures.removed as i64,
            figures.error
        ],
    )?;
    Ok(())
}
