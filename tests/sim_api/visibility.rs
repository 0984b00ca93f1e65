//! What the simulated API shows and hides: search lag, revoked access, the query row cap
//! and its windows, query filters and sorts, wrong-type ids, trashed objects.

use super::*;

#[tokio::test]
async fn search_lag_hides_a_new_page_until_the_lag_passes() {
    let lag = Duration::from_millis(400);
    let (sim, api) = start_with(
        GenConfig::small(9),
        Knobs {
            search_lag: lag,
            ..Knobs::unlimited()
        },
    )
    .await;
    let at = Instant::now();
    let out = sim
        .mutate(Mutation::CreatePage {
            parent: ParentRef::Workspace,
            title: "Freshly shared".into(),
        })
        .expect("created");
    let id = out.created_ids[0].clone();
    let q = json!({ "query": "freshly shared" });
    let first = api.post("/v1/search", q.clone()).await;
    assert!(!ids(first.body["results"].as_array().expect("results")).contains(&id));
    assert_eq!(
        api.get(&format!("/v1/pages/{id}")).await.status,
        200,
        "GET sees it at once"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let r = api.post("/v1/search", q.clone()).await;
        if ids(r.body["results"].as_array().expect("results")).contains(&id) {
            break;
        }
        assert!(Instant::now() < deadline, "appears after the lag");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(at.elapsed() >= lag - Duration::from_millis(20));
    sim.shutdown().await;
}

#[tokio::test]
async fn revoked_access_is_404_everywhere_and_absent_from_lists() {
    let (sim, api) = start(GenConfig::small(10)).await;
    let pt = page_id(&sim, fx::PROJECTS_AND_TASKS);
    let tasks = ds_id(&sim, fx::DS_TASKS);
    let row = sim.read(|ws| ws.rows_of(&tasks)[0].clone());
    let reading = ds_id(&sim, fx::DS_READING);
    let book = sim.read(|ws| ws.rows_of(&reading)[0].clone());
    let before = api.get(&format!("/v1/pages/{book}")).await.body;
    assert_eq!(
        before["properties"]["Project ref"]["relation"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    sim.mutate(Mutation::RevokeAccess {
        page_id: pt.clone(),
    })
    .expect("revoked");
    for path in [
        format!("/v1/pages/{pt}"),
        format!("/v1/blocks/{pt}"),
        format!("/v1/blocks/{pt}/children"),
        format!("/v1/comments?block_id={pt}"),
        format!("/v1/pages/{row}"),
        format!("/v1/data_sources/{tasks}"),
    ] {
        assert_error(&api.get(&path).await, 404, "object_not_found");
    }
    assert_error(
        &api.post(&format!("/v1/data_sources/{tasks}/query"), json!({}))
            .await,
        404,
        "object_not_found",
    );
    let found = ids(&api.walk_post("/v1/search", json!({}), 100).await);
    assert!(!found.contains(&pt) && !found.contains(&row) && !found.contains(&tasks));
    let after = api.get(&format!("/v1/pages/{book}")).await.body;
    assert_eq!(
        after["properties"]["Project ref"]["relation"],
        json!([]),
        "relations to unshared pages come back empty"
    );
    let no_events = sim.event_log().iter().all(|e| e.entity_id != pt);
    assert!(no_events);

    sim.mutate(Mutation::RestoreAccess {
        page_id: pt.clone(),
    })
    .expect("restored");
    assert_eq!(api.get(&format!("/v1/pages/{row}")).await.status, 200);
    assert_eq!(
        api.post(&format!("/v1/data_sources/{tasks}/query"), json!({}))
            .await
            .status,
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_row_cap_marks_the_query_incomplete_and_windows_recover_the_rest() {
    let (sim, api) = start_with(
        GenConfig::small(11),
        Knobs {
            max_query_rows: 20,
            ..Knobs::unlimited()
        },
    )
    .await;
    let tasks = ds_id(&sim, fx::DS_TASKS);
    let all = sim.read(|ws| ws.rows_of(&tasks));
    assert!(all.len() > 30);
    let path = format!("/v1/data_sources/{tasks}/query");
    let sorts = json!([{ "timestamp": "created_time", "direction": "ascending" }]);
    let first = api
        .post(&path, json!({ "sorts": sorts, "page_size": 8 }))
        .await
        .body;
    assert_eq!(first["request_status"]["type"], "complete");
    let capped = api.walk_post(&path, json!({ "sorts": sorts }), 8).await;
    assert_eq!(capped.len(), 20);
    // The last page says why it stopped.
    let mut cursor = None;
    let mut last = Value::Null;
    for _ in 0..10 {
        let mut b = json!({ "sorts": sorts, "page_size": 8 });
        if let Some(c) = &cursor {
            b["start_cursor"] = json!(c);
        }
        last = api.post(&path, b).await.body;
        if last["has_more"] == false {
            break;
        }
        cursor = last["next_cursor"].as_str().map(String::from);
    }
    assert!(last["next_cursor"].is_null());
    assert_eq!(
        last["request_status"],
        json!({ "type": "incomplete", "incomplete_reason": "query_result_limit_reached" })
    );
    // Notion's workaround: window by created_time on_or_after the last row seen [S19].
    let mut seen: Vec<String> = Vec::new();
    let mut filter: Option<Value> = None;
    for _ in 0..20 {
        let mut body = json!({ "sorts": sorts });
        if let Some(f) = &filter {
            body["filter"] = f.clone();
        }
        let window = api.walk_post(&path, body, 100).await;
        let fresh: Vec<String> = ids(&window)
            .into_iter()
            .filter(|i| !seen.contains(i))
            .collect();
        if fresh.is_empty() {
            break;
        }
        seen.extend(fresh);
        let last_created = window
            .last()
            .map(|p| p["created_time"].clone())
            .expect("rows");
        filter = Some(
            json!({ "timestamp": "created_time", "created_time": { "on_or_after": last_created } }),
        );
    }
    let want: BTreeSet<&String> = all.iter().collect();
    let got: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(got, want);
    sim.shutdown().await;
}

#[tokio::test]
async fn query_filters_and_sorts() {
    let (sim, api) = start(GenConfig::small(12)).await;
    let tasks = ds_id(&sim, fx::DS_TASKS);
    let path = format!("/v1/data_sources/{tasks}/query");
    let desc = api
        .walk_post(
            &path,
            json!({ "sorts": [{ "timestamp": "created_time", "direction": "descending" }] }),
            100,
        )
        .await;
    let times: Vec<String> = desc
        .iter()
        .map(|p| p["created_time"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    let mid = times[times.len() / 2].clone();
    let newer = api
        .walk_post(&path, json!({ "filter": { "timestamp": "created_time", "created_time": { "on_or_after": mid } } }), 100)
        .await;
    assert!(newer
        .iter()
        .all(|p| p["created_time"].as_str().unwrap_or_default() >= mid.as_str()));
    assert_eq!(newer.len(), times.iter().filter(|t| **t >= mid).count());
    let either = json!({ "or": [
        { "timestamp": "created_time", "created_time": { "before": mid } },
        { "and": [ { "timestamp": "last_edited_time", "last_edited_time": { "on_or_after": "2000-01-01" } } ] }
    ]});
    assert_eq!(
        api.walk_post(&path, json!({ "filter": either }), 100)
            .await
            .len(),
        times.len()
    );
    let too_deep = json!({ "and": [ { "or": [ { "and": [] } ] } ] });
    assert_error(
        &api.post(&path, json!({ "filter": too_deep })).await,
        400,
        "validation_error",
    );
    // Property filters (the SDK's helpers send them) and relative dates are answered.
    let property = json!({ "property": "Done", "checkbox": { "equals": true } });
    let done = api
        .walk_post(&path, json!({ "filter": property }), 100)
        .await;
    assert!(done
        .iter()
        .all(|p| p["properties"]["Done"]["checkbox"] == true));
    let open = api
        .walk_post(
            &path,
            json!({ "filter": { "property": "Done", "checkbox": { "equals": false } } }),
            100,
        )
        .await;
    assert_eq!(done.len() + open.len(), times.len());
    assert!(!done.is_empty() && !open.is_empty());
    let recent =
        json!({ "timestamp": "created_time", "created_time": { "on_or_after": "one_month_ago" } });
    assert_eq!(
        api.walk_post(&path, json!({ "filter": recent }), 100)
            .await
            .len(),
        times.len(),
        "every generated row was created in the last 30 days"
    );
    let future = json!({ "property": "Due", "date": { "after": "one_month_from_now" } });
    assert_eq!(
        api.post(&path, json!({ "filter": future })).await.status,
        200
    );
    let wrong_type = json!({ "property": "Done", "select": { "equals": "x" } });
    assert_error(
        &api.post(&path, json!({ "filter": wrong_type })).await,
        400,
        "validation_error",
    );
    let bad_relative = json!({ "property": "Due", "date": { "after": "next_decade" } });
    assert_error(
        &api.post(&path, json!({ "filter": bad_relative })).await,
        400,
        "validation_error",
    );
    let by_title = api
        .walk_post(
            &path,
            json!({ "sorts": [{ "property": "Name", "direction": "ascending" }] }),
            100,
        )
        .await;
    let titles: Vec<String> = by_title
        .iter()
        .map(|p| {
            notion_mirror::sim::richtext::plain_text(
                p["properties"]["Name"]["title"]
                    .as_array()
                    .map_or(&[][..], |v| v.as_slice()),
            )
            .to_lowercase()
        })
        .collect();
    assert!(titles.windows(2).all(|w| w[0] <= w[1]));
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_object_type_ids_get_notions_answers() {
    let (sim, api) = start(GenConfig::small(13)).await;
    let page = page_id(&sim, fx::ROADMAP);
    let tasks = ds_id(&sim, fx::DS_TASKS);
    let db = sim.read(|ws| ws.database_of(&tasks)).expect("db");
    let linked = sim.read(|ws| {
        ws.blocks
            .values()
            .find(|b| b.btype == "child_database" && !ws.databases.contains_key(&b.id))
            .map(|b| b.id.clone())
    });
    let linked = linked.expect("linked database block");
    assert_error(
        &api.get(&format!("/v1/databases/{page}")).await,
        400,
        "validation_error",
    );
    assert_error(
        &api.get(&format!("/v1/pages/{db}")).await,
        400,
        "validation_error",
    );
    for path in [
        format!("/v1/pages/{tasks}"),
        format!("/v1/databases/{tasks}"),
        format!("/v1/blocks/{tasks}"),
    ] {
        assert_error(&api.get(&path).await, 404, "object_not_found");
    }
    let as_block = api.get(&format!("/v1/blocks/{db}")).await;
    assert_eq!(as_block.status, 200);
    assert_eq!(as_block.body["type"], "child_database");
    let page_block = api.get(&format!("/v1/blocks/{page}")).await;
    assert_eq!(page_block.status, 200);
    assert_eq!(page_block.body["type"], "child_page");
    let r = api.get(&format!("/v1/databases/{linked}")).await;
    assert_error(&r, 400, "validation_error");
    assert!(r.body["message"]
        .as_str()
        .is_some_and(|m| m.contains("linked database")));
    let undashed = page.replace('-', "").to_uppercase();
    let r = api.get(&format!("/v1/pages/{undashed}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], json!(page));
    assert_error(
        &api.get("/v1/pages/not-a-uuid").await,
        400,
        "validation_error",
    );
    let missing = "00000000-0000-4000-8000-000000000000";
    let r = api.get(&format!("/v1/pages/{missing}")).await;
    assert_error(&r, 404, "object_not_found");
    assert!(r.body["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Could not find page with ID: ")));
    sim.shutdown().await;
}

#[tokio::test]
async fn trashed_objects_are_readable_but_not_listed() {
    let (sim, api) = start(GenConfig::small(14)).await;
    let old = page_id(&sim, fx::OLD_DRAFT);
    let r = api.get(&format!("/v1/pages/{old}")).await.body;
    assert_eq!(r["in_trash"], true);
    assert!(
        r.get("archived").is_none(),
        "no `archived` since 2026-03-11"
    );
    let v2025 = api
        .send(
            reqwest::Method::GET,
            &format!("/v1/pages/{old}"),
            None,
            Some("2025-09-03"),
            Some(&api.token),
        )
        .await
        .body;
    assert_eq!(v2025["archived"], true, "2025-09-03 still shows `archived`");
    let found = ids(&api
        .walk_post("/v1/search", json!({ "query": "old draft" }), 100)
        .await);
    assert!(!found.contains(&old));
    let obsolete = sim
        .read(|ws| ws.find_page_by_title(fx::OBSOLETE_TASK))
        .expect("trashed row");
    let tasks = ds_id(&sim, fx::DS_TASKS);
    let rows = ids(&api
        .walk_post(&format!("/v1/data_sources/{tasks}/query"), json!({}), 100)
        .await);
    assert!(!rows.contains(&obsolete));
    assert_eq!(
        api.get(&format!("/v1/pages/{obsolete}")).await.body["in_trash"],
        true
    );
    let notes = page_id(&sim, fx::MEETING_NOTES);
    let cancelled = page_id(&sim, fx::CANCELLED_SYNC);
    let kids = ids(&api
        .walk_get(&format!("/v1/blocks/{notes}/children"), 100)
        .await);
    assert!(!kids.contains(&cancelled));
    let block = api.get(&format!("/v1/blocks/{cancelled}")).await.body;
    assert_eq!(block["in_trash"], true);
    assert_eq!(block["type"], "child_page");
    // Trash and restore through mutations: the child_page block returns at its position.
    let cafe = page_id(&sim, fx::CAFE);
    let roadmap = page_id(&sim, fx::ROADMAP);
    let before = ids(&api
        .walk_get(&format!("/v1/blocks/{roadmap}/children"), 100)
        .await);
    sim.mutate(Mutation::TrashPage {
        page_id: cafe.clone(),
    })
    .expect("trashed");
    let during = ids(&api
        .walk_get(&format!("/v1/blocks/{roadmap}/children"), 100)
        .await);
    assert!(!during.contains(&cafe));
    assert!(!ids(&api.walk_post("/v1/search", json!({}), 100).await).contains(&cafe));
    sim.mutate(Mutation::RestorePage {
        page_id: cafe.clone(),
    })
    .expect("restored");
    assert_eq!(
        ids(&api
            .walk_get(&format!("/v1/blocks/{roadmap}/children"), 100)
            .await),
        before
    );
    sim.shutdown().await;
}
