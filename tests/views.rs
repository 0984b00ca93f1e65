//! Notion views in the mirror (docs/views.md): mirrored by the full sweep and `view.*`
//! webhooks, and runnable as SQL — each SQL view returns exactly the rows, in order, that
//! Notion's view query returns (the simulator's); inexpressible views get a note instead.
//! Also: types the mirror does not know are stored and counted, never failed.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use notion_mirror::sim::fixtures_2026::{FUTURE_BLOCK_TYPE, FUTURE_ICON_TYPE, VIEW_CHECK_PREFIX};
use notion_mirror::sim::{GenConfig, Knobs, Mutation, Sim};
use notion_mirror::verify::Scope;
use serde_json::{json, Value};

/// The page ids a view shows, in order, from the simulator's view query (all pages).
async fn view_query(sim: &Sim, view: &str) -> Vec<String> {
    let http = common::http();
    let send = |req: reqwest::RequestBuilder| {
        req.bearer_auth(sim.token())
            .header("Notion-Version", "2026-03-11")
            .send()
    };
    let base = sim.base_url();
    let first: Value = send(
        http.post(format!("{base}/v1/views/{view}/queries"))
            .json(&json!({})),
    )
    .await
    .expect("query")
    .json()
    .await
    .expect("json");
    let query = first["id"].as_str().expect("query id").to_string();
    let mut ids: Vec<String> = Vec::new();
    let mut page = first;
    loop {
        for r in page["results"].as_array().cloned().unwrap_or_default() {
            ids.push(r["id"].as_str().unwrap_or_default().to_string());
        }
        let Some(cursor) = page["next_cursor"]
            .as_str()
            .filter(|_| page["has_more"] == true)
        else {
            break;
        };
        page = send(http.get(format!(
            "{base}/v1/views/{view}/queries/{query}?start_cursor={cursor}"
        )))
        .await
        .expect("page")
        .json()
        .await
        .expect("json");
    }
    let deleted = send(http.delete(format!("{base}/v1/views/{view}/queries/{query}")))
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 200);
    ids
}

/// `(view id, name, sql view, note)` of every mirrored view.
fn mirrored_views(
    config: &notion_mirror::config::Config,
) -> Vec<(String, String, Option<String>, Option<String>)> {
    let conn = common::open(config);
    let mut stmt = conn
        .prepare("SELECT id, name, sql_view, sql_note FROM views ORDER BY name, id")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn sql_rows(config: &notion_mirror::config::Config, sql_view: &str) -> Vec<String> {
    let conn = common::open(config);
    let mut stmt = conn
        .prepare(&format!(
            "SELECT id FROM \"{}\"",
            sql_view.replace('"', "\"\"")
        ))
        .unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_expressible_view_returns_as_sql_the_rows_its_view_query_returns() {
    let sim = common::sim(GenConfig::small(21), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let _ = common::sync(&config).await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    let views = mirrored_views(&config);
    assert_eq!(
        views.len(),
        sim.expected().views.len(),
        "every view mirrored"
    );
    // Relative dates resolve against today on both sides: compare within one UTC day.
    let (mut matched, mut compared, mut non_empty) = (0, 0, 0);
    for _attempt in 0..3 {
        let day = today();
        (matched, compared, non_empty) = (0, 0, 0);
        let mut mismatches = Vec::new();
        for (id, name, sql_view, _) in &views {
            let Some(sql_view) = sql_view else { continue };
            compared += 1;
            let want = view_query(&sim, id).await;
            let got = sql_rows(&config, sql_view);
            non_empty += usize::from(!want.is_empty());
            if got == want {
                matched += 1;
            } else {
                mismatches.push(format!(
                    "{name} ({sql_view}): sql {got:?}\n  view query {want:?}"
                ));
            }
        }
        if today() == day {
            assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
            break;
        }
    }
    println!("{matched} of {compared} SQL views matched their view query row for row ({non_empty} non-empty)");
    assert_eq!(matched, compared);
    assert!(compared >= 20, "random and fixed views: {compared}");
    assert!(
        non_empty >= compared / 2,
        "the views select rows: {non_empty}"
    );

    // The fixed checks: one per filter kind, each with its SQL view and selecting some
    // but not all of Tasks' rows; the inexpressible ones with a note instead.
    let checks: BTreeMap<&str, (&Option<String>, &Option<String>)> = views
        .iter()
        .filter_map(|(_, n, s, note)| n.strip_prefix(VIEW_CHECK_PREFIX).map(|n| (n, (s, note))))
        .collect();
    let all_tasks = sql_rows(&config, "tasks").len();
    for kind in [
        "title contains",
        "text is empty",
        "number",
        "checkbox",
        "status",
        "select",
        "multi_select",
        "date",
        "relative date",
        "people",
        "relation",
        "nested",
    ] {
        let (sql, note) = checks[kind];
        let sql = sql
            .as_ref()
            .unwrap_or_else(|| panic!("{kind}: no SQL view ({note:?})"));
        assert_eq!(note, &None, "{kind}");
        let n = sql_rows(&config, sql).len();
        assert!(n > 0 && n < all_tasks, "{kind}: {n} of {all_tasks} rows");
    }
    let (sql, note) = checks["rollup (inexpressible)"];
    assert!(sql.is_none());
    assert!(
        note.as_deref().is_some_and(|n| n.contains("rollup filter")),
        "{note:?}"
    );
    let (sql, note) = checks["dashboard"];
    assert!(sql.is_none() && note.as_deref().is_some_and(|n| n.contains("dashboard")));
    let (sql, note) = checks["quick filters"];
    assert!(sql.is_some() && note.as_deref().is_some_and(|n| n.contains("quick filters")));
    assert_eq!(
        sql.as_deref(),
        Some("tasks__check_quick_filters"),
        "named `<typed view>__<view name>`"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_webhooks_create_change_and_remove_views_and_their_sql() {
    let sim = common::sim(GenConfig::small(22), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let daemon = common::start_daemon(&config).await;
    let hooks = sim.default_webhook_config(&format!("http://{}/webhook", daemon.addr));
    sim.start_webhooks(hooks);
    let sender = sim.webhooks().expect("sender");
    assert_eq!(sender.send_verification().await, Ok(200));
    let tasks = sim
        .read(|ws| ws.find_data_source_by_title(notion_mirror::sim::fixtures::DS_TASKS))
        .unwrap();
    let created = sim
        .mutate(Mutation::CreateView {
            data_source_id: tasks.clone(),
            name: "Open work".into(),
            view_type: "board".into(),
            filter: json!({ "property": "Done", "checkbox": { "equals": false } }),
            sorts: json!([{ "property": "Estimate", "direction": "descending" }]),
        })
        .unwrap()
        .created_ids[0]
        .clone();
    let c = config.clone();
    let has_sql = move |name: &'static str| {
        let c = c.clone();
        async move {
            common::count(
                &c,
                &format!(
                    "select count(*) from sqlite_master where type = 'view' and name = '{name}'"
                ),
            ) == 1
        }
    };
    common::wait_for(
        "view.created mirrored with its SQL view",
        Duration::from_secs(30),
        || has_sql("tasks__open_work"),
    )
    .await;
    assert_eq!(
        sql_rows(&config, "tasks__open_work"),
        view_query(&sim, &created).await
    );

    sim.mutate(Mutation::UpdateView {
        view_id: created.clone(),
        name: Some("Done work".into()),
        filter: Some(json!({ "property": "Done", "checkbox": { "equals": true } })),
        sorts: None,
    })
    .unwrap();
    common::wait_for(
        "view.updated: renamed SQL view",
        Duration::from_secs(30),
        || has_sql("tasks__done_work"),
    )
    .await;
    assert!(
        !has_sql("tasks__open_work").await,
        "the old SQL view is dropped"
    );
    assert_eq!(
        sql_rows(&config, "tasks__done_work"),
        view_query(&sim, &created).await
    );

    sim.mutate(Mutation::DeleteView {
        view_id: created.clone(),
    })
    .unwrap();
    common::wait_count(
        &config,
        "view.deleted removes the view",
        &format!("select count(*) from views where id = '{created}'"),
        0,
        Duration::from_secs(30),
    )
    .await;
    assert!(!has_sql("tasks__done_work").await, "its SQL view is gone");
    assert_eq!(
        common::count(
            &config,
            &format!("select count(*) from tombstones where object = 'view' and id = '{created}'")
        ),
        1
    );
    common::wait_queue_idle(&config).await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    daemon.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_databases_views_come_with_it_when_their_events_are_lost() {
    let (sim, config, daemon, sender, _dir) = common::live(23).await.parts();
    let parent = sim.read(|ws| {
        ws.pages
            .values()
            .find(|p| {
                !p.in_trash
                    && !p.is_locked
                    && p.parent == notion_mirror::sim::model::Parent::Workspace
            })
            .map(|p| p.id.clone())
            .unwrap()
    });
    // Every event of the new database is lost but `data_source.created` and
    // `database.created` (re-sent by hand, in that order).
    sender.set_faults(1.0, 0.0, Duration::ZERO);
    let db = sim
        .mutate(Mutation::CreateDatabase {
            parent_page_id: parent.clone(),
            title: "Lost views".into(),
            data_source_titles: Vec::new(),
        })
        .unwrap()
        .created_ids[0]
        .clone();
    assert!(sender.quiesce(Duration::from_secs(30)).await);
    sender.set_faults(0.0, 0.0, Duration::ZERO);
    let views = sim.read(|ws| ws.databases[&db].views.clone());
    assert_eq!(
        views.len(),
        1,
        "Notion makes a default view with the database"
    );
    // The data source's event comes first: its work writes the database row, so the
    // database is no longer new to the mirror when `database.created` is handled.
    let source = sim.read(|ws| ws.databases[&db].data_sources[0].clone());
    let authors = sim.read(|ws| vec![(ws.author_id.clone(), "person".to_string())]);
    sender.emit(notion_mirror::sim::events::RawEvent {
        event_type: "data_source.created".into(),
        entity_type: "data_source".into(),
        entity_id: source.clone(),
        data: json!({ "parent": { "id": db, "type": "database" } }),
        at: chrono::Utc::now(),
        authors: authors.clone(),
    });
    common::wait_count(
        &config,
        "the database written by its data source's work",
        &format!("select count(*) from databases where id = '{db}'"),
        1,
        Duration::from_secs(30),
    )
    .await;
    sender.emit(notion_mirror::sim::events::RawEvent {
        event_type: "database.created".into(),
        entity_type: "database".into(),
        entity_id: db.clone(),
        data: json!({ "parent": { "id": parent, "type": "page" } }),
        at: chrono::Utc::now(),
        authors,
    });
    common::wait_count(
        &config,
        "the new database's default view mirrored",
        &format!("select count(*) from views where id = '{}'", views[0]),
        1,
        Duration::from_secs(30),
    )
    .await;
    daemon.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_block_property_and_icon_types_are_stored_and_counted_not_failed() {
    let sim = common::sim(GenConfig::small(23), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let _ = common::sync(&config).await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    assert_eq!(
        common::count(&config, "select count(*) from queue where state = 'failed'"),
        0
    );
    let status = notion_mirror::status::gather(&config.db_path).expect("status");
    let unknown = &status.unknown_types;
    println!("unknown types: {unknown:?}");
    assert_eq!(unknown.get(&format!("block {FUTURE_BLOCK_TYPE}")), Some(&1));
    assert_eq!(unknown.get("property future_property"), Some(&3));
    assert_eq!(unknown.get(&format!("icon {FUTURE_ICON_TYPE}")), Some(&1));
    assert!(notion_mirror::status::render(&status).contains("unknown     "));
    // Stored raw, rendered empty; the new known types render.
    let conn = common::open(&config);
    let raw: String = conn
        .query_row(
            &format!("select raw from blocks where type = '{FUTURE_BLOCK_TYPE}'"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(raw.contains("From a future API"));
    let texts: Vec<(String, String)> = {
        let mut stmt = conn
            .prepare("select type, text from blocks where type in ('heading_4', 'meeting_notes', 'tab') order by type")
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(
        texts,
        vec![
            ("heading_4".into(), "A fourth-level heading".into()),
            ("meeting_notes".into(), "Weekly sync (AI notes)".into()),
            ("tab".into(), String::new()),
        ]
    );
    // The tab's paragraphs (with icons) and the meeting notes' summary were walked.
    assert_eq!(
        common::count(
            &config,
            "select count(*) from blocks where text like 'Inside the % tab.'"
        ),
        2
    );
    assert_eq!(
        common::count(
            &config,
            "select count(*) from blocks where text = 'Summary: ship the views mirror.'"
        ),
        1
    );
    // Icons of every known type render; agents and nameless persons are users.
    let icons: Vec<String> = {
        let mut stmt = conn.prepare("select icon from pages where icon is not null and icon not like '%📝%' order by icon").unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert!(icons.contains(&"rocket (blue)".to_string()), "{icons:?}");
    assert!(icons.contains(&":party:".to_string()), "{icons:?}");
    assert!(icons
        .iter()
        .any(|i| i.starts_with("https://example.com/icon.svg")));
    assert_eq!(
        common::count(
            &config,
            "select count(*) from users where agent_id is not null"
        ),
        1
    );
    assert_eq!(
        common::count(&config, "select count(*) from users where name is null"),
        1
    );
    assert_eq!(
        common::count(
            &config,
            "select count(*) from pages where parent_type = 'agent_id'"
        ),
        1,
        "a page whose parent is an agent is kept"
    );
    // Unsupported formula and rollup results are NULL in the typed view.
    assert_eq!(
        common::count(&config, "select count(*) from agent_tasks where \"Opaque formula\" is null and \"Median rollup\" is null"),
        3
    );
    // People values holding the agent render by name.
    assert_eq!(
        common::count(&config, "select count(*) from property_values where type = 'people' and text like '%Triage agent%'"),
        3
    );
    sim.shutdown().await;
}
