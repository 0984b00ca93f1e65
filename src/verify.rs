//! Compares a mirror with what it should hold (the simulator's [`Expected`]): the check
//! behind the convergence tests, the benchmarks and the demo.
//!
//! Invariant: read-only; reports every difference (capped) as one readable line instead of
//! stopping at the first.
//!
//! Hosted files: Notion signs a file's URL anew on every read, so the mirror's `raw` holds
//! the signature of the read that wrote it and the workspace's rendering holds another.
//! Both sides are compared after [`unsigned`] (each `{type: "file", file: {url,
//! expiry_time}}` reduced to the URL without its query string, docs/files.md): a file is the
//! same file whatever its signature, and a different path is still a difference.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;
use serde_json::Value;

use crate::mirror::file_refs::unsigned;
use crate::mirror::{text, StoreError};
use crate::sim::expected::Expected;

/// What to compare.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Block-level comments are mirrored (`comments.scan_blocks`). Trashed objects (and
    /// rows of trashed data sources) are optional but exact when present: no listing shows
    /// them, so a mirror that never saw them alive cannot know them.
    pub block_comments: bool,
    /// Views are compared. Only webhooks and the full sweep bring view changes (the
    /// incremental sweep never lists views), so checks of an incremental sweep alone
    /// leave them out.
    pub views: bool,
}

impl Default for Scope {
    fn default() -> Self {
        Scope {
            block_comments: true,
            views: true,
        }
    }
}

impl Scope {
    /// Everything but views (what an incremental sweep is answerable for).
    pub fn without_views() -> Self {
        Scope {
            views: false,
            ..Scope::default()
        }
    }
}

const MAX_REPORTED: usize = 40;

struct Diffs(Vec<String>);

impl Diffs {
    fn push(&mut self, line: String) {
        if self.0.len() < MAX_REPORTED {
            self.0.push(line);
        } else if self.0.len() == MAX_REPORTED {
            self.0.push("… more differences not shown".into());
        }
    }
}

/// The first path at which two JSON values differ (`/properties/Name/title/0`).
pub fn first_difference(a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if let Some(rest) = first_difference(p, q) {
                            return Some(format!("/{k}{rest}"));
                        }
                    }
                    _ => return Some(format!("/{k} (missing on one side)")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!(" (length {} vs {})", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| first_difference(p, q).map(|rest| format!("/{i}{rest}")))
        }
        _ if a == b => None,
        _ => Some(format!(": {} vs {}", short(a), short(b))),
    }
}

fn short(v: &Value) -> String {
    v.to_string().chars().take(80).collect()
}

fn load_raw(
    conn: &Connection,
    sql: &str,
) -> Result<BTreeMap<String, (Value, Vec<Value>)>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let count = stmt.column_count();
    let rows = stmt.query_map([], |r| {
        let id: String = r.get(0)?;
        let raw: String = r.get(1)?;
        let mut extra = Vec::new();
        for i in 2..count {
            let v: rusqlite::types::Value = r.get(i)?;
            extra.push(match v {
                rusqlite::types::Value::Null => Value::Null,
                rusqlite::types::Value::Integer(n) => Value::from(n),
                rusqlite::types::Value::Real(f) => Value::from(f),
                rusqlite::types::Value::Text(s) => Value::from(s),
                rusqlite::types::Value::Blob(_) => Value::Null,
            });
        }
        Ok((
            id,
            (serde_json::from_str(&raw).unwrap_or(Value::Null), extra),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every difference between the mirror behind `conn` and `expected`.
pub fn diff(
    conn: &Connection,
    expected: &Expected,
    scope: Scope,
) -> Result<Vec<String>, StoreError> {
    let mut d = Diffs(Vec::new());
    compare_objects(
        &mut d,
        "user",
        &load_raw(conn, "SELECT id, raw FROM users")?,
        expected.users.iter().map(|(k, v)| (k, (v, false))),
    );
    let pages = load_raw(conn, "SELECT id, raw, in_trash, title FROM pages")?;
    // Rows of a trashed data source are out of every listing, like trashed pages: a mirror
    // that never saw them alive cannot know them.
    let trashed_sources: BTreeSet<&String> = expected
        .data_sources
        .iter()
        .filter(|(_, d)| d.in_trash)
        .map(|(id, _)| id)
        .collect();
    let hidden = |p: &crate::sim::expected::ExpectedObject| {
        p.in_trash
            || p.raw
                .pointer("/parent/data_source_id")
                .and_then(Value::as_str)
                .is_some_and(|ds| trashed_sources.contains(&ds.to_string()))
    };
    compare_objects(
        &mut d,
        "page",
        &pages,
        expected.pages.iter().map(|(k, v)| (k, (&v.raw, hidden(v)))),
    );
    for (id, exp) in &expected.pages {
        if let Some((_, extra)) = pages.get(id) {
            if extra.first().and_then(Value::as_i64) != Some(i64::from(exp.in_trash)) {
                d.push(format!(
                    "page {id}: in_trash column is {:?}, expected {}",
                    extra.first(),
                    exp.in_trash
                ));
            }
            let title = text::page_title(&exp.raw);
            if extra.get(1).and_then(Value::as_str) != Some(title.as_str()) {
                d.push(format!(
                    "page {id}: title column {:?}, expected {title:?}",
                    extra.get(1)
                ));
            }
        }
    }
    compare_objects(
        &mut d,
        "database",
        &load_raw(conn, "SELECT id, raw FROM databases")?,
        expected
            .databases
            .iter()
            .map(|(k, v)| (k, (&v.raw, v.in_trash))),
    );
    compare_objects(
        &mut d,
        "data source",
        &load_raw(conn, "SELECT id, raw FROM data_sources")?,
        expected
            .data_sources
            .iter()
            .map(|(k, v)| (k, (&v.raw, v.in_trash))),
    );
    if scope.views {
        compare_objects(
            &mut d,
            "view",
            &load_raw(conn, "SELECT id, raw FROM views")?,
            expected
                .views
                .iter()
                .map(|(k, v)| (k, (&v.raw, v.in_trash))),
        );
    }
    compare_blocks(&mut d, conn, expected)?;
    compare_comments(&mut d, conn, expected, scope)?;
    compare_property_values(&mut d, conn, expected)?;
    Ok(d.0)
}

fn compare_objects<'a>(
    d: &mut Diffs,
    what: &str,
    actual: &BTreeMap<String, (Value, Vec<Value>)>,
    expected: impl Iterator<Item = (&'a String, (&'a Value, bool))>,
) {
    let mut wanted = BTreeSet::new();
    for (id, (raw, trashed)) in expected {
        wanted.insert(id.clone());
        match actual.get(id) {
            None if trashed => {}
            None => d.push(format!("{what} {id} is missing")),
            Some((got, _)) => {
                if let Some(path) = first_difference(&unsigned(got), &unsigned(raw)) {
                    d.push(format!(
                        "{what} {id} differs at {path} (mirror vs workspace)"
                    ));
                }
            }
        }
    }
    for id in actual.keys().filter(|id| !wanted.contains(*id)) {
        d.push(format!(
            "{what} {id} is in the mirror but not in the workspace"
        ));
    }
}

fn live_mirrored_pages(conn: &Connection) -> Result<BTreeSet<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT id FROM pages WHERE in_trash = 0")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn compare_blocks(d: &mut Diffs, conn: &Connection, expected: &Expected) -> Result<(), StoreError> {
    let live = live_mirrored_pages(conn)?;
    let actual = load_raw(
        conn,
        "SELECT id, raw, page_id, parent_id, position FROM blocks",
    )?;
    for (id, exp) in &expected.blocks {
        if !live.contains(&exp.page_id) {
            continue;
        }
        match actual.get(id) {
            None => d.push(format!("block {id} of page {} is missing", exp.page_id)),
            Some((raw, extra)) => {
                let place = (extra[0].as_str(), extra[1].as_str(), extra[2].as_i64());
                if place
                    != (
                        Some(exp.page_id.as_str()),
                        Some(exp.parent_id.as_str()),
                        Some(exp.position),
                    )
                {
                    d.push(format!(
                        "block {id}: placed at {place:?}, expected ({}, {}, {})",
                        exp.page_id, exp.parent_id, exp.position
                    ));
                }
                if let Some(path) = first_difference(&unsigned(raw), &unsigned(&exp.raw)) {
                    d.push(format!("block {id} differs at {path}"));
                }
            }
        }
    }
    for (id, (_, extra)) in &actual {
        let page = extra[0].as_str().unwrap_or("");
        if live.contains(page) && !expected.blocks.contains_key(id) {
            d.push(format!(
                "block {id} (page {page}) is in the mirror but not in the workspace"
            ));
        }
    }
    Ok(())
}

fn compare_comments(
    d: &mut Diffs,
    conn: &Connection,
    expected: &Expected,
    scope: Scope,
) -> Result<(), StoreError> {
    let live = live_mirrored_pages(conn)?;
    let actual = load_raw(conn, "SELECT id, raw, page_id FROM comments")?;
    for (id, exp) in &expected.comments {
        if !live.contains(&exp.page_id) || (exp.on_block && !scope.block_comments) {
            continue;
        }
        match actual.get(id) {
            None => d.push(format!("comment {id} on page {} is missing", exp.page_id)),
            Some((raw, extra)) => {
                if extra[0].as_str() != Some(exp.page_id.as_str()) {
                    d.push(format!(
                        "comment {id}: filed under page {:?}, expected {}",
                        extra[0], exp.page_id
                    ));
                }
                if let Some(path) = first_difference(raw, &exp.raw) {
                    d.push(format!("comment {id} differs at {path}"));
                }
            }
        }
    }
    for (id, (_, extra)) in &actual {
        let page = extra[0].as_str().unwrap_or("");
        if live.contains(page) && !expected.comments.contains_key(id) {
            d.push(format!(
                "comment {id} (page {page}) is in the mirror but not in the workspace"
            ));
        }
    }
    Ok(())
}

fn compare_property_values(
    d: &mut Diffs,
    conn: &Connection,
    expected: &Expected,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("SELECT page_id, property_id, value FROM property_values")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut actual: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    for row in rows {
        let (page, prop, value) = row?;
        actual.insert((page, prop), value);
    }
    for (page_id, exp) in &expected.pages {
        let Some(props) = exp.raw.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let present = actual.keys().any(|(p, _)| p == page_id);
        if !present {
            continue; // the page itself is reported missing (or is an optional trashed one)
        }
        for prop in props.values() {
            let (Some(pid), Some(kind)) = (
                prop.get("id").and_then(Value::as_str),
                prop.get("type").and_then(Value::as_str),
            ) else {
                continue;
            };
            let inner = prop.get(kind).cloned().unwrap_or(Value::Null);
            let got = actual.get(&(page_id.clone(), pid.to_string()));
            let got_value: Option<Value> = got
                .cloned()
                .flatten()
                .and_then(|s| serde_json::from_str(&s).ok());
            match got {
                None => d.push(format!("property value {page_id}/{pid} is missing")),
                Some(_) if unsigned(&got_value.unwrap_or(Value::Null)) != unsigned(&inner) => {
                    d.push(format!("property value {page_id}/{pid} ({kind}) differs"))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_difference_names_the_path() {
        let a = json!({"a": {"b": [1, 2]}, "c": 1});
        assert_eq!(first_difference(&a, &a), None);
        let b = json!({"a": {"b": [1, 3]}, "c": 1});
        assert_eq!(first_difference(&a, &b).as_deref(), Some("/a/b/1: 2 vs 3"));
        let c = json!({"a": {"b": [1]}, "c": 1});
        assert_eq!(
            first_difference(&a, &c).as_deref(),
            Some("/a/b (length 2 vs 1)")
        );
    }
}
