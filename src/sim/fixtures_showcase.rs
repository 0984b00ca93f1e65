//! The Markdown showcase (`GenConfig::showcase`): one top-level page holding every block
//! type and annotation the API returns, lists nested three deep, a table with pipes and
//! newlines in cells, code containing backtick runs, a small database, and subpages whose
//! titles try path traversal — the input of the export's golden files (`tests/export.rs`).
//!
//! Invariant: built only when `GenConfig::showcase` is set, after every other fixture, so
//! workspaces without it keep their ids; deterministic for a seed and a start time.

use serde_json::{json, Value};

use super::fixtures::{
    set, showcase_forty_segments, SHOWCASE, SHOWCASE_DB, SHOWCASE_TRAVERSAL_TITLES, SHOWCASE_TWIN,
};
use super::generate::Gen;
use super::model::{Holder, Parent, PropKind, Val};
use super::render::user_json;
use super::richtext::{self, marked, plain, text};

/// Builds the showcase under the workspace; `roadmap` and `meeting_notes` are mention
/// targets.
pub(super) fn build(g: &mut Gen, roadmap: &str, meeting_notes: &str) {
    let page = g.page(
        Parent::Workspace,
        plain(SHOWCASE),
        json!({"type": "emoji", "emoji": "📝"}),
    );
    let db = showcase_database(g, &page);
    text_section(g, &page, roadmap, &db);
    list_section(g, &page);
    container_section(g, &page);
    code_section(g, &page);
    table_section(g, &page);
    media_section(g, &page, meeting_notes, &db);
    subpages(g, &page);
}

fn h(page: &str) -> Holder {
    Holder::Page(page.to_string())
}

fn b(id: &str) -> Holder {
    Holder::Block(id.to_string())
}

fn heading(g: &mut Gen, holder: Holder, level: u8, title: &str, toggleable: bool) -> String {
    g.block(
        holder,
        &format!("heading_{level}"),
        json!({ "rich_text": plain(title), "is_toggleable": toggleable, "color": "default" }),
    )
}

fn text_section(g: &mut Gen, page: &str, roadmap: &str, db: &str) {
    heading(g, h(page), 1, "Headings and text", false);
    heading(g, h(page), 2, "Second level", false);
    heading(g, h(page), 3, "Third level", false);
    heading(g, h(page), 4, "Fourth level", false);
    let annotations = vec![
        text("Annotations: "),
        marked("bold", &["bold"], "default", None),
        text(", "),
        marked("italic", &["italic"], "default", None),
        text(", "),
        marked("struck", &["strikethrough"], "default", None),
        text(", "),
        marked("underlined", &["underline"], "default", None),
        text(", "),
        marked("code", &["code"], "default", None),
        text(", "),
        marked("bold italic", &["bold", "italic"], "default", None),
        text(", "),
        marked("red", &[], "red", None),
        text(", "),
        marked("a link", &[], "default", Some("https://example.com/docs")),
        text(", "),
        marked(
            "a bold link",
            &["bold"],
            "default",
            Some("https://example.com/bold"),
        ),
        text(", and "),
        marked(
            "everything",
            &["bold", "italic", "strikethrough", "underline", "code"],
            "blue_background",
            None,
        ),
        text(". Mid"),
        marked("word", &["bold"], "default", None),
        text(" emphasis and "),
        marked("trailing space ", &["italic"], "default", None),
        text("moved out; say"),
        marked("\"quoted\"", &["bold"], "default", None),
        text("now."),
    ];
    g.text_block(h(page), "paragraph", annotations);
    let grace = g.persons.get(1).cloned().unwrap_or_default();
    let grace_json = user_json(&g.ws, &grace);
    let emoji_id = g.rng.uuid();
    let mentions = vec![
        text("Mentions: "),
        richtext::user_mention(grace_json, "Grace Hopper"),
        text(", "),
        richtext::page_mention(roadmap, super::fixtures::ROADMAP),
        text(", "),
        richtext::database_mention(db, SHOWCASE_DB),
        text(", "),
        richtext::date_mention("2026-03-14"),
        text(", "),
        richtext::date_range_mention("2026-04-01", "2026-04-03"),
        text(", "),
        richtext::link_preview_mention("https://github.com/makenotion/notion-sdk-js/pull/1"),
        text(", "),
        richtext::link_mention("https://example.com/article", "An article"),
        text(", "),
        richtext::template_mention("template_mention_date", "today"),
        text(", "),
        richtext::template_mention("template_mention_user", "me"),
        text(", "),
        richtext::custom_emoji_mention(&emoji_id, "party", "https://example.com/party.png"),
        text(" and an equation "),
        richtext::equation("E = mc^2"),
        text("."),
    ];
    g.text_block(h(page), "paragraph", mentions);
    g.text_block(
        h(page),
        "paragraph",
        plain("Literal characters: * _ ` [x](y) <b>tag</b> # | ~ $5 &amp; & \\ ! 2*3*4 snake_case"),
    );
    g.text_block(
        h(page),
        "paragraph",
        plain("# not a heading\n1. not a list\n- not a bullet\n> not a quote\n    four spaces\n===\n+ last line"),
    );
}

fn list_section(g: &mut Gen, page: &str) {
    heading(g, h(page), 2, "Lists", false);
    let one = g.text_block(h(page), "bulleted_list_item", plain("Level one"));
    let two = g.text_block(b(&one), "bulleted_list_item", plain("Level two"));
    let three = g.text_block(b(&two), "bulleted_list_item", plain("Level three"));
    g.text_block(
        b(&three),
        "paragraph",
        plain("A paragraph under level three."),
    );
    g.text_block(h(page), "bulleted_list_item", plain("Another top item"));
    g.text_block(h(page), "numbered_list_item", plain("First"));
    let second = g.text_block(h(page), "numbered_list_item", plain("Second"));
    g.text_block(b(&second), "numbered_list_item", plain("Second, first sub"));
    g.text_block(
        b(&second),
        "numbered_list_item",
        plain("Second, second sub"),
    );
    g.text_block(h(page), "numbered_list_item", plain("Third"));
    g.text_block(
        h(page),
        "paragraph",
        plain("A paragraph between lists restarts the numbering."),
    );
    g.text_block(h(page), "numbered_list_item", plain("Again one"));
    g.text_block(h(page), "numbered_list_item", plain("Again two"));
    g.block(h(page), "table_of_contents", json!({ "color": "default" }));
    g.text_block(
        h(page),
        "numbered_list_item",
        plain("After the table of contents"),
    );
    g.text_block(
        h(page),
        "bulleted_list_item",
        plain("A bullet right before a to-do list"),
    );
    let done = g.block(
        h(page),
        "to_do",
        json!({ "rich_text": plain("Done thing"), "checked": true, "color": "default" }),
    );
    g.text_block(b(&done), "to_do", plain("Nested open thing"));
    g.text_block(h(page), "to_do", plain("Open thing"));
}

fn container_section(g: &mut Gen, page: &str) {
    heading(g, h(page), 2, "Containers", false);
    let toggle = g.text_block(
        h(page),
        "toggle",
        vec![text("A "), marked("toggle", &["bold"], "default", None)],
    );
    g.text_block(b(&toggle), "paragraph", plain("Inside the toggle."));
    let l1 = g.text_block(b(&toggle), "bulleted_list_item", plain("Toggle list"));
    let l2 = g.text_block(b(&l1), "bulleted_list_item", plain("deeper"));
    g.text_block(b(&l2), "bulleted_list_item", plain("deepest"));
    let th = heading(g, h(page), 2, "A toggleable heading", true);
    g.text_block(b(&th), "paragraph", plain("Kept under the heading."));
    let quote = g.text_block(h(page), "quote", plain("A quote\nwith two lines"));
    g.text_block(b(&quote), "paragraph", plain("Quoted child."));
    let callout = g.block(
        h(page),
        "callout",
        json!({ "rich_text": plain("A callout with an emoji"), "icon": { "type": "emoji", "emoji": "💡" }, "color": "gray_background" }),
    );
    g.text_block(b(&callout), "bulleted_list_item", plain("Callout child"));
    g.block(
        h(page),
        "callout",
        json!({ "rich_text": plain("A callout without an icon"), "icon": null, "color": "default" }),
    );
    let cols = g.block(h(page), "column_list", json!({}));
    let c1 = g.block(b(&cols), "column", json!({ "width_ratio": 0.5 }));
    let c2 = g.block(b(&cols), "column", json!({ "width_ratio": 0.25 }));
    let c3 = g.block(b(&cols), "column", json!({ "width_ratio": 0.25 }));
    let n1 = g.text_block(b(&c1), "numbered_list_item", plain("Column one, first"));
    let n2 = g.text_block(b(&n1), "bulleted_list_item", plain("nested in a column"));
    g.text_block(b(&n2), "bulleted_list_item", plain("deeper in a column"));
    g.text_block(b(&c1), "numbered_list_item", plain("Column one, second"));
    let t = g.text_block(b(&c2), "toggle", plain("Toggle in a column"));
    let t1 = g.text_block(b(&t), "bulleted_list_item", plain("Toggle child"));
    let t2 = g.text_block(b(&t1), "bulleted_list_item", plain("grandchild"));
    g.text_block(b(&t2), "bulleted_list_item", plain("great-grandchild"));
    g.text_block(
        b(&c3),
        "numbered_list_item",
        plain("Third column restarts at one"),
    );
    let original = g.block(h(page), "synced_block", json!({ "synced_from": null }));
    g.text_block(b(&original), "paragraph", plain("Synced original content."));
    g.block(
        h(page),
        "synced_block",
        json!({ "synced_from": { "type": "block_id", "block_id": original } }),
    );
    let unshared = g.rng.uuid();
    g.block(
        h(page),
        "synced_block",
        json!({ "synced_from": { "type": "block_id", "block_id": unshared } }),
    );
}

fn code_section(g: &mut Gen, page: &str) {
    heading(g, h(page), 2, "Code and math", false);
    g.block(
        h(page),
        "code",
        json!({
            "caption": vec![text("A caption with "), marked("stars", &["italic"], "default", None)],
            "rich_text": plain("const fence = \"```\";\nconst t = `template ${x}`;\n// a run of four: ````"),
            "language": "javascript"
        }),
    );
    g.block(
        h(page),
        "code",
        json!({ "caption": [], "rich_text": plain("no language | pipes\n\n  indented after a blank line"), "language": "plain text" }),
    );
    g.block(
        h(page),
        "code",
        json!({ "caption": [], "rich_text": plain("int main() { return 0; }"), "language": "c++" }),
    );
    g.block(
        h(page),
        "equation",
        json!({ "expression": "\\int_0^1 x^2 \\, dx = \\frac{1}{3}" }),
    );
    g.block(h(page), "divider", json!({}));
}

fn table_section(g: &mut Gen, page: &str) {
    heading(g, h(page), 2, "Tables", false);
    let table = g.block(
        h(page),
        "table",
        json!({ "table_width": 3, "has_column_header": true, "has_row_header": false }),
    );
    let rows: Vec<Vec<Vec<Value>>> = vec![
        vec![plain("Name"), plain("Pipe | inside"), plain("Notes")],
        vec![
            plain("a | b"),
            plain("line one\nline two"),
            vec![marked("x | y", &["code"], "default", None)],
        ],
        vec![plain("**not bold**"), vec![], plain("<br> literal")],
    ];
    for cells in rows {
        g.block(b(&table), "table_row", json!({ "cells": cells }));
    }
    let plain_table = g.block(
        h(page),
        "table",
        json!({ "table_width": 2, "has_column_header": false, "has_row_header": true }),
    );
    for (a, v) in [("Row header", "value"), ("Second", "value 2")] {
        g.block(
            b(&plain_table),
            "table_row",
            json!({ "cells": [plain(a), plain(v)] }),
        );
    }
}

fn media_section(g: &mut Gen, page: &str, meeting_notes: &str, db: &str) {
    heading(g, h(page), 2, "Links and media", false);
    let external = |url: &str, caption: &str| json!({ "caption": plain(caption), "type": "external", "external": { "url": url } });
    // A Notion-hosted photo the simulator serves (the second draw once made its signature;
    // kept so the showcase keeps its ids).
    let photo_id = g.rng.uuid();
    let _ = g.rng.hex(64);
    let photo = super::files::HostedFile::new(&photo_id, "photo.jpg", 12 * 1024, 41);
    let hosted = g.ws.add_hosted_file(photo).unsigned();
    let mut file = external("https://example.com/files/spec%20sheet.txt", "");
    file["name"] = json!("spec sheet.txt");
    let blocks = [
        (
            "bookmark",
            json!({ "caption": plain("Block reference"), "url": "https://developers.notion.com/reference/block" }),
        ),
        (
            "bookmark",
            json!({ "caption": [], "url": "https://en.wikipedia.org/wiki/Markdown_(disambiguation)" }),
        ),
        (
            "embed",
            json!({ "caption": [], "url": "https://www.youtube.com/embed/dQw4w9WgXcQ" }),
        ),
        (
            "link_preview",
            json!({ "url": "https://github.com/makenotion/notion-sdk-js/pull/1" }),
        ),
        (
            "image",
            external("https://example.com/diagram.png", "A diagram"),
        ),
        (
            "image",
            json!({ "caption": [], "type": "file", "file": hosted }),
        ),
        ("file", file),
        (
            "pdf",
            external("https://example.com/paper.pdf", "The paper"),
        ),
        ("video", external("https://example.com/clip.mp4", "")),
        ("audio", external("https://example.com/sound.mp3", "")),
        (
            "link_to_page",
            json!({ "type": "page_id", "page_id": meeting_notes }),
        ),
        (
            "link_to_page",
            json!({ "type": "database_id", "database_id": db }),
        ),
        ("breadcrumb", json!({})),
        ("unsupported", json!({ "block_type": "form" })),
    ];
    for (kind, data) in blocks {
        g.block(h(page), kind, data);
    }
}

/// An inline database with one data source of every simple property type and three rows.
fn showcase_database(g: &mut Gen, page: &str) -> String {
    let db = g.database(Parent::Page(page.to_string()), SHOWCASE_DB, true);
    let ds = g.data_source(&db, SHOWCASE_DB, "Name");
    let kinds = g.options(&["alpha", "beta"]);
    let kind = g.add_prop(&ds, "Kind", PropKind::Select { options: kinds }, None);
    let tag_opts = g.options(&["red", "green", "blue"]);
    let tags = g.add_prop(
        &ds,
        "Tags",
        PropKind::MultiSelect { options: tag_opts },
        None,
    );
    let owner = g.add_prop(&ds, "Owner", PropKind::People, None);
    let related = g.add_prop(
        &ds,
        "Related",
        PropKind::Relation {
            data_source_id: ds.clone(),
            database_id: db.clone(),
            synced: None,
        },
        None,
    );
    let done = g.add_prop(&ds, "Done", PropKind::Checkbox, None);
    let score = g.add_prop(
        &ds,
        "Score",
        PropKind::Number {
            format: "number".into(),
        },
        None,
    );
    let when = g.add_prop(&ds, "When", PropKind::Date, None);
    let notes = g.add_prop(&ds, "Notes", PropKind::RichText, None);
    let link = g.add_prop(&ds, "Link", PropKind::Url, None);
    let titles = ["First item", "Second | item", "Third *item*"];
    let rows: Vec<String> = titles
        .iter()
        .map(|t| g.page(Parent::DataSource(ds.clone()), plain(t), Value::Null))
        .collect();
    let (Some(first), Some(second)) = (rows.first().cloned(), rows.get(1).cloned()) else {
        return db;
    };
    let option = |g: &Gen, prop: &str, name: &str| {
        super::fixtures::option_id(g, &ds, prop, name).unwrap_or_default()
    };
    let alpha = option(g, &kind, "alpha");
    let beta = option(g, &kind, "beta");
    let red = option(g, &tags, "red");
    let blue = option(g, &tags, "blue");
    let people: Vec<String> = g.persons.iter().take(2).cloned().collect();
    set(g, &first, &kind, Val::Select(Some(alpha)));
    set(g, &first, &tags, Val::MultiSelect(vec![red, blue]));
    set(g, &first, &owner, Val::People(people));
    set(g, &first, &related, Val::Relation(vec![second.clone()]));
    set(g, &first, &done, Val::Checkbox(true));
    set(g, &first, &score, Val::Number(Some(1.5)));
    set(
        g,
        &first,
        &when,
        Val::Date(Some(
            json!({ "start": "2026-05-01", "end": null, "time_zone": null }),
        )),
    );
    set(
        g,
        &first,
        &notes,
        Val::RichText(plain("comma, \"quote\"\nand a newline")),
    );
    set(
        g,
        &first,
        &link,
        Val::Text(Some("https://example.com/first".into())),
    );
    set(g, &second, &kind, Val::Select(Some(beta)));
    set(g, &second, &score, Val::Number(Some(42.0)));
    g.text_block(h(&first), "paragraph", plain("Row content."));
    db
}

fn subpages(g: &mut Gen, page: &str) {
    heading(g, h(page), 2, "Subpages", false);
    let child = g.page(
        Parent::Page(page.to_string()),
        plain("Child page"),
        Value::Null,
    );
    g.text_block(h(&child), "paragraph", plain("A child page."));
    let grandchild = g.page(Parent::Page(child), plain("Grandchild page"), Value::Null);
    g.text_block(h(&grandchild), "paragraph", plain("Two levels down."));
    let forty = g.page(
        Parent::Page(page.to_string()),
        plain(&showcase_forty_segments()),
        Value::Null,
    );
    g.text_block(h(&forty), "paragraph", plain("A title of forty segments."));
    for title in SHOWCASE_TRAVERSAL_TITLES {
        let p = g.page(Parent::Page(page.to_string()), plain(title), Value::Null);
        g.text_block(
            h(&p),
            "paragraph",
            plain("Its file stays inside the export."),
        );
    }
    let long = "Long title ".repeat(30);
    g.page(
        Parent::Page(page.to_string()),
        plain(long.trim()),
        Value::Null,
    );
    g.page(
        Parent::Page(page.to_string()),
        plain("Ünïcödé 日本語 🎉 page"),
        Value::Null,
    );
    for _ in 0..2 {
        g.page(
            Parent::Page(page.to_string()),
            plain(SHOWCASE_TWIN),
            Value::Null,
        );
    }
}
