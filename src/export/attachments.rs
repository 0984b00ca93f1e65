//! Attachments archived by the files feature (the `files` table and content-addressed
//! blobs of issue 13): a Notion-hosted file the mirror has stored is copied beside the page
//! that shows it and linked relatively; every other file keeps its URL.
//!
//! The contract relied on (docs/markdown.md repeats it): `files.key` is the hosted URL
//! without its query string, `files.sha256` the blob's hash, `files.status = 'stored'` once
//! it is on disk, and the blob lives at `<files dir>/<first 2 hex of sha256>/<sha256>`.
//! Whether the table exists is decided at run time; without it this module does nothing.
//!
//! Invariant: only a blob whose recorded hash is 64 hex digits and which is a regular file
//! is ever copied, and only to `<page folder>/files/<8 hex>-<slugged name>`.

use std::path::PathBuf;

use rusqlite::{Connection, OptionalExtension};

use super::slug;
use super::tree::RelPath;

/// One attachment to place in the export.
#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    pub dest: RelPath,
    pub blob: PathBuf,
    pub sha256: String,
}

/// The archived files of a mirror.
#[derive(Debug, Clone)]
pub struct Attachments {
    dir: PathBuf,
}

impl Attachments {
    /// `Some` when the mirror has a `files` table; `dir` is where its blobs live.
    pub fn detect(has_files_table: bool, dir: PathBuf) -> Option<Attachments> {
        has_files_table.then_some(Attachments { dir })
    }

    /// The local copy of the hosted file at `url`, placed in `page_dir/files/`, when the
    /// mirror has stored it.
    pub fn local_copy(
        &self,
        conn: &Connection,
        url: &str,
        name: &str,
        page_dir: &[String],
    ) -> Option<Copy> {
        let key = url.split(['?', '#']).next().unwrap_or(url);
        let row: Option<(String, Option<String>)> = conn
            .prepare_cached("SELECT sha256, name FROM files WHERE key = ?1 AND status = 'stored'")
            .and_then(|mut s| {
                s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| tracing::debug!(error = %e, "files table not readable as expected"))
            .ok()
            .flatten();
        let (sha256, stored_name) = row?;
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let sha256 = sha256.to_ascii_lowercase();
        let blob = self.dir.join(&sha256[..2]).join(&sha256);
        if !std::fs::symlink_metadata(&blob).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let shown = [name, stored_name.as_deref().unwrap_or("")]
            .into_iter()
            .find(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| key.rsplit('/').next().unwrap_or("file").to_string());
        let mut dir = page_dir.to_vec();
        dir.push("files".to_string());
        let dest = RelPath::with_file(&dir, file_name(&sha256, &shown));
        Some(Copy { dest, blob, sha256 })
    }
}

/// `<first 8 hex of sha256>-<slug of the name>[.<extension>]`: unique per content, never
/// hidden, never `..`, always short.
pub fn file_name(sha256: &str, name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (stem, ext) = match base.rsplit_once('.') {
        Some((s, e))
            if !s.is_empty()
                && !e.is_empty()
                && e.len() <= 10
                && e.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            (s, e.to_ascii_lowercase())
        }
        _ => (base, String::new()),
    };
    let short: String = sha256.chars().take(8).collect();
    let base = format!("{short}-{}", slug::slug(stem));
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_are_safe() {
        let sha = "ab".repeat(32);
        assert_eq!(file_name(&sha, "spec sheet.PDF"), "abababab-spec-sheet.pdf");
        assert_eq!(file_name(&sha, "../../etc/passwd"), "abababab-passwd");
        assert_eq!(file_name(&sha, ".bashrc"), "abababab-bashrc");
        assert_eq!(file_name(&sha, "a.b/../c"), "abababab-c");
        assert_eq!(file_name(&sha, "x.tar.gz"), "abababab-x-tar.gz");
    }
}
