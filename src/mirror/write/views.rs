//! Database views (the `views` table) and the SQL views built over them.
//!
//! Invariant: every upsert or removal of a view brings the SQL views in step in the same
//! transaction (`view_sql::rebuild_all`); a removed view leaves a tombstone; an unchanged
//! view writes nothing but its `synced_at`.

use rusqlite::{params, Connection};
use serde_json::Value;

use super::{str_field, tombstone, Incoming, Removal, Upsert};
use crate::ids;
use crate::mirror::{now_iso, view_sql, StoreError};

/// JSON text of a field, or NULL when absent or `null`.
fn json_field(object: &Value, key: &str) -> Option<String> {
    object
        .get(key)
        .filter(|v| !v.is_null())
        .map(Value::to_string)
}

/// Upserts a view (from `GET /v1/views/{id}`).
pub fn upsert_view(conn: &Connection, view: Value) -> Result<Upsert, StoreError> {
    let incoming = Incoming::read(conn, "views", view)?;
    let (view, id, raw) = (&incoming.object, &incoming.id, &incoming.raw);
    let database_id = view
        .pointer("/parent/database_id")
        .and_then(Value::as_str)
        .map(ids::normalize_or_keep);
    let data_source_id = view
        .get("data_source_id")
        .and_then(Value::as_str)
        .map(ids::normalize_or_keep);
    let wrote = conn
        .prepare_cached(
            "INSERT INTO views (id, raw, database_id, data_source_id, name, type, filter, sorts, synced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, database_id = excluded.database_id,
                 data_source_id = excluded.data_source_id, name = excluded.name,
                 type = excluded.type, filter = excluded.filter, sorts = excluded.sorts,
                 synced_at = excluded.synced_at
             WHERE views.raw IS NOT excluded.raw OR views.database_id IS NOT excluded.database_id
                OR views.data_source_id IS NOT excluded.data_source_id
                OR views.name IS NOT excluded.name OR views.type IS NOT excluded.type
                OR views.filter IS NOT excluded.filter OR views.sorts IS NOT excluded.sorts",
        )?
        .execute(params![
            id,
            raw,
            database_id,
            data_source_id,
            str_field(view, "name").unwrap_or_default(),
            str_field(view, "type").unwrap_or_default(),
            json_field(view, "filter"),
            json_field(view, "sorts"),
            now_iso(),
        ])?
        > 0;
    if !wrote {
        conn.prepare_cached("UPDATE views SET synced_at = ?2 WHERE id = ?1")?
            .execute(params![id, now_iso()])?;
        return Ok(Upsert::Unchanged);
    }
    view_sql::rebuild_all(conn)?;
    incoming.written(conn, "view")
}

/// Removes a view (and its SQL view). Returns false when the mirror did not have it.
pub fn remove_view(conn: &Connection, id: &str, why: Removal) -> Result<bool, StoreError> {
    super::changes::note_removed(conn, "view", id)?;
    let n = conn
        .prepare_cached("DELETE FROM views WHERE id = ?1")?
        .execute([id])?;
    if n > 0 {
        tombstone(conn, "view", id, why)?;
        view_sql::rebuild_all(conn)?;
    }
    Ok(n > 0)
}

/// Removes the views of a database that left the mirror. Returns how many.
pub fn remove_views_of_database(conn: &Connection, database_id: &str) -> Result<usize, StoreError> {
    let ids: Vec<String> = {
        let mut stmt = conn.prepare_cached("SELECT id FROM views WHERE database_id = ?1")?;
        let rows = stmt.query_map([database_id], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for id in &ids {
        super::changes::note_removed(conn, "view", id)?;
        conn.prepare_cached("DELETE FROM views WHERE id = ?1")?
            .execute([id])?;
        tombstone(conn, "view", id, Removal::ParentRemoved)?;
    }
    if !ids.is_empty() {
        view_sql::rebuild_all(conn)?;
    }
    Ok(ids.len())
}
