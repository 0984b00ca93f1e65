//! The daemon's pid file (`notion-mirror.pid` beside the mirror): taken by `run`, read by
//! `resync` to find the daemon to send SIGHUP.
//!
//! Invariants: the file is opened with `O_NOFOLLOW` and must be a regular file with one link
//! owned by us (a planted symlink, hard link, FIFO or device is refused, never written
//! through); it is mode 0600 and a directory created for it is 0700, whatever the umask;
//! the daemon holds an exclusive `flock` on it for its lifetime, so a pid file nobody holds
//! is stale by definition (no pid-liveness guessing). `resync` signals only a pid above 1
//! that a live daemon holds the lock for and whose process is a `notion-mirror`.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The process name (`/proc/<pid>/comm`) of the daemon.
const PROCESS_NAME: &str = "notion-mirror";
/// Attempts to take a pid file that another process removes meanwhile.
const ATTEMPTS: usize = 3;

/// Why the daemon did not take its pid file.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// Another daemon holds the lock: two daemons on one mirror would fight over it.
    #[error("another notion-mirror daemon{} already runs on this mirror (it holds {path})", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { path: String, pid: Option<i32> },
    /// A symlink, hard link, non-regular file or foreign file where the pid file belongs.
    #[error("refusing the pid file {path}: {why} (remove it if you did not put it there)")]
    Refused { path: String, why: String },
    #[error("cannot {what} the pid file {path}: {source}")]
    Io {
        path: String,
        what: &'static str,
        source: std::io::Error,
    },
}

impl PidFileError {
    /// A refusal the daemon must not start over (as opposed to an unwritable directory,
    /// which only costs `resync` its pid file).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, PidFileError::Io { .. })
    }
}

/// The held pid file. Dropping it releases the lock; [`PidFile::remove`] also unlinks it.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    _file: File,
}

impl PidFile {
    /// Creates (or takes over a stale) pid file at `path`, locks it and writes our pid.
    pub fn acquire(path: &Path) -> Result<PidFile, PidFileError> {
        let io = |what, source| PidFileError::Io {
            path: path.display().to_string(),
            what,
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| io("create the directory of", e))?;
        }
        for _ in 0..ATTEMPTS {
            let mut file = open_checked(path, true)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(PidFileError::Locked {
                        path: path.display().to_string(),
                        pid: read_pid(&mut file).ok(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", e)),
            }
            // The previous owner may have unlinked the file between our open and our lock:
            // then we hold a lock on a file nobody can find. Start over.
            if !still_named(&file, path) {
                continue;
            }
            file.set_permissions(Permissions::from_mode(0o600))
                .map_err(|e| io("chmod", e))?;
            file.set_len(0).map_err(|e| io("truncate", e))?;
            file.write_all(format!("{}\n", std::process::id()).as_bytes())
                .map_err(|e| io("write", e))?;
            return Ok(PidFile {
                path: path.to_path_buf(),
                _file: file,
            });
        }
        Err(PidFileError::Refused {
            path: path.display().to_string(),
            why: "it keeps being replaced while we take it".into(),
        })
    }

    /// Unlinks the file (still holding the lock, so no other daemon can take it meanwhile).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `mkdir -p` with mode 0700 for every directory it creates (existing ones are left alone).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    Ok(())
}

/// Opens `path` without following a symlink and without blocking on a FIFO, then checks
/// it is a regular file with a single link, owned by this user.
fn open_checked(path: &Path, create: bool) -> Result<File, PidFileError> {
    let refused = |why: String| PidFileError::Refused {
        path: path.display().to_string(),
        why,
    };
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    if create {
        options.write(true).create(true).mode(0o600);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refused("it is a symbolic link".into()))
        }
        Err(e) => {
            return Err(PidFileError::Io {
                path: path.display().to_string(),
                what: "open",
                source: e,
            })
        }
    };
    let meta = file.metadata().map_err(|e| PidFileError::Io {
        path: path.display().to_string(),
        what: "stat",
        source: e,
    })?;
    if !meta.file_type().is_file() {
        return Err(refused("it is not a regular file".into()));
    }
    if meta.nlink() != 1 {
        return Err(refused(format!("it has {} hard links", meta.nlink())));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(refused(format!(
            "it belongs to uid {}, not to us (uid {me})",
            meta.uid()
        )));
    }
    Ok(file)
}

/// Whether `path` still names the open `file`.
fn still_named(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(held), Ok(named)) => held.ino() == named.ino() && held.dev() == named.dev(),
        _ => false,
    }
}

fn read_pid(file: &mut File) -> Result<i32, String> {
    let mut text = String::new();
    file.take(64)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it: {e}"))?;
    parse_pid(&text)
}

/// A daemon's pid as the file holds it: decimal digits, above 1. `0` would signal the
/// caller's own process group and negative values whole process groups (`-1`: every
/// process the caller may signal), so they are refused, as is anything else.
pub fn parse_pid(text: &str) -> Result<i32, String> {
    let t = text.trim();
    let shown: String = t.chars().take(24).flat_map(char::escape_debug).collect();
    if t.is_empty() || t.len() > 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{shown}` is not a process id"));
    }
    match t.parse::<i32>() {
        Ok(pid) if pid > 1 => Ok(pid),
        _ => Err(format!("`{shown}` is not a daemon's process id")),
    }
}

/// What `resync` found in the pid file.
#[derive(Debug, PartialEq, Eq)]
pub enum Daemon {
    /// A live notion-mirror daemon with this pid holds the file.
    Running(i32),
    /// No daemon: no file, or nobody holds it (stale), or its pid is gone.
    NotRunning(String),
    /// The file is unsafe or corrupt: nothing may be signalled on its word.
    Invalid(String),
}

/// Reads the pid file for `resync`.
pub fn running(path: &Path) -> Daemon {
    let mut file = match open_checked(path, false) {
        Ok(file) => file,
        Err(PidFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Daemon::NotRunning(format!("no pid file at {}", path.display()))
        }
        Err(e) => return Daemon::Invalid(e.to_string()),
    };
    let pid = match read_pid(&mut file) {
        Ok(pid) => pid,
        Err(why) => {
            return Daemon::Invalid(format!(
                "refusing to signal what {} names: {why}",
                path.display()
            ))
        }
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            return Daemon::NotRunning(format!(
                "{} (pid {pid}) is stale: no daemon holds it",
                path.display()
            ));
        }
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => {
            return Daemon::Invalid(format!("cannot check {}: {e}", path.display()))
        }
    }
    match process_name(pid) {
        Some(name) if name == PROCESS_NAME => Daemon::Running(pid),
        Some(name) => Daemon::Invalid(format!(
            "pid {pid} from {} is `{}`, not {PROCESS_NAME}; not signalling it",
            path.display(),
            name.escape_debug()
        )),
        None => Daemon::NotRunning(format!("no process {pid} (from {})", path.display())),
    }
}

/// `/proc/<pid>/comm`, without the newline.
fn process_name(pid: i32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end_matches('\n').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_pids_above_one_are_accepted() {
        assert_eq!(parse_pid("1234\n"), Ok(1234));
        for bad in [
            "0",
            "1",
            "-1",
            "-0",
            "+5",
            " ",
            "",
            "12a",
            "0x10",
            "99999999999",
            "4294967295",
        ] {
            assert!(parse_pid(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_daemon_holds_its_pid_file_and_a_second_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/sub/notion-mirror.pid");
        let held = PidFile::acquire(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        match PidFile::acquire(&path) {
            Err(PidFileError::Locked { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id() as i32))
            }
            other => panic!("second acquire: {other:?}"),
        }
        held.remove();
        drop(held);
        assert!(!path.exists());
        // A stale file (nobody holds it) is taken over.
        std::fs::write(&path, "77777\n").unwrap();
        assert!(matches!(running(&path), Daemon::NotRunning(_)));
        let again = PidFile::acquire(&path).unwrap();
        drop(again);
    }

    #[test]
    fn symlinks_and_hard_links_are_refused_and_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("notion-mirror.pid");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let err = PidFile::acquire(&path).unwrap_err();
        assert!(
            err.is_refusal() && err.to_string().contains("symbolic link"),
            "{err}"
        );
        assert!(matches!(running(&path), Daemon::Invalid(_)));
        std::fs::remove_file(&path).unwrap();
        std::fs::hard_link(&victim, &path).unwrap();
        let err = PidFile::acquire(&path).unwrap_err();
        assert!(err.to_string().contains("hard links"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn resync_finds_only_a_live_locked_notion_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notion-mirror.pid");
        assert!(matches!(running(&path), Daemon::NotRunning(_)));
        // Held by this test process, whose name is not notion-mirror.
        let held = PidFile::acquire(&path).unwrap();
        match running(&path) {
            Daemon::Invalid(why) => assert!(why.contains("not notion-mirror"), "{why}"),
            other => panic!("{other:?}"),
        }
        drop(held);
        for bad in ["0\n", "-1\n"] {
            std::fs::write(&path, bad).unwrap();
            assert!(matches!(running(&path), Daemon::Invalid(_)), "{bad:?}");
        }
    }
}
