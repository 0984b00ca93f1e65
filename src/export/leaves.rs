//! Leaf blocks → Markdown: code, tables, links to pages and databases, bookmarks and
//! media (with archived attachments copied beside the page).
//!
//! Invariant: a leaf never loses what it shows — a link keeps its target (the local copy,
//! the exported file, else the URL Notion gave), media keep their caption, a linked
//! database whose source is not in the mirror keeps its title and says why it is not linked.

use serde_json::Value;

use super::escape::{code_fence, comment, escape_text, link_destination, LineState};
use super::load::{BlockRow, BlockTree};
use super::markdown::{Item, Renderer};
use super::richtext::{self, Mode};
use super::ExportError;

fn body(block: &BlockRow) -> &Value {
    block.raw.get(&block.kind).unwrap_or(&Value::Null)
}

fn text_of(v: &Value, key: &str) -> Value {
    v.get(key).cloned().unwrap_or(Value::Null)
}

impl Renderer<'_> {
    pub(super) fn code(&self, b: &Value) -> Vec<Item> {
        let content = richtext::plain(&text_of(b, "rich_text"));
        let fence = code_fence(&content);
        let lang = language(b.get("language").and_then(Value::as_str).unwrap_or(""));
        let mut out = vec![Item::plain(format!("{fence}{lang}\n{content}\n{fence}"))];
        let caption = self.rich(&text_of(b, "caption"), Mode::Block);
        if !caption.is_empty() {
            out.push(Item::plain(caption));
        }
        out
    }

    pub(super) fn row_cells(&self, row: &Value, width: usize) -> Vec<String> {
        let mut cells: Vec<String> = row
            .get("cells")
            .and_then(Value::as_array)
            .map(|cells| cells.iter().map(|c| self.rich(c, Mode::Table)).collect())
            .unwrap_or_default();
        while cells.len() < width {
            cells.push(String::new());
        }
        cells
    }

    pub(super) fn table(&self, tree: &BlockTree, block: &BlockRow) -> String {
        let b = body(block);
        let rows: Vec<&BlockRow> = tree
            .children(&block.id)
            .iter()
            .filter(|r| r.kind == "table_row")
            .collect();
        let declared = b.get("table_width").and_then(Value::as_u64).unwrap_or(0) as usize;
        let width = rows
            .iter()
            .map(|r| self.row_cells(body(r), 0).len())
            .max()
            .unwrap_or(0)
            .max(declared)
            .max(1);
        let header = b
            .get("has_column_header")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let line = |cells: Vec<String>| format!("| {} |", cells.join(" | "));
        let mut lines = Vec::new();
        let mut body_rows = rows.iter();
        if header {
            if let Some(first) = body_rows.next() {
                lines.push(line(self.row_cells(body(first), width)));
            }
        } else {
            lines.push(line(vec![String::new(); width]));
        }
        lines.push(line(vec!["---".to_string(); width]));
        for row in body_rows {
            lines.push(line(self.row_cells(body(row), width)));
        }
        lines.join("\n")
    }

    pub(super) fn child_page(&mut self, id: &str, b: &Value) -> Result<Item, ExportError> {
        if self.depth > 0 && self.links.snap.pages.contains_key(id) {
            let text = super::document::inline_page(self, id)?;
            return Ok(Item::plain(text));
        }
        let fallback = b.get("title").and_then(Value::as_str).unwrap_or("");
        Ok(Item::plain(self.object_link(id, fallback)))
    }

    pub(super) fn child_database(&mut self, id: &str, b: &Value) -> Result<Item, ExportError> {
        let title = b.get("title").and_then(Value::as_str).unwrap_or("");
        if !self.links.snap.databases.contains_key(id) {
            let shown = escape_text(
                if title.is_empty() {
                    super::links::UNTITLED
                } else {
                    title
                },
                Mode::Block,
                &mut LineState::new(true),
            );
            return Ok(Item::plain(format!(
                "{shown} {}",
                comment("linked database: its source database is not in the mirror")
            )));
        }
        if self.depth > 0 {
            let text = super::database::inline_index(self, id)?;
            return Ok(Item::plain(text));
        }
        Ok(Item::plain(self.object_link(id, title)))
    }

    /// `[Title](link)` for a page or database (its Notion URL when not in the mirror).
    pub fn object_link(&self, id: &str, fallback_title: &str) -> String {
        let (title, href) = match self.links.object(id) {
            Some(t) => (t.title, t.href),
            None => {
                let t = if fallback_title.is_empty() {
                    super::links::UNTITLED.to_string()
                } else {
                    fallback_title.to_string()
                };
                (t, super::links::notion_url(id))
            }
        };
        let text = escape_text(&title, Mode::Line, &mut LineState::new(false));
        format!("[{text}]({})", link_destination(&href, false))
    }

    pub(super) fn link_to_page(&self, b: &Value) -> String {
        let target = ["page_id", "database_id"]
            .iter()
            .find_map(|k| b.get(*k).and_then(Value::as_str));
        match target.and_then(crate::ids::normalize) {
            Some(id) => self.object_link(&id, ""),
            None => comment("link to a comment or an unknown target"),
        }
    }

    pub(super) fn bookmark(&self, b: &Value) -> String {
        let url = b.get("url").and_then(Value::as_str).unwrap_or("");
        let caption = self.rich(&text_of(b, "caption"), Mode::Line);
        let text = if caption.is_empty() {
            escape_text(url, Mode::Line, &mut LineState::new(false))
        } else {
            caption
        };
        format!("[{text}]({})", link_destination(url, false))
    }

    pub(super) fn media(&mut self, kind: &str, b: &Value) -> String {
        let source = b.get("type").and_then(Value::as_str).unwrap_or("");
        let url = b
            .pointer(&format!("/{source}/url"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if url.is_empty() {
            return comment(&format!("{kind}: no URL ({source})"));
        }
        let name = b
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let href = match (self.files, &self.attach_dir, self.links.from) {
            (Some(files), Some(dir), Some(_)) if source == "file" => {
                match files.local_copy(self.conn, &url, &name, dir) {
                    Some(copy) => {
                        let link = self.links.to_file(&copy.dest).unwrap_or(url.clone());
                        self.copies.push(copy);
                        link
                    }
                    None => url.clone(),
                }
            }
            _ => url.clone(),
        };
        let caption_plain = richtext::plain(&text_of(b, "caption"));
        let dest = link_destination(&href, false);
        if kind == "image" {
            let alt = if caption_plain.is_empty() {
                name
            } else {
                caption_plain
            };
            let alt = escape_text(&alt, Mode::Line, &mut LineState::new(false));
            return format!("![{alt}]({dest})");
        }
        let caption = self.rich(&text_of(b, "caption"), Mode::Line);
        let text = if !caption.is_empty() {
            caption
        } else if !name.is_empty() {
            escape_text(&name, Mode::Line, &mut LineState::new(false))
        } else {
            escape_text(
                file_name_of(&url).unwrap_or(kind),
                Mode::Line,
                &mut LineState::new(false),
            )
        };
        format!("[{text}]({dest})")
    }
}

/// The last path segment of a URL (before any query), when it has one.
fn file_name_of(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty() && !path.ends_with("//"))
}

/// A code block's info string from Notion's language name.
fn language(notion: &str) -> String {
    let lang = notion.trim().to_lowercase();
    match lang.as_str() {
        "" | "plain text" => "text".to_string(),
        "c++" => "cpp".to_string(),
        "c#" => "csharp".to_string(),
        "f#" => "fsharp".to_string(),
        "java/c/c++/c#" => "java".to_string(),
        other => other
            .chars()
            .map(|c| {
                if c.is_whitespace() || c == '`' {
                    '-'
                } else {
                    c
                }
            })
            .collect(),
    }
}
