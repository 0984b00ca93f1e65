//! Blocks → Markdown: one rule per block type (docs/markdown.md lists them), nesting by
//! indentation and `> ` prefixes, and the joining rules that keep separate Notion lists
//! separate in Markdown.
//!
//! Invariant: every block in a page's tree is visited once, in order, children after their
//! parent's text; no block type is dropped silently (unknown types become an HTML comment
//! naming the type, with their text and children kept).

use rusqlite::Connection;
use serde_json::Value;

use super::attachments::{Attachments, Copy};
use super::escape::comment;
use super::links::Linker;
use super::load::{self, BlockRow, BlockTree};
use super::richtext::{self, Mode};
use super::ExportError;

/// The three kinds of Markdown list item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Bullet,
    Ordered,
    Task,
}

impl ListKind {
    fn of(block_type: &str) -> Option<ListKind> {
        match block_type {
            "bulleted_list_item" => Some(ListKind::Bullet),
            "numbered_list_item" => Some(ListKind::Ordered),
            "to_do" => Some(ListKind::Task),
            _ => None,
        }
    }

    /// Lists whose items CommonMark would merge when adjacent (same bullet or both ordered).
    fn merges_with(self, other: ListKind) -> bool {
        matches!(
            (self, other),
            (ListKind::Ordered, ListKind::Ordered)
                | (
                    ListKind::Bullet | ListKind::Task,
                    ListKind::Bullet | ListKind::Task
                )
        )
    }
}

/// One rendered block (or a flattened piece of one): its Markdown and, for list items,
/// which run of siblings it belongs to.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub text: String,
    pub list: Option<(ListKind, usize)>,
    /// A list item without nested content (the next item may follow on the next line).
    pub tight: bool,
}

impl Item {
    pub(super) fn plain(text: String) -> Item {
        Item {
            text,
            list: None,
            tight: false,
        }
    }
}

/// Joins rendered blocks: a blank line between blocks, one newline between items of a
/// tight list, and an empty HTML comment between two separate lists CommonMark would
/// otherwise merge (so numbering restarts and lists stay apart).
pub fn join(items: &[Item]) -> String {
    let mut out = String::new();
    let mut prev: Option<&Item> = None;
    for item in items.iter().filter(|i| !i.text.is_empty()) {
        if let Some(p) = prev {
            let sep = match (p.list, item.list) {
                (Some((_, a)), Some((_, b))) if a == b && p.tight => "\n",
                (Some((_, a)), Some((_, b))) if a == b => "\n\n",
                (Some((k1, _)), Some((k2, _))) if k1.merges_with(k2) => "\n\n<!-- -->\n\n",
                _ => "\n\n",
            };
            out.push_str(sep);
        }
        out.push_str(&item.text);
        prev = Some(item);
    }
    out
}

/// Prefixes the first line with `first` and the others with `rest`; empty lines get
/// `rest` trimmed (no trailing spaces).
pub fn prefix_lines(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let prefix = if n == 0 { first } else { rest };
        if line.is_empty() {
            out.push_str(prefix.trim_end());
        } else {
            out.push_str(prefix);
            out.push_str(line);
        }
    }
    out
}

fn body(block: &BlockRow) -> &Value {
    block.raw.get(&block.kind).unwrap_or(&Value::Null)
}

fn text_of(v: &Value, key: &str) -> Value {
    v.get(key).cloned().unwrap_or(Value::Null)
}

/// Renders the blocks of one page.
pub struct Renderer<'a> {
    pub conn: &'a Connection,
    pub links: Linker<'a>,
    /// Archived attachments (export only; `None` keeps every URL).
    pub files: Option<&'a Attachments>,
    /// The page's own folder, where its attachments are copied (export only).
    pub attach_dir: Option<Vec<String>>,
    /// How many levels of child pages to inline (`cat --depth`).
    pub depth: usize,
    /// Attachments the rendered page links to locally.
    pub copies: Vec<Copy>,
    runs: usize,
    synced: Vec<String>,
}

impl<'a> Renderer<'a> {
    pub fn new(conn: &'a Connection, links: Linker<'a>) -> Self {
        Renderer {
            conn,
            links,
            files: None,
            attach_dir: None,
            depth: 0,
            copies: Vec::new(),
            runs: 0,
            synced: Vec::new(),
        }
    }

    pub(super) fn rich(&self, v: &Value, mode: Mode) -> String {
        richtext::render(v, &self.links, mode)
    }

    /// The Markdown of the children of `parent` (a page or block id) in `tree`.
    pub fn children(&mut self, tree: &BlockTree, parent: &str) -> Result<String, ExportError> {
        let items = self.items(tree, parent)?;
        Ok(join(&items))
    }

    fn items(&mut self, tree: &BlockTree, parent: &str) -> Result<Vec<Item>, ExportError> {
        let mut items = Vec::new();
        let mut run: Option<(ListKind, usize)> = None;
        let mut number = 0u64;
        for block in tree.children(parent) {
            match ListKind::of(&block.kind) {
                Some(kind) => {
                    if run.map(|r| r.0) != Some(kind) {
                        self.runs += 1;
                        run = Some((kind, self.runs));
                        number = body(block)
                            .get("list_start_index")
                            .and_then(Value::as_u64)
                            .unwrap_or(1)
                            .saturating_sub(1);
                    }
                    number += 1;
                    if let Some(r) = run {
                        items.push(self.list_item(tree, block, r, number)?);
                    }
                }
                None => {
                    run = None;
                    items.extend(self.block(tree, block)?);
                }
            }
        }
        Ok(items)
    }

    fn list_item(
        &mut self,
        tree: &BlockTree,
        block: &BlockRow,
        run: (ListKind, usize),
        number: u64,
    ) -> Result<Item, ExportError> {
        let b = body(block);
        let marker = match run.0 {
            ListKind::Bullet => "- ".to_string(),
            ListKind::Ordered => format!("{number}. "),
            ListKind::Task => {
                let checked = b.get("checked").and_then(Value::as_bool).unwrap_or(false);
                if checked { "- [x] " } else { "- [ ] " }.to_string()
            }
        };
        let width = if run.0 == ListKind::Ordered {
            marker.len()
        } else {
            2
        };
        let text = self.rich(&text_of(b, "rich_text"), Mode::Block);
        let children = self.items(tree, &block.id)?;
        let tight = children.iter().all(|c| c.text.is_empty());
        let mut content = text;
        if !tight {
            let first_is_list = children
                .iter()
                .find(|c| !c.text.is_empty())
                .is_some_and(|c| c.list.is_some());
            content.push_str(if first_is_list { "\n" } else { "\n\n" });
            content.push_str(&join(&children));
        }
        let mut text = prefix_lines(&content, &marker, &" ".repeat(width));
        if content.is_empty() {
            text = marker.trim_end().to_string();
        }
        Ok(Item {
            text,
            list: Some(run),
            tight,
        })
    }

    /// One non-list block, as one or more items (containers without Markdown syntax of
    /// their own — columns, synced blocks, paragraphs' children — are flattened).
    fn block(&mut self, tree: &BlockTree, block: &BlockRow) -> Result<Vec<Item>, ExportError> {
        let b = body(block);
        let kind = block.kind.as_str();
        let mut out: Vec<Item> = Vec::new();
        match kind {
            "paragraph" | "template" => {
                out.push(Item::plain(
                    self.rich(&text_of(b, "rich_text"), Mode::Block),
                ));
                out.extend(self.items(tree, &block.id)?);
            }
            "heading_1" | "heading_2" | "heading_3" | "heading_4" | "heading_5" | "heading_6" => {
                out.extend(self.heading(tree, block)?);
            }
            "toggle" => {
                let summary = self.rich(&text_of(b, "rich_text"), Mode::Html);
                out.push(Item::plain(self.details(&summary, tree, &block.id)?));
            }
            "quote" | "callout" => out.push(Item::plain(self.quote(tree, block)?)),
            "code" => out.extend(self.code(b)),
            "equation" => {
                // A blank line would end the math block: drop empty lines.
                let expr = b.get("expression").and_then(Value::as_str).unwrap_or("");
                let lines: Vec<&str> = expr.lines().filter(|l| !l.trim().is_empty()).collect();
                out.push(Item::plain(format!("$$\n{}\n$$", lines.join("\n"))));
            }
            // `***`, not `---`: a `---` line can be taken for a setext underline or for the
            // start of YAML front matter by tools that scan for it anywhere.
            "divider" => out.push(Item::plain("***".to_string())),
            "table" => out.push(Item::plain(self.table(tree, block))),
            "table_row" => {
                let cells = self.row_cells(b, 0);
                out.push(Item::plain(cells.join(" · ")));
            }
            "column_list" => {
                for child in tree.children(&block.id) {
                    if child.kind == "column" {
                        out.extend(self.items(tree, &child.id)?);
                    } else {
                        out.extend(self.block_or_list(tree, child)?);
                    }
                }
            }
            "column" | "tab" => out.extend(self.items(tree, &block.id)?),
            "synced_block" => out.extend(self.synced(tree, block)?),
            "child_page" => out.push(self.child_page(&block.id, b)?),
            "child_database" => out.push(self.child_database(&block.id, b)?),
            "link_to_page" => out.push(Item::plain(self.link_to_page(b))),
            "bookmark" | "embed" | "link_preview" => out.push(Item::plain(self.bookmark(b))),
            "image" | "video" | "pdf" | "file" | "audio" => {
                out.push(Item::plain(self.media(kind, b)));
            }
            "table_of_contents" | "breadcrumb" => out.push(Item::default()),
            "unsupported" => {
                let what = b
                    .get("block_type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                out.push(Item::plain(comment(&format!("unsupported block: {what}"))));
                out.extend(self.items(tree, &block.id)?);
            }
            other => {
                out.push(Item::plain(comment(&format!("unsupported block: {other}"))));
                for key in ["rich_text", "title"] {
                    if b.get(key).is_some_and(Value::is_array) {
                        out.push(Item::plain(self.rich(&text_of(b, key), Mode::Block)));
                    }
                }
                out.extend(self.items(tree, &block.id)?);
            }
        }
        Ok(out)
    }

    /// A single block that may be a list item (used where siblings are flattened).
    fn block_or_list(
        &mut self,
        tree: &BlockTree,
        block: &BlockRow,
    ) -> Result<Vec<Item>, ExportError> {
        match ListKind::of(&block.kind) {
            Some(kind) => {
                self.runs += 1;
                let run = (kind, self.runs);
                Ok(vec![self.list_item(tree, block, run, 1)?])
            }
            None => self.block(tree, block),
        }
    }

    fn heading(&mut self, tree: &BlockTree, block: &BlockRow) -> Result<Vec<Item>, ExportError> {
        let b = body(block);
        let level: usize = block
            .kind
            .strip_prefix("heading_")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
            .clamp(1, 6);
        let toggleable = b
            .get("is_toggleable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if toggleable {
            let inner = self.rich(&text_of(b, "rich_text"), Mode::Html);
            let summary = format!("<h{level}>{inner}</h{level}>");
            return Ok(vec![Item::plain(self.details(&summary, tree, &block.id)?)]);
        }
        let text = self.rich(&text_of(b, "rich_text"), Mode::Line);
        let mut out = vec![Item::plain(format!("{} {text}", "#".repeat(level)))];
        out.extend(self.items(tree, &block.id)?);
        Ok(out)
    }

    fn details(
        &mut self,
        summary: &str,
        tree: &BlockTree,
        id: &str,
    ) -> Result<String, ExportError> {
        let inner = self.children(tree, id)?;
        Ok(if inner.is_empty() {
            format!("<details>\n<summary>{summary}</summary>\n</details>")
        } else {
            format!("<details>\n<summary>{summary}</summary>\n\n{inner}\n\n</details>")
        })
    }

    fn quote(&mut self, tree: &BlockTree, block: &BlockRow) -> Result<String, ExportError> {
        let b = body(block);
        let mut text = self.rich(&text_of(b, "rich_text"), Mode::Block);
        if block.kind == "callout" {
            let icon = match b.pointer("/icon/type").and_then(Value::as_str) {
                Some("emoji") => b
                    .pointer("/icon/emoji")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                Some("custom_emoji") => b
                    .pointer("/icon/custom_emoji/name")
                    .and_then(Value::as_str)
                    .map(|n| format!(":{n}:")),
                _ => None,
            };
            if let Some(icon) = icon {
                text = if text.is_empty() {
                    icon
                } else {
                    format!("{icon} {text}")
                };
            }
        }
        let children = self.children(tree, &block.id)?;
        let content = match (text.is_empty(), children.is_empty()) {
            (_, true) => text,
            (true, false) => children,
            (false, false) => format!("{text}\n\n{children}"),
        };
        Ok(prefix_lines(&content, "> ", "> "))
    }

    fn synced(&mut self, tree: &BlockTree, block: &BlockRow) -> Result<Vec<Item>, ExportError> {
        let b = body(block);
        let original = b.pointer("/synced_from/block_id").and_then(Value::as_str);
        let Some(original) = original.and_then(crate::ids::normalize) else {
            return self.items(tree, &block.id);
        };
        if !tree.children(&block.id).is_empty() {
            return self.items(tree, &block.id);
        }
        if self.synced.contains(&original) {
            return Ok(vec![Item::plain(comment(&format!(
                "synced block: {original} includes itself"
            )))]);
        }
        let held = if tree.children(&original).is_empty() {
            load::tree_holding(self.conn, &original)?
        } else {
            None
        };
        let source = held.as_ref().unwrap_or(tree);
        if held.is_none() && tree.children(&original).is_empty() {
            return Ok(vec![Item::plain(comment(&format!(
                "synced block: the original ({original}) is not in the mirror (not shared with the integration)"
            )))]);
        }
        self.synced.push(original.clone());
        let items = self.items(source, &original);
        self.synced.pop();
        items
    }
}
