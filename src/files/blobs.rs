//! The blob directory: `<dir>/<first 2 hex of sha256>/<sha256>`, with downloads in
//! progress under `<dir>/tmp/<pid>-<n>.part`.
//!
//! Invariants: a final name only ever holds complete bytes whose hash is its name — they
//! are written to a temporary file, fsynced, renamed, and the directory entry fsynced; a
//! temporary file is removed when its download is dropped, and one left by a process that
//! died (`kill -9`, power loss) is removed at the next start; only names of 64 lowercase
//! hex digits are ever removed from the blob tree. Directories are created 0700 and blobs
//! 0600, like the mirror.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::FilesError;

/// Temporary files older than this are removed whoever left them.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The blob directory.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    /// Opens (creating 0700 if needed) the directory and its `tmp/`.
    pub fn open(dir: &Path) -> Result<Blobs, FilesError> {
        let made = |path: &Path| {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|e| FilesError::Dir {
                    path: path.display().to_string(),
                    source: e,
                })
        };
        made(dir)?;
        made(&dir.join("tmp"))?;
        let dir = std::fs::canonicalize(dir).map_err(|e| FilesError::Dir {
            path: dir.display().to_string(),
            source: e,
        })?;
        Ok(Blobs { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob with `sha256` lives (`None` for anything but 64 lowercase hex).
    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        is_hash(sha256).then(|| self.dir.join(&sha256[..2]).join(sha256))
    }

    /// A new temporary file, removed when the returned guard drops unless it was placed.
    pub fn temp(&self) -> io::Result<(std::fs::File, TempFile)> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self
            .dir
            .join("tmp")
            .join(format!("{}-{n}.part", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        Ok((file, TempFile { path: Some(path) }))
    }

    /// Moves a complete, fsynced temporary file to its final name (keeping the blob that is
    /// already there: same name, same bytes) and fsyncs the directory entry.
    pub fn place(&self, mut temp: TempFile, sha256: &str) -> io::Result<PathBuf> {
        let Some(final_path) = self.path_of(sha256) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a sha256"));
        };
        let Some(from) = temp.path.take() else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "temporary file gone",
            ));
        };
        let parent = self.dir.join(&sha256[..2]);
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&parent)?;
        }
        if std::fs::symlink_metadata(&final_path).is_ok_and(|m| m.is_file()) {
            // Same name, same bytes: keep it, and make it young again so the collector
            // (which only removes old blobs) cannot take it before this file's row says so.
            let _ = std::fs::remove_file(&from);
            if let Ok(f) = std::fs::File::options().write(true).open(&final_path) {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
            return Ok(final_path);
        }
        std::fs::rename(&from, &final_path)?;
        std::fs::File::open(&parent)?.sync_all()?;
        Ok(final_path)
    }

    /// Whether blob `sha256` is on disk (a regular file).
    pub fn has(&self, sha256: &str) -> bool {
        self.path_of(sha256)
            .is_some_and(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// Removes blob `sha256`; true when a file went.
    pub fn remove(&self, sha256: &str) -> io::Result<bool> {
        let Some(path) = self.path_of(sha256) else {
            return Ok(false);
        };
        match std::fs::remove_file(&path) {
            Ok(()) => {
                if let Some(parent) = path.parent() {
                    let _ = std::fs::remove_dir(parent); // only when empty
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every blob on disk: `(sha256, age)`.
    pub fn list(&self) -> io::Result<Vec<(String, std::time::Duration)>> {
        let mut out = Vec::new();
        for prefix in std::fs::read_dir(&self.dir)? {
            let prefix = prefix?;
            let name = prefix.file_name().to_string_lossy().to_string();
            if name.len() != 2 || !prefix.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(prefix.path())? {
                let entry = entry?;
                let sha = entry.file_name().to_string_lossy().to_string();
                let meta = entry.metadata()?;
                if is_hash(&sha) && sha.starts_with(&name) && meta.is_file() {
                    let age = meta
                        .modified()
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .unwrap_or_default();
                    out.push((sha, age));
                }
            }
        }
        Ok(out)
    }

    /// Removes temporary files whose process is gone (or that are a day old); returns how
    /// many went.
    pub fn clean_temp(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.dir.join("tmp")) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(stem) = name.strip_suffix(".part") else {
                continue;
            };
            let pid: Option<i32> = stem.split('-').next().and_then(|p| p.parse().ok());
            let old = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP);
            let orphan = pid.is_some_and(|p| !alive(p));
            if (old || orphan) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

/// Whether process `pid` exists (a process of another user counts as alive).
fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    if pid as u32 == std::process::id() {
        return true;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::ESRCH) => false,
        Err(_) => true,
    }
}

fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A temporary file, removed on drop unless [`Blobs::place`] took it.
#[derive(Debug)]
pub struct TempFile {
    path: Option<PathBuf>,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_dropped_download_leaves_nothing_and_a_placed_one_is_final() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(&dir.path().join("files")).unwrap();
        let (mut f, guard) = blobs.temp().unwrap();
        f.write_all(b"half").unwrap();
        drop(guard);
        assert_eq!(
            std::fs::read_dir(blobs.dir().join("tmp")).unwrap().count(),
            0
        );
        let sha = "ab".repeat(32);
        let (mut f, guard) = blobs.temp().unwrap();
        f.write_all(b"whole").unwrap();
        f.sync_all().unwrap();
        let path = blobs.place(guard, &sha).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert!(blobs.has(&sha));
        assert_eq!(blobs.list().unwrap().len(), 1);
        assert!(blobs.path_of("../../etc/passwd").is_none());
        assert!(blobs.remove(&sha).unwrap());
        assert!(!blobs.has(&sha));
    }

    #[test]
    fn temporary_files_of_dead_processes_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let tmp = blobs.dir().join("tmp");
        // pid 0 is never a process; our own pid is alive.
        std::fs::write(tmp.join("0-1.part"), b"x").unwrap();
        std::fs::write(tmp.join(format!("{}-99.part", std::process::id())), b"x").unwrap();
        assert_eq!(blobs.clean_temp(), 1);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 1);
    }
}
