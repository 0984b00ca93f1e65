//! A database's index page: front matter, its title and description, and per data source
//! a link to the source's CSV and a GFM table of its rows (the title linked to the row's
//! page, then every property as text).
//!
//! Invariant: every live row of every live data source appears once, oldest first; a
//! database is never dropped for having no rows or sources (the index says so).

use rusqlite::Connection;
use serde_json::Value;

use super::escape::{escape_text, link_destination, LineState};
use super::frontmatter::{self, property_yaml, row_properties, Yaml};
use super::links::{Linker, UNTITLED};
use super::load::{PageMeta, Snapshot, SourceMeta};
use super::markdown::Renderer;
use super::richtext::{self, Mode};
use super::tree::Layout;
use super::ExportError;

/// The index `.md` of a database.
pub fn index(
    conn: &Connection,
    snap: &Snapshot,
    layout: Option<&Layout>,
    id: &str,
    front_matter: bool,
) -> Result<String, ExportError> {
    let Some(db) = snap.databases.get(id) else {
        return Err(ExportError::NotFound(id.to_string()));
    };
    let links = Linker {
        snap,
        layout,
        from: layout.and_then(|l| l.file_of(id)),
    };
    let mut out = String::new();
    if front_matter {
        out.push_str(&frontmatter::database(db, snap));
        out.push('\n');
    }
    out.push_str(&heading(&db.title));
    out.push_str(&body(conn, snap, &links, id)?);
    Ok(out)
}

/// The index inlined into a page (`cat --depth`): the same content without front matter.
pub fn inline_index(r: &mut Renderer, id: &str) -> Result<String, ExportError> {
    let title = r
        .links
        .snap
        .databases
        .get(id)
        .map(|d| d.title.clone())
        .unwrap_or_default();
    let mut out = heading(&title);
    out.push_str(&body(r.conn, r.links.snap, &r.links, id)?);
    Ok(out.trim_end().to_string())
}

fn heading(title: &str) -> String {
    let title = if title.trim().is_empty() {
        UNTITLED
    } else {
        title
    };
    format!(
        "# {}\n",
        escape_text(title, Mode::Line, &mut LineState::new(false))
    )
}

fn body(
    conn: &Connection,
    snap: &Snapshot,
    links: &Linker,
    id: &str,
) -> Result<String, ExportError> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(db) = snap.databases.get(id) {
        let description = richtext::render(
            db.raw.get("description").unwrap_or(&Value::Null),
            links,
            Mode::Block,
        );
        if !description.is_empty() {
            parts.push(description);
        }
    }
    let sources = snap.sources_of(id);
    if sources.is_empty() {
        parts.push("*No data sources in the mirror.*".to_string());
    }
    for source in sources {
        parts.push(source_section(conn, snap, links, source)?);
    }
    Ok(format!("\n{}\n", parts.join("\n\n")))
}

fn source_section(
    conn: &Connection,
    snap: &Snapshot,
    links: &Linker,
    source: &SourceMeta,
) -> Result<String, ExportError> {
    let title = if source.title.trim().is_empty() {
        UNTITLED
    } else {
        &source.title
    };
    let mut out = format!(
        "## {}\n\n",
        escape_text(title, Mode::Line, &mut LineState::new(false))
    );
    let csv = links
        .layout
        .and_then(|l| l.csv.get(&source.id))
        .and_then(|p| links.to_file(p).map(|href| (p, href)));
    if let Some((path, href)) = csv {
        let name = path.0.last().cloned().unwrap_or_default();
        out.push_str(&format!(
            "All properties: [{}]({})\n\n",
            escape_text(&name, Mode::Line, &mut LineState::new(false)),
            link_destination(&href, false)
        ));
    }
    let mut rows: Vec<&PageMeta> = snap
        .pages
        .values()
        .filter(|p| !p.in_trash && p.data_source_id.as_deref() == Some(source.id.as_str()))
        .collect();
    rows.sort_by(|a, b| (&a.created_time, &a.id).cmp(&(&b.created_time, &b.id)));
    if rows.is_empty() {
        out.push_str("*No rows.*");
        return Ok(out);
    }
    let mut lines: Vec<String> = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        let props = row_properties(conn, snap, row)?;
        if n == 0 {
            let header: Vec<String> = props
                .iter()
                .map(|p| escape_text(&p.column, Mode::Table, &mut LineState::new(false)))
                .collect();
            lines.push(format!("| {} |", header.join(" | ")));
            lines.push(format!("| {} |", vec!["---"; header.len()].join(" | ")));
        }
        let cells: Vec<String> = props
            .iter()
            .map(|p| {
                if p.value.kind == "title" {
                    let target = links.page(&row.id);
                    let text = richtext::render(&p.value.value, links, Mode::Table);
                    let text = if text.is_empty() {
                        UNTITLED.to_string()
                    } else {
                        text
                    };
                    match target {
                        Some(t) => format!("[{text}]({})", link_destination(&t.href, true)),
                        None => text,
                    }
                } else {
                    cell(&property_yaml(&p.value, snap))
                }
            })
            .collect();
        lines.push(format!("| {} |", cells.join(" | ")));
    }
    out.push_str(&lines.join("\n"));
    Ok(out)
}

/// A property as table-cell text: lists joined with `, `, relations by title.
fn cell(y: &Yaml) -> String {
    let text = match y {
        Yaml::Null => String::new(),
        Yaml::Bool(b) => if *b { "✓" } else { "" }.to_string(),
        Yaml::Num(n) => n.to_string(),
        Yaml::Str(s) => s.clone(),
        Yaml::List(items) => items
            .iter()
            .map(|i| match i {
                Yaml::Map(pairs) => pairs
                    .iter()
                    .find(|(k, _)| k == "title")
                    .and_then(|(_, v)| match v {
                        Yaml::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .or_else(|| pairs.iter().find(|(k, _)| k == "id").map(|(_, v)| v.flow()))
                    .unwrap_or_default(),
                Yaml::Str(s) => s.clone(),
                other => other.flow(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Yaml::Map(pairs) => pairs
            .iter()
            .map(|(_, v)| match v {
                Yaml::Str(s) => s.clone(),
                other => other.flow(),
            })
            .collect::<Vec<_>>()
            .join(" → "),
    };
    escape_text(&text, Mode::Table, &mut LineState::new(false))
}
