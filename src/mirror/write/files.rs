//! File references (`file_refs`) and file rows (`files`) as objects are written, the
//! download bookkeeping of `src/files`, and the re-derivation of every reference
//! (docs/files.md).
//!
//! Invariants: references are a pure function of an object's `raw` under the recording
//! mode (setting `files.mode`); a file row is created once per key (status `pending`) and
//! an object write never rewrites it, so a re-signed URL (same key) changes no row of
//! either table; references leave with their object through the delete triggers of
//! `schema.sql`, whichever code removed it.

use std::collections::BTreeSet;

use rusqlite::{params, Connection};
use serde_json::Value;

pub use super::downloads::*;
use super::{get_setting, set_setting};
use crate::mirror::file_refs::{self, FileRef, Holder};
use crate::mirror::StoreError;

/// Settings key: which references writes record (`off`, `hosted`, `all`).
pub const MODE_KEY: &str = "files.mode";
/// Settings key: the mode under which every object's references were last derived.
pub const INDEXED_KEY: &str = "files.indexed";
/// Settings key: the blob directory of the process that archives files (absolute).
pub const DIR_KEY: &str = "files.dir";

/// Which references a write records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Files are off (`--no-files`): nothing is recorded, what is recorded stays.
    Off,
    /// Notion-hosted files (the default).
    Hosted,
    /// Hosted and external files (`files_external = true`).
    All,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Hosted => "hosted",
            Mode::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Off, Mode::Hosted, Mode::All]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    fn records(self, r: &FileRef) -> bool {
        match self {
            Mode::Off => false,
            Mode::Hosted => !r.external,
            Mode::All => true,
        }
    }
}

/// The recording mode of this mirror (`hosted` until a process sets another).
pub fn mode(conn: &Connection) -> Result<Mode, StoreError> {
    Ok(get_setting(conn, MODE_KEY)?
        .as_deref()
        .and_then(Mode::parse)
        .unwrap_or(Mode::Hosted))
}

/// Records the mode and blob directory of the process starting; returns whether every
/// reference must be derived again (the mode differs from the one they were derived with).
pub fn configure(conn: &Connection, mode: Mode, dir: Option<&str>) -> Result<bool, StoreError> {
    set_setting(conn, MODE_KEY, mode.as_str())?;
    if let Some(dir) = dir {
        set_setting(conn, DIR_KEY, dir)?;
    }
    if mode == Mode::Off {
        // What is recorded stays (and is never collected while files are off); turning
        // files on again re-derives everything written meanwhile.
        conn.prepare_cached("DELETE FROM settings WHERE key = ?1")?
            .execute([INDEXED_KEY])?;
        return Ok(false);
    }
    Ok(get_setting(conn, INDEXED_KEY)?.as_deref() != Some(mode.as_str()))
}

/// Records the references of object `id` (of kind `holder`) as its `raw` shows them now.
pub fn record(conn: &Connection, holder: Holder, id: &str, raw: &Value) -> Result<(), StoreError> {
    let mode = mode(conn)?;
    if mode == Mode::Off {
        return Ok(());
    }
    let refs: Vec<FileRef> = file_refs::refs(holder, raw)
        .into_iter()
        .filter(|r| mode.records(r))
        .collect();
    sync(conn, holder, id, &refs)
}

fn sync(conn: &Connection, holder: Holder, id: &str, refs: &[FileRef]) -> Result<(), StoreError> {
    let object = holder.as_str();
    if refs.is_empty() {
        conn.prepare_cached("DELETE FROM file_refs WHERE object = ?1 AND object_id = ?2")?
            .execute(params![object, id])?;
        return Ok(());
    }
    let wanted: BTreeSet<(&str, &str)> = refs
        .iter()
        .map(|r| (r.key.as_str(), r.location.as_str()))
        .collect();
    let existing: Vec<(String, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT key, location FROM file_refs WHERE object = ?1 AND object_id = ?2",
        )?;
        let rows = stmt.query_map(params![object, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut delete = conn.prepare_cached(
        "DELETE FROM file_refs WHERE key = ?1 AND object = ?2 AND object_id = ?3 AND location = ?4",
    )?;
    for (key, location) in &existing {
        if !wanted.contains(&(key.as_str(), location.as_str())) {
            delete.execute(params![key, object, id, location])?;
        }
    }
    let mut file = conn.prepare_cached(
        "INSERT INTO files (key, name, status, external, due_at) VALUES (?1, ?2, 'pending', ?3, 0)
         ON CONFLICT (key) DO NOTHING",
    )?;
    let mut reference = conn.prepare_cached(
        "INSERT INTO file_refs (key, object, object_id, location) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?;
    for r in refs {
        let name = file_refs::display_name(r.name.as_deref(), &r.key);
        file.execute(params![r.key, name, r.external])?;
        reference.execute(params![r.key, object, id, r.location])?;
    }
    Ok(())
}

/// Derives the references of up to `limit` objects of kind `holder` with ids after
/// `after` again (self-healing, and after the mode changed). Returns how many objects it
/// read and the last id done, `None` when the table is finished (then references of
/// objects that are gone, or of blocks that no longer hold a file, are removed too).
pub fn reindex_chunk(
    conn: &Connection,
    holder: Holder,
    after: &str,
    limit: usize,
) -> Result<(usize, Option<String>), StoreError> {
    let table = holder.table();
    let filter = match holder {
        Holder::Block => format!(" AND type IN ({})", block_types_sql()),
        _ => String::new(),
    };
    let rows: Vec<(String, String)> = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, raw FROM {table} WHERE id > ?1{filter} ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, raw) in &rows {
        let value: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
        record(conn, holder, id, &value)?;
    }
    if rows.len() < limit {
        conn.prepare_cached(&format!(
            "DELETE FROM file_refs WHERE object = ?1
             AND object_id NOT IN (SELECT id FROM {table} WHERE 1 = 1{filter})"
        ))?
        .execute([holder.as_str()])?;
        return Ok((rows.len(), None));
    }
    Ok((rows.len(), rows.last().map(|(id, _)| id.clone())))
}

/// Marks every reference as derived under `mode`.
pub fn mark_indexed(conn: &Connection, mode: Mode) -> Result<(), StoreError> {
    set_setting(conn, INDEXED_KEY, mode.as_str())
}

fn block_types_sql() -> String {
    file_refs::BLOCK_TYPES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::write::{remove_page, upsert_page, Removal};
    use serde_json::json;

    fn page(id: &str, sig: &str, cover: &str) -> Value {
        json!({
            "object": "page", "id": id, "created_time": "2026-01-01T00:00:00.000Z",
            "last_edited_time": "2026-01-01T00:00:00.000Z",
            "parent": { "type": "workspace", "workspace": true },
            "cover": { "type": "file", "file": {
                "url": format!("https://files.example/w/{cover}/c.png?sig={sig}"),
                "expiry_time": format!("2026-01-01T01:00:0{}.000Z", sig.len() % 10) } },
            "icon": { "type": "external", "external": { "url": "https://example.com/i.png" } },
            "properties": { "Name": { "id": "title", "type": "title", "title": [] } }
        })
    }

    fn rows(c: &Connection, sql: &str) -> Vec<String> {
        let mut s = c.prepare(sql).unwrap();
        let r = s.query_map([], |r| r.get::<_, String>(0)).unwrap();
        r.map(Result::unwrap).collect()
    }

    #[test]
    fn re_signing_rewrites_the_page_but_no_file_row() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
        let id = "00000000-0000-4000-8000-000000000001";
        upsert_page(&c, page(id, "one", "a")).unwrap();
        let snapshot = |c: &Connection| {
            rows(
                c,
                "SELECT key || '|' || name || '|' || status || '|' || attempts || '|' || due_at
                        || '|' || coalesce(unreferenced_since, '-') FROM files
                 UNION ALL SELECT key || '|' || object || '|' || location FROM file_refs",
            )
        };
        let before = snapshot(&c);
        assert_eq!(
            before.len(),
            2,
            "one hosted file, one reference (external not recorded): {before:?}"
        );
        assert_eq!(
            upsert_page(&c, page(id, "two-two", "a")).unwrap(),
            crate::mirror::write::Upsert::Unchanged,
            "re-signing is not change"
        );
        let raw: String = c
            .query_row("SELECT raw FROM pages WHERE id = ?1", [id], |r| r.get(0))
            .unwrap();
        assert!(
            raw.contains("sig=two-two"),
            "the page's raw holds the fresh URL"
        );
        assert_eq!(snapshot(&c), before);
        // Another cover: the old file loses its last reference, the new one is pending.
        upsert_page(&c, page(id, "x", "b")).unwrap();
        let unreferenced = rows(
            &c,
            "SELECT key FROM files WHERE unreferenced_since IS NOT NULL",
        );
        assert_eq!(unreferenced, vec!["https://files.example/w/a/c.png"]);
        remove_page(&c, id, Removal::NotFound).unwrap();
        assert!(rows(&c, "SELECT key FROM file_refs").is_empty());
        assert_eq!(
            rows(&c, "SELECT key FROM files WHERE unreferenced_since IS NULL").len(),
            0
        );
    }

    #[test]
    fn modes_decide_what_is_recorded_and_reindexing_follows() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
        let id = "00000000-0000-4000-8000-000000000002";
        assert!(!configure(&c, Mode::Off, None).unwrap());
        upsert_page(&c, page(id, "one", "a")).unwrap();
        assert!(
            rows(&c, "SELECT key FROM file_refs").is_empty(),
            "off records nothing"
        );
        assert!(configure(&c, Mode::All, Some("/srv/files")).unwrap());
        assert_eq!(reindex_chunk(&c, Holder::Page, "", 500).unwrap(), (1, None));
        mark_indexed(&c, Mode::All).unwrap();
        assert_eq!(
            rows(&c, "SELECT location FROM file_refs ORDER BY 1"),
            vec!["cover", "icon"]
        );
        assert!(!configure(&c, Mode::All, None).unwrap(), "already derived");
        assert!(configure(&c, Mode::Hosted, None).unwrap());
        reindex_chunk(&c, Holder::Page, "", 500).unwrap();
        assert_eq!(rows(&c, "SELECT location FROM file_refs"), vec!["cover"]);
        let local: Vec<String> = rows(&c, "SELECT coalesce(local_path, 'none') FROM attachments");
        assert_eq!(local, vec!["none"], "pending files have no local path yet");
    }
}
