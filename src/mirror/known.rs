//! The object, block, property and icon types this version of the mirror renders, and a
//! count of what the mirror holds of any other type (`notion-mirror status`).
//!
//! Invariant: an unknown type is never an error anywhere: such objects are stored raw
//! (their text and typed-view values empty or NULL) and only counted here.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::StoreError;

/// Block types the mirror renders (2025-09-03 SDK list, plus heading_4 and tab of
/// 2026-03, and meeting_notes — `transcription` before 2026-03-11).
pub const BLOCK_TYPES: &[&str] = &[
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "heading_4",
    "bulleted_list_item",
    "numbered_list_item",
    "quote",
    "to_do",
    "toggle",
    "template",
    "synced_block",
    "child_page",
    "child_database",
    "equation",
    "code",
    "callout",
    "divider",
    "breadcrumb",
    "table_of_contents",
    "column_list",
    "column",
    "link_to_page",
    "table",
    "table_row",
    "transcription",
    "meeting_notes",
    "embed",
    "bookmark",
    "image",
    "video",
    "pdf",
    "file",
    "audio",
    "link_preview",
    "tab",
    "unsupported",
];

/// Property types the typed views render.
pub const PROPERTY_TYPES: &[&str] = &[
    "title",
    "rich_text",
    "number",
    "select",
    "multi_select",
    "status",
    "date",
    "people",
    "files",
    "checkbox",
    "url",
    "email",
    "phone_number",
    "formula",
    "relation",
    "rollup",
    "created_time",
    "created_by",
    "last_edited_time",
    "last_edited_by",
    "unique_id",
    "verification",
    "button",
    "place",
];

/// Icon types (reference "Emoji and icon"; `icon` since 2026-03-25).
pub const ICON_TYPES: &[&str] = &["emoji", "external", "file", "custom_emoji", "icon"];

/// User types.
pub const USER_TYPES: &[&str] = &["person", "bot"];

fn list(types: &[&str]) -> String {
    types
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the mirror holds of types it does not know: `"block future_block" → 2`, ...
pub fn unknown_types(conn: &Connection) -> Result<BTreeMap<String, i64>, StoreError> {
    let queries = [
        (
            "block",
            format!(
                "SELECT type, count(*) FROM blocks WHERE type NOT IN ({}) GROUP BY type",
                list(BLOCK_TYPES)
            ),
        ),
        (
            "property",
            format!(
                "SELECT type, count(*) FROM property_values WHERE type NOT IN ({}) GROUP BY type",
                list(PROPERTY_TYPES)
            ),
        ),
        (
            "icon",
            format!(
                "SELECT t, count(*) FROM (
                     SELECT raw ->> '$.icon.type' AS t FROM pages
                     UNION ALL SELECT raw ->> '$.icon.type' FROM databases
                     UNION ALL SELECT raw ->> '$.icon.type' FROM data_sources
                     UNION ALL SELECT json_extract(raw, '$.' || type || '.icon.type') FROM blocks)
                 WHERE t IS NOT NULL AND t NOT IN ({}) GROUP BY t",
                list(ICON_TYPES)
            ),
        ),
        (
            "user",
            format!(
                "SELECT coalesce(type, ''), count(*) FROM users WHERE type IS NULL OR type NOT IN ({}) GROUP BY 1",
                list(USER_TYPES)
            ),
        ),
    ];
    let mut out = BTreeMap::new();
    for (what, sql) in queries {
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (kind, n) = row?;
            out.insert(format!("{what} {kind}"), n);
        }
    }
    Ok(out)
}
