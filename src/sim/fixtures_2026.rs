//! What Notion shipped in 2026, in the generated workspace (docs/notion-2026.md): views
//! (a default view per data source, random ones, and the fixed "View checks" on Tasks that
//! cover every filter kind), `tab`, `heading_4`, `meeting_notes` and `unsupported` blocks,
//! icons of every type, a Custom Agent (a bot user with `agent_id`) in people values and as
//! a page's parent, a person without a name, unsupported formula and rollup results, and
//! one property, block and icon type newer than anything the mirror knows.
//!
//! Invariant: built after everything else (`generate` calls it last, when
//! `GenConfig::api_2026`), so the ids and values of the rest of the workspace are those of
//! a workspace without it; fixture views are protected from random mutations.

use serde_json::{json, Value};

use super::fixtures::DS_TASKS;
use super::generate::Gen;
use super::model::{FormulaDef, Holder, Parent, PropKind, RollupFn, User, UserKind, Val};
use super::mutate_views::{random_filter, random_sorts, VIEW_TYPES};
use super::richtext;
use super::util::SimRng;

/// The page holding the 2026 block types.
pub const NOTION_2026: &str = "Notion 2026";
/// The data source whose rows have agents in people values.
pub const DS_AGENT_TASKS: &str = "Agent tasks";
/// The Custom Agent's name.
pub const AGENT_NAME: &str = "Triage agent";
/// Prefix of the fixed views on Tasks (one per filter kind).
pub const VIEW_CHECK_PREFIX: &str = "Check: ";
/// A block type newer than every version the mirror knows.
pub const FUTURE_BLOCK_TYPE: &str = "future_block";
/// An icon type newer than every version the mirror knows.
pub const FUTURE_ICON_TYPE: &str = "future_icon";

/// Builds the 2026 additions.
pub(crate) fn build(g: &mut Gen) {
    let agent = users(g);
    let page = blocks_page(g);
    agent_tasks(g, &agent, &page);
    // Fixtures: random churn edits their values and content but never trashes, moves or
    // revokes them.
    let fixed: Vec<String> =
        g.ws.pages
            .values()
            .filter(|p| p.created_time >= g.ws.pages[&page].created_time)
            .map(|p| p.id.clone())
            .chain(
                g.ws.databases
                    .values()
                    .filter(|d| d.created_time >= g.ws.pages[&page].created_time)
                    .map(|d| d.id.clone()),
            )
            .collect();
    g.ws.protected.extend(fixed);
    let mut rng = SimRng::new(g.cfg.seed ^ 0x5EED_2026);
    views(g, &mut rng);
}

fn users(g: &mut Gen) -> String {
    let id = g.ws.new_id();
    let agent_id = g.rng.uuid();
    g.ws.users.push(User {
        id: id.clone(),
        name: AGENT_NAME.into(),
        avatar_url: None,
        kind: UserKind::Agent { agent_id },
    });
    let nameless = g.ws.new_id();
    g.ws.users.push(User {
        id: nameless,
        name: String::new(),
        avatar_url: None,
        kind: UserKind::Person {
            email: "no-name@acme.test".into(),
        },
    });
    id
}

/// The page with every new block type, under the workspace, with a native icon.
fn blocks_page(g: &mut Gen) -> String {
    let icon = json!({ "type": "icon", "icon": { "name": "rocket", "color": "blue" } });
    let page = g.page(Parent::Workspace, richtext::plain(NOTION_2026), icon);
    let top = || Holder::Page(page.clone());
    g.block(
        top(),
        "heading_4",
        json!({ "rich_text": richtext::plain("A fourth-level heading"), "is_toggleable": false, "color": "default" }),
    );
    let tabs = g.block(top(), "tab", json!({}));
    for (label, icon) in [
        ("Overview", json!({ "type": "emoji", "emoji": "📌" })),
        (
            "Details",
            json!({ "type": "icon", "icon": { "name": "document", "color": "gray" } }),
        ),
    ] {
        let tab = g.block(
            Holder::Block(tabs.clone()),
            "paragraph",
            json!({ "rich_text": richtext::plain(label), "icon": icon, "color": "default" }),
        );
        g.text_block(
            Holder::Block(tab),
            "paragraph",
            richtext::plain(&format!("Inside the {label} tab.")),
        );
    }
    let notes = g.block(
        top(),
        "meeting_notes",
        json!({
            "title": richtext::plain("Weekly sync (AI notes)"),
            "status": "notes_ready",
            "children": {},
            "calendar_event": { "start_time": "2026-11-30T10:00:00.000Z", "end_time": "2026-11-30T10:30:00.000Z", "attendees": [] },
            "recording": { "start_time": "2026-11-30T10:01:00.000Z", "end_time": "2026-11-30T10:29:00.000Z" },
        }),
    );
    let summary = g.text_block(
        Holder::Block(notes.clone()),
        "paragraph",
        richtext::plain("Summary: ship the views mirror."),
    );
    if let Some(b) = g.ws.blocks.get_mut(&notes) {
        b.data["children"] = json!({ "summary_block_id": summary });
    }
    g.block(
        top(),
        "callout",
        json!({ "rich_text": richtext::plain("Native icons replaced SVG URLs."),
                "icon": { "type": "icon", "icon": { "name": "lightbulb", "color": "yellow" } },
                "color": "default" }),
    );
    g.block(top(), "unsupported", json!({ "block_type": "form" }));
    g.block(
        top(),
        FUTURE_BLOCK_TYPE,
        json!({ "rich_text": richtext::plain("From a future API"), "mode": "new" }),
    );
    // Pages with the other icon types.
    let icons = [
        (
            "Custom emoji icon",
            json!({ "type": "custom_emoji", "custom_emoji": { "id": g.rng.uuid(), "name": "party", "url": "https://example.com/party.png" } }),
        ),
        (
            "External icon",
            json!({ "type": "external", "external": { "url": "https://example.com/icon.svg" } }),
        ),
        ("Hosted icon", hosted_icon(g)),
        (
            "Future icon",
            json!({ "type": FUTURE_ICON_TYPE, FUTURE_ICON_TYPE: { "glyph": "✶" } }),
        ),
    ];
    for (title, icon) in icons {
        g.page(Parent::Page(page.clone()), richtext::plain(title), icon);
    }
    cover_content(g, &page);
    page
}

/// A Notion-hosted icon the simulator serves (its id derived from a fixed text, so the
/// workspace's RNG draws stay as they were).
fn hosted_icon(g: &mut Gen) -> Value {
    let id = super::files::derived_id("fixtures-2026-hosted-icon");
    let seed = super::files::seed_of("icon-0");
    g.ws.add_hosted_file(super::files::HostedFile::new(&id, "icon.png", 2048, seed))
        .object()
}

/// A page's `last_edited_time` covers its blocks (generated after `finish`).
fn cover_content(g: &mut Gen, page: &str) {
    let newest =
        g.ws.blocks
            .values()
            .filter(|b| b.page_id == page)
            .map(|b| b.last_edited_time)
            .max();
    if let (Some(t), Some(p)) = (newest, g.ws.pages.get_mut(page)) {
        if t > p.last_edited_time {
            p.last_edited_time = t;
        }
    }
}

/// A data source whose rows have the agent (with persons) in a people property, an
/// unsupported formula and rollup, and a property of a type from the future; plus a page
/// whose parent is the agent.
fn agent_tasks(g: &mut Gen, agent: &str, page: &str) {
    let db = g.database(Parent::Page(page.to_string()), DS_AGENT_TASKS, true);
    let ds = g.data_source(&db, DS_AGENT_TASKS, "Task");
    let who = g.add_prop(&ds, "Assignees", PropKind::People, None);
    let link = g.add_prop(
        &ds,
        "Related",
        PropKind::Relation {
            data_source_id: ds.clone(),
            database_id: db.clone(),
            synced: None,
        },
        None,
    );
    g.add_prop(
        &ds,
        "Opaque formula",
        PropKind::Formula(FormulaDef::Unsupported),
        None,
    );
    g.add_prop(
        &ds,
        "Median rollup",
        PropKind::Rollup {
            relation: link.clone(),
            target: "title".into(),
            function: RollupFn::Median,
        },
        None,
    );
    g.add_prop(&ds, "Future field", PropKind::Future, None);
    let mut rows = Vec::new();
    for i in 0..3 {
        let row = g.page(
            Parent::DataSource(ds.clone()),
            richtext::plain(&format!("Agent task {}", i + 1)),
            Value::Null,
        );
        let person = g.person();
        let people = if i == 0 {
            vec![agent.to_string()]
        } else {
            vec![person, agent.to_string()]
        };
        super::fixtures::set(g, &row, &who, Val::People(people));
        rows.push(row);
    }
    if let (Some(first), Some(rest)) = (rows.first().cloned(), rows.get(1..)) {
        super::fixtures::set(g, &first, &link, Val::Relation(rest.to_vec()));
    }
    let agent_id = match g.ws.user(agent).map(|u| &u.kind) {
        Some(UserKind::Agent { agent_id }) => agent_id.clone(),
        _ => return,
    };
    let run = g.page(
        Parent::Agent(agent_id),
        richtext::plain("Agent run log"),
        Value::Null,
    );
    g.text_block(
        Holder::Page(run.clone()),
        "paragraph",
        richtext::plain("Triaged 3 tasks."),
    );
    cover_content(g, &run);
}

/// The views: a default table per data source, random ones, and the fixed checks on Tasks.
fn views(g: &mut Gen, rng: &mut SimRng) {
    let at = g.end;
    let author = g.ws.author_id.clone();
    let sources: Vec<(String, String)> = {
        let mut v: Vec<_> = g.ws.data_sources.values().collect();
        v.sort_by_key(|d| d.seq);
        v.into_iter()
            .map(|d| (d.id.clone(), d.database_id.clone()))
            .collect()
    };
    for (ds, db) in &sources {
        let id = g.ws.new_id();
        g.ws.insert_view(
            id,
            db,
            Some(ds),
            "Default view",
            "table",
            (Value::Null, Value::Null),
            at,
            &author,
        );
        for n in 0..rng.range(0, 3) {
            let Some(source) = g.ws.data_sources.get(ds) else {
                continue;
            };
            let query = (random_filter(&g.ws, source, rng), random_sorts(source, rng));
            let vtype = rng.pick(VIEW_TYPES).copied().unwrap_or("table");
            let id = g.ws.new_id();
            g.ws.insert_view(
                id,
                db,
                Some(ds),
                &format!("View {}", n + 1),
                vtype,
                query,
                at,
                &author,
            );
        }
    }
    checks(g, at, &author);
}

/// One view per filter kind on Tasks (values from the fixture's data), a nested one, the
/// inexpressible ones (a rollup filter, quick filters) and a dashboard.
fn checks(g: &mut Gen, at: chrono::DateTime<chrono::Utc>, author: &str) {
    let Some(ds) = g.ws.find_data_source_by_title(DS_TASKS) else {
        return;
    };
    let Some(db) = g.ws.database_of(&ds) else {
        return;
    };
    let source = match g.ws.data_sources.get(&ds) {
        Some(s) => s.clone(),
        None => return,
    };
    let id_of = |name: &str| {
        source
            .properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| super::util::encode_uri_component(&p.id))
            .unwrap_or_default()
    };
    let person = g.persons.first().cloned().unwrap_or_default();
    let project = source
        .rows
        .iter()
        .filter_map(|r| g.ws.pages.get(r))
        .find_map(|p| {
            p.props.values().find_map(|v| match v {
                Val::Relation(ids) => ids.first().cloned(),
                _ => None,
            })
        })
        .unwrap_or_default();
    let p = id_of;
    let checks: Vec<(&str, Value, Value)> = vec![
        (
            "title contains",
            json!({ "property": p("Name"), "title": { "contains": "THE" } }),
            json!([{ "property": p("Name"), "direction": "ascending" }]),
        ),
        (
            "text is empty",
            json!({ "property": p("Owner's \"Team\""), "rich_text": { "is_empty": true } }),
            Value::Null,
        ),
        (
            "number",
            json!({ "property": "Estimate", "number": { "greater_than_or_equal_to": 3 } }),
            json!([{ "property": p("Estimate"), "direction": "descending" }]),
        ),
        (
            "checkbox",
            json!({ "property": p("Done"), "checkbox": { "equals": false } }),
            json!([{ "timestamp": "last_edited_time", "direction": "descending" }]),
        ),
        (
            "status",
            json!({ "property": p("Status"), "status": { "does_not_equal": "Done" } }),
            json!([{ "property": p("Status"), "direction": "ascending" }]),
        ),
        (
            "select",
            json!({ "property": p("Priorité ✓"), "select": { "equals": "P1" } }),
            json!([{ "property": p("Priorité ✓"), "direction": "descending" }, { "property": p("Name"), "direction": "ascending" }]),
        ),
        (
            "multi_select",
            json!({ "property": p("Tags"), "multi_select": { "contains": "backend" } }),
            Value::Null,
        ),
        (
            "date",
            json!({ "property": p("Due"), "date": { "on_or_after": "2026-08-10" } }),
            json!([{ "property": p("Due"), "direction": "ascending" }]),
        ),
        (
            "relative date",
            json!({ "and": [ { "property": p("Due"), "date": { "before": "today" } }, { "timestamp": "created_time", "created_time": { "on_or_after": "one_month_ago" } } ] }),
            json!([{ "timestamp": "created_time", "direction": "ascending" }]),
        ),
        (
            "people",
            json!({ "property": p("Assignee"), "people": { "contains": person } }),
            Value::Null,
        ),
        (
            "relation",
            json!({ "property": p("Project"), "relation": { "contains": project } }),
            Value::Null,
        ),
        (
            "nested",
            json!({ "and": [ { "property": p("Done"), "checkbox": { "equals": false } }, { "or": [ { "property": p("Due"), "date": { "is_empty": true } }, { "property": p("Link"), "url": { "is_not_empty": true } } ] } ] }),
            json!([{ "property": p("Due"), "direction": "descending" }]),
        ),
    ];
    let mut checks = checks;
    // Rollup values in page objects stop at 25 references (facts §4.2): inexpressible.
    if let Some(r) = source
        .properties
        .iter()
        .find(|p| matches!(p.kind, PropKind::Rollup { .. }))
    {
        let r = super::util::encode_uri_component(&r.id);
        checks.push((
            "rollup (inexpressible)",
            json!({ "property": r, "rollup": { "number": { "greater_than": 0 } } }),
            Value::Null,
        ));
    }
    for (name, filter, sorts) in checks {
        let id = g.ws.new_id();
        g.ws.insert_view(
            id.clone(),
            &db,
            Some(&ds),
            &format!("{VIEW_CHECK_PREFIX}{name}"),
            "table",
            (filter, sorts),
            at,
            author,
        );
        g.ws.protected.insert(id);
    }
    let quick = g.ws.new_id();
    g.ws.insert_view(
        quick.clone(),
        &db,
        Some(&ds),
        &format!("{VIEW_CHECK_PREFIX}quick filters"),
        "board",
        (Value::Null, Value::Null),
        at,
        author,
    );
    if let Some(v) = g.ws.views.get_mut(&quick) {
        v.quick_filters = json!({ p("Status"): { "status": { "equals": "In progress" } } });
    }
    let dashboard = g.ws.new_id();
    g.ws.insert_view(
        dashboard.clone(),
        &db,
        None,
        &format!("{VIEW_CHECK_PREFIX}dashboard"),
        "dashboard",
        (Value::Null, Value::Null),
        at,
        author,
    );
    g.ws.protected.extend([quick, dashboard]);
}
