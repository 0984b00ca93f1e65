//! Settings (key/value) and `sync_runs` records.
//!
//! Invariant: a sweep's row is opened when it starts and closed with its figures.

use rusqlite::{params, Connection, OptionalExtension};

use crate::mirror::{now_iso, StoreError};

/// Reads a setting.
/// Reads a setting.
pub fn get_setting(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// Writes a setting.
pub fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

/// Deletes a setting.
pub fn delete_setting(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM settings WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

/// Opens a `sync_runs` row; returns its id.
pub fn start_run(conn: &Connection, kind: &str) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO sync_runs (kind, started_at) VALUES (?1, ?2)",
        params![kind, now_iso()],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The figures a finished sweep records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFigures {
    pub requests: u64,
    pub objects: u64,
    pub removed: u64,
    pub error: Option<String>,
    /// Where the watermark moves once the sweep's work is done (kept so a restarted
    /// daemon can still settle the sweep).
    pub watermark: Option<String>,
}

/// Closes a `sync_runs` row.
pub fn finish_run(conn: &Connection, run_id: i64, figures: &RunFigures) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sync_runs SET finished_at = ?2, requests = requests + ?3,
             objects = objects + ?4, removed = removed + ?5, error = ?6, watermark = ?7,
             listed_items = items, listed_work_requests = work_requests
         WHERE id = ?1",
        params![
            run_id,
            now_iso(),
            figures.requests as i64,
            figures.objects as i64,
            figures.removed as i64,
            figures.error,
            figures.watermark
        ],
    )?;
    Ok(())
}

/// What one attempt of a sweep's work item did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemWork {
    pub requests: u64,
    pub written: u64,
    pub removed: u64,
    /// The item is done (not retried or parked): it counts in `sync_runs.items`.
    pub done: bool,
}

/// Adds what one of a sweep's work items did (requests made, objects written and
/// removed, one more item done) to the sweep's record.
pub fn add_run_work(conn: &Connection, run_id: i64, work: ItemWork) -> Result<(), StoreError> {
    let ItemWork {
        requests,
        written,
        removed,
        done,
    } = work;
    if requests + written + removed > 0 || done {
        conn.prepare_cached(
            "UPDATE sync_runs SET requests = requests + ?2, objects = objects + ?3,
                 removed = removed + ?4, work_requests = work_requests + ?2,
                 items = items + ?5
             WHERE id = ?1",
        )?
        .execute(params![
            run_id,
            requests as i64,
            written as i64,
            removed as i64,
            i64::from(done)
        ])?;
    }
    Ok(())
}

/// At start-up: sweeps a previous process left without `finished_at` (it stopped or
/// crashed mid-listing) are closed as interrupted. Returns how many.
pub fn close_interrupted_runs(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE sync_runs SET finished_at = ?1,
             error = coalesce(error, 'interrupted: the process stopped during the sweep')
         WHERE finished_at IS NULL",
        [now_iso()],
    )?)
}

/// Records that a sweep's own work is done.
pub fn settle_run(conn: &Connection, run_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE sync_runs SET settled_at = ?2 WHERE id = ?1 AND settled_at IS NULL",
    )?
    .execute(params![run_id, now_iso()])?;
    Ok(())
}

/// Deletes finished webhook events (done or ignored) received before `cutoff` (ISO-8601).
pub fn prune_events(conn: &Connection, cutoff: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM webhook_events WHERE status IN ('done', 'ignored') AND received_at < ?1",
        [cutoff],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_finished_events_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
        for (id, at, status) in [
            ("a", "2026-01-01T00:00:00.000Z", "done"),
            ("b", "2026-01-01T00:00:00.000Z", "ignored"),
            ("c", "2026-01-01T00:00:00.000Z", "queued"),
            ("d", "2026-01-01T00:00:00.000Z", "failed"),
            ("e", "2026-06-01T00:00:00.000Z", "done"),
        ] {
            c.execute(
                "INSERT INTO webhook_events (id, raw, type, received_at, status) VALUES (?1, '{}', 't', ?2, ?3)",
                [id, at, status],
            )
            .unwrap();
        }
        assert_eq!(prune_events(&c, "2026-03-01T00:00:00.000Z").unwrap(), 2);
        let left: Vec<String> = c
            .prepare("SELECT id FROM webhook_events ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, vec!["c", "d", "e"]);
    }
}
