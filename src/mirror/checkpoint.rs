//! WAL checkpoints: who copies committed WAL frames back into `mirror.db`, and when.
//!
//! By default the store's checkpointer thread runs a PASSIVE checkpoint every second on
//! its own connection (never on the commit path) and a TRUNCATE checkpoint when the store
//! closes. When Litestream replicates the mirror, checkpoints are Litestream's job:
//! Litestream ships the WAL by reading it, holds a read transaction to stop anyone else
//! from checkpointing past what it has copied, and runs its own checkpoints (PASSIVE at
//! 1,000 pages and every minute; TRUNCATE only as an emergency brake at ~500 MB). An
//! application checkpoint that gets past Litestream's position — a TRUNCATE or RESTART
//! slipping in while Litestream briefly releases its read lock to checkpoint — truncates
//! or rewrites WAL frames Litestream has not copied, and Litestream has to start over with
//! a full snapshot (docs/replication.md cites its documentation and issues).
//!
//! [`CheckpointMode::Litestream`] (or `Auto` with Litestream's metadata directory beside
//! the mirror) therefore leaves checkpoints to Litestream: no periodic checkpoint, no
//! TRUNCATE at close, SQLite's automatic checkpoints stay off. Only a safety valve remains:
//! should the WAL pass [`VALVE_BYTES`] (Litestream stopped, or not running at all), a
//! PASSIVE checkpoint — which never truncates or restarts the WAL and never goes past a
//! reader — keeps it bounded.
//!
//! Invariants: in Litestream mode this code never runs TRUNCATE, RESTART or FULL; in any
//! mode it never checkpoints on the writer's connection; the WAL's size is sampled every
//! second for `/metrics` (current and largest since the store opened).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer looks at the WAL.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// In Litestream mode, a PASSIVE checkpoint runs only once the WAL is this large
/// (Litestream keeps it near 4 MB while it runs; this is the mirror's
/// `journal_size_limit` too).
pub const VALVE_BYTES: u64 = 64 * 1024 * 1024;

/// Who checkpoints the WAL (config `checkpoint`, env `NOTION_MIRROR_CHECKPOINT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckpointMode {
    /// Litestream when its metadata directory sits beside the mirror, else the daemon;
    /// looked at every second, so a Litestream started later is noticed.
    #[default]
    Auto,
    /// The daemon: PASSIVE every second, TRUNCATE at close.
    Daemon,
    /// Litestream: the daemon never checkpoints (but for the safety valve).
    Litestream,
}

impl CheckpointMode {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointMode::Auto => "auto",
            CheckpointMode::Daemon => "daemon",
            CheckpointMode::Litestream => "litestream",
        }
    }

    /// Parses `auto`, `daemon` or `litestream` (case-insensitive).
    pub fn parse(text: &str) -> Option<CheckpointMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(CheckpointMode::Auto),
            "daemon" => Some(CheckpointMode::Daemon),
            "litestream" => Some(CheckpointMode::Litestream),
            _ => None,
        }
    }
}

/// Litestream's metadata directories for `db`: `.<name>-litestream` (0.5) and
/// `<name>-litestream` (0.3).
pub fn litestream_dirs(db: &Path) -> [PathBuf; 2] {
    let dir = db.parent().unwrap_or_else(|| Path::new("."));
    let name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    [
        dir.join(format!(".{name}-litestream")),
        dir.join(format!("{name}-litestream")),
    ]
}

/// Whether Litestream has replicated `db` from this directory (its metadata is there).
pub fn litestream_attached(db: &Path) -> bool {
    litestream_dirs(db).iter().any(|d| d.is_dir())
}

/// The mode, resolved against the files beside the mirror.
#[derive(Debug, Clone)]
pub struct Policy {
    mode: CheckpointMode,
    db: PathBuf,
}

impl Policy {
    pub fn new(mode: CheckpointMode, db: &Path) -> Policy {
        Policy {
            mode,
            db: db.to_path_buf(),
        }
    }

    /// Whether checkpoints are Litestream's job right now.
    pub fn leave_to_litestream(&self) -> bool {
        match self.mode {
            CheckpointMode::Daemon => false,
            CheckpointMode::Litestream => true,
            CheckpointMode::Auto => litestream_attached(&self.db),
        }
    }
}

/// The WAL's size as the checkpointer saw it, for `/metrics` and benchmarks.
#[derive(Debug, Default)]
pub struct WalStats {
    /// Bytes at the last look.
    pub current: AtomicU64,
    /// The largest size seen since the store opened.
    pub max: AtomicU64,
    /// Whether checkpoints were left to Litestream at the last look.
    pub litestream: AtomicBool,
}

impl WalStats {
    fn sample(&self, bytes: u64) {
        self.current.store(bytes, Ordering::Relaxed);
        self.max.fetch_max(bytes, Ordering::Relaxed);
    }
}

/// What one look decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// PASSIVE checkpoint (the daemon's own, or the valve).
    Passive,
    /// Nothing: Litestream checkpoints.
    Leave,
}

/// The decision for one look at a WAL of `wal_bytes`.
pub(super) fn step(leave_to_litestream: bool, wal_bytes: u64) -> Step {
    if !leave_to_litestream || wal_bytes >= VALVE_BYTES {
        Step::Passive
    } else {
        Step::Leave
    }
}

/// The checkpointer thread: looks every second until `stop` is dropped.
pub(super) fn checkpoint_loop(
    conn: Connection,
    stop: mpsc::Receiver<()>,
    policy: Policy,
    stats: std::sync::Arc<WalStats>,
) {
    let wal = super::syncer::wal_path(&policy.db);
    let mut was_left: Option<bool> = None;
    let mut valve_warned = false;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        stats.sample(bytes);
        let leave = policy.leave_to_litestream();
        stats.litestream.store(leave, Ordering::Relaxed);
        if was_left != Some(leave) {
            announce(&policy, leave);
            was_left = Some(leave);
        }
        if step(leave, bytes) == Step::Leave {
            valve_warned = false;
            continue;
        }
        if leave && !valve_warned {
            tracing::warn!(
                wal_bytes = bytes,
                "the WAL passed {} MiB while checkpoints are left to Litestream: is Litestream running? \
                 A PASSIVE checkpoint (safe for Litestream) keeps it bounded",
                VALVE_BYTES / (1024 * 1024)
            );
            valve_warned = true;
        }
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

fn announce(policy: &Policy, leave: bool) {
    if leave {
        tracing::info!(
            mode = policy.mode.as_str(),
            "WAL checkpoints are left to Litestream (no periodic or closing checkpoint from the daemon)"
        );
    } else if policy.mode == CheckpointMode::Auto {
        tracing::debug!("WAL checkpoints: the daemon's (PASSIVE every second, TRUNCATE at close)");
    }
}

/// The checkpoint when the store closes: TRUNCATE (the WAL shrinks to nothing, everything
/// is in `mirror.db`), unless checkpoints are Litestream's.
pub(super) fn at_close(conn: &Connection, policy: &Policy) {
    if policy.leave_to_litestream() {
        tracing::debug!("closing without a checkpoint: Litestream checkpoints this mirror");
        return;
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "WAL checkpoint at close failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for mode in [
            CheckpointMode::Auto,
            CheckpointMode::Daemon,
            CheckpointMode::Litestream,
        ] {
            assert_eq!(CheckpointMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(
            CheckpointMode::parse(" LiteStream "),
            Some(CheckpointMode::Litestream)
        );
        assert_eq!(CheckpointMode::parse("truncate"), None);
    }

    #[test]
    fn auto_follows_litestreams_metadata_directory() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mirror.db");
        let auto = Policy::new(CheckpointMode::Auto, &db);
        assert!(!auto.leave_to_litestream());
        assert!(Policy::new(CheckpointMode::Litestream, &db).leave_to_litestream());
        std::fs::create_dir(dir.path().join(".mirror.db-litestream")).unwrap();
        assert!(auto.leave_to_litestream(), "Litestream 0.5's directory");
        assert!(!Policy::new(CheckpointMode::Daemon, &db).leave_to_litestream());
        std::fs::remove_dir(dir.path().join(".mirror.db-litestream")).unwrap();
        std::fs::create_dir(dir.path().join("mirror.db-litestream")).unwrap();
        assert!(auto.leave_to_litestream(), "Litestream 0.3's directory");
    }

    #[test]
    fn litestream_mode_checkpoints_only_past_the_valve() {
        assert_eq!(step(false, 0), Step::Passive);
        assert_eq!(step(false, VALVE_BYTES * 2), Step::Passive);
        assert_eq!(step(true, 0), Step::Leave);
        assert_eq!(step(true, VALVE_BYTES - 1), Step::Leave);
        assert_eq!(step(true, VALVE_BYTES), Step::Passive);
    }

    #[test]
    fn closing_in_litestream_mode_leaves_the_wal_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let conn = crate::mirror::open::open_read_write(&db).unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')", [])
            .unwrap();
        let wal = crate::mirror::syncer::wal_path(&db);
        let before = std::fs::metadata(&wal).unwrap().len();
        assert!(before > 0);
        at_close(&conn, &Policy::new(CheckpointMode::Litestream, &db));
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), before);
        at_close(&conn, &Policy::new(CheckpointMode::Daemon, &db));
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "TRUNCATE");
    }
}
