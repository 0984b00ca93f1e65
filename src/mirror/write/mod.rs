//! Object upserts and removals, each a plain function over the writer's `&Connection`:
//! pages, databases, data sources and users (`objects`), blocks and comments (`content`),
//! settings and sweep records (`runs`), the change feed's recorder (`changes`), and the
//! helpers they share (here).
//!
//! Invariants: ids are normalized before they are keys; `raw` never carries `request_id`;
//! a page upsert keeps its content bookkeeping (`content_edited_time`), re-renders its
//! `property_values` only when `raw` changed (or the rows were damaged), and keeps the text
//! of the `child_page` block that stands for it in step; removing an object removes what
//! hangs off it and writes a tombstone; an object that comes back loses its tombstone;
//! every upsert and removal notes its change for the feed (`changes`).

pub mod changes;
mod content;
mod downloads;
pub mod files;
mod objects;
mod runs;
mod views;

pub use content::*;
pub use objects::*;
pub use runs::*;
pub use views::*;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::{file_refs, now_iso, StoreError};
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

pub(crate) fn id_of(object: &Value) -> Result<String, StoreError> {
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

pub(crate) fn str_field(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_string)
}

pub(crate) fn trashed(object: &Value) -> bool {
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

/// An object about to be upserted: cleaned of `request_id`, keyed by its normalized id,
/// serialized, beside what the mirror holds for it.
pub(crate) struct Incoming {
    pub object: Value,
    pub id: String,
    pub raw: String,
    pub previous: Option<String>,
}

impl Incoming {
    pub(crate) fn read(conn: &Connection, table: &str, object: Value) -> Result<Self, StoreError> {
        let object = clean_raw(object);
        let id = id_of(&object)?;
        let raw = object.to_string();
        let previous = existing_raw(conn, table, &id)?;
        Ok(Incoming {
            object,
            id,
            raw,
            previous,
        })
    }

    /// Call after writing: the change is noted for the feed (re-signed file URLs are no
    /// change there either), and an object new to the mirror loses any tombstone it had. An
    /// object whose JSON changed only by Notion re-signing its file URLs was written (its
    /// `raw` keeps the fresh URLs) but did not change (docs/files.md).
    pub(crate) fn written(&self, conn: &Connection, object: &str) -> Result<Upsert, StoreError> {
        changes::note_upsert(conn, object, &self.id, self.previous.as_deref(), &self.raw)?;
        let Some(previous) = &self.previous else {
            forget_tombstone(conn, object, &self.id)?;
            return Ok(Upsert::New);
        };
        if previous != &self.raw && previous.contains("\"expiry_time\"") {
            let old: Value = serde_json::from_str(previous).unwrap_or(Value::Null);
            if file_refs::unsigned(&old) == file_refs::unsigned(&self.object) {
                return Ok(Upsert::Unchanged);
            }
        }
        Ok(Upsert::Changed)
    }
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

pub(crate) fn existing_raw(
    conn: &Connection,
    table: &str,
    id: &str,
) -> Result<Option<String>, StoreError> {
    let sql = format!("SELECT raw FROM {table} WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

pub(crate) fn forget_tombstone(
    conn: &Connection,
    object: &str,
    id: &str,
) -> Result<(), StoreError> {
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
