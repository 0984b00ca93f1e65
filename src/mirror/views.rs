//! Typed views: one SQL view per data source, one column per property (docs/reference/schema.md).
//!
//! Invariant: only views recorded in `typed_views` are ever dropped (a user's own views in
//! the mirror are left alone); views are rebuilt in the same transaction as the schema
//! change that caused it, so readers never see a view out of step with `data_sources`.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{params, Connection};
use serde_json::Value;

use super::{StoreError, INTERNAL_NAMES, USER_TABLES};
use crate::ids;

/// The fixed leading columns of every typed view.
pub const FIXED_COLUMNS: &[&str] = &["id", "url", "created_time", "last_edited_time", "in_trash"];

/// A data source as the view builder needs it.
#[derive(Debug, Clone)]
pub struct SourceSchema {
    pub id: String,
    pub title: String,
    /// `(property id, property name)` in schema order.
    pub properties: Vec<(String, String)>,
}

impl SourceSchema {
    /// Reads the schema from a data source object's `properties`.
    pub fn from_raw(id: &str, title: &str, raw: &Value) -> Self {
        let properties = raw
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .map(|(name, p)| {
                        let pid = p.get("id").and_then(Value::as_str).unwrap_or(name);
                        let pname = p.get("name").and_then(Value::as_str).unwrap_or(name);
                        (pid.to_string(), pname.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        SourceSchema {
            id: id.to_string(),
            title: title.to_string(),
            properties,
        }
    }
}

/// `text` lowercased, each run of non-alphanumerics turned into one `_`, trimmed at both
/// ends (shared by typed view names and the names of Notion views as SQL views).
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for ch in text.to_lowercase().chars() {
        if ch.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(ch);
        } else {
            gap = true;
        }
    }
    out
}

/// The title-derived base of a view name: lowercase, each run of non-alphanumerics → `_`,
/// trimmed; empty or digit-leading titles get the `ds_` prefix (an empty title has nothing
/// to name it by, so it always carries its id: `ds_<8 hex>`).
pub fn base_name(title: &str, id: &str) -> String {
    let mut out = slug(title);
    if out.is_empty() {
        return format!("ds_{}", ids::short(id));
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.starts_with("sqlite_") {
        out = format!("ds_{out}");
    }
    out
}

/// View names for a set of data sources: colliding names (case-insensitively, with each
/// other or with the mirror's own tables) all get `_` + the first 8 hex digits of the id.
pub fn view_names(sources: &[SourceSchema]) -> BTreeMap<String, String> {
    let bases: Vec<(String, String)> = sources
        .iter()
        .map(|s| (s.id.clone(), base_name(&s.title, &s.id)))
        .collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (_, base) in &bases {
        *counts.entry(base.to_ascii_lowercase()).or_default() += 1;
    }
    bases
        .into_iter()
        .map(|(id, base)| {
            let folded = base.to_ascii_lowercase();
            let collides = counts.get(&folded).copied().unwrap_or(0) > 1
                || USER_TABLES.contains(&folded.as_str())
                || INTERNAL_NAMES.contains(&folded.as_str());
            let name = if collides {
                format!("{base}_{}", ids::short(&id))
            } else {
                base
            };
            (id, name)
        })
        .collect()
}

/// Column names for a schema: the property name, or `<name> [<property id>]` when it equals
/// a fixed column or another property case-insensitively.
pub fn column_names(properties: &[(String, String)]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (_, name) in properties {
        *counts.entry(name.to_ascii_lowercase()).or_default() += 1;
    }
    properties
        .iter()
        .map(|(pid, name)| {
            let folded = name.to_ascii_lowercase();
            let clash = counts.get(&folded).copied().unwrap_or(0) > 1
                || FIXED_COLUMNS.contains(&folded.as_str());
            if clash {
                format!("{name} [{pid}]")
            } else {
                name.clone()
            }
        })
        .collect()
}

/// `"identifier"` with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The `SELECT` a view runs (without `CREATE VIEW`).
pub fn view_select(source: &SourceSchema) -> String {
    let mut cols: Vec<String> = FIXED_COLUMNS
        .iter()
        .map(|c| format!("p.{c} AS {}", quote_ident(c)))
        .collect();
    let names = column_names(&source.properties);
    for ((pid, _), column) in source.properties.iter().zip(names) {
        cols.push(format!(
            "(SELECT v.scalar FROM property_values v WHERE v.page_id = p.id AND v.property_id = {}) AS {}",
            quote_literal(pid),
            quote_ident(&column)
        ));
    }
    format!(
        "SELECT {} FROM pages p WHERE p.data_source_id = {}",
        cols.join(", "),
        quote_literal(&source.id)
    )
}

/// Rebuilds every typed view from the `data_sources` table, touching only views whose SQL
/// changed. Returns the number of views created or replaced.
pub fn rebuild_all(conn: &Connection) -> Result<usize, StoreError> {
    let sources = load_sources(conn)?;
    let names = view_names(&sources);
    let mut desired: BTreeMap<String, (String, String)> = BTreeMap::new();
    for source in &sources {
        if let Some(name) = names.get(&source.id) {
            desired.insert(name.clone(), (source.id.clone(), view_select(source)));
        }
    }
    let existing: HashMap<String, String> = {
        let mut stmt = conn.prepare("SELECT name, sql FROM typed_views")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let keep: HashSet<&String> = desired
        .iter()
        .filter(|(name, (_, sql))| existing.get(*name) == Some(sql))
        .map(|(name, _)| name)
        .collect();
    for name in existing.keys().filter(|n| !keep.contains(n)) {
        conn.execute_batch(&format!("DROP VIEW IF EXISTS {}", quote_ident(name)))?;
        conn.execute("DELETE FROM typed_views WHERE name = ?1", [name])?;
    }
    let mut changed = 0;
    for (name, (source_id, sql)) in &desired {
        let name = if keep.contains(name) {
            Some(name.clone())
        } else {
            free_name(conn, name, source_id)?
        };
        if let Some(name) = &name {
            if !keep.contains(name) {
                create_view(conn, name, sql)?;
                conn.execute(
                    "INSERT INTO typed_views (name, data_source_id, sql) VALUES (?1, ?2, ?3)",
                    params![name, source_id, sql],
                )?;
                changed += 1;
            }
        } else {
            tracing::warn!(
                data_source = %source_id,
                "no typed view: objects of the user's hold its name and its name with the id suffix"
            );
        }
        conn.execute(
            "UPDATE data_sources SET view_name = ?1 WHERE id = ?2 AND view_name IS NOT ?1",
            params![name, source_id],
        )?;
    }
    // The SQL views over Notion views select from these.
    super::view_sql::rebuild_all(conn)?;
    Ok(changed)
}

/// `name`, or `name_<8 hex of the id>` when an object that is not one of our typed views
/// (a user's own table or view in the mirror) already holds it; `None` when both are taken.
/// A user's object is never replaced, and never fails the data source's write.
fn free_name(conn: &Connection, name: &str, source_id: &str) -> Result<Option<String>, StoreError> {
    for candidate in [
        name.to_string(),
        format!("{name}_{}", ids::short(source_id)),
    ] {
        let taken: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?1 COLLATE NOCASE)",
            [&candidate],
            |r| r.get(0),
        )?;
        if !taken {
            return Ok(Some(candidate));
        }
        tracing::warn!(view = %candidate, "a typed view's name is taken by another object; trying the next");
    }
    Ok(None)
}

fn create_view(conn: &Connection, name: &str, select: &str) -> Result<(), StoreError> {
    let sql = format!("CREATE VIEW {} AS {select}", quote_ident(name));
    conn.execute_batch(&sql).map_err(|e| StoreError::Sqlite {
        context: "create typed view",
        source: e,
    })
}

fn load_sources(conn: &Connection) -> Result<Vec<SourceSchema>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, title, raw FROM data_sources ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, title, raw) = row?;
        let raw: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        out.push(SourceSchema::from_raw(&id, &title, &raw));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1a2b3c4d-0000-4000-8000-000000000001";
    const B: &str = "9f8e7d6c-0000-4000-8000-000000000002";

    #[test]
    fn base_names_follow_the_contract() {
        assert_eq!(base_name("Tasks", A), "tasks");
        assert_eq!(base_name("  Q&A -- Log!! ", A), "q_a_log");
        assert_eq!(base_name("2024 Plans", A), "ds_2024_plans");
        assert_eq!(base_name("", A), "ds_1a2b3c4d");
        assert_eq!(base_name("✓✓", A), "ds_1a2b3c4d");
        assert_eq!(base_name("Café \"Zoë\"", A), "café_zoë");
    }

    #[test]
    fn a_users_object_holding_the_name_moves_ours_aside_and_never_fails() {
        let dir = tempfile::tempdir().expect("dir");
        let conn = super::super::open::open_read_write(&dir.path().join("m.db")).expect("mirror");
        conn.execute_batch("CREATE VIEW tasks AS SELECT 1 AS mine")
            .expect("the user's view");
        conn.execute(
            "INSERT INTO data_sources (id, database_id, title, raw, last_edited_time, synced_at)
             VALUES (?1, 'd', 'Tasks', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
            [A],
        )
        .expect("source");
        rebuild_all(&conn).expect("a taken name fails nothing");
        let name: Option<String> = conn
            .query_row("SELECT view_name FROM data_sources", [], |r| r.get(0))
            .expect("view name");
        assert_eq!(name.as_deref(), Some("tasks_1a2b3c4d"));
        let mine: i64 = conn
            .query_row("SELECT mine FROM tasks", [], |r| r.get(0))
            .expect("the user's view stays");
        assert_eq!(mine, 1);
    }

    #[test]
    fn colliding_names_all_get_the_id_suffix() {
        let s = |id: &str, title: &str| SourceSchema {
            id: id.into(),
            title: title.into(),
            properties: vec![],
        };
        let names = view_names(&[s(A, "Q&A Log"), s(B, "Q & A log"), s("c", "Pages")]);
        assert_eq!(names[A], "q_a_log_1a2b3c4d");
        assert_eq!(names[B], "q_a_log_9f8e7d6c");
        assert_eq!(names["c"], "pages_c");
    }

    #[test]
    fn clashing_columns_get_the_property_id() {
        let cols = column_names(&[
            ("title".into(), "Name".into()),
            ("a".into(), "URL".into()),
            ("b".into(), "Tag".into()),
            ("c".into(), "tag".into()),
            ("d".into(), "Owner's \"Team\"".into()),
        ]);
        assert_eq!(
            cols,
            vec!["Name", "URL [a]", "Tag [b]", "tag [c]", "Owner's \"Team\""]
        );
        assert_eq!(quote_ident("Owner's \"Team\""), "\"Owner's \"\"Team\"\"\"");
    }
}
