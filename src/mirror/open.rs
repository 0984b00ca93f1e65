//! Opening the mirror file: create it 0600 (and tighten a copy that is more open, see
//! `permissions.rs`), set the pragmas, apply `schema.sql` migrations.
//!
//! Invariant: the only place a read-write connection to `mirror.db` is created; migrations
//! run here, before any task starts, keyed by `PRAGMA user_version`.
//!
//! Durability: WAL. Connections opened here start with `synchronous = FULL` (migrations,
//! `retry`, `--accept-pending-token`); the daemon's writer switches to `NORMAL` and makes
//! every commit durable itself by fsyncing the WAL before it answers (see `store.rs`). Either
//! way a webhook answered 200 survives `kill -9` and power loss.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::StoreError;

/// The embedded schema; split into migrations at `-- migration: N` lines.
pub const SCHEMA_SQL: &str = include_str!("../../schema.sql");

/// The migrations in `schema.sql`, as `(version, sql)` in order.
pub fn migrations() -> Vec<(u32, &'static str)> {
    const MARKER: &str = "\n-- migration: ";
    let mut out: Vec<(u32, &'static str)> = Vec::new();
    let mut rest = SCHEMA_SQL;
    while let Some(pos) = rest.find(MARKER) {
        let after = &rest[pos + MARKER.len()..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let version: u32 = after[..line_end].trim().parse().unwrap_or(0);
        rest = &after[line_end..];
        let body_end = rest.find(MARKER).unwrap_or(rest.len());
        out.push((version, &rest[..body_end]));
    }
    out
}

/// The schema version this binary writes.
pub fn current_version() -> u32 {
    migrations().last().map(|(v, _)| *v).unwrap_or(0)
}

/// Opens (creating if needed) the mirror read-write and migrates it.
pub fn open_read_write(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Directories we create are private (0700) whatever the umask; existing ones are
        // left as the admin made them.
        use std::os::unix::fs::DirBuilderExt;
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        builder.create(dir).map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            what: "cannot create the directory for the mirror",
            source: e,
        })?;
    }
    create_private(path)?;
    // A copy restored by someone else (litestream restore, cp) is often 0644.
    super::permissions::tighten(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::open(path, e))?;
    configure(&conn).map_err(|e| StoreError::open(path, e))?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// Opens the mirror read-only (for `status` and tests while the daemon runs).
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Missing(path.display().to_string()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::open(path, e))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| StoreError::open(path, e))?;
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::open(path, e))?;
    if version > current_version() {
        return Err(StoreError::NewerSchema {
            path: path.display().to_string(),
            found: version,
            supported: current_version(),
        });
    }
    Ok(conn)
}

/// Creates the file with mode 0600 when it does not exist yet (SQLite gives its -wal and
/// -shm files the same mode).
fn create_private(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Io {
            path: path.display().to_string(),
            what: "cannot create the mirror file",
            source: e,
        }),
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Keep the page cache small (4 MiB): the daemon's memory budget is tens of MiB, and
    // the writer hands it back when idle (`PRAGMA shrink_memory`).
    conn.pragma_update(None, "cache_size", -4096)?;
    conn.set_prepared_statement_cache_capacity(64);
    // A checkpointed WAL is truncated to this size instead of growing without bound.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    persist_wal(conn);
    Ok(())
}

/// Keeps the `-wal` and `-shm` files when the daemon closes the mirror
/// (`SQLITE_FCNTL_PERSIST_WAL`): a read-only reader (an admin's `sqlite3` in the service's
/// group, see systemd/README.md) cannot create them, so without this it could not open the
/// mirror while the daemon is stopped.
fn persist_wal(conn: &Connection) {
    use rusqlite::ffi;
    let mut on: std::os::raw::c_int = 1;
    // SAFETY: `handle()` is the open connection owned by `conn`, valid for this call; the
    // file-control op reads and writes the int `on`, which outlives the call.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut std::os::raw::c_int).cast(),
        )
    };
    if rc != ffi::SQLITE_OK {
        tracing::warn!(
            code = rc,
            "cannot keep the WAL files persistent; read-only readers need the daemon running"
        );
    }
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::open(path, e))?;
    let latest = current_version();
    if version > latest {
        return Err(StoreError::NewerSchema {
            path: path.display().to_string(),
            found: version,
            supported: latest,
        });
    }
    for (target, sql) in migrations().into_iter().filter(|(v, _)| *v > version) {
        if let Err(e) = apply(conn, target, sql) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(StoreError::Migration { target, source: e });
        }
        tracing::info!(version = target, "mirror schema migrated");
    }
    Ok(())
}

/// Applies one migration in one transaction. A typed view that holds a name the migration
/// creates (a data source titled "Files" before the `files` table existed) is dropped
/// first and the typed views are rebuilt after, under their new names.
fn apply(conn: &Connection, target: u32, sql: &str) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut freed = false;
    let has_views: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'typed_views')",
        [],
        |r| r.get(0),
    )?;
    for name in created_names(sql).into_iter().filter(|_| has_views) {
        let taken: Option<String> = conn
            .query_row(
                "SELECT name FROM typed_views WHERE lower(name) = lower(?1)",
                [&name],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(view) = taken {
            conn.execute_batch(&format!(
                "DROP VIEW IF EXISTS {}",
                super::views::quote_ident(&view)
            ))?;
            conn.execute("DELETE FROM typed_views WHERE name = ?1", [&view])?;
            freed = true;
        }
    }
    conn.execute_batch(sql)?;
    if freed {
        super::views::rebuild_all(conn).map_err(|e| match e {
            StoreError::Sqlite { source, .. } => source,
            other => rusqlite::Error::ToSqlConversionFailure(Box::new(other)),
        })?;
    }
    conn.execute_batch(&format!("PRAGMA user_version = {target};\nCOMMIT;"))
}

/// The tables and views a migration creates (`CREATE TABLE name`, `CREATE VIEW name`).
fn created_names(sql: &str) -> Vec<String> {
    sql.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let rest = line
                .strip_prefix("CREATE TABLE ")
                .or_else(|| line.strip_prefix("CREATE VIEW "))?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_splits_into_ordered_migrations() {
        let m = migrations();
        assert!(!m.is_empty());
        assert_eq!(m[0].0, 1);
        assert!(m.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(m[0].1.contains("CREATE TABLE pages"));
    }

    #[test]
    fn fresh_file_is_private_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/mirror.db");
        let conn = open_read_write(&path).unwrap();
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, current_version());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(conn);
        // The WAL files outlive the connection (read-only readers need them).
        assert!(path.with_extension("db-wal").exists());
        assert!(path.with_extension("db-shm").exists());
        // Re-opening an up-to-date mirror is a no-op.
        open_read_write(&path).unwrap();
    }

    #[test]
    fn a_typed_view_holding_a_new_table_name_moves_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mirror.db");
        {
            // A mirror at schema 2 whose data source "Files" got the view name `files`.
            let conn = Connection::open(&path).unwrap();
            for (target, sql) in migrations().into_iter().filter(|(v, _)| *v <= 2) {
                apply(&conn, target, sql).unwrap();
            }
            let ds = "00000000-0000-4000-8000-0000000000d5";
            conn.execute(
                "INSERT INTO data_sources (id, raw, title, last_edited_time, synced_at)
                 VALUES (?1, ?2, 'Files', 't', 't')",
                rusqlite::params![
                    ds,
                    r#"{"object":"data_source","id":"00000000-0000-4000-8000-0000000000d5","title":[{"plain_text":"Files"}],"properties":{}}"#
                ],
            )
            .unwrap();
            conn.execute_batch(
                "CREATE VIEW files AS SELECT 1 AS x;
                 INSERT INTO typed_views (name, data_source_id, sql)
                 VALUES ('files', '00000000-0000-4000-8000-0000000000d5', 'SELECT 1 AS x');",
            )
            .unwrap();
        }
        let conn = open_read_write(&path).unwrap();
        let kind: String = conn
            .query_row(
                "SELECT type FROM sqlite_master WHERE name = 'files'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kind, "table");
        let view: String = conn
            .query_row("SELECT name FROM typed_views", [], |r| r.get(0))
            .unwrap();
        assert_eq!(view, "files_00000000");
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {view}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mirror.db");
        let conn = open_read_write(&path).unwrap();
        conn.pragma_update(None, "user_version", current_version() + 1)
            .unwrap();
        drop(conn);
        let err = open_read_write(&path).unwrap_err();
        assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
