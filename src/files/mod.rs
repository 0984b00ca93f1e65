//! Archiving the files the mirror references (docs/files.md): Notion-hosted files (and, on
//! request, external ones) are downloaded into content-addressed blobs
//! `<files dir>/<first 2 hex of sha256>/<sha256>` before their signed URLs expire.
//!
//! Invariants: downloads run on their own pool (2 at once) and never draw on the Notion
//! API budget; they stream to a temporary file that is fsynced and renamed, so a final
//! name only ever holds complete bytes with the recorded hash; a URL the host rejected
//! (or whose `expiry_time` passed) is never tried again as is — the object showing it is
//! refetched (one API request, at sweep priority) for a fresh one; external files are never
//! fetched from loopback, private or link-local addresses; a blob leaves the disk only
//! after no file row has needed it for a day.
//!
//! Files: this one (settings, start-up, the pieces `sync` and the sweeps call), `pool.rs`
//! (the download loop and one attempt), `download.rs` (HTTP streaming into a blob),
//! `blobs.rs` (the directory: temporary files, atomic placement, removal), `address.rs`
//! (which addresses external files may come from), `housekeeping.rs` (re-deriving
//! references, collecting unreferenced blobs).

mod address;
mod blobs;
mod download;
mod housekeeping;
mod pool;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use blobs::Blobs;
pub use housekeeping::{collect, reindex, sweep, Collected, GRACE};
pub use pool::Pool;

use crate::config::{ConfigError, Overrides};
use crate::mirror::write::files::{self as rows, Mode};
use crate::mirror::{Store, StoreError};

/// Downloads at once.
pub const DOWNLOADS: usize = 2;
/// The per-file cap when none is configured (`NOTION_MIRROR_FILES_MAX_MB`).
pub const DEFAULT_MAX_MB: u64 = 100;
const MIB: u64 = 1024 * 1024;

/// How files are archived. Built by `Config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesConfig {
    /// `--no-files` turns archiving off.
    pub enabled: bool,
    /// Where blobs live (default: `files/` beside the mirror).
    pub dir: PathBuf,
    /// Larger files are recorded as `too_large` and not downloaded.
    pub max_file_bytes: u64,
    /// Optional cap on the bytes of all blobs; files beyond it wait (pending).
    pub max_total_bytes: Option<u64>,
    /// Archive external files too (`files_external`).
    pub external: bool,
}

/// The `files*` keys of the config file.
#[derive(Debug, Clone, Default)]
pub struct FileSettings {
    pub enabled: Option<bool>,
    pub dir: Option<PathBuf>,
    pub max_mb: Option<u64>,
    pub max_total_mb: Option<u64>,
    pub external: Option<bool>,
}

impl FilesConfig {
    /// Defaults < config file < environment and flags.
    pub fn from_parts(db_path: &Path, file: FileSettings, over: &Overrides) -> FilesConfig {
        let beside = db_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."))
            .join("files");
        FilesConfig {
            enabled: !over.no_files && file.enabled.unwrap_or(true),
            dir: over.files_dir.clone().or(file.dir).unwrap_or(beside),
            max_file_bytes: over
                .files_max_mb
                .or(file.max_mb)
                .unwrap_or(DEFAULT_MAX_MB)
                .saturating_mul(MIB),
            max_total_bytes: over
                .files_max_total_mb
                .or(file.max_total_mb)
                .map(|mb| mb.saturating_mul(MIB)),
            external: file.external.unwrap_or(false),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && self.max_file_bytes == 0 {
            return Err(ConfigError::Invalid {
                what: "NOTION_MIRROR_FILES_MAX_MB / files_max_mb".into(),
                message: "must be at least 1 (turn files off with --no-files)".into(),
            });
        }
        Ok(())
    }

    /// What writes record.
    pub fn mode(&self) -> Mode {
        match (self.enabled, self.external) {
            (false, _) => Mode::Off,
            (true, false) => Mode::Hosted,
            (true, true) => Mode::All,
        }
    }
}

/// Errors of the files feature that stop it from starting.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("files directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client for files: {0}")]
    Client(String),
}

/// Records the recording mode and blob directory in the mirror (so the `attachments` view
/// and `export` find the blobs). Returns whether every reference must be derived again
/// ([`reindex`]): a mirror from before files, or one last run with `--no-files`. Call it
/// before anything writes, so every write records under the right mode.
pub async fn configure(store: &Store, config: &FilesConfig) -> Result<bool, FilesError> {
    let mode = config.mode();
    let dir = if config.enabled {
        let blobs = Blobs::open(&config.dir)?;
        Some(blobs.dir().display().to_string())
    } else {
        None
    };
    Ok(store
        .write(move |c| rows::configure(c, mode, dir.as_deref()))
        .await?)
}

/// [`reindex`] with a log line.
pub async fn index_all(store: &Store, mode: Mode) -> Result<(), StoreError> {
    let started = Instant::now();
    let n = reindex(store, mode).await?;
    tracing::info!(
        objects = n,
        elapsed_ms = started.elapsed().as_millis() as u64,
        mode = mode.as_str(),
        "file references derived for every object"
    );
    Ok(())
}

/// What a full sweep needs to re-derive references and collect files.
#[derive(Debug, Clone)]
pub struct FileSweep {
    pub blobs: Blobs,
    pub mode: Mode,
}

/// Waits until no file download is due within a minute (what `sync` waits for before it
/// exits), or until nothing moved for two minutes while the queue was idle, or `stop`.
/// Returns the files still pending.
pub async fn wait_idle(store: &Store, stop: &CancellationToken) -> Result<u64, StoreError> {
    const SOON_MS: i64 = 60_000;
    const STUCK: Duration = Duration::from_secs(120);
    let mut last = None;
    let mut since = Instant::now();
    loop {
        let (active, done, queue_idle, pending) = store
            .read(|c| {
                let now = crate::queue::now_ms();
                let active: i64 = c.query_row(
                    "SELECT count(*) FROM files WHERE status = 'pending' AND due_at <= ?1",
                    [now + SOON_MS],
                    |r| r.get(0),
                )?;
                let counts = rows::counts(c)?;
                let depth = crate::queue::depth(c, now)?;
                Ok((
                    active,
                    counts.stored + counts.failed + counts.too_large,
                    depth.pending + depth.running == 0,
                    counts.pending,
                ))
            })
            .await?;
        if active == 0 {
            return Ok(pending);
        }
        if last != Some(done) {
            last = Some(done);
            since = Instant::now();
        } else if queue_idle && since.elapsed() > STUCK {
            tracing::warn!(
                pending,
                "file downloads made no progress for two minutes; leaving them to the daemon"
            );
            return Ok(pending);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.cancelled() => return Ok(pending),
        }
    }
}

/// `status`: files by status and bytes on disk, when the mirror has the tables.
pub fn counts(conn: &rusqlite::Connection) -> Result<Option<rows::FileCounts>, StoreError> {
    let has: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files')",
        [],
        |r| r.get(0),
    )?;
    if !has {
        return Ok(None);
    }
    rows::counts(conn).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_flags_then_file_then_defaults() {
        let db = Path::new("/var/lib/nm/mirror.db");
        let c = FilesConfig::from_parts(db, FileSettings::default(), &Overrides::default());
        assert!(c.enabled);
        assert_eq!(c.dir, PathBuf::from("/var/lib/nm/files"));
        assert_eq!(c.max_file_bytes, 100 * MIB);
        assert_eq!(c.max_total_bytes, None);
        assert_eq!(c.mode(), Mode::Hosted);
        let file = FileSettings {
            enabled: Some(true),
            dir: Some(PathBuf::from("/srv/blobs")),
            max_mb: Some(5),
            max_total_mb: Some(1000),
            external: Some(true),
        };
        let over = Overrides {
            files_max_mb: Some(7),
            ..Overrides::default()
        };
        let c = FilesConfig::from_parts(db, file.clone(), &over);
        assert_eq!(c.dir, PathBuf::from("/srv/blobs"));
        assert_eq!(c.max_file_bytes, 7 * MIB);
        assert_eq!(c.max_total_bytes, Some(1000 * MIB));
        assert_eq!(c.mode(), Mode::All);
        let off = Overrides {
            no_files: true,
            ..Overrides::default()
        };
        assert_eq!(FilesConfig::from_parts(db, file, &off).mode(), Mode::Off);
    }
}
