//! The mirror: the SQLite file users query. Schema and migrations (`open`), the one writer
//! (`store`), object upserts and removals (`write`), the change feed's states and diffs
//! (`changes`), plain-text rendering (`text`),
//! property values (`properties`), typed views (`views`), Notion views as SQL views
//! (`view_sql`), and read helpers (`read`).
//!
//! Invariant: this module is the only code that writes mirror tables, and every write goes
//! through the single writer thread in [`store::Store`].

pub mod changes;
pub mod checkpoint;
pub mod file_refs;
pub mod known;
pub mod open;
pub mod permissions;
pub mod properties;
pub mod read;
pub mod store;
pub mod syncer;
pub mod text;
pub mod view_sql;
pub mod views;
pub mod write;

pub use store::{Store, StoreOptions};

/// The tables users read (`status` counts their rows).
pub const USER_TABLES: &[&str] = &[
    "pages",
    "databases",
    "data_sources",
    "property_values",
    "blocks",
    "comments",
    "users",
    "tombstones",
    "webhook_events",
    "sync_runs",
    "views",
    "files",
    "file_refs",
    "changes",
];

/// The schema's other names (with the FTS5 shadow tables): typed views never take them.
pub const INTERNAL_NAMES: &[&str] = &[
    "settings",
    "search",
    "search_data",
    "search_idx",
    "search_content",
    "search_docsize",
    "search_config",
    "queue",
    "typed_views",
    "view_sql",
    "attachments",
    "page_history",
    "outbound",
    "sqlite_sequence",
];

/// Errors from the mirror store. None is retryable by waiting: they are disk, schema or
/// programming problems, reported with the path or statement involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the mirror at {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("{what} ({path}): {source}")]
    Io {
        path: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("no mirror at {0} (run `notion-mirror sync` first)")]
    Missing(String),
    #[error(
        "the mirror at {path} was written by a newer notion-mirror (schema version {found}, \
         this binary supports up to {supported}); upgrade notion-mirror"
    )]
    NewerSchema {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error("schema migration to version {target} failed: {source}")]
    Migration {
        target: u32,
        source: rusqlite::Error,
    },
    #[error("sqlite error ({context}): {source}")]
    Sqlite {
        context: &'static str,
        source: rusqlite::Error,
    },
    #[error("mirror commit failed: {0}")]
    Commit(String),
    #[error("invalid data: {0}")]
    Invalid(String),
    #[error("the mirror store is closed")]
    Closed,
}

impl StoreError {
    fn open(path: &std::path::Path, source: rusqlite::Error) -> Self {
        StoreError::Open {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(source: rusqlite::Error) -> Self {
        StoreError::Sqlite {
            context: "statement",
            source,
        }
    }
}

/// The current time as the ISO-8601 UTC string the mirror stores (`synced_at`, ...).
pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The minute an ISO-8601 time falls in, in the API's form (`2026-06-24T16:32:00.000Z`):
/// Notion rounds `last_edited_time` down to the minute, so event times compare with it
/// after this. `None` when `iso` is not a time.
pub fn minute_of(iso: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(iso).ok()?;
    let t = t.with_timezone(&chrono::Utc);
    let floored = t - chrono::Duration::nanoseconds(
        i64::from(chrono::Timelike::second(&t)) * 1_000_000_000
            + i64::from(chrono::Timelike::nanosecond(&t)),
    );
    Some(floored.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod minute_tests {
    #[test]
    fn minute_of_rounds_down_to_the_api_form() {
        assert_eq!(
            super::minute_of("2024-12-05T23:55:34.285Z").as_deref(),
            Some("2024-12-05T23:55:00.000Z")
        );
        assert_eq!(
            super::minute_of("2024-12-05T23:55:00.000+00:00").as_deref(),
            Some("2024-12-05T23:55:00.000Z")
        );
        assert_eq!(super::minute_of("soon"), None);
    }
}
