//! The simulated API while things go wrong or change: injected failures and their error
//! bodies, lists changing while walked, search filters and sorts, the `/_sim/` control
//! routes, database and move mutations.

use super::*;

#[tokio::test]
async fn injected_failures_answer_notions_error_bodies_and_everything_is_counted() {
    let (sim, api) = start(GenConfig::small(15)).await;
    let page = page_id(&sim, fx::ROADMAP);
    sim.inject("pages.retrieve", 503, 2);
    sim.inject("search", 429, 1);
    sim.inject("blocks.retrieve", 404, 1);
    for _ in 0..2 {
        assert_error(
            &api.get(&format!("/v1/pages/{page}")).await,
            503,
            "service_unavailable",
        );
    }
    assert_eq!(api.get(&format!("/v1/pages/{page}")).await.status, 200);
    let r = api.post("/v1/search", json!({})).await;
    assert_error(&r, 429, "rate_limited");
    assert!(r.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|s| s >= 1));
    let r = api.get(&format!("/v1/blocks/{page}")).await;
    assert_error(&r, 404, "object_not_found");
    assert!(r.body["message"]
        .as_str()
        .is_some_and(|m| m.contains(&page)));
    sim.set_knobs(Knobs {
        fail_rate: 1.0,
        ..Knobs::unlimited()
    });
    let r = api.get("/v1/users").await;
    assert!([500, 502, 503, 504].contains(&r.status));
    sim.set_knobs(Knobs::unlimited());
    let _ = api
        .http
        .get(format!("{}/_sim/stats", api.base))
        .send()
        .await
        .expect("control route");

    let s = sim.stats();
    assert_eq!(s.status("pages.retrieve", 503), 2);
    assert_eq!(s.ok("pages.retrieve"), 1);
    assert_eq!(s.object("pages.retrieve", &page.replace('-', "")), 3);
    assert_eq!(s.endpoint("search"), 1);
    assert_eq!(s.endpoint("users.list"), 1);
    assert_eq!(
        s.total(),
        6,
        "control routes are not counted: {:?}",
        s.by_endpoint()
    );
    let by: BTreeMap<String, u64> = s.by_endpoint();
    assert_eq!(by.values().sum::<u64>(), 6);
    sim.reset_stats();
    assert_eq!(sim.stats().total(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn lists_that_change_while_walked_skip_and_repeat_nothing_unchanged() {
    let (sim, api) = start(GenConfig::small(16)).await;
    let roadmap = page_id(&sim, fx::ROADMAP);
    let path = format!("/v1/blocks/{roadmap}/children?page_size=5");
    let first = api.get(&path).await.body;
    let seen_first = ids(first["results"].as_array().expect("results"));
    let all_before = sim.read(|ws| {
        ws.live_children(&roadmap)
            .iter()
            .map(|b| b.id.clone())
            .collect::<Vec<_>>()
    });
    // Delete one seen and one unseen text block, append two new ones.
    let text = |id: &String| {
        sim.read(|ws| {
            ws.blocks
                .get(id)
                .is_some_and(|b| b.data.get("rich_text").is_some())
        })
    };
    let gone_seen = seen_first
        .iter()
        .find(|id| text(id))
        .cloned()
        .expect("seen text block");
    let gone_unseen = all_before[5..]
        .iter()
        .find(|id| text(id))
        .cloned()
        .expect("unseen text block");
    sim.mutate(Mutation::DeleteBlock {
        block_id: gone_seen,
    })
    .expect("deleted");
    sim.mutate(Mutation::DeleteBlock {
        block_id: gone_unseen.clone(),
    })
    .expect("deleted");
    let added = sim
        .mutate(Mutation::AppendBlocks {
            parent_id: roadmap.clone(),
            texts: vec!["new one".into(), "new two".into()],
        })
        .expect("appended")
        .created_ids;
    let mut got = seen_first.clone();
    let mut cursor = first["next_cursor"].as_str().map(String::from);
    while let Some(c) = cursor {
        let r = api.get(&format!("{path}&start_cursor={c}")).await.body;
        got.extend(ids(r["results"].as_array().expect("results")));
        cursor = r["next_cursor"].as_str().map(String::from);
    }
    assert_unique(&got);
    let unchanged: Vec<&String> = all_before.iter().filter(|id| **id != gone_unseen).collect();
    assert!(unchanged.iter().all(|id| got.contains(id)));
    assert!(!got.contains(&gone_unseen));
    assert!(added.iter().all(|id| got.contains(id)));
    sim.shutdown().await;
}

#[tokio::test]
async fn search_filters_sorts_and_matches_database_titles() {
    let (sim, api) = start(GenConfig::small(17)).await;
    let r = api
        .post(
            "/v1/search",
            json!({ "filter": { "property": "object", "value": "database" } }),
        )
        .await;
    assert_error(&r, 400, "validation_error");
    let sources = api
        .walk_post(
            "/v1/search",
            json!({ "filter": { "property": "object", "value": "data_source" } }),
            100,
        )
        .await;
    assert!(sources
        .iter()
        .all(|s| s["object"] == "data_source" && s["properties"].is_object()));
    assert_eq!(sources.len(), sim.read(|ws| ws.data_sources.len()));
    let kb = api.walk_post("/v1/search", json!({ "query": "KNOWLEDGE BASE", "filter": { "property": "object", "value": "data_source" } }), 100).await;
    let titles: BTreeSet<String> = kb
        .iter()
        .map(|s| {
            s["title"][0]["plain_text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        titles,
        BTreeSet::from([fx::DS_ARTICLES.to_string(), fx::DS_FAQ.to_string()])
    );
    let pages = api
        .walk_post("/v1/search", json!({ "filter": { "property": "object", "value": "page" }, "sort": { "timestamp": "last_edited_time", "direction": "descending" } }), 100)
        .await;
    assert!(pages.iter().all(|p| p["object"] == "page"));
    let edited: Vec<&str> = pages
        .iter()
        .map(|p| p["last_edited_time"].as_str().unwrap_or_default())
        .collect();
    assert!(edited.windows(2).all(|w| w[0] >= w[1]));
    sim.shutdown().await;
}

#[tokio::test]
async fn control_routes_mutate_and_tune_knobs() {
    let (sim, api) = start(GenConfig::small(18)).await;
    let roadmap = page_id(&sim, fx::ROADMAP);
    let body = json!([
        { "op": "create_page", "parent": { "page": roadmap }, "title": "Via HTTP" },
        { "op": "rename_page", "page_id": "00000000-0000-4000-8000-000000000000", "title": "x" },
        { "op": "no_such_op" },
    ]);
    let r: Value = api
        .http
        .post(format!("{}/_sim/mutate", api.base))
        .json(&body)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let outcomes = r["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 3);
    let created = outcomes[0]["created_ids"][0]
        .as_str()
        .expect("created")
        .to_string();
    assert!(outcomes[1]["error"].is_string() && outcomes[2]["error"].is_string());
    assert_eq!(
        api.get(&format!("/v1/pages/{created}")).await.body["parent"]["page_id"],
        json!(roadmap)
    );
    let k: Value = api
        .http
        .post(format!("{}/_sim/knobs", api.base))
        .json(&json!({ "max_query_rows": 5, "latency_ms": 1 }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(k["max_query_rows"], 5);
    assert_eq!(sim.knobs().max_query_rows, 5);
    let bad = api
        .http
        .post(format!("{}/_sim/knobs", api.base))
        .json(&json!({ "fail_rate": 2 }))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status().as_u16(), 400);
    let e: Value = api
        .http
        .get(format!("{}/_sim/expected", api.base))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert!(e["pages"].as_u64().is_some_and(|n| n > 50));
    let f: Value = api
        .http
        .get(format!("{}/_sim/floor", api.base))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(f["total"], json!(sim.floor().total));
    sim.shutdown().await;
}

#[tokio::test]
async fn database_and_move_mutations_show_through_the_api() {
    let (sim, api) = start(GenConfig::small(19)).await;
    let notes = page_id(&sim, fx::MEETING_NOTES);
    let archive = page_id(&sim, fx::ARCHIVE);
    let created = sim
        .mutate(Mutation::CreateDatabase {
            parent_page_id: notes.clone(),
            title: "Incidents".into(),
            data_source_titles: vec!["Open".into(), "Closed".into()],
        })
        .expect("database")
        .created_ids;
    let (db, open, closed) = (created[0].clone(), created[1].clone(), created[2].clone());
    let d = api.get(&format!("/v1/databases/{db}")).await.body;
    assert_eq!(d["data_sources"].as_array().map(Vec::len), Some(2));
    assert_eq!(d["parent"], json!({ "type": "page_id", "page_id": notes }));
    let row = sim
        .mutate(Mutation::CreatePage {
            parent: ParentRef::DataSource(open.clone()),
            title: "Outage".into(),
        })
        .expect("row")
        .created_ids[0]
        .clone();
    let rows = ids(&api
        .walk_post(&format!("/v1/data_sources/{open}/query"), json!({}), 100)
        .await);
    assert_eq!(rows, vec![row.clone()]);
    let kb = api
        .walk_post("/v1/search", json!({ "query": "incidents" }), 100)
        .await;
    assert_eq!(
        kb.len(),
        2,
        "one hit per data source, matched by the database title"
    );

    sim.mutate(Mutation::TrashDataSource {
        data_source_id: closed.clone(),
    })
    .expect("trash ds");
    let d = api.get(&format!("/v1/databases/{db}")).await.body;
    assert_eq!(d["data_sources"], json!([{ "id": open, "name": "Open" }]));
    assert_eq!(
        api.get(&format!("/v1/data_sources/{closed}")).await.body["in_trash"],
        true
    );

    sim.mutate(Mutation::TrashDatabase {
        database_id: db.clone(),
    })
    .expect("trash db");
    assert_eq!(
        api.get(&format!("/v1/databases/{db}")).await.body["in_trash"],
        true
    );
    assert_eq!(
        api.get(&format!("/v1/data_sources/{open}")).await.body["in_trash"],
        true
    );
    assert_error(
        &api.post(&format!("/v1/data_sources/{open}/query"), json!({}))
            .await,
        404,
        "object_not_found",
    );
    assert_eq!(
        api.get(&format!("/v1/pages/{row}")).await.body["in_trash"],
        false,
        "rows stay"
    );
    assert!(!ids(&api
        .walk_get(&format!("/v1/blocks/{notes}/children"), 100)
        .await)
    .contains(&db));
    sim.mutate(Mutation::RestoreDatabase {
        database_id: db.clone(),
    })
    .expect("restore db");
    assert_eq!(
        api.post(&format!("/v1/data_sources/{open}/query"), json!({}))
            .await
            .status,
        200
    );

    let weekly = page_id(&sim, "Weekly sync #1");
    sim.mutate(Mutation::MovePage {
        page_id: weekly.clone(),
        new_parent: ParentRef::Page(archive.clone()),
    })
    .expect("moved");
    let p = api.get(&format!("/v1/pages/{weekly}")).await.body;
    assert_eq!(
        p["parent"],
        json!({ "type": "page_id", "page_id": archive })
    );
    assert!(!ids(&api
        .walk_get(&format!("/v1/blocks/{notes}/children"), 100)
        .await)
    .contains(&weekly));
    let under_archive = api
        .walk_get(&format!("/v1/blocks/{archive}/children"), 100)
        .await;
    assert_eq!(
        under_archive.last().map(|b| b["id"].clone()),
        Some(json!(weekly))
    );
    assert_eq!(
        under_archive.last().map(|b| b["parent"].clone()),
        Some(json!({ "type": "page_id", "page_id": archive }))
    );
    sim.mutate(Mutation::MovePage {
        page_id: weekly.clone(),
        new_parent: ParentRef::Workspace,
    })
    .expect("to workspace");
    let b = api.get(&format!("/v1/blocks/{weekly}")).await.body;
    assert_eq!(
        b["parent"],
        json!({ "type": "workspace", "workspace": true })
    );
    let moved: Vec<String> = sim
        .event_log()
        .iter()
        .filter(|e| e.event_type == "page.moved")
        .map(|e| e.entity_id.clone())
        .collect();
    assert_eq!(moved, vec![weekly.clone(), weekly]);
    sim.shutdown().await;
}
