//! The one writer: a dedicated thread owns the read-write connection and runs every job
//! sent to it, batching concurrent jobs into one transaction (group commit).
//!
//! Invariants: no other code writes `mirror.db`; a job's reply is sent only after the
//! transaction containing it committed *and* the WAL holding that commit was fsynced; a
//! failing job is rolled back to its own savepoint and fails alone, the rest of its batch
//! still commits. Jobs are plain closures over a `&Connection` and never await, so no
//! transaction is ever held across a network call.
//!
//! Durability, pipelined: the writer commits with `synchronous = NORMAL` (SQLite appends
//! the commit's frames to the WAL without syncing) and hands the batch to the syncer
//! thread, which `fdatasync`s the WAL — once for every batch committed meanwhile — and only
//! then answers the jobs. A commit whose WAL frames are on disk survives power loss (the
//! WAL is replayed on open), so an answered job is as durable as with `synchronous =
//! FULL`, while the writer already runs the next batch instead of waiting for the disk.
//! The syncer (`syncer.rs`) keeps the WAL's descriptor open for the store's lifetime, so
//! running out of file descriptors (a connection flood) never stops commits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::changes::Cause;
use super::checkpoint::{self, CheckpointMode, Policy, WalStats};
use super::syncer::{self, Committed, Health, WalFile};
use super::write::changes as recorder;
use super::StoreError;

/// At most this many jobs share one transaction.
const MAX_BATCH: usize = 512;
/// When jobs arrive concurrently, a small batch waits this long for company: one fsync
/// then covers more commits (each job waits at most this once).
const LINGER: Duration = Duration::from_millis(1);
/// Batches smaller than this linger.
const LINGER_BELOW: usize = 16;
/// After this long without work the writer hands its page cache back to the allocator.
const IDLE_SHRINK: Duration = Duration::from_secs(5);

/// How the store runs (beyond the file it opens).
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Who checkpoints the WAL (see `checkpoint.rs`).
    pub checkpoint: CheckpointMode,
    /// Record the change feed (`changes`); off for `sync --no-history`.
    pub history: bool,
    /// The cause of every change this store writes, whatever its handles say (`sync`).
    pub cause: Option<Cause>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            checkpoint: CheckpointMode::default(),
            history: true,
            cause: None,
        }
    }
}

/// A handle to the writer thread. Cheap to clone; every clone talks to the same thread.
/// A handle may carry the cause of the changes its jobs write ([`Store::with_cause`]).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    cause: Option<Cause>,
}

struct Inner {
    sender: Mutex<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    syncer: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    path: PathBuf,
    counters: Arc<StoreCounters>,
    health: Arc<Health>,
    wal_stats: Arc<WalStats>,
    fixed_cause: Option<Cause>,
    feed: Arc<syncer::Feed>,
}

/// Group-commit figures, for `/metrics` and benchmarks.
#[derive(Debug, Default)]
pub struct StoreCounters {
    pub commits: AtomicU64,
    pub jobs: AtomicU64,
    pub failed_jobs: AtomicU64,
}

enum Msg {
    Job(Box<dyn Job>),
}

pub(super) trait Job: Send {
    fn run(&mut self, conn: &Connection);
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct TypedJob<T, F> {
    cause: Option<Cause>,
    work: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: Option<oneshot::Sender<Result<T, StoreError>>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) {
        let Some(work) = self.work.take() else { return };
        if let Err(e) = statement(conn, "SAVEPOINT job") {
            self.outcome = Some(Err(StoreError::Sqlite {
                context: "savepoint",
                source: e,
            }));
            return;
        }
        recorder::begin(self.cause);
        // The job's changes are written inside its savepoint: they commit with it or not at
        // all.
        let result = work(conn).and_then(|value| recorder::finish(conn).map(|()| value));
        let end = match result {
            Ok(_) => statement(conn, "RELEASE job"),
            Err(_) => {
                recorder::abandon();
                statement(conn, "ROLLBACK TO job").and_then(|()| statement(conn, "RELEASE job"))
            }
        };
        match end {
            Ok(()) => self.outcome = Some(result),
            Err(e) => {
                self.outcome = Some(Err(StoreError::Sqlite {
                    context: "end savepoint",
                    source: e,
                }))
            }
        }
    }

    fn finish(mut self: Box<Self>, commit: Result<(), String>) {
        let outcome = match (commit, self.outcome.take()) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Closed),
            (Err(message), Some(Err(e))) => Err(StoreError::Commit(format!("{e}; {message}"))),
            (Err(message), _) => Err(StoreError::Commit(message)),
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(outcome);
        }
    }
}

/// Runs one cached, parameterless statement (savepoints run for every job).
fn statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

impl Store {
    /// Opens (creating and migrating) the mirror at `path` and starts the writer thread,
    /// with the default options (checkpoints: `auto`).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// Like [`Store::open`], with `options`.
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let conn = super::open::open_read_write(path)?;
        // Checkpoints are the checkpointer thread's job, not the commit path's, and the
        // syncer thread makes each commit durable (see the module docs).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let checkpoint_conn = super::open::open_read_write(path)?;
        // Opened now, while descriptors are plentiful, and kept (see `syncer.rs`).
        let wal = WalFile::open(path).map_err(|e| StoreError::Io {
            path: syncer::wal_path(path).display().to_string(),
            what: "cannot open the mirror's WAL",
            source: e,
        })?;
        let wal = Arc::new(Mutex::new(wal));
        let feed = Arc::new(syncer::Feed::new(recorder::last_seq(&conn)?));
        let (sender, receiver) = mpsc::channel::<Msg>();
        let (to_syncer, synced) = mpsc::channel::<Committed>();
        let counters = Arc::new(StoreCounters::default());
        let health = Arc::new(Health::default());
        let policy = Policy::new(options.checkpoint, path);
        let writer = Writer {
            counters: counters.clone(),
            health: health.clone(),
            wal: wal.clone(),
            policy: policy.clone(),
            history: options.history,
            feed: feed.clone(),
        };
        let spawn_error = |e| StoreError::Io {
            path: path.display().to_string(),
            what: "cannot start a mirror thread",
            source: e,
        };
        let thread = std::thread::Builder::new()
            .name("mirror-writer".into())
            .spawn(move || writer_loop(conn, receiver, to_syncer, &writer))
            .map_err(spawn_error)?;
        let syncer_health = health.clone();
        let syncer_feed = feed.clone();
        let syncer = std::thread::Builder::new()
            .name("mirror-sync".into())
            .spawn(move || syncer::syncer_loop(wal, synced, syncer_health, syncer_feed))
            .map_err(spawn_error)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let wal_stats = Arc::new(WalStats::default());
        let stats = wal_stats.clone();
        let checkpointer = std::thread::Builder::new()
            .name("mirror-checkpoint".into())
            .spawn(move || checkpoint::checkpoint_loop(checkpoint_conn, stopped, policy, stats))
            .map_err(spawn_error)?;
        Ok(Store {
            inner: Arc::new(Inner {
                sender: Mutex::new(Some(sender)),
                thread: Mutex::new(Some(thread)),
                syncer: Mutex::new(Some(syncer)),
                checkpointer: Mutex::new(Some((stop, checkpointer))),
                path: path.to_path_buf(),
                counters,
                health,
                wal_stats,
                fixed_cause: options.cause,
                feed,
            }),
            cause: None,
        })
    }

    /// A handle whose jobs write their changes with `cause` (unless the store has a fixed
    /// cause: `sync`).
    pub fn with_cause(&self, cause: Cause) -> Store {
        Store {
            inner: self.inner.clone(),
            cause: Some(cause),
        }
    }

    /// The newest seq of `changes` that is committed *and* on disk (what may be handed on:
    /// a seq never seen by a reader can still be rolled back by a crash).
    pub fn durable_seq(&self) -> tokio::sync::watch::Receiver<i64> {
        self.inner.feed.subscribe()
    }

    /// Where the mirror lives.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Group-commit counters.
    pub fn counters(&self) -> &StoreCounters {
        &self.inner.counters
    }

    /// Whether commits currently succeed (the last batch committed and reached the disk).
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// The WAL's size, sampled every second by the checkpointer.
    pub fn wal_stats(&self) -> &WalStats {
        &self.inner.wal_stats
    }

    /// Runs `work` on the writer thread inside a transaction; resolves after the commit.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = TypedJob {
            cause: self.inner.fixed_cause.or(self.cause),
            work: Some(work),
            outcome: None,
            reply: Some(reply),
        };
        self.send(Msg::Job(Box::new(job)))?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Like [`Store::write`]; names intent when `work` only reads (it still runs on the
    /// writer thread, so it sees every committed and earlier-queued write).
    pub async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write(work).await
    }

    fn send(&self, msg: Msg) -> Result<(), StoreError> {
        let guard = self.inner.sender.lock().map_err(|_| StoreError::Closed)?;
        match guard.as_ref() {
            Some(sender) => sender.send(msg).map_err(|_| StoreError::Closed),
            None => Err(StoreError::Closed),
        }
    }

    /// Finishes queued jobs, checkpoints the WAL (unless Litestream does) and stops the
    /// writer thread. Later calls to
    /// `write` fail with [`StoreError::Closed`].
    pub fn close(&self) {
        let checkpointer = self
            .inner
            .checkpointer
            .lock()
            .ok()
            .and_then(|mut c| c.take());
        if let Some((stop, handle)) = checkpointer {
            drop(stop);
            let _ = handle.join();
        }
        if let Ok(mut sender) = self.inner.sender.lock() {
            sender.take();
        }
        let handle = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        // The writer is gone, so the syncer's channel is closed: it answers what is left.
        let syncer = self.inner.syncer.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = syncer {
            let _ = handle.join();
        }
    }
}

/// What the writer thread shares with the rest of the store.
struct Writer {
    counters: Arc<StoreCounters>,
    health: Arc<Health>,
    wal: Arc<Mutex<WalFile>>,
    policy: Policy,
    history: bool,
    feed: Arc<syncer::Feed>,
}

fn writer_loop(
    conn: Connection,
    receiver: mpsc::Receiver<Msg>,
    syncer: mpsc::Sender<Committed>,
    writer: &Writer,
) {
    recorder::set_history(writer.history);
    let mut shrunk = true;
    loop {
        let first = match receiver.recv_timeout(IDLE_SHRINK) {
            Ok(Msg::Job(job)) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !shrunk {
                    let _ = conn.execute_batch("PRAGMA shrink_memory");
                    shrunk = true;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        shrunk = false;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(Msg::Job(job)) => batch.push(job),
                Err(_) => break,
            }
        }
        // Several jobs at once means concurrent writers: wait a moment for more of them.
        if batch.len() > 1 && batch.len() < LINGER_BELOW {
            let until = Instant::now() + LINGER;
            while batch.len() < MAX_BATCH {
                let left = until.saturating_duration_since(Instant::now());
                match receiver.recv_timeout(left) {
                    Ok(Msg::Job(job)) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let committed = run_batch(&conn, batch, &writer.counters);
        if let Err(mpsc::SendError(committed)) = syncer.send(committed) {
            // No syncer (it died): make the commit durable here.
            committed.finish(syncer::sync(&writer.wal), &writer.health, &writer.feed);
        }
    }
    checkpoint::at_close(&conn, &writer.policy);
}

fn run_batch(
    conn: &Connection,
    mut batch: Vec<Box<dyn Job>>,
    counters: &StoreCounters,
) -> Committed {
    let commit = match conn.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => {
            for job in batch.iter_mut() {
                job.run(conn);
            }
            conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                format!("commit failed: {e}")
            })
        }
        Err(e) => Err(format!("cannot begin a transaction: {e}")),
    };
    counters.commits.fetch_add(1, Ordering::Relaxed);
    counters
        .jobs
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    if commit.is_err() {
        counters
            .failed_jobs
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        tracing::error!(jobs = batch.len(), "mirror commit failed");
    }
    let seq = recorder::take_last_seq().filter(|_| commit.is_ok());
    Committed {
        jobs: batch,
        commit,
        seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failing_job_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        let ok = store.write(|c| {
            c.execute("INSERT INTO settings (key, value) VALUES ('a', '1')", [])
                .map_err(StoreError::from)
        });
        let bad = store.write(|c| {
            c.execute("INSERT INTO settings (key, value) VALUES ('b', '2')", [])?;
            Err::<(), _>(StoreError::Invalid("boom".into()))
        });
        let (ok, bad) = tokio::join!(ok, bad);
        assert!(ok.is_ok());
        assert!(bad.is_err());
        let keys: Vec<String> = store
            .read(|c| {
                let mut s = c.prepare("SELECT key FROM settings ORDER BY key")?;
                let rows = s.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<Vec<String>, _>>()?)
            })
            .await
            .unwrap();
        assert_eq!(keys, vec!["a".to_string()]);
        store.close();
        assert!(matches!(
            store.read(|_| Ok(())).await,
            Err(StoreError::Closed)
        ));
    }

    #[tokio::test]
    async fn commits_fail_and_health_says_so_when_the_wal_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let store = Store::open(&db).unwrap();
        assert!(
            syncer::wal_path(&db).exists(),
            "the WAL exists (and is held) from the start"
        );
        let insert = |key: &'static str| {
            move |c: &Connection| {
                c.execute("INSERT INTO settings (key, value) VALUES (?1, 'x')", [key])?;
                Ok(())
            }
        };
        store.write(insert("a")).await.unwrap();
        assert!(!store.health().failing());
        std::fs::rename(syncer::wal_path(&db), dir.path().join("moved-wal")).unwrap();
        let err = store.write(insert("b")).await.unwrap_err();
        assert!(err.to_string().contains("not durable"), "{err}");
        assert!(store.health().failing());
        assert_eq!(store.health().failed_commits.load(Ordering::Relaxed), 1);
        std::fs::rename(dir.path().join("moved-wal"), syncer::wal_path(&db)).unwrap();
        store.write(insert("c")).await.unwrap();
        assert!(!store.health().failing(), "a good commit clears the flag");
    }

    #[tokio::test]
    async fn concurrent_jobs_all_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        let mut handles = Vec::new();
        for i in 0..200 {
            let s = store.clone();
            handles.push(tokio::spawn(async move {
                s.write(move |c| {
                    c.execute(
                        "INSERT INTO settings (key, value) VALUES (?1, 'x')",
                        [format!("k{i}")],
                    )?;
                    Ok(())
                })
                .await
            }));
        }
        for h in handles {
            h.await.unwrap().unwrap();
        }
        let n: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM settings", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 200);
    }
}
