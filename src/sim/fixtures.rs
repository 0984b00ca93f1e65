//! The named edge-case objects every generated workspace contains (titles are public so
//! tests and the demo can find them).
//!
//! Invariant: the fixtures are built before any random filler, so a seed's fixture ids do
//! not depend on `GenConfig::pages`.

use serde_json::{json, Value};

use super::generate::Gen;
use super::model::{Holder, Parent, Val};
use super::render::user_json;
use super::richtext;

/// Top-level page with every block type, depth-4 nesting, columns and a synced block.
pub const ROADMAP: &str = "Roadmap";
/// Top-level page holding the Projects and Tasks databases and a linked database.
pub const PROJECTS_AND_TASKS: &str = "Projects & Tasks";
pub const MEETING_NOTES: &str = "Meeting notes";
pub const ARCHIVE: &str = "Archive";
pub const KNOWLEDGE_BASE: &str = "Knowledge base";
/// Locked page holding the `Q&A Log` / `Q & A log` / empty-titled sources.
pub const SUPPORT: &str = "Support";
/// Child page of Roadmap with quotes and unicode in its title.
pub const CAFE: &str = "Café \"Zoë\"";
/// Page whose parent is a block (a column).
pub const COLUMN_NOTES: &str = "Column notes";
/// Trashed top-level page.
pub const OLD_DRAFT: &str = "Old draft";
/// Trashed child page of Meeting notes (its child_page block is trashed too).
pub const CANCELLED_SYNC: &str = "Cancelled sync";
/// The linked database block (its id is not a real database).
pub const LINKED_VIEW: &str = "Tasks (linked view)";
pub const DS_TASKS: &str = "Tasks";
pub const DS_PROJECTS: &str = "Projects";
pub const DS_ARTICLES: &str = "Articles";
pub const DS_FAQ: &str = "FAQ";
pub const DS_WIKI: &str = "Team wiki";
pub const DS_QA_1: &str = "Q&A Log";
pub const DS_QA_2: &str = "Q & A log";
pub const DS_READING: &str = "Reading list";
/// Project row related to ≥ 30 Tasks rows (relation truncated at 25).
pub const WEBSITE_RELAUNCH: &str = "Website relaunch";
/// Tasks row whose `Owner's "Team"` rich text has 30 mentions.
pub const STAFFING_PLAN: &str = "Staffing plan";
/// Tasks row whose title starts so and holds 27 user mentions.
pub const MENTION_TITLE_PREFIX: &str = "Review with ";
/// Trashed Tasks row.
pub const OBSOLETE_TASK: &str = "Obsolete task";
/// Heavy: Tasks row with 30 assignees.
pub const ALL_HANDS: &str = "All hands prep";
/// Heavy: page with 130 top-level paragraphs.
pub const RELEASE_NOTES: &str = "Release notes archive";
/// Heavy: page with 110 page-level comments in 5 discussions.
pub const DESIGN_REVIEW: &str = "Design review";
/// Heavy: data source with 260 rows.
pub const DS_EVENT_LOG: &str = "Event log";
/// Raw id of the Tasks formula `Estimate x2` (shown URL-encoded as `f%5C%5C%3Ap`).
pub const ODD_PROP_ID: &str = "f\\\\:p";

/// The Markdown showcase page (only with `GenConfig::showcase`).
pub const SHOWCASE: &str = "Markdown showcase";
/// The showcase's inline database (and its one data source).
pub const SHOWCASE_DB: &str = "Showcase items";
/// Two showcase subpages share this title (`cat` by title is ambiguous).
pub const SHOWCASE_TWIN: &str = "Twin";
/// Showcase subpage titles that try to climb out of an export directory.
pub const SHOWCASE_TRAVERSAL_TITLES: &[&str] = &[
    "../../etc/passwd",
    "/",
    "..",
    ".",
    "",
    "CON",
    "a\\..\\b",
    "~/.ssh",
];

/// A showcase subpage title of forty `/`-separated segments (every fifth one `..`).
pub fn showcase_forty_segments() -> String {
    (1..=40)
        .map(|i| {
            if i % 5 == 0 {
                "..".to_string()
            } else {
                format!("part {i:02}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Ids the filler needs.
pub(crate) struct Fixed {
    pub meeting_notes: String,
    pub archive: String,
    pub tasks: TaskProps,
    pub projects: Vec<String>,
}

/// Raw property ids of the Tasks source.
pub(crate) struct TaskProps {
    pub ds: String,
    pub status: String,
    pub done: String,
    pub estimate: String,
    pub due: String,
    pub tags: String,
    pub assignee: String,
    pub project: String,
    pub priority: String,
    pub team: String,
    pub files: String,
    pub link: String,
    pub email: String,
    pub phone: String,
    /// The Projects side of the dual relation.
    pub projects_tasks: String,
}

pub(super) fn set(g: &mut Gen, page: &str, prop: &str, v: Val) {
    if let Some(p) = g.ws.pages.get_mut(page) {
        p.props.insert(prop.to_string(), v);
    }
}

pub(super) fn option_id(g: &Gen, ds: &str, prop: &str, name: &str) -> Option<String> {
    g.ws.data_sources
        .get(ds)?
        .properties
        .iter()
        .find(|p| p.id == prop)?
        .kind
        .options()
        .iter()
        .find(|o| o.name == name)
        .map(|o| o.id.clone())
}

pub(super) fn option_names(g: &Gen, ds: &str, prop: &str) -> Vec<String> {
    g.ws.data_sources
        .get(ds)
        .and_then(|d| d.properties.iter().find(|p| p.id == prop))
        .map(|p| p.kind.options().iter().map(|o| o.name.clone()).collect())
        .unwrap_or_default()
}

/// Builds every fixture; returns what the filler needs.
pub(crate) fn build(g: &mut Gen) -> Fixed {
    let roadmap = g.page(
        Parent::Workspace,
        richtext::plain(ROADMAP),
        json!({"type":"emoji","emoji":"🗺️"}),
    );
    let pt = g.page(
        Parent::Workspace,
        richtext::plain(PROJECTS_AND_TASKS),
        Value::Null,
    );
    let meeting_notes = g.page(
        Parent::Workspace,
        richtext::plain(MEETING_NOTES),
        Value::Null,
    );
    let (tasks, projects) = super::fixtures_tasks::projects_and_tasks(g, &pt);
    roadmap_content(g, &roadmap, &meeting_notes);
    meeting_notes_content(g, &meeting_notes);
    super::fixtures_sources::knowledge_base(g);
    super::fixtures_sources::support(g);
    let old = g.page(Parent::Workspace, richtext::plain(OLD_DRAFT), Value::Null);
    g.random_content(&old, 3);
    if let Some(p) = g.ws.pages.get_mut(&old) {
        p.in_trash = true;
    }
    let archive = g.page(
        Parent::Workspace,
        richtext::plain(ARCHIVE),
        json!({"type":"emoji","emoji":"🗄️"}),
    );
    g.text_block(
        Holder::Page(archive.clone()),
        "paragraph",
        richtext::plain("Older material lives here."),
    );
    if g.cfg.heavy_edge_cases {
        super::fixtures_sources::heavy(g);
    }
    if g.cfg.showcase {
        super::fixtures_showcase::build(g, &roadmap, &meeting_notes);
    }
    let protected: Vec<String> =
        g.ws.pages
            .keys()
            .chain(g.ws.databases.keys())
            .chain(g.ws.data_sources.keys())
            .cloned()
            .collect();
    g.ws.protected.extend(protected);
    Fixed {
        meeting_notes,
        archive,
        tasks,
        projects,
    }
}

fn roadmap_content(g: &mut Gen, page: &str, meeting_notes: &str) {
    let h = || Holder::Page(page.to_string());
    let ada = g.persons.first().cloned().unwrap_or_default();
    let ada_json = user_json(&g.ws, &ada);
    g.text_block(h(), "heading_1", richtext::plain("Roadmap 2026"));
    let intro = vec![
        richtext::text("Owner: "),
        richtext::user_mention(ada_json, "Ada Lovelace"),
        richtext::text(". See "),
        richtext::page_mention(meeting_notes, MEETING_NOTES),
        richtext::text(" and the "),
        richtext::styled(
            "public plan",
            false,
            false,
            Some("https://example.com/plan"),
        ),
        richtext::text(" — "),
        richtext::styled("deadline", true, false, None),
        richtext::text(" is "),
        richtext::date_mention("2026-09-30"),
        richtext::text("."),
    ];
    let first = g.text_block(h(), "paragraph", intro);
    let (_, d) = g.comment(
        Holder::Block(first.clone()),
        None,
        "Is the deadline realistic?",
    );
    g.comment(
        Holder::Block(first),
        Some(d),
        "Yes, if the API work lands in July.",
    );
    let goals = g.block(
        h(),
        "heading_2",
        json!({ "rich_text": richtext::plain("Q3 goals"), "is_toggleable": true, "color": "default" }),
    );
    g.text_block(
        Holder::Block(goals.clone()),
        "paragraph",
        richtext::plain("Ship the mirror."),
    );
    g.text_block(
        Holder::Block(goals),
        "paragraph",
        richtext::plain("Cut sync cost in half."),
    );
    // Depth 4: toggle → bullet → bullet → paragraph.
    let t = g.text_block(h(), "toggle", richtext::plain("Details"));
    let l2 = g.text_block(
        Holder::Block(t),
        "bulleted_list_item",
        richtext::plain("Level two"),
    );
    let l3 = g.text_block(
        Holder::Block(l2),
        "bulleted_list_item",
        richtext::plain("Level three"),
    );
    g.text_block(
        Holder::Block(l3),
        "paragraph",
        richtext::plain("Level four: the deepest block."),
    );
    for s in ["Research", "Build", "Launch"] {
        g.text_block(h(), "numbered_list_item", richtext::plain(s));
    }
    g.block(h(), "to_do", json!({ "rich_text": richtext::plain("Write the spec"), "checked": true, "color": "default" }));
    g.block(h(), "to_do", json!({ "rich_text": richtext::plain("Review the spec"), "checked": false, "color": "default" }));
    g.text_block(
        h(),
        "quote",
        richtext::plain("Simple things should be simple."),
    );
    g.block(h(), "callout", json!({ "rich_text": richtext::plain("Remember the rate limit: 3 requests/s."), "icon": { "type": "emoji", "emoji": "⚠️" }, "color": "yellow_background" }));
    g.block(h(), "code", json!({ "caption": [], "rich_text": richtext::plain("SELECT \"Name\", \"Status\" FROM tasks;"), "language": "sql" }));
    g.block(
        h(),
        "equation",
        json!({ "expression": "e^{i\\pi} + 1 = 0" }),
    );
    g.block(h(), "divider", json!({}));
    let table = g.block(
        h(),
        "table",
        json!({ "table_width": 2, "has_column_header": true, "has_row_header": false }),
    );
    for (a, b) in [
        ("Milestone", "Date"),
        ("Beta", "2026-07-01"),
        ("GA", "2026-09-30"),
    ] {
        g.block(
            Holder::Block(table.clone()),
            "table_row",
            json!({ "cells": [richtext::plain(a), richtext::plain(b)] }),
        );
    }
    let cols = g.block(h(), "column_list", json!({}));
    let c1 = g.block(Holder::Block(cols.clone()), "column", json!({}));
    let c2 = g.block(Holder::Block(cols), "column", json!({}));
    g.text_block(
        Holder::Block(c1.clone()),
        "paragraph",
        richtext::plain("Left column."),
    );
    let notes = g.page(
        Parent::Block(c1),
        richtext::plain(COLUMN_NOTES),
        Value::Null,
    );
    g.text_block(
        Holder::Page(notes),
        "paragraph",
        richtext::plain("A page inside a column."),
    );
    g.text_block(
        Holder::Block(c2.clone()),
        "paragraph",
        richtext::plain("Right column."),
    );
    // A Notion-hosted image inside a column (every workspace has a hosted block file).
    let roadmap_png = super::files::HostedFile::new(
        &super::files::derived_id(&format!("{c2}/roadmap.png")),
        "roadmap.png",
        24 * 1024,
        29,
    );
    let roadmap_png = g.ws.add_hosted_file(roadmap_png).unsigned();
    g.block(
        Holder::Block(c2),
        "image",
        json!({ "caption": [], "type": "file", "file": roadmap_png }),
    );
    let synced = g.block(h(), "synced_block", json!({ "synced_from": null }));
    g.text_block(
        Holder::Block(synced.clone()),
        "paragraph",
        richtext::plain("Synced: team contacts."),
    );
    g.text_block(
        Holder::Block(synced),
        "paragraph",
        richtext::plain("Synced: escalation path."),
    );
    g.block(
        h(),
        "link_to_page",
        json!({ "type": "page_id", "page_id": meeting_notes }),
    );
    g.block(
        h(),
        "bookmark",
        json!({ "caption": [], "url": "https://developers.notion.com" }),
    );
    g.block(h(), "unsupported", json!({ "block_type": "button" }));
    let gone = g.text_block(
        h(),
        "paragraph",
        richtext::plain("This paragraph was deleted."),
    );
    if let Some(b) = g.ws.blocks.get_mut(&gone) {
        b.in_trash = true;
    }
    let cafe = g.page(
        Parent::Page(page.to_string()),
        richtext::plain(CAFE),
        json!({"type":"emoji","emoji":"☕"}),
    );
    g.text_block(
        Holder::Page(cafe.clone()),
        "paragraph",
        richtext::plain("Crème brûlée, naïve façade, 日本語, emoji 🎉."),
    );
    let (c, _) = g.comment(
        Holder::Page(page.to_string()),
        None,
        "Resolved: the dates were fixed.",
    );
    if let Some(c) = g.ws.comments.get_mut(&c) {
        c.resolved = true;
    }
    let (_, d) = g.comment(Holder::Page(page.to_string()), None, "Looks good to me.");
    g.comment(
        Holder::Page(page.to_string()),
        Some(d),
        "Agreed — \"ship it\".",
    );
    let mean = g.cfg.blocks_per_page;
    g.random_content(&cafe, mean);
}

fn meeting_notes_content(g: &mut Gen, page: &str) {
    g.text_block(
        Holder::Page(page.to_string()),
        "paragraph",
        richtext::plain("Notes from recurring meetings."),
    );
    for i in 1..=3 {
        let id = g.page(
            Parent::Page(page.to_string()),
            richtext::plain(&format!("Weekly sync #{i}")),
            Value::Null,
        );
        let mean = g.cfg.blocks_per_page;
        g.random_content(&id, mean);
        g.random_comments(&id);
    }
    let cancelled = g.page(
        Parent::Page(page.to_string()),
        richtext::plain(CANCELLED_SYNC),
        Value::Null,
    );
    g.text_block(
        Holder::Page(cancelled.clone()),
        "paragraph",
        richtext::plain("Nobody came."),
    );
    if let Some(p) = g.ws.pages.get_mut(&cancelled) {
        p.in_trash = true;
    }
    if let Some(b) = g.ws.blocks.get_mut(&cancelled) {
        b.in_trash = true;
    }
    g.comment(
        Holder::Page(page.to_string()),
        None,
        "Can we move the sync to Tuesdays?",
    );
}
