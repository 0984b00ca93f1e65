//! Markdown from the mirror, offline: `notion-mirror cat` prints one page (or database
//! index) as Markdown, `notion-mirror export` writes the whole mirror (or one subtree) as
//! a tree of Markdown files with a CSV per data source, incrementally. docs/markdown.md
//! states the layout and every rendering rule.
//!
//! Reading order: [`load`] (what is read) → [`tree`]/[`slug`] (where files go) →
//! [`document`]/[`markdown`]/[`leaves`]/[`richtext`]/[`emphasis`]/[`escape`] (page rendering) →
//! [`frontmatter`]/[`database`]/[`csv`] (properties, indexes, CSVs) → [`attachments`]
//! (archived files) → [`incremental`] (writing) → [`resolve`] (naming a page).
//!
//! Invariant: this module only reads the mirror — through a read-only connection, in one
//! read transaction per run, so a run sees one consistent state while the daemon writes —
//! and never talks to Notion; everything it writes stays inside the export directory.

pub mod attachments;
pub mod csv;
pub mod database;
pub mod document;
pub mod emphasis;
pub mod escape;
pub mod frontmatter;
pub mod incremental;
pub mod leaves;
pub mod links;
pub mod load;
pub mod markdown;
pub mod resolve;
pub mod richtext;
pub mod slug;
pub mod tree;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::mirror::StoreError;
use attachments::Attachments;
pub use document::PageOptions;
use incremental::{Content, Outcome, Planned};
use load::Snapshot;
pub use resolve::Candidate;
use resolve::Target;
use tree::{Layout, RelPath};

/// Errors of `cat` and `export`. None is retryable by waiting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sqlite error ({context}): {source}")]
    Sqlite {
        context: &'static str,
        source: rusqlite::Error,
    },
    #[error("{what} ({path}): {source}")]
    Io {
        path: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("\"{query}\" names {} pages or databases; name one by id", candidates.len())]
    Ambiguous {
        query: String,
        candidates: Vec<Candidate>,
    },
    #[error("{0}")]
    UnsafePath(String),
    #[error("{0}")]
    State(String),
}

/// What `export` does.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only this page or database and what is under it (any form `cat` accepts).
    pub root: Option<String>,
    /// Only report whether the directory is stale; write nothing.
    pub check: bool,
    /// Where archived attachment blobs live [default: the directory the daemon recorded
    /// (setting `files.dir`), else `files/` beside the mirror].
    pub files_dir: Option<PathBuf>,
}

/// What `export` did.
#[derive(Debug, Clone, Default)]
pub struct ExportReport {
    pub outcome: Outcome,
    pub pages: usize,
    pub databases: usize,
    pub data_sources: usize,
    pub attachments: usize,
    /// Whether the mirror has archived attachments (the `files` table).
    pub files_table: bool,
}

fn read_transaction(conn: &Connection) -> Result<rusqlite::Transaction<'_>, ExportError> {
    conn.unchecked_transaction()
        .map_err(|source| ExportError::Sqlite {
            context: "begin a read transaction",
            source,
        })
}

/// `notion-mirror export`: opens the mirror at `db` read-only and exports it into `dir`.
pub fn export_mirror(
    db: &Path,
    dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let conn = crate::mirror::open::open_read_only(db)?;
    let mut options = options.clone();
    if options.files_dir.is_none() {
        // Where the process that archives files keeps them, else beside the mirror.
        let recorded =
            crate::mirror::write::get_setting(&conn, crate::mirror::write::files::DIR_KEY)
                .ok()
                .flatten();
        options.files_dir = Some(
            recorded
                .map(PathBuf::from)
                .unwrap_or_else(|| db.with_file_name("files")),
        );
    }
    export(&conn, dir, &options)
}

/// Exports the mirror behind `conn` into `dir`.
pub fn export(
    conn: &Connection,
    dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let _read = read_transaction(conn)?;
    let snap = Snapshot::load(conn)?;
    let root = match options.root.as_deref() {
        Some(q) => Some(resolve::resolve(&snap, q)?),
        None => None,
    };
    let layout = Layout::build(&snap, root.as_ref().map(Target::id));
    if let Some(root) = &root {
        if layout.file_of(root.id()).is_none() {
            return Err(ExportError::NotFound(format!(
                "{} is in the trash (or inside a trashed database); nothing to export",
                root.id()
            )));
        }
    }
    let files = options
        .files_dir
        .clone()
        .and_then(|d| Attachments::detect(snap.has_files, d));
    let mut plan: BTreeMap<RelPath, Planned> = BTreeMap::new();
    let mut report = ExportReport {
        files_table: snap.has_files,
        ..ExportReport::default()
    };
    for id in &layout.pages {
        let Some(path) = layout.file_of(id) else {
            continue;
        };
        let options = PageOptions {
            front_matter: true,
            depth: 0,
        };
        let doc = document::page(conn, &snap, Some(&layout), files.as_ref(), id, options)?;
        plan.insert(path.clone(), planned(path, id, Content::Text(doc.markdown)));
        for copy in doc.copies {
            let content = Content::Blob {
                from: copy.blob,
                sha256: copy.sha256,
            };
            if !plan.contains_key(&copy.dest) {
                report.attachments += 1;
                plan.insert(copy.dest.clone(), planned(&copy.dest, id, content));
            }
        }
        report.pages += 1;
    }
    for id in &layout.databases {
        let Some(path) = layout.file_of(id) else {
            continue;
        };
        let index = database::index(conn, &snap, Some(&layout), id, true)?;
        plan.insert(path.clone(), planned(path, id, Content::Text(index)));
        report.databases += 1;
        for source in snap.sources_of(id) {
            if let Some(csv_path) = layout.csv.get(&source.id) {
                let text = csv::data_source(conn, source)?;
                plan.insert(
                    csv_path.clone(),
                    planned(csv_path, &source.id, Content::Text(text)),
                );
                report.data_sources += 1;
            }
        }
    }
    report.outcome = incremental::apply(dir, plan.into_values().collect(), options.check)?;
    Ok(report)
}

fn planned(path: &RelPath, id: &str, content: Content) -> Planned {
    Planned {
        path: path.clone(),
        id: id.to_string(),
        content,
    }
}

/// `notion-mirror cat`: the page or database `query` names, as Markdown (links point at
/// Notion URLs).
pub fn cat(conn: &Connection, query: &str, options: PageOptions) -> Result<String, ExportError> {
    let _read = read_transaction(conn)?;
    let snap = Snapshot::load(conn)?;
    match resolve::resolve(&snap, query)? {
        Target::Page(id) => Ok(document::page(conn, &snap, None, None, &id, options)?.markdown),
        Target::Database(id) => database::index(conn, &snap, None, &id, options.front_matter),
    }
}
