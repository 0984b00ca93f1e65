//! The named edge-case objects every generated workspace contains (titles are public so
//! tests and the demo can find them).
//!
//! Invariant: the fixtures are built before any random filler, so a seed's fixture ids do
//! not depend on `GenConfig::pages`.

use serde_json::{json, Value};

use super::generate::Gen;
use super::model::{FormulaDef, Holder, Parent, PropKind, RollupFn, StatusGroup, Val};
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

fn set(g: &mut Gen, page: &str, prop: &str, v: Val) {
    if let Some(p) = g.ws.pages.get_mut(page) {
        p.props.insert(prop.to_string(), v);
    }
}

fn option_id(g: &Gen, ds: &str, prop: &str, name: &str) -> Option<String> {
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

fn option_names(g: &Gen, ds: &str, prop: &str) -> Vec<String> {
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
    let (tasks, projects) = projects_and_tasks(g, &pt);
    roadmap_content(g, &roadmap, &meeting_notes);
    meeting_notes_content(g, &meeting_notes);
    knowledge_base(g);
    support(g);
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
        heavy(g);
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
    g.block(Holder::Block(c2), "image", json!({ "caption": [], "type": "external", "external": { "url": "https://example.com/roadmap.png" } }));
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

fn status_kind(g: &mut Gen) -> PropKind {
    let options = g.options(&["Not started", "In progress", "Done"]);
    let colors = ["default", "blue", "green"];
    let options: Vec<_> = options
        .into_iter()
        .zip(colors)
        .map(|(mut o, c)| {
            o.color = c.to_string();
            o
        })
        .collect();
    let groups = [
        ("To-do", "gray"),
        ("In progress", "blue"),
        ("Complete", "green"),
    ]
    .iter()
    .zip(options.iter())
    .map(|((n, c), o)| StatusGroup {
        id: g.rng.uuid(),
        name: n.to_string(),
        color: c.to_string(),
        option_ids: vec![o.id.clone()],
    })
    .collect();
    PropKind::Status { options, groups }
}

fn projects_and_tasks(g: &mut Gen, page: &str) -> (TaskProps, Vec<String>) {
    g.text_block(
        Holder::Page(page.to_string()),
        "paragraph",
        richtext::plain("Where work is tracked."),
    );
    let pdb = g.database(Parent::Page(page.to_string()), DS_PROJECTS, true);
    let pds = g.data_source(&pdb, DS_PROJECTS, "Name");
    let tdb = g.database(Parent::Page(page.to_string()), DS_TASKS, false);
    let tds = g.data_source(&tdb, DS_TASKS, "Name");
    // Linked database: a child_database block whose id is not a database.
    g.block(
        Holder::Page(page.to_string()),
        "child_database",
        json!({ "title": LINKED_VIEW }),
    );
    let status = status_kind(g);
    let status = g.add_prop(&tds, "Status", status, None);
    let done = g.add_prop(&tds, "Done", PropKind::Checkbox, None);
    let estimate = g.add_prop(
        &tds,
        "Estimate",
        PropKind::Number {
            format: "number".into(),
        },
        None,
    );
    let due = g.add_prop(&tds, "Due", PropKind::Date, None);
    let tag_opts = g.options(&["frontend", "backend", "urgent", "docs", "ops"]);
    let tags = g.add_prop(
        &tds,
        "Tags",
        PropKind::MultiSelect { options: tag_opts },
        None,
    );
    let assignee = g.add_prop(&tds, "Assignee", PropKind::People, None);
    let project = g.add_prop(&tds, "Project", PropKind::Checkbox, None); // kind set below
    let prio_opts = g.options(&["P0", "P1", "P2", "P3"]);
    let priority = g.add_prop(
        &tds,
        "Priorité ✓",
        PropKind::Select { options: prio_opts },
        None,
    );
    let team = g.add_prop(&tds, "Owner's \"Team\"", PropKind::RichText, None);
    g.add_prop(
        &tds,
        "Estimate x2",
        PropKind::Formula(FormulaDef::NumberTimes {
            prop: estimate.clone(),
            factor: 2.0,
        }),
        Some(ODD_PROP_ID),
    );
    g.add_prop(
        &tds,
        "Label",
        PropKind::Formula(FormulaDef::TitleWithOption {
            title: "title".into(),
            option: status.clone(),
        }),
        None,
    );
    g.add_prop(
        &tds,
        "Is done",
        PropKind::Formula(FormulaDef::OptionIs {
            prop: status.clone(),
            value: "Done".into(),
        }),
        None,
    );
    g.add_prop(
        &tds,
        "Follow-up",
        PropKind::Formula(FormulaDef::DateAddDays {
            prop: due.clone(),
            days: 7,
        }),
        None,
    );
    let files = g.add_prop(&tds, "Attachments", PropKind::Files, None);
    let link = g.add_prop(&tds, "Link", PropKind::Url, None);
    let email = g.add_prop(&tds, "Contact", PropKind::Email, None);
    let phone = g.add_prop(&tds, "Phone", PropKind::PhoneNumber, None);
    g.add_prop(&tds, "Created", PropKind::CreatedTime, None);
    g.add_prop(&tds, "Created by", PropKind::CreatedBy, None);
    g.add_prop(&tds, "Updated", PropKind::LastEditedTime, None);
    g.add_prop(&tds, "Updated by", PropKind::LastEditedBy, None);
    g.add_prop(
        &tds,
        "Task ID",
        PropKind::UniqueId {
            prefix: Some("TASK".into()),
        },
        None,
    );
    g.add_prop(&tds, "Run", PropKind::Button, None);

    let projects_tasks = g.add_prop(&pds, "Tasks", PropKind::Checkbox, None);
    set_kind(
        g,
        &tds,
        &project,
        PropKind::Relation {
            data_source_id: pds.clone(),
            database_id: pdb.clone(),
            synced: Some(projects_tasks.clone()),
        },
    );
    set_kind(
        g,
        &pds,
        &projects_tasks,
        PropKind::Relation {
            data_source_id: tds.clone(),
            database_id: tdb.clone(),
            synced: Some(project.clone()),
        },
    );
    g.add_prop(
        &tds,
        "Project budget",
        PropKind::Rollup {
            relation: project.clone(),
            target: String::new(),
            function: RollupFn::Sum,
        },
        None,
    );
    let lead = g.add_prop(&pds, "Lead", PropKind::People, None);
    let budget = g.add_prop(
        &pds,
        "Budget",
        PropKind::Number {
            format: "dollar".into(),
        },
        None,
    );
    set_rollup_target(g, &tds, "Project budget", &budget);
    g.add_prop(
        &pds,
        "Task count",
        PropKind::Rollup {
            relation: projects_tasks.clone(),
            target: "title".into(),
            function: RollupFn::Count,
        },
        None,
    );
    g.add_prop(
        &pds,
        "Total estimate",
        PropKind::Rollup {
            relation: projects_tasks.clone(),
            target: estimate.clone(),
            function: RollupFn::Sum,
        },
        None,
    );
    g.add_prop(
        &pds,
        "Max estimate",
        PropKind::Rollup {
            relation: projects_tasks.clone(),
            target: estimate.clone(),
            function: RollupFn::Max,
        },
        None,
    );
    g.add_prop(
        &pds,
        "Next due",
        PropKind::Rollup {
            relation: projects_tasks.clone(),
            target: due.clone(),
            function: RollupFn::EarliestDate,
        },
        None,
    );
    g.add_prop(
        &pds,
        "Task names",
        PropKind::Rollup {
            relation: projects_tasks.clone(),
            target: "title".into(),
            function: RollupFn::ShowOriginal,
        },
        None,
    );
    g.add_prop(
        &pds,
        "Linked tasks",
        PropKind::Formula(FormulaDef::RelationCount {
            prop: projects_tasks.clone(),
        }),
        None,
    );
    let phase_opts = g.options(&["Idea", "Active", "Paused", "Done"]);
    let phase = g.add_prop(
        &pds,
        "Phase",
        PropKind::Select {
            options: phase_opts,
        },
        None,
    );
    let kickoff = g.add_prop(&pds, "Kickoff", PropKind::Date, None);

    let mut projects = Vec::new();
    for (i, name) in [
        WEBSITE_RELAUNCH,
        "Mobile app",
        "Data platform",
        "Hiring 2026",
        "Office move",
    ]
    .iter()
    .enumerate()
    {
        let id = g.page(
            Parent::DataSource(pds.clone()),
            richtext::plain(name),
            json!({"type":"emoji","emoji":"📁"}),
        );
        let who = g.person();
        set(g, &id, &lead, Val::People(vec![who]));
        set(
            g,
            &id,
            &budget,
            Val::Number(Some(10_000.0 * (i as f64 + 1.0) + 500.0)),
        );
        let phases = option_names(g, &pds, &phase);
        let ph = option_id(g, &pds, &phase, &phases[i % phases.len()]);
        set(g, &id, &phase, Val::Select(ph));
        set(
            g,
            &id,
            &kickoff,
            Val::Date(Some(
                json!({ "start": format!("2026-0{}-01", i + 1), "end": null, "time_zone": null }),
            )),
        );
        projects.push(id);
    }
    let props = TaskProps {
        ds: tds,
        status,
        done,
        estimate,
        due,
        tags,
        assignee,
        project,
        priority,
        team,
        files,
        link,
        email,
        phone,
        projects_tasks,
    };
    let fixed = Fixed {
        meeting_notes: String::new(),
        archive: String::new(),
        tasks: props,
        projects,
    };
    // ≥ 30 tasks on the first project (relation truncated at 25), a few on the others.
    for _ in 0..31 {
        let p = fixed.projects.first().cloned();
        task_row(g, &fixed, p);
    }
    for i in 0..4 {
        let p = fixed.projects.get(1 + i % 4).cloned();
        task_row(g, &fixed, p);
    }
    special_rows(g, &fixed);
    (fixed.tasks, fixed.projects)
}

fn set_kind(g: &mut Gen, ds: &str, prop: &str, kind: PropKind) {
    if let Some(p) =
        g.ws.data_sources
            .get_mut(ds)
            .and_then(|d| d.properties.iter_mut().find(|p| p.id == prop))
    {
        p.kind = kind;
    }
}

fn set_rollup_target(g: &mut Gen, ds: &str, name: &str, new_target: &str) {
    if let Some(p) =
        g.ws.data_sources
            .get_mut(ds)
            .and_then(|d| d.properties.iter_mut().find(|p| p.name == name))
    {
        if let PropKind::Rollup { target, .. } = &mut p.kind {
            *target = new_target.to_string();
        }
    }
}

/// Links a task row to a project row on both sides of the dual relation.
fn link(g: &mut Gen, f: &Fixed, task: &str, project: &str) {
    let t = &f.tasks;
    for (page, prop, other) in [
        (task, &t.project, project),
        (project, &t.projects_tasks, task),
    ] {
        if let Some(p) = g.ws.pages.get_mut(page) {
            match p
                .props
                .entry(prop.clone())
                .or_insert_with(|| Val::Relation(Vec::new()))
            {
                Val::Relation(v) if !v.iter().any(|x| x == other) => v.push(other.to_string()),
                _ => {}
            }
        }
    }
}

/// One Tasks row with random values; related to `project` (or a random one).
pub(crate) fn task_row(g: &mut Gen, f: &Fixed, project: Option<String>) -> String {
    let title = g.task_title();
    let id = g.page(
        Parent::DataSource(f.tasks.ds.clone()),
        richtext::plain(&title),
        Value::Null,
    );
    let t = &f.tasks;
    let statuses = ["Not started", "In progress", "Done"];
    let st = statuses[g.rng.index(3)];
    let st_id = option_id(g, &t.ds, &t.status, st);
    set(g, &id, &t.status, Val::Status(st_id));
    set(g, &id, &t.done, Val::Checkbox(st == "Done"));
    let est = g.rng.chance(0.75).then(|| g.rng.range(1, 13) as f64);
    set(g, &id, &t.estimate, Val::Number(est));
    let day = g.rng.range(1, 28);
    let due = match g.rng.index(5) {
        0 => None,
        1 => Some(json!({ "start": format!("2026-08-{day:02}"), "end": null, "time_zone": null })),
        2 => Some(
            json!({ "start": format!("2026-08-{day:02}T09:30:00.000+00:00"), "end": null, "time_zone": null }),
        ),
        3 => Some(
            json!({ "start": format!("2026-08-{day:02}"), "end": format!("2026-09-{day:02}"), "time_zone": null }),
        ),
        _ => Some(
            json!({ "start": format!("2026-08-{day:02}T14:00:00.000+02:00"), "end": null, "time_zone": "Europe/Berlin" }),
        ),
    };
    set(g, &id, &t.due, Val::Date(due));
    let tag_names = option_names(g, &t.ds, &t.tags);
    let mut tags = Vec::new();
    for _ in 0..g.rng.range(0, 2) {
        let n = tag_names[g.rng.index(tag_names.len())].clone();
        if let Some(o) = option_id(g, &t.ds, &t.tags, &n) {
            if !tags.contains(&o) {
                tags.push(o);
            }
        }
    }
    set(g, &id, &t.tags, Val::MultiSelect(tags));
    let mut people = Vec::new();
    for _ in 0..g.rng.range(0, 2) {
        let p = g.person();
        if !people.contains(&p) {
            people.push(p);
        }
    }
    set(g, &id, &t.assignee, Val::People(people));
    let prio = ["P0", "P1", "P2", "P3"][g.rng.index(4)];
    let prio = if g.rng.chance(0.8) {
        option_id(g, &t.ds, &t.priority, prio)
    } else {
        None
    };
    set(g, &id, &t.priority, Val::Select(prio));
    if g.rng.chance(0.5) {
        let rich = vec![
            richtext::styled("Team ", true, false, None),
            richtext::styled(
                "Platform",
                false,
                true,
                Some("https://example.com/teams/platform"),
            ),
        ];
        set(g, &id, &t.team, Val::RichText(rich));
    }
    if g.rng.chance(0.3) {
        let files = files_value(g, &id);
        set(g, &id, &t.files, Val::Files(files));
    }
    if g.rng.chance(0.5) {
        let url = format!("https://example.com/tasks/{}", g.rng.hex(6));
        set(g, &id, &t.link, Val::Text(Some(url)));
        set(g, &id, &t.email, Val::Text(Some("owner@acme.test".into())));
        set(g, &id, &t.phone, Val::Text(Some("+1 555 0100".into())));
    }
    let project = project.or_else(|| g.rng.pick(&f.projects).cloned());
    if let Some(p) = project {
        link(g, f, &id, &p);
    }
    for _ in 0..g.rng.range(0, 2) {
        let s = g.sentence();
        g.text_block(Holder::Page(id.clone()), "paragraph", richtext::plain(&s));
    }
    if g.rng.chance(0.3) {
        g.random_comments(&id);
    }
    id
}

/// A Notion-hosted file (deterministic signed URL and expiry) and an external file.
fn files_value(g: &mut Gen, page: &str) -> Vec<Value> {
    let expiry = super::util::fmt_millis(g.ws.generated_at + chrono::Duration::hours(1));
    let sig = g.rng.hex(64);
    vec![
        json!({ "name": "spec.pdf", "type": "file", "file": {
            "url": format!("https://prod-files-secure.s3.us-west-2.amazonaws.com/{}/{}/spec.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature={}", g.ws.workspace_id, page, sig),
            "expiry_time": expiry } }),
        json!({ "name": "Design mock", "type": "external", "external": { "url": "https://example.com/mock.png" } }),
    ]
}

fn special_rows(g: &mut Gen, f: &Fixed) {
    let t = &f.tasks;
    let staffing = task_row(g, f, f.projects.get(3).cloned());
    rename(g, &staffing, richtext::plain(STAFFING_PLAN));
    let mut rich = vec![richtext::text("Owners: ")];
    for i in 0..30 {
        let u = g.persons[i % g.persons.len()].clone();
        let name = g.ws.user(&u).map(|u| u.name.clone()).unwrap_or_default();
        rich.push(richtext::user_mention(user_json(&g.ws, &u), &name));
        rich.push(richtext::text(if i == 29 { "." } else { ", " }));
    }
    set(g, &staffing, &t.team, Val::RichText(rich));
    let files = files_value(g, &staffing);
    set(g, &staffing, &t.files, Val::Files(files));

    let review = task_row(g, f, f.projects.get(2).cloned());
    let mut title = vec![richtext::text(MENTION_TITLE_PREFIX)];
    for i in 0..27 {
        let u = g.persons[i % g.persons.len()].clone();
        let name = g.ws.user(&u).map(|u| u.name.clone()).unwrap_or_default();
        title.push(richtext::user_mention(user_json(&g.ws, &u), &name));
        if i < 26 {
            title.push(richtext::text(" "));
        }
    }
    rename(g, &review, title);

    let obsolete = task_row(g, f, f.projects.get(4).cloned());
    rename(g, &obsolete, richtext::plain(OBSOLETE_TASK));
    if let Some(p) = g.ws.pages.get_mut(&obsolete) {
        p.in_trash = true;
    }
    if g.cfg.heavy_edge_cases && g.persons.len() >= 30 {
        let all = task_row(g, f, f.projects.get(1).cloned());
        rename(g, &all, richtext::plain(ALL_HANDS));
        let everyone: Vec<String> = g.persons.iter().take(30).cloned().collect();
        set(g, &all, &t.assignee, Val::People(everyone));
    }
}

fn rename(g: &mut Gen, page: &str, title: Vec<Value>) {
    if let Some(p) = g.ws.pages.get_mut(page) {
        p.title = title;
    }
}

fn knowledge_base(g: &mut Gen) {
    let kb = g.page(
        Parent::Workspace,
        richtext::plain(KNOWLEDGE_BASE),
        json!({"type":"emoji","emoji":"📚"}),
    );
    g.text_block(
        Holder::Page(kb.clone()),
        "paragraph",
        richtext::plain("Articles and answers."),
    );
    let db = g.database(Parent::Page(kb.clone()), KNOWLEDGE_BASE, false);
    let articles = g.data_source(&db, DS_ARTICLES, "Name");
    let cat_opts = g.options(&["Guide", "Reference", "News"]);
    let cat = g.add_prop(
        &articles,
        "Category",
        PropKind::Select { options: cat_opts },
        None,
    );
    let published = g.add_prop(&articles, "Published", PropKind::Date, None);
    let author = g.add_prop(&articles, "Author", PropKind::People, None);
    let body = g.add_prop(&articles, "Body", PropKind::RichText, None);
    for (i, name) in [
        "Getting started",
        "API limits explained",
        "Sync internals",
        "Release 1.0",
    ]
    .iter()
    .enumerate()
    {
        let id = g.page(
            Parent::DataSource(articles.clone()),
            richtext::plain(name),
            Value::Null,
        );
        let c = option_id(g, &articles, &cat, ["Guide", "Reference", "News"][i % 3]);
        set(g, &id, &cat, Val::Select(c));
        set(
            g,
            &id,
            &published,
            Val::Date(Some(
                json!({ "start": format!("2026-05-{:02}", i + 3), "end": null, "time_zone": null }),
            )),
        );
        let a = g.person();
        set(g, &id, &author, Val::People(vec![a]));
        let s = g.sentence();
        set(g, &id, &body, Val::RichText(richtext::plain(&s)));
        g.random_content(&id, 2);
    }
    let faq = g.data_source(&db, DS_FAQ, "Question");
    let answer = g.add_prop(&faq, "Answer", PropKind::RichText, None);
    let votes = g.add_prop(
        &faq,
        "Votes",
        PropKind::Number {
            format: "number".into(),
        },
        None,
    );
    for (i, q) in ["How do I sync?", "What is a data source?", "Why 25 items?"]
        .iter()
        .enumerate()
    {
        let id = g.page(
            Parent::DataSource(faq.clone()),
            richtext::plain(q),
            Value::Null,
        );
        let s = g.sentence();
        set(g, &id, &answer, Val::RichText(richtext::plain(&s)));
        set(g, &id, &votes, Val::Number(Some((i * 7) as f64)));
    }
    let wdb = g.database(Parent::Page(kb), DS_WIKI, false);
    let wiki = g.data_source(&wdb, DS_WIKI, "Page");
    g.add_prop(
        &wiki,
        "Verification",
        PropKind::Verification,
        Some("verification"),
    );
    let owner = g.add_prop(&wiki, "Owner", PropKind::People, Some("verification_owner"));
    let tag_opts = g.options(&["Onboarding", "Design"]);
    g.add_prop(
        &wiki,
        "Tags",
        PropKind::MultiSelect { options: tag_opts },
        None,
    );
    g.add_prop(&wiki, "Last edited time", PropKind::LastEditedTime, None);
    for (i, name) in ["Team handbook", "Design principles", "On-call guide"]
        .iter()
        .enumerate()
    {
        let id = g.page(
            Parent::DataSource(wiki.clone()),
            richtext::plain(name),
            Value::Null,
        );
        let who = g.person();
        set(g, &id, &owner, Val::People(vec![who.clone()]));
        let v = if i == 0 {
            json!({ "state": "verified", "verified_by": user_json(&g.ws, &who),
                    "date": { "start": "2026-06-01T15:00:00.000Z", "end": "2026-12-01T15:00:00.000Z", "time_zone": null } })
        } else {
            json!({ "state": "unverified", "verified_by": null, "date": null })
        };
        set(g, &id, "verification", Val::Verification(v));
        g.random_content(&id, 3);
    }
}

fn support(g: &mut Gen) {
    let page = g.page(Parent::Workspace, richtext::plain(SUPPORT), Value::Null);
    if let Some(p) = g.ws.pages.get_mut(&page) {
        p.is_locked = true;
    }
    let db1 = g.database(Parent::Page(page.clone()), DS_QA_1, true);
    let qa1 = g.data_source(&db1, DS_QA_1, "Question");
    let asked = g.add_prop(&qa1, "Asked by", PropKind::People, None);
    let answered = g.add_prop(&qa1, "Answered", PropKind::Checkbox, None);
    for (i, q) in [
        "Where is the API key?",
        "Can I export to CSV?",
        "Is there an SLA?",
    ]
    .iter()
    .enumerate()
    {
        let id = g.page(
            Parent::DataSource(qa1.clone()),
            richtext::plain(q),
            Value::Null,
        );
        let who = g.person();
        set(g, &id, &asked, Val::People(vec![who]));
        set(g, &id, &answered, Val::Checkbox(i % 2 == 0));
    }
    let db2 = g.database(Parent::Page(page.clone()), DS_QA_2, true);
    let qa2 = g.data_source(&db2, DS_QA_2, "Question");
    let res = g.add_prop(&qa2, "Resolution", PropKind::RichText, None);
    for q in ["Login loop on Safari", "Webhook not firing"] {
        let id = g.page(
            Parent::DataSource(qa2.clone()),
            richtext::plain(q),
            Value::Null,
        );
        set(
            g,
            &id,
            &res,
            Val::RichText(richtext::plain("Fixed in 1.2.")),
        );
    }
    let db3 = g.database(Parent::Page(page.clone()), "", true);
    let empty = g.data_source(&db3, "", "Name");
    let notes = g.add_prop(&empty, "Notes", PropKind::RichText, None);
    for n in ["Untitled idea", "Another idea"] {
        let id = g.page(
            Parent::DataSource(empty.clone()),
            richtext::plain(n),
            Value::Null,
        );
        set(g, &id, &notes, Val::RichText(richtext::plain("…")));
    }
    let rdb = g.database(Parent::Page(page), DS_READING, false);
    let reading = g.data_source(&rdb, DS_READING, "Name");
    let url = g.add_prop(&reading, "URL", PropKind::Url, None);
    let idp = g.add_prop(&reading, "id", PropKind::RichText, None);
    let projects_ds =
        g.ws.data_sources
            .values()
            .find(|d| richtext::plain_text(&d.title) == DS_PROJECTS)
            .map(|d| (d.id.clone(), d.database_id.clone()));
    let mut pref = None;
    if let Some((pds, pdb)) = projects_ds {
        pref = Some(g.add_prop(
            &reading,
            "Project ref",
            PropKind::Relation {
                data_source_id: pds,
                database_id: pdb,
                synced: None,
            },
            None,
        ));
    }
    let first_project =
        g.ws.data_sources
            .values()
            .find(|d| richtext::plain_text(&d.title) == DS_PROJECTS)
            .and_then(|d| d.rows.first().cloned());
    for (i, n) in [
        "The Pragmatic Programmer",
        "Designing Data-Intensive Applications",
        "Notion API docs",
    ]
    .iter()
    .enumerate()
    {
        let id = g.page(
            Parent::DataSource(reading.clone()),
            richtext::plain(n),
            Value::Null,
        );
        set(
            g,
            &id,
            &url,
            Val::Text(Some(format!("https://example.com/books/{i}"))),
        );
        set(
            g,
            &id,
            &idp,
            Val::RichText(richtext::plain(&format!("BOOK-{i}"))),
        );
        if let (Some(p), Some(target)) = (&pref, &first_project) {
            set(g, &id, p, Val::Relation(vec![target.clone()]));
        }
    }
}

fn heavy(g: &mut Gen) {
    let notes = g.page(
        Parent::Workspace,
        richtext::plain(RELEASE_NOTES),
        Value::Null,
    );
    for i in 1..=130 {
        g.text_block(
            Holder::Page(notes.clone()),
            "paragraph",
            richtext::plain(&format!("Release 0.{i}: bug fixes and improvements.")),
        );
    }
    let review = g.page(
        Parent::Workspace,
        richtext::plain(DESIGN_REVIEW),
        Value::Null,
    );
    g.text_block(
        Holder::Page(review.clone()),
        "paragraph",
        richtext::plain("Comments welcome."),
    );
    let mut discussions: Vec<Option<String>> = vec![None; 5];
    for i in 0..110 {
        let k = i % 5;
        let (_, d) = g.comment(
            Holder::Page(review.clone()),
            discussions[k].clone(),
            &format!("Review comment {i}"),
        );
        discussions[k] = Some(d);
    }
    let ops = g.page(
        Parent::Workspace,
        richtext::plain("Operations"),
        Value::Null,
    );
    let db = g.database(Parent::Page(ops), DS_EVENT_LOG, false);
    let ds = g.data_source(&db, DS_EVENT_LOG, "Name");
    let when = g.add_prop(&ds, "When", PropKind::Date, None);
    let lvl_opts = g.options(&["info", "warn", "error"]);
    let level = g.add_prop(&ds, "Level", PropKind::Select { options: lvl_opts }, None);
    let count = g.add_prop(
        &ds,
        "Count",
        PropKind::Number {
            format: "number".into(),
        },
        None,
    );
    for i in 0..260 {
        let id = g.page(
            Parent::DataSource(ds.clone()),
            richtext::plain(&format!("Event {i:03}")),
            Value::Null,
        );
        let t =
            g.ws.pages
                .get(&id)
                .map(|p| p.created_time)
                .unwrap_or(g.ws.generated_at);
        set(
            g,
            &id,
            &when,
            Val::Date(Some(
                json!({ "start": super::util::fmt_millis(t), "end": null, "time_zone": null }),
            )),
        );
        let l = option_id(g, &ds, &level, ["info", "warn", "error"][i % 3]);
        set(g, &id, &level, Val::Select(l));
        set(g, &id, &count, Val::Number(Some((i % 17) as f64)));
    }
}
