//! Incremental, atomic writes of an export: a state file in the export directory records
//! what the last run wrote (path → object id, SHA-256, size); a run writes only files whose
//! content changed or went missing, removes the files of objects that left, and `--check`
//! reports the same without touching anything.
//!
//! Invariant: only files listed in the state file are ever removed, and only after their
//! recorded path passed [`RelPath::parse_safe`]; every write is a temporary file in the
//! target's folder renamed over the target, through folders that are real directories
//! inside the export (never a symlink), so a crash leaves each file old or new, never torn.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::tree::RelPath;
use super::ExportError;

/// The state file, in the export directory.
pub const STATE_FILE: &str = ".notion-mirror-export.json";
const STATE_VERSION: u32 = 1;

/// One file the export should contain.
#[derive(Debug, Clone)]
pub struct Planned {
    pub path: RelPath,
    /// The page, database or data source it comes from.
    pub id: String,
    pub content: Content,
}

#[derive(Debug, Clone)]
pub enum Content {
    Text(String),
    /// An archived attachment: copied from the blob, its hash already known.
    Blob {
        from: PathBuf,
        sha256: String,
    },
}

impl Content {
    fn sha256(&self) -> String {
        match self {
            Content::Text(t) => hex::encode(Sha256::digest(t.as_bytes())),
            Content::Blob { sha256, .. } => sha256.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    id: String,
    sha256: String,
    size: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    version: u32,
    files: BTreeMap<String, Entry>,
}

/// What a run did (or, with `check`, would do).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub written: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
    /// State entries ignored because their path was unsafe (a tampered state file).
    pub refused: Vec<String>,
}

impl Outcome {
    pub fn is_stale(&self) -> bool {
        !self.written.is_empty() || !self.removed.is_empty()
    }
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl Fn(std::io::Error) -> ExportError + 'a {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        what,
        source,
    }
}

fn read_state(dir: &Path) -> State {
    let path = dir.join(STATE_FILE);
    let Ok(text) = fs::read_to_string(&path) else {
        return State::default();
    };
    match serde_json::from_str::<State>(&text) {
        Ok(state) if state.version == STATE_VERSION => state,
        Ok(_) | Err(_) => {
            tracing::warn!(path = %path.display(), "export state file unreadable; every file is rewritten and nothing is removed");
            State::default()
        }
    }
}

/// Brings `dir` to the planned contents (or, with `check`, only says what differs).
pub fn apply(dir: &Path, plan: Vec<Planned>, check: bool) -> Result<Outcome, ExportError> {
    let old = read_state(dir);
    let mut outcome = Outcome::default();
    let mut new_state = State {
        version: STATE_VERSION,
        files: BTreeMap::new(),
    };
    let planned: BTreeSet<String> = plan.iter().map(|p| p.path.display()).collect();
    if !check {
        fs::create_dir_all(dir).map_err(io(dir, "cannot create the export directory"))?;
    }
    let mut dirs_ok: BTreeSet<Vec<String>> = BTreeSet::new();
    for item in plan {
        let key = item.path.display();
        let sha256 = item.content.sha256();
        let target = item.path.under(dir);
        let on_disk = fs::symlink_metadata(&target)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let unchanged = old
            .files
            .get(&key)
            .is_some_and(|e| e.sha256 == sha256 && Some(e.size) == on_disk);
        let size = if unchanged {
            on_disk.unwrap_or(0)
        } else if check {
            0
        } else {
            ensure_dirs(dir, item.path.dir(), &mut dirs_ok)?;
            write_atomic(&target, &item.content)?
        };
        if unchanged {
            outcome.unchanged += 1;
        } else {
            outcome.written.push(key.clone());
        }
        new_state.files.insert(
            key,
            Entry {
                id: item.id,
                sha256,
                size,
            },
        );
    }
    for key in old.files.keys().filter(|k| !planned.contains(*k)) {
        let Some(path) = RelPath::parse_safe(key) else {
            outcome.refused.push(key.clone());
            continue;
        };
        outcome.removed.push(key.clone());
        if !check {
            remove(dir, &path)?;
        }
    }
    if !check {
        let text = serde_json::to_string_pretty(&new_state)
            .map_err(|e| ExportError::State(format!("cannot serialize the export state: {e}")))?;
        write_atomic(&dir.join(STATE_FILE), &Content::Text(text + "\n"))?;
    }
    Ok(outcome)
}

/// Creates the folders of `components` under `root`, refusing anything that is not a
/// real directory (a symlink planted in the export could redirect writes elsewhere).
fn ensure_dirs(
    root: &Path,
    components: &[String],
    ok: &mut BTreeSet<Vec<String>>,
) -> Result<(), ExportError> {
    let mut path = root.to_path_buf();
    for n in 0..components.len() {
        path.push(&components[n]);
        let prefix = components[..=n].to_vec();
        if ok.contains(&prefix) {
            continue;
        }
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ExportError::UnsafePath(format!(
                    "{} exists and is not a directory (refusing to write through it)",
                    path.display()
                )))
            }
            Err(_) => fs::create_dir(&path).map_err(io(&path, "cannot create a folder"))?,
        }
        ok.insert(prefix);
    }
    Ok(())
}

/// Writes `content` to a temporary file beside `target`, then renames it over `target`.
/// Returns the size written.
fn write_atomic(target: &Path, content: &Content) -> Result<u64, ExportError> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let size = match content {
        Content::Text(text) => {
            let mut f = fs::File::create(&tmp).map_err(io(&tmp, "cannot create a file"))?;
            f.write_all(text.as_bytes())
                .map_err(io(&tmp, "cannot write a file"))?;
            text.len() as u64
        }
        Content::Blob { from, .. } => {
            fs::copy(from, &tmp).map_err(io(from, "cannot copy an attachment"))?
        }
    };
    if let Err(e) = fs::rename(&tmp, target) {
        let _ = fs::remove_file(&tmp);
        return Err(io(target, "cannot move a file into place")(e));
    }
    Ok(size)
}

/// Removes a file the last run wrote, then its folders while they are empty.
fn remove(root: &Path, path: &RelPath) -> Result<(), ExportError> {
    let mut folder = root.to_path_buf();
    for c in path.dir() {
        folder.push(c);
        if !fs::symlink_metadata(&folder).is_ok_and(|m| m.is_dir()) {
            // Gone already, or replaced by something that is not our folder: leave it.
            return Ok(());
        }
    }
    let target = path.under(root);
    match fs::remove_file(&target) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&target, "cannot remove a file")(e)),
    }
    let mut dir = path.dir().to_vec();
    while !dir.is_empty() {
        let p = RelPath(dir.clone()).under(root);
        if fs::remove_dir(&p).is_err() {
            break;
        }
        dir.pop();
    }
    Ok(())
}
