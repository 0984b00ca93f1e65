//! Permissions of a mirror opened for writing: a mirror holds the webhook verification
//! token and a private workspace, so nobody but its owner (and, by choice, a readers'
//! group) may read it. notion-mirror creates it 0600; a copy put in place by someone else
//! — `litestream restore`, `cp`, an archive — usually comes out 0644.
//!
//! Invariant: when the mirror (or its `-wal`/`-shm`) grants anything to others, or write
//! or execute to its group, [`tighten`] removes exactly that, keeping owner read/write and
//! group read (the readers' group of systemd/README.md relies on 0640); it never widens a
//! mode, never follows a symbolic link, and a file it cannot change (another owner) is
//! reported, not fatal. docs/replication.md says what to run after a restore.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The bits a mirror file may keep: owner read/write, group read.
const ALLOWED: u32 = 0o640;

/// The mode `mode` becomes, or `None` when it is already tight enough.
pub fn tightened(mode: u32) -> Option<u32> {
    let bits = mode & 0o777;
    let new = (bits & ALLOWED) | 0o600;
    (new != bits).then_some((mode & !0o777) | new)
}

/// The mirror and the files SQLite keeps beside it.
fn mirror_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Tightens the mode of the mirror files that are too open; returns what it changed as
/// `(path, old mode, new mode)`.
pub fn tighten(db: &Path) -> Vec<(PathBuf, u32, u32)> {
    let mut changed = Vec::new();
    for path in mirror_files(db) {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        let mode = meta.permissions().mode();
        let Some(new) = tightened(mode) else {
            continue;
        };
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(new)) {
            Ok(()) => {
                tracing::warn!(
                    path = %path.display(),
                    from = format!("{:04o}", mode & 0o7777),
                    to = format!("{:04o}", new & 0o7777),
                    "the mirror file was readable or writable by others: permissions tightened"
                );
                changed.push((path, mode & 0o7777, new & 0o7777));
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                mode = format!("{:04o}", mode & 0o7777),
                error = %e,
                "the mirror file is readable or writable by others and its mode cannot be changed; chmod 0600 it"
            ),
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_others_and_group_writers_had_is_removed() {
        assert_eq!(tightened(0o100600), None);
        assert_eq!(tightened(0o100640), None, "the readers' group keeps read");
        assert_eq!(
            tightened(0o100400),
            Some(0o100600),
            "owner keeps read/write"
        );
        assert_eq!(tightened(0o100644), Some(0o100640));
        assert_eq!(tightened(0o100666), Some(0o100640));
        assert_eq!(tightened(0o100604), Some(0o100600));
        assert_eq!(tightened(0o100777), Some(0o100640));
    }

    #[test]
    fn a_restored_copy_and_its_wal_come_back_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mirror.db");
        for path in mirror_files(&db) {
            std::fs::write(&path, b"").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let changed = tighten(&db);
        assert_eq!(changed.len(), 3);
        for path in mirror_files(&db) {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o640, "{}", path.display());
        }
        assert!(tighten(&db).is_empty(), "nothing left to change");
    }

    #[test]
    fn links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = dir.path().join("mirror.db");
        std::os::unix::fs::symlink(&target, db.with_extension("db-wal")).unwrap();
        assert!(tighten(&db).is_empty());
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
