//! A page as one Markdown document: front matter, `# Title`, then its blocks.
//!
//! Invariant: the document depends only on the mirror (and the layout, for relative
//! links), never on the clock or the machine, so an unchanged page renders the same bytes.

use rusqlite::Connection;

use super::attachments::{Attachments, Copy};
use super::escape::{escape_text, LineState};
use super::frontmatter;
use super::links::{Linker, UNTITLED};
use super::load::{BlockTree, Snapshot};
use super::markdown::Renderer;
use super::richtext::Mode;
use super::tree::Layout;
use super::ExportError;

/// How a page is rendered.
#[derive(Debug, Clone, Copy)]
pub struct PageOptions {
    pub front_matter: bool,
    /// Levels of child pages (and child databases) inlined instead of linked.
    pub depth: usize,
}

/// A rendered page and the attachments it links to locally.
#[derive(Debug)]
pub struct PageDoc {
    pub markdown: String,
    pub copies: Vec<Copy>,
}

fn title_line(title: &str) -> String {
    let title = if title.trim().is_empty() {
        UNTITLED
    } else {
        title
    };
    format!(
        "# {}",
        escape_text(title, Mode::Line, &mut LineState::new(false))
    )
}

/// Renders the page `id`. With a layout, links between exported files are relative and
/// archived attachments are copied beside the page.
pub fn page(
    conn: &Connection,
    snap: &Snapshot,
    layout: Option<&Layout>,
    files: Option<&Attachments>,
    id: &str,
    options: PageOptions,
) -> Result<PageDoc, ExportError> {
    let Some(meta) = snap.pages.get(id) else {
        return Err(ExportError::NotFound(id.to_string()));
    };
    let links = Linker {
        snap,
        layout,
        from: layout.and_then(|l| l.file_of(id)),
    };
    let mut r = Renderer::new(conn, links);
    r.files = files;
    r.attach_dir = layout.and_then(|l| l.folder_of(id));
    r.depth = options.depth;
    let mut out = String::new();
    if options.front_matter {
        out.push_str(&frontmatter::page(conn, snap, meta)?);
        out.push('\n');
    }
    out.push_str(&title_line(&meta.title));
    out.push('\n');
    let tree = BlockTree::of_page(conn, id)?;
    let body = r.children(&tree, id)?;
    if !body.is_empty() {
        out.push('\n');
        out.push_str(&body);
        out.push('\n');
    }
    Ok(PageDoc {
        markdown: out,
        copies: r.copies,
    })
}

/// A child page inlined into its parent (`cat --depth`): its title as a heading and its
/// content, one level less deep.
pub fn inline_page(r: &mut Renderer, id: &str) -> Result<String, ExportError> {
    let title = r
        .links
        .snap
        .pages
        .get(id)
        .map(|p| p.title.clone())
        .unwrap_or_default();
    let tree = BlockTree::of_page(r.conn, id)?;
    let depth = r.depth;
    r.depth = depth.saturating_sub(1);
    let body = r.children(&tree, id);
    r.depth = depth;
    let body = body?;
    let mut out = title_line(&title);
    if !body.is_empty() {
        out.push_str("\n\n");
        out.push_str(&body);
    }
    Ok(out)
}
