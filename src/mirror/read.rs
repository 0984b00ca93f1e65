//! Read helpers for the fetcher and the reconciler (what the mirror already knows).
//!
//! Invariant: read-only; each runs on the writer's connection (see `Store::read`) or a
//! read-only connection, and never fails on rows written by older versions.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// A fetch of a page's content counts as complete only if it started at least this long
/// after the page's `last_edited_time`: times are rounded down to the minute, so an edit
/// later in that same minute would not move `last_edited_time` (60 s), plus 5 s of clock
/// skew between this host and Notion.
pub const CONTENT_SETTLE_SECS: f64 = 65.0;

/// What the mirror knows about a page's freshness (ARCHITECTURE.md, "Freshness model").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageState {
    pub last_edited_time: String,
    pub content_edited_time: Option<String>,
    /// The newest edit minute webhook events explained (`pages.events_edited_time`).
    pub events_edited_time: Option<String>,
    pub in_trash: bool,
    pub data_source_id: Option<String>,
    /// The block tree was never fetched.
    pub content_new: bool,
    /// `last_edited_time` moved past everything the tree and the webhook events explain:
    /// an edit no event told us about (lost, or still in flight).
    pub unexplained: bool,
    /// The tree was not re-read as a whole since the page last changed (the changes were
    /// applied from webhook events), or that read is unsettled.
    pub unverified: bool,
    /// The last whole-tree read started less than [`CONTENT_SETTLE_SECS`] after the
    /// version it read (a later edit in that minute would not move `last_edited_time`),
    /// and that much time has passed now, so a read now would settle it (reading again
    /// sooner would be just as unsettled).
    pub unsettled: bool,
}

impl PageState {
    /// Content an incremental sweep must refetch. With webhooks live, an unsettled read
    /// is left to events (a later edit in the same minute sends one) and to the presence
    /// sweep's verification; without them, only a later read settles it.
    pub fn content_due(&self, webhooks_live: bool) -> bool {
        self.content_new || self.unexplained || (!webhooks_live && self.unsettled)
    }
}

/// The freshness columns of [`PageState`], as SQL over `pages` (`?S` = settle seconds).
const FRESHNESS_SQL: &str = "content_edited_time IS NULL,
      last_edited_time > max(coalesce(content_edited_time, ''), coalesce(events_edited_time, '')),
      content_edited_time IS NULL
        OR max(last_edited_time, coalesce(events_edited_time, '')) > content_edited_time,
      content_synced_at IS NULL
        OR (julianday(content_synced_at) < julianday(content_edited_time) + ?S / 86400.0
            AND julianday('now') >= julianday(content_edited_time) + ?S / 86400.0)";

fn page_state_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PageState> {
    let unsettled: bool = r.get(9)?;
    Ok(PageState {
        last_edited_time: r.get(0)?,
        content_edited_time: r.get(1)?,
        events_edited_time: r.get(2)?,
        in_trash: r.get(3)?,
        data_source_id: r.get(4)?,
        content_new: r.get(6)?,
        unexplained: r.get(7)?,
        unverified: r.get::<_, bool>(8)? || unsettled,
        unsettled,
    })
}

const PAGE_STATE_COLUMNS: &str =
    "last_edited_time, content_edited_time, events_edited_time, in_trash, data_source_id, id";

pub fn page_state(conn: &Connection, id: &str) -> Result<Option<PageState>, StoreError> {
    let sql = format!(
        "SELECT {PAGE_STATE_COLUMNS}, {} FROM pages WHERE id = ?1",
        FRESHNESS_SQL.replace("?S", "?2")
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id, CONTENT_SETTLE_SECS], page_state_row)
        .optional()?)
}

/// A mirrored page's title (plain text).
pub fn page_title(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT title FROM pages WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// Which live pages a sweep looks at for content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCheck {
    /// [`PageState::content_due`] (the incremental sweep).
    Due { webhooks_live: bool },
    /// [`PageState::unverified`] or never fetched (presence and daily sweeps).
    Unverified,
}

/// Live pages whose content a sweep should refetch, by `check`, with their state.
pub fn pages_needing_content(
    conn: &Connection,
    check: ContentCheck,
) -> Result<Vec<(String, PageState)>, StoreError> {
    let sql = format!(
        "SELECT {PAGE_STATE_COLUMNS}, {} FROM pages WHERE in_trash = 0",
        FRESHNESS_SQL.replace("?S", "?1")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([CONTENT_SETTLE_SECS], |r| {
        Ok((r.get::<_, String>(5)?, page_state_row(r)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, state) = row?;
        let wanted = match check {
            ContentCheck::Due { webhooks_live } => state.content_due(webhooks_live),
            ContentCheck::Unverified => state.content_new || state.unverified,
        };
        if wanted {
            out.push((id, state));
        }
    }
    Ok(out)
}

/// Every live page (a resync refetches all of their content).
pub fn live_pages(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM pages WHERE in_trash = 0")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether webhook events reach the daemon: one arrived in the last `within`.
pub fn webhooks_live(conn: &Connection, within: std::time::Duration) -> Result<bool, StoreError> {
    let since = chrono::Utc::now()
        - chrono::Duration::from_std(within).unwrap_or_else(|_| chrono::Duration::hours(1));
    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM webhook_events WHERE received_at >= ?1)")?
        .query_row([since], |r| r.get(0))?)
}

/// Where a block sits in the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    pub page_id: String,
    pub parent_id: String,
    pub position: i64,
    pub has_children: bool,
}

pub fn block_info(conn: &Connection, id: &str) -> Result<Option<BlockInfo>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT page_id, parent_id, position, has_children FROM blocks WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(BlockInfo {
                page_id: r.get(0)?,
                parent_id: r.get(1)?,
                position: r.get(2)?,
                has_children: r.get(3)?,
            })
        })
        .optional()?)
}

/// Ids of the direct children of a page or block, in order.
pub fn child_block_ids(conn: &Connection, parent_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM blocks WHERE parent_id = ?1 ORDER BY position")?;
    let rows = stmt.query_map([parent_id], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `(id, type)` of the direct children of a page or block.
pub fn child_blocks(
    conn: &Connection,
    parent_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, type FROM blocks WHERE parent_id = ?1")?;
    let rows = stmt.query_map([parent_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// True when the mirror holds page or database `id` and not as trashed.
pub fn holds_live(
    conn: &Connection,
    kind: crate::queue::Kind,
    id: &str,
) -> Result<bool, StoreError> {
    let table = match kind {
        crate::queue::Kind::Page => "pages",
        crate::queue::Kind::Database => "databases",
        _ => return Ok(false),
    };
    Ok(conn
        .prepare_cached(&format!(
            "SELECT 1 FROM {table} WHERE id = ?1 AND in_trash = 0"
        ))?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Every block id of a page's content (for per-block comment lists).
pub fn block_ids_of_page(
    conn: &Connection,
    page_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, type FROM blocks WHERE page_id = ?1 ORDER BY parent_id, position",
    )?;
    let rows = stmt.query_map([page_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest `last_edited_time` among a data source's rows.
pub fn row_watermark(
    conn: &Connection,
    data_source_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT max(last_edited_time) FROM pages WHERE data_source_id = ?1")?
        .query_row([data_source_id], |r| r.get(0))?)
}

/// `id → (last_edited_time, in_trash)` for every row of a table (pages, databases,
/// data_sources).
pub fn freshness(
    conn: &Connection,
    table: &str,
) -> Result<HashMap<String, (String, bool)>, StoreError> {
    let sql = match table {
        "pages" | "databases" | "data_sources" => {
            format!("SELECT id, last_edited_time, in_trash FROM {table}")
        }
        other => {
            return Err(StoreError::Invalid(format!(
                "no freshness for table {other}"
            )))
        }
    };
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `(requests, objects written, removed)` of a `sync_runs` row.
pub fn run_totals(conn: &Connection, run_id: i64) -> Result<Option<(u64, u64, u64)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT requests, objects, removed FROM sync_runs WHERE id = ?1")?
        .query_row([run_id], |r| {
            let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
            Ok((n(0)?, n(1)?, n(2)?))
        })
        .optional()?)
}

/// `(data source, its database)` for every mirrored data source.
pub fn data_source_databases(
    conn: &Connection,
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, database_id FROM data_sources")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The raw JSON of an object, if mirrored.
pub fn raw_of(conn: &Connection, table: &str, id: &str) -> Result<Option<String>, StoreError> {
    if !matches!(
        table,
        "pages" | "databases" | "data_sources" | "blocks" | "comments" | "users"
    ) {
        return Err(StoreError::Invalid(format!("no raw in table {table}")));
    }
    Ok(conn
        .prepare_cached(&format!("SELECT raw FROM {table} WHERE id = ?1"))?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// Data sources of a database, as mirrored.
pub fn data_sources_of(conn: &Connection, database_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM data_sources WHERE database_id = ?1")?;
    let rows = stmt.query_map([database_id], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Row ids of a data source, as mirrored.
pub fn rows_of(conn: &Connection, data_source_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM pages WHERE data_source_id = ?1")?;
    let rows = stmt.query_map([data_source_id], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Live (not trashed) data source ids.
/// The raw (decoded) ids of a mirrored data source's properties, in schema order; `None`
/// when the mirror does not have the data source.
pub fn schema_property_ids(
    conn: &Connection,
    data_source_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let Some(raw) = raw_of(conn, "data_sources", data_source_id)? else {
        return Ok(None);
    };
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
    Ok(Some(
        raw.get("properties")
            .and_then(serde_json::Value::as_object)
            .map(|m| {
                m.values()
                    .filter_map(|p| p.get("id").and_then(serde_json::Value::as_str))
                    .map(percent_decode)
                    .collect()
            })
            .unwrap_or_default(),
    ))
}

pub fn live_data_sources(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM data_sources WHERE in_trash = 0 ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// True when the mirror holds no page, database or data source yet.
pub fn is_empty(conn: &Connection) -> Result<bool, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM pages) + (SELECT count(*) FROM data_sources)
              + (SELECT count(*) FROM databases)",
        [],
        |r| r.get(0),
    )?;
    Ok(n == 0)
}

/// The sweep the daemon owes at start-up: a resync that was asked for and never settled
/// (`resync.pending`), else a full sweep when the mirror never had one whose listings
/// finished (empty, or a cold sync interrupted by a crash or a stop), else none.
pub fn owed_sweep(conn: &Connection) -> Result<Option<&'static str>, StoreError> {
    let pending: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM settings WHERE key = 'resync.pending')")?
        .query_row([], |r| r.get(0))?;
    if pending {
        return Ok(Some("resync"));
    }
    let listed_once: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sync_runs WHERE kind IN ('full', 'resync')
                 AND finished_at IS NOT NULL AND error IS NULL)",
        )?
        .query_row([], |r| r.get(0))?;
    Ok((!listed_once || is_empty(conn)?).then_some("full"))
}

/// Whether a full sweep or resync ever settled (the mirror was complete once).
pub fn completed_once(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sync_runs WHERE kind IN ('full', 'resync')
                 AND settled_at IS NOT NULL AND error IS NULL)",
        )?
        .query_row([], |r| r.get(0))?)
}

/// A rollup's dependency: rows of `source` roll up, through their relation property
/// `relation_property_id`, values of rows of `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupLink {
    pub source: String,
    pub relation_property_id: String,
    pub target: String,
    /// The property of the target rows the rollup reads (id and/or name, as the schema
    /// gives them): only a change to it changes the rollup.
    pub rolled_property_id: Option<String>,
    pub rolled_property_name: Option<String>,
}

impl RollupLink {
    /// Whether this rollup reads one of `changed` (`(property id, name)` pairs of the
    /// target row whose values changed).
    pub fn reads_any(&self, changed: &[(String, String)]) -> bool {
        changed.iter().any(|(id, name)| {
            self.rolled_property_id
                .as_deref()
                .is_some_and(|r| percent_decode(r) == percent_decode(id))
                || self.rolled_property_name.as_deref() == Some(name.as_str())
        })
    }
}

/// The properties whose values differ between two versions of a page: `(id, name)`.
pub fn changed_properties(
    old: &serde_json::Value,
    new: &serde_json::Value,
) -> Vec<(String, String)> {
    let empty = serde_json::Map::new();
    let old = old
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .unwrap_or(&empty);
    let new = new
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .unwrap_or(&empty);
    let mut out = Vec::new();
    // A re-signed file URL is not a change (rollups over `files` see the same files).
    let same = |a: Option<&serde_json::Value>, b: Option<&serde_json::Value>| match (a, b) {
        (Some(a), Some(b)) => {
            a == b || super::file_refs::unsigned(a) == super::file_refs::unsigned(b)
        }
        (a, b) => a == b,
    };
    for (name, prop) in new.iter().chain(old.iter()) {
        if !same(old.get(name), new.get(name)) {
            let id = prop
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or(name)
                .to_string();
            if !out.iter().any(|(_, n): &(String, String)| n == name) {
                out.push((id, name.clone()));
            }
        }
    }
    out
}

/// Every rollup dependency between mirrored data sources (read from their schemas).
pub fn rollup_links(conn: &Connection) -> Result<Vec<RollupLink>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, raw FROM data_sources")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut links = Vec::new();
    for row in rows {
        let (source, raw) = row?;
        let Ok(schema) = serde_json::from_str::<serde_json::Value>(&raw) else {
            continue;
        };
        let Some(props) = schema
            .get("properties")
            .and_then(serde_json::Value::as_object)
        else {
            continue;
        };
        for prop in props.values() {
            let Some(rollup) = prop
                .get("rollup")
                .filter(|_| prop.get("type").and_then(|t| t.as_str()) == Some("rollup"))
            else {
                continue;
            };
            let by_id = rollup.get("relation_property_id").and_then(|v| v.as_str());
            let by_name = rollup
                .get("relation_property_name")
                .and_then(|v| v.as_str());
            let relation = props.values().find(|p| {
                let id = p.get("id").and_then(|v| v.as_str()).unwrap_or("");
                let name = p.get("name").and_then(|v| v.as_str());
                p.get("type").and_then(|t| t.as_str()) == Some("relation")
                    && (by_id.is_some_and(|b| percent_decode(b) == percent_decode(id))
                        || (by_name.is_some() && name == by_name))
            });
            let Some(relation) = relation else { continue };
            let (Some(pid), Some(target)) = (
                relation.get("id").and_then(|v| v.as_str()),
                relation
                    .pointer("/relation/data_source_id")
                    .and_then(|v| v.as_str()),
            ) else {
                continue;
            };
            let link = RollupLink {
                source: source.clone(),
                relation_property_id: pid.to_string(),
                target: crate::ids::normalize_or_keep(target),
                rolled_property_id: rollup
                    .get("rollup_property_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                rolled_property_name: rollup
                    .get("rollup_property_name")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
            };
            if !links.contains(&link) {
                links.push(link);
            }
        }
    }
    Ok(links)
}

/// The data sources holding mirrored rows with a rollup that reads one of the `changed`
/// properties of `page_id` (a row of `data_source_id`): each is re-queried for the rows
/// related to `page_id` (one query, however many rows roll it up).
pub fn rollup_dependent_sources(
    conn: &Connection,
    links: &[RollupLink],
    page_id: &str,
    data_source_id: &str,
    changed: &[(String, String)],
) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::new();
    for link in links
        .iter()
        .filter(|l| l.target == data_source_id && l.reads_any(changed))
    {
        if out.contains(&link.source) {
            continue;
        }
        let mut stmt = conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM property_values pv JOIN pages p ON p.id = pv.page_id
             WHERE pv.property_id = ?1 AND p.data_source_id = ?2 AND pv.page_id <> ?3
               AND EXISTS (SELECT 1 FROM json_each(pv.value) j WHERE json_extract(j.value, '$.id') = ?3))",
        )?;
        let related: bool = stmt.query_row(
            params![link.relation_property_id, link.source, page_id],
            |r| r.get(0),
        )?;
        if related {
            out.push(link.source.clone());
        }
    }
    Ok(out)
}

/// Decodes `%XX` escapes (property ids are URL-encoded in some places, not in others).
pub fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn changed_properties_are_named() {
        let old = serde_json::json!({"properties": {"A": {"id": "a", "number": 1}, "B": {"id": "b", "number": 2}}});
        let new = serde_json::json!({"properties": {"A": {"id": "a", "number": 1}, "B": {"id": "b", "number": 3}, "C": {"id": "c"}}});
        assert_eq!(
            super::changed_properties(&old, &new),
            vec![
                ("b".to_string(), "B".to_string()),
                ("c".to_string(), "C".to_string())
            ]
        );
        let link = super::RollupLink {
            source: "s".into(),
            relation_property_id: "r".into(),
            target: "t".into(),
            rolled_property_id: Some("b".into()),
            rolled_property_name: None,
        };
        assert!(link.reads_any(&[("b".into(), "B".into())]));
        assert!(!link.reads_any(&[("a".into(), "A".into())]));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("v_%5D%3C"), "v_]<");
        assert_eq!(percent_decode("title"), "title");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("a%"), "a%");
        assert_eq!(percent_decode("é%41"), "éA");
    }
}
