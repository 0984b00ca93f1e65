//! Where links point: to another exported file (relative to the file being written) when
//! the target is part of the export, else to the object's Notion URL.
//!
//! Invariant: a link never points at a path outside the export (relative links come only
//! from the layout); objects missing from the mirror fall back to the URL Notion gave.

use super::load::Snapshot;
use super::tree::{relative_link, Layout, RelPath};

/// The display title of an object without one.
pub const UNTITLED: &str = "Untitled";

/// Resolves page and database links for one output file.
#[derive(Clone, Copy)]
pub struct Linker<'a> {
    pub snap: &'a Snapshot,
    /// `None` for `cat` (every link is a Notion URL).
    pub layout: Option<&'a Layout>,
    /// The file being written (`None` for `cat`).
    pub from: Option<&'a RelPath>,
}

/// A resolved link: the target's current title and where it points.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub title: String,
    pub href: String,
}

/// `https://www.notion.so/<hex>`, the URL form Notion accepts for any object id.
pub fn notion_url(id: &str) -> String {
    format!("https://www.notion.so/{}", super::slug::id_hex(id))
}

fn titled(title: &str) -> String {
    if title.trim().is_empty() {
        UNTITLED.to_string()
    } else {
        title.to_string()
    }
}

impl<'a> Linker<'a> {
    /// A linker for `cat`: Notion URLs only.
    pub fn notion(snap: &'a Snapshot) -> Self {
        Linker {
            snap,
            layout: None,
            from: None,
        }
    }

    /// The link to `to` (a file of the export) from the current file.
    pub fn to_file(&self, to: &RelPath) -> Option<String> {
        let from = self.from?;
        Some(relative_link(from, to))
    }

    fn local(&self, id: &str) -> Option<String> {
        let to = self.layout?.file_of(id)?;
        self.to_file(to)
    }

    /// A page in the mirror (live or trashed).
    pub fn page(&self, id: &str) -> Option<Target> {
        let page = self.snap.pages.get(id)?;
        let href = self
            .local(id)
            .or_else(|| page.url.clone())
            .unwrap_or_else(|| notion_url(id));
        Some(Target {
            title: titled(&page.title),
            href,
        })
    }

    /// A database in the mirror.
    pub fn database(&self, id: &str) -> Option<Target> {
        let db = self.snap.databases.get(id)?;
        let href = self
            .local(id)
            .or_else(|| {
                db.raw
                    .get("url")
                    .and_then(|u| u.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| notion_url(id));
        Some(Target {
            title: titled(&db.title),
            href,
        })
    }

    /// A page or database, whichever `id` names.
    pub fn object(&self, id: &str) -> Option<Target> {
        self.page(id).or_else(|| self.database(id))
    }
}
