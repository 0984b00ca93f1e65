//! The Projects and Tasks fixtures: schemas with every property type, the dual relation
//! with a project related to more than 25 tasks, and the truncation edge-case rows.
//!
//! Invariant: both sides of the dual relation are written together, so the generated
//! workspace never holds a one-sided link.

use serde_json::{json, Value};

use super::fixtures::{
    option_id, option_names, set, Fixed, TaskProps, ALL_HANDS, DS_PROJECTS, DS_TASKS, LINKED_VIEW,
    MENTION_TITLE_PREFIX, OBSOLETE_TASK, ODD_PROP_ID, STAFFING_PLAN, WEBSITE_RELAUNCH,
};
use super::generate::Gen;
use super::model::{FormulaDef, Holder, Parent, PropKind, RollupFn, StatusGroup, Val};
use super::render::user_json;
use super::richtext;

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

pub(super) fn projects_and_tasks(g: &mut Gen, page: &str) -> (TaskProps, Vec<String>) {
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

/// A Notion-hosted file (served by the simulator, signed per answer) and an external file.
fn files_value(g: &mut Gen, page: &str) -> Vec<Value> {
    // This draw once made the URL's signature; kept so each seed's workspace stays the same.
    let _ = g.rng.hex(64);
    vec![
        super::fixtures_files::fixture_file(g, &format!("{page}/spec.pdf"), "spec.pdf"),
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
