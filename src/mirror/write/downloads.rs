//! The download bookkeeping of archived files (docs/files.md): which `pending` files are
//! due, where each is shown now, how an attempt ended, counts for `status` and `/metrics`,
//! and what the daily collection deletes. Re-exported by `files.rs`.
//!
//! Invariant: only `src/files` changes a file row's status, attempts or due time, and only
//! through [`finish_file`] (collection and the daily fresh start aside); no signed URL is
//! ever stored (a refused one only as its hash).

use rusqlite::{params, Connection, OptionalExtension};

use crate::mirror::file_refs::Holder;
use crate::mirror::StoreError;

/// A file the downloader may work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueFile {
    pub key: String,
    pub name: String,
    pub attempts: u32,
    pub external: bool,
    pub rejected_url: Option<String>,
    pub refetch_at: Option<i64>,
}

/// Pending files due at `now_ms`, oldest due first, leaving out `busy` keys.
pub fn due_files(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
    busy: &[String],
) -> Result<Vec<DueFile>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, name, attempts, external, rejected_url, refetch_at FROM files
         WHERE status = 'pending' AND due_at <= ?1 ORDER BY due_at, key LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_ms, (limit + busy.len()) as i64], |r| {
        Ok(DueFile {
            key: r.get(0)?,
            name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            attempts: r.get(2)?,
            external: r.get(3)?,
            rejected_url: r.get(4)?,
            refetch_at: r.get(5)?,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        let row = row?;
        if !busy.contains(&row.key) && out.len() < limit {
            out.push(row);
        }
    }
    Ok(out)
}

/// The references of `key`, each with its holder's current `raw` (and a block's page).
pub fn sources_of(conn: &Connection, key: &str) -> Result<Vec<Source>, StoreError> {
    let refs: Vec<(String, String, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT object, object_id, location FROM file_refs WHERE key = ?1
             ORDER BY object, object_id, location",
        )?;
        let rows = stmt.query_map([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for (object, id, location) in refs {
        let Some(holder) = Holder::parse(&object) else {
            continue;
        };
        let sql = match holder {
            Holder::Block => "SELECT raw, page_id FROM blocks WHERE id = ?1",
            Holder::Page => "SELECT raw, NULL FROM pages WHERE id = ?1",
            Holder::Database => "SELECT raw, NULL FROM databases WHERE id = ?1",
            Holder::DataSource => "SELECT raw, NULL FROM data_sources WHERE id = ?1",
        };
        let found: Option<(String, Option<String>)> = conn
            .prepare_cached(sql)?
            .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((raw, page_id)) = found {
            out.push(Source {
                holder,
                id,
                location,
                raw,
                page_id,
            });
        }
    }
    Ok(out)
}

/// One reference of a file with what its holder shows now.
#[derive(Debug, Clone)]
pub struct Source {
    pub holder: Holder,
    pub id: String,
    pub location: String,
    pub raw: String,
    /// The page a block belongs to.
    pub page_id: Option<String>,
}

/// How a download attempt ended, as the `files` row records it.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    Stored {
        sha256: String,
        size: u64,
        content_type: Option<String>,
    },
    TooLarge {
        size: Option<u64>,
        error: String,
    },
    /// Try again at `due_at` (attempts + 1).
    Retry {
        due_at: i64,
        error: String,
    },
    /// The URL is expired or was rejected: wait for the refetch of its holder.
    Rejected {
        url_hash: String,
        due_at: i64,
        error: String,
        refetch_requested: bool,
    },
    /// Not now, no attempt spent (waiting for a fresh URL, the total cap, a reference).
    Later {
        due_at: i64,
        error: Option<String>,
    },
    Failed {
        error: String,
    },
}

/// Records the outcome of one attempt at `key`.
pub fn finish_file(
    conn: &Connection,
    key: &str,
    outcome: &FileOutcome,
    now_ms: i64,
) -> Result<(), StoreError> {
    match outcome {
        FileOutcome::Stored {
            sha256,
            size,
            content_type,
        } => {
            conn.prepare_cached(
                "UPDATE files SET status = 'stored', sha256 = ?2, size = ?3, content_type = ?4,
                     stored_at = ?5, error = NULL, rejected_url = NULL, refetch_at = NULL
                 WHERE key = ?1",
            )?
            .execute(params![
                key,
                sha256,
                *size as i64,
                content_type,
                crate::mirror::now_iso()
            ])?;
        }
        FileOutcome::TooLarge { size, error } => {
            conn.prepare_cached(
                "UPDATE files SET status = 'too_large', size = ?2, error = ?3 WHERE key = ?1",
            )?
            .execute(params![key, size.map(|s| s as i64), error])?;
        }
        FileOutcome::Retry { due_at, error } => {
            conn.prepare_cached(
                "UPDATE files SET attempts = attempts + 1, due_at = ?2, error = ?3 WHERE key = ?1",
            )?
            .execute(params![key, due_at, error])?;
        }
        FileOutcome::Rejected {
            url_hash,
            due_at,
            error,
            refetch_requested,
        } => {
            conn.prepare_cached(
                "UPDATE files SET attempts = attempts + ?5, due_at = ?2, error = ?3,
                     rejected_url = ?4, refetch_at = CASE WHEN ?5 = 1 THEN ?6 ELSE refetch_at END
                 WHERE key = ?1",
            )?
            .execute(params![
                key,
                due_at,
                error,
                url_hash,
                i64::from(*refetch_requested),
                now_ms
            ])?;
        }
        FileOutcome::Later { due_at, error } => {
            conn.prepare_cached(
                "UPDATE files SET due_at = ?2, error = coalesce(?3, error) WHERE key = ?1",
            )?
            .execute(params![key, due_at, error])?;
        }
        FileOutcome::Failed { error } => {
            conn.prepare_cached(
                "UPDATE files SET status = 'failed', attempts = attempts + 1, error = ?2
                 WHERE key = ?1",
            )?
            .execute(params![key, error])?;
        }
    }
    Ok(())
}

/// Files of every status, and the bytes their distinct blobs take on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileCounts {
    pub stored: u64,
    pub pending: u64,
    pub failed: u64,
    pub too_large: u64,
    pub bytes: u64,
}

/// Counts files by status and sums the size of each distinct stored blob.
pub fn counts(conn: &Connection) -> Result<FileCounts, StoreError> {
    let mut out = FileCounts::default();
    let mut stmt = conn.prepare_cached("SELECT status, count(*) FROM files GROUP BY status")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (status, n) = row?;
        let n = n.max(0) as u64;
        match status.as_str() {
            "stored" => out.stored = n,
            "pending" => out.pending = n,
            "failed" => out.failed = n,
            "too_large" => out.too_large = n,
            _ => {}
        }
    }
    out.bytes = stored_bytes(conn)?;
    Ok(out)
}

/// Bytes of the distinct stored blobs (a blob shared by two keys counts once).
pub fn stored_bytes(conn: &Connection) -> Result<u64, StoreError> {
    let bytes: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(size), 0) FROM
                 (SELECT sha256, max(size) AS size FROM files WHERE status = 'stored' GROUP BY sha256)",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(bytes.max(0) as u64)
}

/// Deletes the rows of files whose last reference went before `cutoff` (ISO-8601);
/// returns how many went (their blobs go when no stored row names them, see
/// `files::collect`).
pub fn collect_unreferenced(conn: &Connection, cutoff: &str) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM files WHERE unreferenced_since IS NOT NULL AND unreferenced_since < ?1
                 AND NOT EXISTS (SELECT 1 FROM file_refs r WHERE r.key = files.key)",
        )?
        .execute([cutoff])?)
}

/// Failed files get a fresh start (the daily sweep, like parked work).
pub fn retry_failed(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE files SET status = 'pending', attempts = 0, due_at = 0,
                 rejected_url = NULL, refetch_at = NULL
             WHERE status = 'failed'",
        )?
        .execute([])?)
}

/// Whether a stored row names blob `sha256` (the collector keeps such blobs).
pub fn blob_in_use(conn: &Connection, sha256: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM files WHERE sha256 = ?1 AND status = 'stored')",
        )?
        .query_row([sha256], |r| r.get(0))?)
}
