//! Making commits durable: the syncer thread `fdatasync`s the mirror's WAL once for every
//! group of batches the writer committed meanwhile, then answers their jobs; the health
//! flag that `/healthz` and the systemd watchdog read.
//!
//! Invariants: the WAL is synced through one descriptor opened when the store opens and
//! kept for its lifetime, so a commit never needs a new file descriptor (a process that ran
//! out of descriptors still commits); a WAL that was removed or replaced behind SQLite's
//! back fails every commit instead of syncing the wrong file; [`Health::failing`] is set
//! by a batch whose commit or sync failed and cleared by the next one that succeeds.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use super::store::Job;

/// Whether commits currently succeed, for `/healthz` and the watchdog.
#[derive(Debug, Default)]
pub struct Health {
    failing: AtomicBool,
    /// Batches whose commit or WAL sync failed, since the store opened.
    pub failed_commits: AtomicU64,
}

impl Health {
    /// True while the last batch failed to commit or to reach the disk.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    fn record(&self, outcome: &Result<(), String>) {
        self.failing.store(outcome.is_err(), Ordering::Relaxed);
        if outcome.is_err() {
            self.failed_commits.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The WAL, held open. SQLite truncates it in place (checkpoints) and, with persistent WAL
/// on, never deletes it while the store's connections are open, so one descriptor stays
/// valid; its identity is still checked before each sync.
pub(super) struct WalFile {
    path: PathBuf,
    file: Option<File>,
}

impl WalFile {
    /// Opens the WAL of the mirror at `db`. A missing WAL (nothing written yet) is opened at
    /// the first sync instead.
    pub(super) fn open(db: &Path) -> std::io::Result<WalFile> {
        let path = wal_path(db);
        let file = match File::open(&path) {
            Ok(file) => Some(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(WalFile { path, file })
    }

    /// `fdatasync` of the WAL (read-only descriptor: an fsync through any descriptor
    /// flushes the file).
    pub(super) fn sync(&mut self) -> Result<(), String> {
        let file = match &self.file {
            Some(file) => file,
            None => match File::open(&self.path) {
                Ok(file) => self.file.insert(file),
                // No WAL yet means no commit has written one: nothing to make durable.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(format!("cannot open {}: {e}", self.path.display())),
            },
        };
        same_file(file, &self.path)?;
        file.sync_data()
            .map_err(|e| format!("fdatasync {}: {e}", self.path.display()))
    }
}

/// Fails when `path` no longer names the file `held` (removed or replaced): SQLite keeps
/// writing to the file it has open, so those commits would be lost at close.
fn same_file(held: &File, path: &Path) -> Result<(), String> {
    let gone = || {
        format!(
            "the mirror's WAL {} was removed or replaced while the mirror is open; \
             commits cannot be made durable (restart the daemon)",
            path.display()
        )
    };
    let held = held
        .metadata()
        .map_err(|e| format!("fstat of the WAL: {e}"))?;
    if held.nlink() == 0 {
        return Err(gone());
    }
    match std::fs::metadata(path) {
        Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => Ok(()),
        Ok(_) => Err(gone()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(gone()),
        Err(e) => Err(format!("stat {}: {e}", path.display())),
    }
}

pub(super) fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// A committed (or failed) batch waiting for its WAL to reach the disk.
pub(super) struct Committed {
    pub(super) jobs: Vec<Box<dyn Job>>,
    pub(super) commit: Result<(), String>,
    /// The highest `changes.seq` the batch wrote.
    pub(super) seq: Option<i64>,
}

/// The newest `changes.seq` known durable, for the outbound deliveries: published only
/// once the WAL holding it is on disk.
#[derive(Debug)]
pub struct Feed {
    sender: tokio::sync::watch::Sender<i64>,
}

impl Feed {
    pub(super) fn new(seq: i64) -> Self {
        Feed {
            sender: tokio::sync::watch::Sender::new(seq),
        }
    }

    pub(super) fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.sender.subscribe()
    }

    fn publish(&self, seq: i64) {
        self.sender.send_if_modified(|current| {
            let newer = seq > *current;
            if newer {
                *current = seq;
            }
            newer
        });
    }
}

impl Committed {
    pub(super) fn finish(self, synced: Result<(), String>, health: &Health, feed: &Feed) {
        let outcome = match (&self.commit, synced) {
            (Ok(()), Ok(())) => Ok(()),
            (Ok(()), Err(e)) => Err(format!("commit not durable: {e}")),
            (Err(e), _) => Err(e.clone()),
        };
        health.record(&outcome);
        if let (Ok(()), Some(seq)) = (&outcome, self.seq) {
            feed.publish(seq);
        }
        for job in self.jobs {
            job.finish(outcome.clone());
        }
    }
}

/// Answers committed batches once the WAL holding them is on disk; one `fdatasync` covers
/// every batch that arrived while the previous one ran.
pub(super) fn syncer_loop(
    wal: Arc<Mutex<WalFile>>,
    batches: mpsc::Receiver<Committed>,
    health: Arc<Health>,
    feed: Arc<Feed>,
) {
    while let Ok(first) = batches.recv() {
        let mut ready = vec![first];
        while let Ok(more) = batches.try_recv() {
            ready.push(more);
        }
        let synced = sync(&wal);
        if let Err(e) = &synced {
            tracing::error!(error = %e, "cannot fsync the mirror's WAL; the batch fails");
        }
        for batch in ready {
            batch.finish(synced.clone(), &health, &feed);
        }
    }
}

/// Syncs through the shared, kept-open WAL descriptor.
pub(super) fn sync(wal: &Mutex<WalFile>) -> Result<(), String> {
    match wal.lock() {
        Ok(mut wal) => wal.sync(),
        Err(_) => Err("the WAL syncer panicked earlier".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_wal_fails_the_sync_instead_of_syncing_a_ghost() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        std::fs::write(wal_path(&db), b"").unwrap();
        let mut wal = WalFile::open(&db).unwrap();
        assert!(wal.file.is_some());
        assert_eq!(wal.sync(), Ok(()));
        std::fs::rename(wal_path(&db), dir.path().join("elsewhere")).unwrap();
        let err = wal.sync().unwrap_err();
        assert!(err.contains("removed or replaced"), "{err}");
        // A new file under the same name is not the one SQLite writes to either.
        std::fs::write(wal_path(&db), b"").unwrap();
        assert!(wal.sync().is_err());
    }

    #[test]
    fn a_missing_wal_is_opened_at_the_first_sync() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mut wal = WalFile::open(&db).unwrap();
        assert!(wal.file.is_none());
        assert_eq!(wal.sync(), Ok(()));
        std::fs::write(wal_path(&db), b"").unwrap();
        assert_eq!(wal.sync(), Ok(()));
        assert!(wal.file.is_some());
    }
}
