//! `notion-mirror backup DEST [--compress]`: a consistent copy of the mirror, taken while
//! the daemon keeps writing, through SQLite's online backup API.
//!
//! The copy is made in one step from a read-only connection: one read transaction sees
//! one committed state of the whole file (in WAL mode a reader never blocks the writer and
//! the writer never disturbs a reader), so the copy is consistent however busy the daemon
//! is — a paged backup would restart whenever another connection writes. The copy is
//! switched to a rollback journal (one self-contained file; the daemon switches it back to
//! WAL when it opens it), checked with `PRAGMA quick_check`, fsynced, optionally gzipped,
//! and renamed over DEST.
//!
//! Invariants: DEST appears only complete (temporary name in DEST's directory, fsync,
//! rename, directory fsync) and is created 0600 whatever the umask; the live mirror is
//! only read; a failed backup leaves no temporary file behind; DEST is never the mirror
//! itself or one of its `-wal`/`-shm` files.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;

use crate::mirror::{open, StoreError};

/// What a backup did.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// The file written.
    pub dest: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The size of the uncompressed copy (equal to `bytes` without `--compress`).
    pub db_bytes: u64,
    /// The copy's schema version.
    pub schema_version: u32,
    /// From the start to the rename.
    pub elapsed: Duration,
}

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("backup: {context}: {source}")]
    Sqlite {
        context: &'static str,
        source: rusqlite::Error,
    },
    #[error("backup: {what} ({path}): {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("backup: {0} is the mirror itself (or one of its files); choose another destination")]
    SameFile(String),
    #[error("backup: the copy failed its check ({0}); the mirror was not changed")]
    Check(String),
    #[error("backup: the mirror stayed locked; try again")]
    Busy,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.display().to_string();
    move |source| BackupError::Io { what, path, source }
}

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> BackupError {
    move |source| BackupError::Sqlite { context, source }
}

/// Backs the mirror at `src` up to `dest` (a file, or an existing directory that gets
/// `mirror-<UTC time>.db[.gz]`), gzipped when `compress`.
pub fn backup(src: &Path, dest: &Path, compress: bool) -> Result<BackupReport, BackupError> {
    let started = Instant::now();
    let source = open::open_read_only(src)?;
    let dest = destination(dest, compress);
    refuse_the_mirror(src, &dest)?;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mirror.db".into());
    let copy = Temp::create(dir.join(format!(".{name}.{}.db.tmp", std::process::id())))?;
    let schema_version = copy_into(&source, copy.path())?;
    drop(source);
    let db_bytes = sync_file(copy.path())?;
    let written = if compress {
        let gz = Temp::create(dir.join(format!(".{name}.{}.gz.tmp", std::process::id())))?;
        gzip(copy.path(), gz.path())?;
        sync_file(gz.path())?;
        gz
    } else {
        copy
    };
    std::fs::rename(written.path(), &dest).map_err(io("cannot rename the copy", &dest))?;
    written.keep();
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    let bytes = std::fs::metadata(&dest)
        .map_err(io("cannot stat the backup", &dest))?
        .len();
    Ok(BackupReport {
        dest,
        bytes,
        db_bytes,
        schema_version,
        elapsed: started.elapsed(),
    })
}

/// DEST itself, or a time-stamped file inside it when it is a directory.
fn destination(dest: &Path, compress: bool) -> PathBuf {
    if dest.is_dir() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let ext = if compress { "db.gz" } else { "db" };
        dest.join(format!("mirror-{stamp}.{ext}"))
    } else {
        dest.to_path_buf()
    }
}

fn refuse_the_mirror(src: &Path, dest: &Path) -> Result<(), BackupError> {
    let canonical = |p: &Path| {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or_else(|| Path::new("."));
        std::fs::canonicalize(dir)
            .ok()
            .zip(p.file_name().map(|n| n.to_owned()))
            .map(|(d, n)| d.join(n))
    };
    let (Some(src), Some(dest_c)) = (canonical(src), canonical(dest)) else {
        return Ok(());
    };
    let taken: Vec<PathBuf> = ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| {
            let mut n = src.as_os_str().to_owned();
            n.push(s);
            PathBuf::from(n)
        })
        .collect();
    if taken.contains(&dest_c) {
        return Err(BackupError::SameFile(dest.display().to_string()));
    }
    Ok(())
}

/// Copies the whole mirror into the (empty) file at `to` in one step; returns the copy's
/// schema version.
fn copy_into(source: &Connection, to: &Path) -> Result<u32, BackupError> {
    let mut copy = Connection::open(to).map_err(sql("cannot open the copy"))?;
    {
        let backup = Backup::new(source, &mut copy).map_err(sql("cannot start the backup"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // -1: every page in one step, under one read transaction (see the module docs).
            match backup.step(-1).map_err(sql("backup step"))? {
                StepResult::Done => break,
                StepResult::More => continue,
                StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => return Err(BackupError::Busy),
            }
        }
    }
    // One self-contained file: no -wal/-shm to carry along.
    let mode: String = copy
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(sql("journal mode of the copy"))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(BackupError::Check(format!("journal mode stayed {mode}")));
    }
    let check: String = copy
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(sql("quick_check of the copy"))?;
    if check != "ok" {
        return Err(BackupError::Check(check));
    }
    let version: u32 = copy
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql("schema version of the copy"))?;
    copy.close()
        .map_err(|(_, e)| sql("cannot close the copy")(e))?;
    Ok(version)
}

/// fsync; returns the file's size.
fn sync_file(path: &Path) -> Result<u64, BackupError> {
    let file = File::open(path).map_err(io("cannot open the copy", path))?;
    file.sync_all().map_err(io("cannot fsync the copy", path))?;
    Ok(file
        .metadata()
        .map_err(io("cannot stat the copy", path))?
        .len())
}

fn gzip(from: &Path, to: &Path) -> Result<(), BackupError> {
    let input = File::open(from).map_err(io("cannot read the copy", from))?;
    let output = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(to)
        .map_err(io("cannot write the compressed copy", to))?;
    let mut encoder =
        flate2::write::GzEncoder::new(BufWriter::new(output), flate2::Compression::default());
    std::io::copy(&mut BufReader::new(input), &mut encoder)
        .map_err(io("cannot compress the copy", to))?;
    encoder
        .finish()
        .and_then(|mut w| w.flush())
        .map_err(io("cannot compress the copy", to))?;
    Ok(())
}

/// A temporary file created 0600 (exclusively), removed on drop unless kept.
struct Temp {
    path: PathBuf,
    keep: bool,
}

impl Temp {
    fn create(path: PathBuf) -> Result<Temp, BackupError> {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(&path); // a stale one from a crashed backup of ours
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(
                "cannot create a temporary file beside the destination",
                &path,
            ))?;
        Ok(Temp { path, keep: false })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
            let mut journal = self.path.as_os_str().to_owned();
            journal.push("-journal");
            let _ = std::fs::remove_file(PathBuf::from(journal));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::os::unix::fs::PermissionsExt;

    fn mirror(dir: &Path) -> PathBuf {
        let db = dir.join("mirror.db");
        let conn = open::open_read_write(&db).unwrap();
        for i in 0..200 {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                [format!("k{i}"), "v".repeat(500)],
            )
            .unwrap();
        }
        db
    }

    #[test]
    fn the_copy_is_private_complete_and_self_contained() {
        let dir = tempfile::tempdir().unwrap();
        let db = mirror(dir.path());
        let dest = dir.path().join("out").join("copy.db");
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let report = backup(&db, &dest, false).unwrap();
        assert_eq!(report.dest, dest);
        assert_eq!(report.bytes, std::fs::metadata(&dest).unwrap().len());
        assert_eq!(report.schema_version, open::current_version());
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        let copy = Connection::open(&dest).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM settings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 200);
        let mode: String = copy
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
    }

    #[test]
    fn compressed_into_a_directory_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = mirror(dir.path());
        let out = dir.path().join("backups");
        std::fs::create_dir(&out).unwrap();
        let report = backup(&db, &out, true).unwrap();
        let name = report
            .dest
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(
            name.starts_with("mirror-") && name.ends_with(".db.gz"),
            "{name}"
        );
        assert!(report.bytes < report.db_bytes, "{report:?}");
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(File::open(&report.dest).unwrap())
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain.len() as u64, report.db_bytes);
        let restored = dir.path().join("restored.db");
        std::fs::write(&restored, plain).unwrap();
        let conn = open::open_read_only(&restored).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    #[test]
    fn the_mirror_is_never_its_own_destination() {
        let dir = tempfile::tempdir().unwrap();
        let db = mirror(dir.path());
        for target in ["mirror.db", "mirror.db-wal"] {
            let err = backup(&db, &dir.path().join(target), false).unwrap_err();
            assert!(matches!(err, BackupError::SameFile(_)), "{err}");
        }
        let err = backup(&dir.path().join("none.db"), &dir.path().join("x.db"), false);
        assert!(matches!(
            err,
            Err(BackupError::Store(StoreError::Missing(_)))
        ));
    }
}
