//! Pages (with their property values), databases, data sources (with typed views),
//! users, and the removals that cascade from them.
//!
//! Invariant: a removal deletes what hangs off the object and writes a tombstone.

use std::collections::HashSet;

use rusqlite::{params, Connection};
use serde_json::Value;

use super::{files, id_of, parent_of, str_field, tombstone, trashed, Incoming, Removal, Upsert};
use crate::ids;
use crate::mirror::file_refs::Holder;
use crate::mirror::{now_iso, properties, text, views, StoreError};

/// Upserts a page (from GET, query or search results) and its property values.
///
/// Self-healing: a row whose JSON is unchanged but whose derived columns or property
/// values were changed behind our back is rewritten (and reported as changed).
pub fn upsert_page(conn: &Connection, page: Value) -> Result<Upsert, StoreError> {
    let incoming = Incoming::read(conn, "pages", page)?;
    let (page, id, raw) = (&incoming.object, &incoming.id, &incoming.raw);
    let (parent_type, parent_id) = parent_of(page);
    let data_source_id = (parent_type == "data_source_id")
        .then(|| parent_id.clone())
        .flatten();
    let title = text::page_title(page);
    let wrote =
        conn.prepare_cached(
            "INSERT INTO pages (id, raw, parent_type, parent_id, data_source_id, title, url,
                            created_time, last_edited_time, in_trash, synced_at, icon)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, parent_type = excluded.parent_type,
             parent_id = excluded.parent_id, data_source_id = excluded.data_source_id,
             title = excluded.title, url = excluded.url, created_time = excluded.created_time,
             last_edited_time = excluded.last_edited_time, in_trash = excluded.in_trash,
             synced_at = excluded.synced_at, icon = excluded.icon
         WHERE pages.raw IS NOT excluded.raw OR pages.parent_type IS NOT excluded.parent_type
            OR pages.parent_id IS NOT excluded.parent_id
            OR pages.data_source_id IS NOT excluded.data_source_id
            OR pages.title IS NOT excluded.title OR pages.url IS NOT excluded.url
            OR pages.created_time IS NOT excluded.created_time
            OR pages.last_edited_time IS NOT excluded.last_edited_time
            OR pages.in_trash IS NOT excluded.in_trash OR pages.icon IS NOT excluded.icon",
        )?
        .execute(params![
            id,
            raw,
            parent_type,
            parent_id,
            data_source_id,
            title,
            str_field(page, "url"),
            str_field(page, "created_time").unwrap_or_default(),
            str_field(page, "last_edited_time").unwrap_or_default(),
            trashed(page),
            now_iso(),
            page.get("icon").and_then(text::icon),
        ])? > 0;
    if !wrote {
        conn.prepare_cached("UPDATE pages SET synced_at = ?2 WHERE id = ?1")?
            .execute(params![id, now_iso()])?;
        // Self-heal: property rows deleted, added or edited behind our back are rewritten.
        if property_values_match(conn, id, page)? {
            return Ok(Upsert::Unchanged);
        }
        write_property_values(conn, id, page)?;
        return Ok(Upsert::Changed);
    }
    write_property_values(conn, id, page)?;
    follow_title(conn, id, "child_page", &title)?;
    files::record(conn, Holder::Page, id, page)?;
    incoming.written(conn, "page")
}

/// True when `property_values` holds exactly the rows `page` renders to.
fn property_values_match(
    conn: &Connection,
    page_id: &str,
    page: &Value,
) -> Result<bool, StoreError> {
    let rows = properties::rows(page);
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM property_values WHERE page_id = ?1")?
        .query_row([page_id], |r| r.get(0))?;
    if count != rows.len() as i64 {
        return Ok(false);
    }
    let mut same = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM property_values WHERE page_id = ?1 AND property_id = ?2
             AND name IS ?3 AND type IS ?4 AND value IS ?5 AND text IS ?6 AND number IS ?7
             AND date_start IS ?8 AND date_end IS ?9 AND scalar IS ?10)",
    )?;
    for row in rows {
        let found: bool = same.query_row(
            params![
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
            ],
            |r| r.get(0),
        )?;
        if !found {
            return Ok(false);
        }
    }
    Ok(true)
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
    let incoming = Incoming::read(conn, "databases", db)?;
    let (db, id, raw) = (&incoming.object, &incoming.id, &incoming.raw);
    let (parent_type, parent_id) = parent_of(db);
    let title = text::object_title(db);
    let wrote = conn.prepare_cached(
        "INSERT INTO databases (id, raw, parent_type, parent_id, title, in_trash, last_edited_time, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, parent_type = excluded.parent_type,
             parent_id = excluded.parent_id, title = excluded.title, in_trash = excluded.in_trash,
             last_edited_time = excluded.last_edited_time, synced_at = excluded.synced_at
         WHERE databases.raw IS NOT excluded.raw
            OR databases.parent_type IS NOT excluded.parent_type
            OR databases.parent_id IS NOT excluded.parent_id
            OR databases.title IS NOT excluded.title OR databases.in_trash IS NOT excluded.in_trash
            OR databases.last_edited_time IS NOT excluded.last_edited_time",
    )?
    .execute(params![
        id,
        raw,
        parent_type,
        parent_id,
        title,
        trashed(db),
        str_field(db, "last_edited_time").unwrap_or_default(),
        now_iso(),
    ])? > 0;
    if !wrote {
        return Ok(Upsert::Unchanged);
    }
    follow_title(conn, id, "child_database", &title)?;
    files::record(conn, Holder::Database, id, db)?;
    incoming.written(conn, "database")
}

/// Upserts a data source; rebuilds the typed views when its title or schema changed.
pub fn upsert_data_source(conn: &Connection, ds: Value) -> Result<Upsert, StoreError> {
    let incoming = Incoming::read(conn, "data_sources", ds)?;
    let (ds, id, raw) = (&incoming.object, &incoming.id, &incoming.raw);
    let database_id = ds
        .pointer("/parent/database_id")
        .and_then(Value::as_str)
        .map(ids::normalize_or_keep);
    let title = text::object_title(ds);
    let wrote = conn.prepare_cached(
        "INSERT INTO data_sources (id, raw, database_id, title, in_trash, last_edited_time, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, database_id = excluded.database_id,
             title = excluded.title, in_trash = excluded.in_trash,
             last_edited_time = excluded.last_edited_time, synced_at = excluded.synced_at
         WHERE data_sources.raw IS NOT excluded.raw
            OR data_sources.database_id IS NOT excluded.database_id
            OR data_sources.title IS NOT excluded.title
            OR data_sources.in_trash IS NOT excluded.in_trash
            OR data_sources.last_edited_time IS NOT excluded.last_edited_time",
    )?
    .execute(params![
        id,
        raw,
        database_id,
        title,
        trashed(ds),
        str_field(ds, "last_edited_time").unwrap_or_default(),
        now_iso(),
    ])? > 0;
    if !wrote {
        return Ok(Upsert::Unchanged);
    }
    let schema_changed = match &incoming.previous {
        // Same JSON, healed columns: the views follow the title column too.
        Some(old) if old == raw => true,
        None => true,
        Some(old) => {
            let old: Value = serde_json::from_str(old).unwrap_or(Value::Null);
            old.get("properties") != ds.get("properties") || text::object_title(&old) != title
        }
    };
    if schema_changed {
        views::rebuild_all(conn)?;
    }
    files::record(conn, Holder::DataSource, id, ds)?;
    incoming.written(conn, "data_source")
}

/// Upserts a user.
pub fn upsert_user(conn: &Connection, user: Value) -> Result<Upsert, StoreError> {
    let incoming = Incoming::read(conn, "users", user)?;
    let (user, id, raw) = (&incoming.object, &incoming.id, &incoming.raw);
    let wrote =
        conn.prepare_cached(
            "INSERT INTO users (id, raw, type, name, email, agent_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, type = excluded.type,
             name = excluded.name, email = excluded.email, agent_id = excluded.agent_id
         WHERE users.raw IS NOT excluded.raw OR users.type IS NOT excluded.type
            OR users.name IS NOT excluded.name OR users.email IS NOT excluded.email
            OR users.agent_id IS NOT excluded.agent_id",
        )?
        .execute(params![
            id,
            raw,
            str_field(user, "type"),
            str_field(user, "name"),
            user.pointer("/person/email").and_then(Value::as_str),
            user.get("agent_id").and_then(Value::as_str),
        ])? > 0;
    if !wrote {
        return Ok(Upsert::Unchanged);
    }
    incoming.written(conn, "user")
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
        super::changes::note_removed(conn, "user", id)?;
        conn.execute("DELETE FROM users WHERE id = ?1", [id])?;
        tombstone(conn, "user", id, Removal::NotListed)?;
    }
    Ok((changed, stale.len()))
}

/// Removes a page with its property values, blocks and comments. Returns false when the
/// mirror did not have it.
pub fn remove_page(conn: &Connection, id: &str, why: Removal) -> Result<bool, StoreError> {
    super::changes::note_removed(conn, "page", id)?;
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
    super::changes::note_removed(conn, "data_source", id)?;
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
    removed += super::remove_views_of_database(conn, id)?;
    super::changes::note_removed(conn, "database", id)?;
    let n = conn
        .prepare_cached("DELETE FROM databases WHERE id = ?1")?
        .execute([id])?;
    if n > 0 {
        tombstone(conn, "database", id, why)?;
        removed += 1;
    }
    Ok(removed)
}
