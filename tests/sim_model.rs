//! The generator's edge cases, determinism, mutation effects on timestamps, and the raw
//! events mutations emit (checked through `Sim::event_log`, no webhook sender needed).

use std::collections::BTreeSet;

use notion_mirror::sim::fixtures as fx;
use notion_mirror::sim::generate::{generate, GenConfig};
use notion_mirror::sim::model::{Parent, PropKind, UserKind, Val, Workspace};
use notion_mirror::sim::richtext::plain_text;
use notion_mirror::sim::{
    Knobs, Mutation, MutationMix, ParentRef, PropertyKind, Sim, SimConfig, SimError,
};
use serde_json::{json, Map, Value};

fn ds(ws: &Workspace, title: &str) -> String {
    ws.find_data_source_by_title(title)
        .unwrap_or_else(|| panic!("data source {title}"))
}

fn page(ws: &Workspace, title: &str) -> String {
    ws.find_page_by_title(title)
        .unwrap_or_else(|| panic!("page {title}"))
}

#[test]
fn the_generator_covers_every_edge_case() {
    let ws = generate(&GenConfig::edge(31), chrono::Utc::now());
    let tasks = ds(&ws, fx::DS_TASKS);
    for name in [
        "Name", "Status", "Done", "Estimate", "Due", "Tags", "Assignee", "Project",
    ] {
        assert!(ws.property_id(&tasks, name).is_some(), "Tasks has {name}");
    }
    let status = ws.data_sources[&tasks]
        .properties
        .iter()
        .find(|p| p.name == "Status")
        .map(|p| p.kind.clone());
    match status {
        Some(PropKind::Status { options, groups }) => {
            let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
            assert_eq!(names, ["Not started", "In progress", "Done"]);
            assert_eq!(groups.len(), 3);
        }
        other => panic!("Status is a status property: {other:?}"),
    }
    // Every property type, and formulas of each result type.
    let mut types = BTreeSet::new();
    let mut formulas = BTreeSet::new();
    for d in ws.data_sources.values() {
        for p in &d.properties {
            types.insert(p.kind.type_name());
        }
    }
    for r in ws
        .rows_of(&tasks)
        .iter()
        .chain(ws.rows_of(&ds(&ws, fx::DS_PROJECTS)).iter())
    {
        let j = ws.page_api_json(r).unwrap_or_default();
        for v in j["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, v)| v)
        {
            if v["type"] == "formula" {
                formulas.insert(
                    v["formula"]["type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    }
    for t in [
        "title",
        "rich_text",
        "number",
        "select",
        "multi_select",
        "status",
        "date",
        "people",
        "files",
        "checkbox",
        "url",
        "email",
        "phone_number",
        "formula",
        "relation",
        "rollup",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
        "unique_id",
        "verification",
        "button",
    ] {
        assert!(types.contains(t), "a {t} property exists");
    }
    assert_eq!(
        formulas,
        BTreeSet::from(["boolean", "date", "number", "string"].map(String::from))
    );
    let relaunch = page(&ws, fx::WEBSITE_RELAUNCH);
    let projects = ds(&ws, fx::DS_PROJECTS);
    let rel = ws.data_sources[&projects]
        .properties
        .iter()
        .find(|p| p.name == "Tasks")
        .map(|p| p.id.clone());
    let n = match rel.and_then(|r| ws.pages[&relaunch].props.get(&r).cloned()) {
        Some(Val::Relation(v)) => v.len(),
        _ => 0,
    };
    assert!(n >= 30, "a relation with more than 25 targets ({n})");
    let single = ws.data_sources[&ds(&ws, fx::DS_READING)]
        .properties
        .iter()
        .any(|p| matches!(p.kind, PropKind::Relation { synced: None, .. }));
    assert!(single, "a single_property relation");
    assert!(ws.rows_of(&ds(&ws, fx::DS_EVENT_LOG)).len() > 250);
    assert!(ws.live_children(&page(&ws, fx::RELEASE_NOTES)).len() > 100);
    let review = page(&ws, fx::DESIGN_REVIEW);
    assert!(ws.comments_of_page(&review).len() > 100);
    let discussions: BTreeSet<String> = ws
        .comments
        .values()
        .filter(|c| c.page_id == review)
        .map(|c| c.discussion_id.clone())
        .collect();
    assert!(discussions.len() >= 2);
    let roadmap = page(&ws, fx::ROADMAP);
    let deepest = ws.deepest_block(&roadmap).expect("content");
    assert!(ws.block_depth(&deepest) >= 3);
    assert!(
        ws.comments
            .values()
            .any(|c| c.page_id == roadmap && c.parent.id() != roadmap),
        "block comments"
    );
    for title in [fx::CAFE, fx::COLUMN_NOTES, fx::OLD_DRAFT, fx::STAFFING_PLAN] {
        page(&ws, title);
    }
    assert!(matches!(
        ws.pages[&page(&ws, fx::COLUMN_NOTES)].parent,
        Parent::Block(_)
    ));
    assert!(ws.pages[&page(&ws, fx::OLD_DRAFT)].in_trash);
    for t in [fx::DS_QA_1, fx::DS_QA_2, ""] {
        ds(&ws, t);
    }
    assert!(
        ws.data_sources
            .values()
            .any(|d| d.properties.iter().any(|p| p.name == "id"))
            && ws
                .data_sources
                .values()
                .any(|d| d.properties.iter().any(|p| p.name == "URL"))
    );
    assert!(ws
        .data_sources
        .values()
        .any(|d| d.properties.iter().any(|p| p.name == "Owner's \"Team\"")));
    assert!(ws
        .data_sources
        .values()
        .any(|d| d.properties.iter().any(|p| p.name == "Priorité ✓")));
    assert!(
        ws.databases.values().any(|d| d.data_sources.len() == 2),
        "a database with two data sources"
    );
    let persons: Vec<_> = ws
        .users
        .iter()
        .filter(|u| matches!(u.kind, UserKind::Person { .. }))
        .collect();
    let bots = ws
        .users
        .iter()
        .filter(|u| matches!(u.kind, UserKind::Bot { .. }))
        .count();
    assert!(persons.len() >= 30 && bots == 2);
    assert!(ws.pages.values().any(|p| {
        let rt = p
            .props
            .values()
            .filter_map(|v| match v {
                Val::RichText(r) => Some(r.clone()),
                _ => None,
            })
            .flatten();
        rt.chain(p.title.iter().cloned())
            .filter(|i| i["type"] == "mention")
            .count()
            > 25
    }));
    let has_people_over_25 = ws.pages.values().any(|p| {
        p.props
            .values()
            .any(|v| matches!(v, Val::People(x) if x.len() > 25))
    });
    assert!(has_people_over_25);
    let mentions: BTreeSet<String> = ws
        .blocks
        .values()
        .flat_map(|b| b.data["rich_text"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["type"] == "mention")
        .map(|i| {
            i["mention"]["type"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(mentions.contains("user") && mentions.contains("page"));
    let btypes: BTreeSet<&str> = ws.blocks.values().map(|b| b.btype.as_str()).collect();
    for t in [
        "paragraph",
        "heading_1",
        "heading_2",
        "heading_3",
        "bulleted_list_item",
        "numbered_list_item",
        "to_do",
        "toggle",
        "quote",
        "callout",
        "code",
        "equation",
        "divider",
        "table",
        "table_row",
        "column_list",
        "column",
        "child_page",
        "child_database",
        "synced_block",
        "link_to_page",
        "image",
        "bookmark",
        "unsupported",
    ] {
        assert!(btypes.contains(t), "a {t} block exists");
    }
    assert!(
        ws.blocks
            .values()
            .any(|b| b.btype == "child_database" && !ws.databases.contains_key(&b.id)),
        "linked database"
    );
    assert!(ws
        .blocks
        .values()
        .any(|b| b.data.get("is_toggleable") == Some(&json!(true)) && !b.children.is_empty()));
    assert!(ws
        .pages
        .values()
        .all(|p| p.created_time <= ws.generated_at - chrono::Duration::minutes(10)));
}

#[test]
fn small_workspaces_skip_only_the_heavy_cases() {
    let ws = generate(&GenConfig::small(32), chrono::Utc::now());
    assert!(
        (75..=90).contains(&ws.pages.len()),
        "about 80 pages: {}",
        ws.pages.len()
    );
    assert!(ws.find_data_source_by_title(fx::DS_EVENT_LOG).is_none());
    assert!(ws.find_page_by_title(fx::RELEASE_NOTES).is_none());
    assert!(ws.find_page_by_title(fx::STAFFING_PLAN).is_some());
    let big = generate(&GenConfig::with_pages(32, 1000), chrono::Utc::now());
    assert!(big.pages.len() >= 1000);
}

#[test]
fn the_same_seed_generates_the_same_workspace() {
    let now = chrono::Utc::now();
    let a = generate(&GenConfig::small(33), now);
    let b = generate(&GenConfig::small(33), now);
    let c = generate(&GenConfig::small(34), now);
    let titles = |ws: &Workspace| {
        ws.pages
            .values()
            .map(|p| (p.id.clone(), plain_text(&p.title)))
            .collect::<Vec<_>>()
    };
    assert_eq!(titles(&a), titles(&b));
    assert_eq!(
        a.blocks.keys().collect::<Vec<_>>(),
        b.blocks.keys().collect::<Vec<_>>()
    );
    assert_ne!(
        a.pages.keys().collect::<Vec<_>>(),
        c.pages.keys().collect::<Vec<_>>()
    );
    // Fixture ids do not depend on the page count.
    let d = generate(
        &GenConfig {
            pages: 200,
            ..GenConfig::small(33)
        },
        now,
    );
    assert_eq!(
        a.find_page_by_title(fx::ROADMAP),
        d.find_page_by_title(fx::ROADMAP)
    );
}

async fn sim(seed: u64) -> Sim {
    let mut cfg = SimConfig::new(GenConfig::small(seed));
    cfg.knobs = Knobs::unlimited();
    Sim::start(cfg).await.expect("simulator starts")
}

fn edited(sim: &Sim, id: &str) -> Value {
    sim.read(|ws| ws.page_api_json(id)).expect("page")["last_edited_time"].clone()
}

#[tokio::test]
async fn mutations_move_timestamps_as_documented() {
    let sim = sim(35).await;
    let (roadmap, block, notes, tasks, row) = sim.read(|ws| {
        let roadmap = page(ws, fx::ROADMAP);
        let block = ws
            .blocks_of_page(&roadmap)
            .into_iter()
            .find(|b| ws.blocks[b].btype == "paragraph")
            .expect("paragraph");
        let tasks = ds(ws, fx::DS_TASKS);
        let row = ws.rows_of(&tasks)[0].clone();
        (roadmap, block, page(ws, fx::MEETING_NOTES), tasks, row)
    });
    let t0 = edited(&sim, &roadmap);
    sim.mutate(Mutation::AddComment {
        parent_id: roadmap.clone(),
        discussion_id: None,
        text: "hi".into(),
    })
    .expect("comment");
    sim.mutate(Mutation::LockPage {
        page_id: roadmap.clone(),
    })
    .expect("lock");
    assert_eq!(edited(&sim, &roadmap), t0, "comments and locks do not bump");
    assert_eq!(
        sim.read(|ws| ws.page_api_json(&roadmap)).expect("page")["is_locked"],
        true
    );
    sim.mutate(Mutation::EditBlock {
        block_id: block.clone(),
        text: "changed".into(),
    })
    .expect("edit");
    let t1 = edited(&sim, &roadmap);
    assert!(t1.as_str() > t0.as_str(), "a block edit bumps its page");
    assert_eq!(
        sim.read(|ws| ws.block_api_json(&block)).expect("block")["last_edited_time"],
        t1
    );
    let n0 = edited(&sim, &notes);
    sim.mutate(Mutation::CreatePage {
        parent: ParentRef::Page(notes.clone()),
        title: "Child".into(),
    })
    .expect("child");
    assert!(
        edited(&sim, &notes).as_str() > n0.as_str(),
        "a new child page bumps the parent"
    );
    let ds_edited = |sim: &Sim| sim.read(|ws| ws.data_sources[&tasks].last_edited_time);
    let d0 = ds_edited(&sim);
    let r0 = edited(&sim, &row);
    sim.mutate(Mutation::AddProperty {
        data_source_id: tasks.clone(),
        name: "Extra".into(),
        kind: PropertyKind::Number,
    })
    .expect("schema");
    assert!(ds_edited(&sim) > d0, "schema changes bump the data source");
    assert_eq!(
        edited(&sim, &row),
        r0,
        "rows are not bumped by schema changes"
    );
    let d1 = ds_edited(&sim);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    sim.mutate(Mutation::CreatePage {
        parent: ParentRef::DataSource(tasks.clone()),
        title: "New row".into(),
    })
    .expect("row");
    assert!(ds_edited(&sim) > d1, "row creation bumps the data source");
    let mut values = Map::new();
    values.insert("Estimate".into(), json!(8));
    values.insert("Extra".into(), json!(1.5));
    sim.mutate(Mutation::UpdateProperties {
        page_id: row.clone(),
        values,
    })
    .expect("update");
    let j = sim.read(|ws| ws.page_api_json(&row)).expect("row");
    assert_eq!(j["properties"]["Estimate"]["number"], 8);
    assert_eq!(j["properties"]["Extra"]["number"], 1.5);
    assert_eq!(j["properties"]["Estimate x2"]["formula"]["number"], 16);
    assert!(j["last_edited_time"].as_str() > r0.as_str());
    sim.shutdown().await;
}

#[tokio::test]
async fn mutations_emit_notion_shaped_events() {
    let sim = sim(36).await;
    let (notes, tasks, row, block) = sim.read(|ws| {
        let tasks = ds(ws, fx::DS_TASKS);
        let roadmap = page(ws, fx::ROADMAP);
        let block = ws
            .blocks_of_page(&roadmap)
            .into_iter()
            .find(|b| ws.blocks[b].btype == "paragraph")
            .expect("paragraph");
        (
            page(ws, fx::MEETING_NOTES),
            tasks.clone(),
            ws.rows_of(&tasks)[1].clone(),
            block,
        )
    });
    let child = sim
        .mutate(Mutation::CreatePage {
            parent: ParentRef::Page(notes.clone()),
            title: "E".into(),
        })
        .expect("page")
        .created_ids[0]
        .clone();
    let log = sim.event_log();
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["page.created", "page.content_updated"]);
    assert_eq!(
        log[0].data,
        json!({ "parent": { "id": notes, "type": "page" } })
    );
    assert_eq!(log[1].entity_id, notes);
    assert_eq!(
        log[1].data["updated_blocks"],
        json!([{ "id": child, "type": "block" }])
    );
    assert_eq!(log[0].authors[0].1, "person");

    sim.clear_event_log();
    sim.mutate(Mutation::RenamePage {
        page_id: row.clone(),
        title: "Renamed row".into(),
    })
    .expect("rename");
    let e = &sim.event_log()[0];
    assert_eq!(e.event_type, "page.properties_updated");
    assert_eq!(e.data["updated_properties"], json!(["title"]));
    let db = sim.read(|ws| ws.database_of(&tasks)).expect("db");
    assert_eq!(
        e.data["parent"],
        json!({ "id": db, "type": "database", "data_source_id": tasks })
    );

    sim.clear_event_log();
    sim.mutate(Mutation::TrashPage {
        page_id: child.clone(),
    })
    .expect("trash");
    let types: Vec<String> = sim
        .event_log()
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    assert_eq!(types, ["page.content_updated", "page.deleted"]);

    sim.clear_event_log();
    let c = sim
        .mutate(Mutation::AddComment {
            parent_id: block.clone(),
            discussion_id: None,
            text: "on a block".into(),
        })
        .expect("c")
        .created_ids[0]
        .clone();
    sim.mutate(Mutation::ResolveComment {
        comment_id: c.clone(),
    })
    .expect("resolve");
    let log = sim.event_log();
    assert_eq!(log[0].event_type, "comment.created");
    assert_eq!(log[0].entity_type, "comment");
    assert_eq!(
        log[0].data["parent"],
        json!({ "id": block, "type": "block" })
    );
    assert!(log[0].data["page_id"].is_string());
    assert_eq!(log[1].event_type, "comment.updated");

    sim.clear_event_log();
    sim.mutate(Mutation::AddProperty {
        data_source_id: tasks.clone(),
        name: "Effort".into(),
        kind: PropertyKind::Select,
    })
    .expect("schema");
    let e = &sim.event_log()[0];
    assert_eq!(e.event_type, "data_source.schema_updated");
    assert_eq!(e.data["updated_properties"][0]["action"], "created");
    assert_eq!(e.data["updated_properties"][0]["name"], "Effort");

    sim.clear_event_log();
    sim.mutate(Mutation::CreateDatabase {
        parent_page_id: notes.clone(),
        title: "Log".into(),
        data_source_titles: vec!["A".into(), "B".into()],
    })
    .expect("db");
    let types: Vec<String> = sim
        .event_log()
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    assert_eq!(
        types,
        [
            "page.content_updated",
            "database.created",
            "data_source.created",
            "view.created",
            "data_source.created",
            "view.created"
        ],
        "each new data source comes with its default view"
    );
    let view = sim.event_log()[3].clone();
    assert_eq!(view.entity_type, "view");
    assert_eq!(view.data["view_type"], "table");
    assert_eq!(view.data["parent"]["type"], "database");

    sim.clear_event_log();
    sim.mutate(Mutation::RevokeAccess {
        page_id: notes.clone(),
    })
    .expect("revoke");
    sim.mutate(Mutation::RenamePage {
        page_id: notes.clone(),
        title: "hidden".into(),
    })
    .expect("rename");
    assert!(
        sim.event_log().is_empty(),
        "no events for content the integration cannot see"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn dual_relations_stay_in_step_and_bad_mutations_change_nothing() {
    let sim = sim(37).await;
    let (row, mobile, relaunch) = sim.read(|ws| {
        let tasks = ds(ws, fx::DS_TASKS);
        (
            ws.rows_of(&tasks)[0].clone(),
            page(ws, "Mobile app"),
            page(ws, fx::WEBSITE_RELAUNCH),
        )
    });
    let tasks_of = |sim: &Sim, p: &str| {
        sim.read(|ws| ws.page_api_json(p)).expect("page")["properties"]["Tasks"]["relation"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v["id"].as_str().map(String::from))
            .collect::<Vec<_>>()
    };
    let before = sim.expected().pages[&relaunch].raw["properties"]["Tasks"]["relation"]
        .as_array()
        .map_or(0, Vec::len);
    let mut values = Map::new();
    values.insert("Project".into(), json!([mobile]));
    sim.mutate(Mutation::UpdateProperties {
        page_id: row.clone(),
        values,
    })
    .expect("relink");
    assert!(tasks_of(&sim, &mobile).contains(&row));
    let after = sim.expected().pages[&relaunch].raw["properties"]["Tasks"]["relation"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(after + 1, before);
    let partner: Vec<String> = sim
        .event_log()
        .iter()
        .filter(|e| e.event_type == "page.properties_updated")
        .map(|e| e.entity_id.clone())
        .collect();
    assert!(partner.contains(&mobile) && partner.contains(&relaunch) && partner.contains(&row));

    let snapshot = sim.read(|ws| ws.page_api_json(&row));
    let mut bad = Map::new();
    bad.insert("Estimate".into(), json!(3));
    bad.insert("Status".into(), json!("No such status"));
    let err = sim.mutate(Mutation::UpdateProperties {
        page_id: row.clone(),
        values: bad,
    });
    assert!(matches!(err, Err(SimError::Invalid(_))));
    assert_eq!(sim.read(|ws| ws.page_api_json(&row)), snapshot);
    assert!(matches!(
        sim.mutate(Mutation::TrashPage {
            page_id: "nope".into()
        }),
        Err(SimError::NotFound(_))
    ));
    let tasks = sim.read(|ws| ds(ws, fx::DS_TASKS));
    assert!(
        sim.mutate(Mutation::DeleteProperty {
            data_source_id: tasks.clone(),
            name: "Estimate".into()
        })
        .is_err(),
        "formulas depend on it"
    );
    assert!(sim
        .mutate(Mutation::DeleteProperty {
            data_source_id: tasks,
            name: "Name".into()
        })
        .is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn random_mutations_apply_and_keep_the_fixtures() {
    let sim = sim(38).await;
    let mix = MutationMix {
        comments: true,
        structure: true,
        revoke: true,
    };
    let applied = sim.mutate_random(5, 300, mix);
    assert_eq!(applied.len(), 300);
    let ops: BTreeSet<String> = applied
        .iter()
        .map(|m| {
            serde_json::to_value(m)
                .ok()
                .and_then(|v| v["op"].as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect();
    assert!(ops.len() >= 15, "a varied mix: {ops:?}");
    sim.read(|ws| {
        for t in [
            fx::ROADMAP,
            fx::PROJECTS_AND_TASKS,
            fx::WEBSITE_RELAUNCH,
            fx::STAFFING_PLAN,
        ] {
            let id = page(ws, t);
            assert!(
                !ws.pages[&id].in_trash && ws.visible(&id),
                "{t} survives churn"
            );
        }
        assert!(ws.rows_of(&ds(ws, fx::DS_TASKS)).len() > 30);
    });
    // A mutation round-trips through its JSON form.
    for m in &applied {
        let back: Mutation =
            serde_json::from_value(serde_json::to_value(m).expect("json")).expect("parse");
        assert_eq!(&back, m);
    }
    sim.shutdown().await;
}

/// Mutations reach a real receiver through the webhook sender, signed.
#[tokio::test]
async fn webhook_events_reach_a_receiver_signed() {
    use http_body_util::{BodyExt, Full};
    use std::sync::{Arc, Mutex};
    type Got = Arc<Mutex<Vec<(Option<String>, Vec<u8>)>>>;
    let got: Got = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/webhook", listener.local_addr().expect("addr"));
    let sink = got.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    async move {
                        let sig = req
                            .headers()
                            .get("x-notion-signature")
                            .and_then(|v| v.to_str().ok())
                            .map(String::from);
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes().to_vec())
                            .unwrap_or_default();
                        sink.lock().map(|mut g| g.push((sig, body))).ok();
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            bytes::Bytes::new(),
                        )))
                    }
                });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc),
            );
        }
    });
    let sim = sim(39).await;
    let config = sim.default_webhook_config(&url);
    let token = config.verification_token.clone();
    sim.start_webhooks(config);
    let sender = sim.webhooks().expect("sender");
    assert_eq!(sender.send_verification().await, Ok(200));
    let notes = sim.read(|ws| page(ws, fx::MEETING_NOTES));
    sim.mutate(Mutation::CreatePage {
        parent: ParentRef::Page(notes),
        title: "Hooked".into(),
    })
    .expect("created");
    assert!(sender.quiesce(std::time::Duration::from_secs(10)).await);
    let got = got.lock().map(|g| g.clone()).unwrap_or_default();
    assert!(got[0].0.is_none(), "the handshake is unsigned");
    let events: Vec<Value> = got[1..]
        .iter()
        .map(|(sig, body)| {
            let sig = sig.as_deref().expect("signed");
            assert!(notion_mirror::webhook::signature::verify(&token, body, sig));
            serde_json::from_slice(body).expect("json")
        })
        .collect();
    assert!(events.iter().any(|e| e["type"] == "page.created"));
    sim.shutdown().await;
}
