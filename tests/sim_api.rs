//! The simulator's HTTP API over real loopback HTTP: pagination, errors, auth, limits,
//! truncation, search lag, revocation, the query cap and wrong-type ids.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use notion_mirror::sim::fixtures as fx;
use notion_mirror::sim::{GenConfig, Knobs, Mutation, ParentRef, RateLimit, Sim, SimConfig};
use serde_json::{json, Value};

struct Resp {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

async fn start_with(gen: GenConfig, knobs: Knobs) -> (Sim, Api) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = SimConfig::new(gen);
    cfg.knobs = knobs;
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        token: sim.token(),
    };
    (sim, api)
}

async fn start(gen: GenConfig) -> (Sim, Api) {
    start_with(gen, Knobs::unlimited()).await
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        version: Option<&str>,
        token: Option<&str>,
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(v) = version {
            req = req.header("Notion-Version", v);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request completes");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json::<Value>().await.expect("JSON body");
        Resp {
            status,
            body,
            headers,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(
            reqwest::Method::GET,
            path,
            None,
            Some("2026-03-11"),
            Some(&self.token),
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(
            reqwest::Method::POST,
            path,
            Some(body),
            Some("2026-03-11"),
            Some(&self.token),
        )
        .await
    }

    /// Walks a GET list to the end; every page must be a well-formed list envelope.
    async fn walk_get(&self, path: &str, page_size: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut url = format!("{path}{sep}page_size={page_size}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&start_cursor={c}"));
            }
            let r = self.get(&url).await;
            assert_eq!(r.status, 200, "{url}: {}", r.body);
            let (items, next) = envelope(&r.body, page_size);
            out.extend(items);
            match next {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
        panic!("list {path} did not end");
    }

    /// Walks a POST list (cursor in the body) to the end.
    async fn walk_post(&self, path: &str, body: Value, page_size: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut b = body.clone();
            b["page_size"] = json!(page_size);
            if let Some(c) = &cursor {
                b["start_cursor"] = json!(c);
            }
            let r = self.post(path, b).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            let (items, next) = envelope(&r.body, page_size);
            out.extend(items);
            match next {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
        panic!("list {path} did not end");
    }
}

/// Checks one list page and returns its results and next cursor.
fn envelope(body: &Value, page_size: usize) -> (Vec<Value>, Option<String>) {
    assert_eq!(body["object"], "list");
    let results = body["results"].as_array().expect("results").clone();
    assert!(results.len() <= page_size);
    let ty = body["type"].as_str().expect("type");
    assert!(body.get(ty).is_some(), "type-keyed object present");
    assert!(body["request_id"].is_string());
    let has_more = body["has_more"].as_bool().expect("has_more");
    if has_more {
        (
            results,
            Some(body["next_cursor"].as_str().expect("cursor").to_string()),
        )
    } else {
        assert!(body["next_cursor"].is_null());
        (results, None)
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|v| v["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn assert_unique(v: &[String]) {
    let set: BTreeSet<&String> = v.iter().collect();
    assert_eq!(set.len(), v.len(), "no item is returned twice");
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let keys: BTreeSet<&str> = r
        .body
        .as_object()
        .expect("error object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["object", "status", "code", "message", "request_id"])
    );
    assert_eq!(r.body["object"], "error");
    assert_eq!(r.body["status"], status);
    assert_eq!(r.body["code"], code);
}

fn page_id(sim: &Sim, title: &str) -> String {
    sim.read(|ws| ws.find_page_by_title(title))
        .unwrap_or_else(|| panic!("page {title} exists"))
}

fn ds_id(sim: &Sim, title: &str) -> String {
    sim.read(|ws| ws.find_data_source_by_title(title))
        .unwrap_or_else(|| panic!("data source {title} exists"))
}

#[tokio::test]
async fn every_list_walks_completely_and_exactly_once() {
    let (sim, api) = start(GenConfig::edge(3)).await;
    let (live, users) = sim.read(|ws| {
        let pages = ws.pages.values().filter(|p| !p.in_trash).count();
        let sources = ws.data_sources.len();
        (pages + sources, ws.user_ids())
    });

    let found = ids(&api.walk_post("/v1/search", json!({}), 100).await);
    assert_unique(&found);
    assert_eq!(found.len(), live);

    let events = ds_id(&sim, fx::DS_EVENT_LOG);
    let rows = ids(&api
        .walk_post(&format!("/v1/data_sources/{events}/query"), json!({}), 100)
        .await);
    assert_unique(&rows);
    assert!(rows.len() > 250);
    // Without sorts: creation minute, then id (an order SQL can reproduce).
    let mut by_creation = sim.read(|ws| {
        ws.rows_of(&events)
            .into_iter()
            .map(|id| {
                let minute = notion_mirror::sim::util::round_minute(ws.pages[&id].created_time);
                (minute, id)
            })
            .collect::<Vec<_>>()
    });
    by_creation.sort();
    assert_eq!(
        rows,
        by_creation
            .into_iter()
            .map(|(_, id)| id)
            .collect::<Vec<_>>(),
        "creation order by default"
    );

    let notes = page_id(&sim, fx::RELEASE_NOTES);
    let kids = ids(&api
        .walk_get(&format!("/v1/blocks/{notes}/children"), 100)
        .await);
    assert_unique(&kids);
    assert!(kids.len() > 100);
    assert_eq!(kids, sim.read(|ws| ws.blocks_of_page(&notes)));

    let review = page_id(&sim, fx::DESIGN_REVIEW);
    let comments = api
        .walk_get(&format!("/v1/comments?block_id={review}"), 100)
        .await;
    let cids = ids(&comments);
    assert_unique(&cids);
    assert!(cids.len() > 100);
    assert_eq!(cids, sim.read(|ws| ws.comments_of_page(&review)));
    let discussions: BTreeSet<&str> = comments
        .iter()
        .filter_map(|c| c["discussion_id"].as_str())
        .collect();
    assert!(discussions.len() >= 2);

    let listed = ids(&api.walk_get("/v1/users", 7).await);
    assert_eq!(listed, users);

    let relaunch = page_id(&sim, fx::WEBSITE_RELAUNCH);
    let projects = ds_id(&sim, fx::DS_PROJECTS);
    let prop = sim
        .read(|ws| ws.property_id(&projects, "Tasks"))
        .expect("Tasks relation");
    let items = api
        .walk_get(&format!("/v1/pages/{relaunch}/properties/{prop}"), 10)
        .await;
    let related: Vec<String> = items
        .iter()
        .map(|i| i["relation"]["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_unique(&related);
    assert!(related.len() >= 30);
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_cursors_and_page_sizes_are_rejected() {
    let (sim, api) = start(GenConfig::small(4)).await;
    let roadmap = page_id(&sim, fx::ROADMAP);
    assert_error(
        &api.get(&format!(
            "/v1/blocks/{roadmap}/children?start_cursor=garbage"
        ))
        .await,
        400,
        "validation_error",
    );
    assert_error(
        &api.post("/v1/search", json!({ "start_cursor": "zz" }))
            .await,
        400,
        "validation_error",
    );
    assert_error(
        &api.post("/v1/search", json!({ "page_size": 101 })).await,
        400,
        "validation_error",
    );
    assert_error(
        &api.get("/v1/users?page_size=0").await,
        400,
        "validation_error",
    );
    assert_error(
        &api.get("/v1/users?page_size=abc").await,
        400,
        "validation_error",
    );
    // A cursor from one list is not valid for another.
    let first = api.get("/v1/users?page_size=2").await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("more users")
        .to_string();
    assert_error(
        &api.get(&format!(
            "/v1/blocks/{roadmap}/children?start_cursor={cursor}"
        ))
        .await,
        400,
        "validation_error",
    );
    assert_eq!(
        api.get(&format!("/v1/users?page_size=2&start_cursor={cursor}"))
            .await
            .status,
        200
    );
    let bad_json = api
        .http
        .post(format!("{}/v1/search", api.base))
        .header("Notion-Version", "2026-03-11")
        .bearer_auth(&api.token)
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(bad_json.status().as_u16(), 400);
    let body: Value = bad_json.json().await.expect("json");
    assert_eq!(body["code"], "invalid_json");
    assert_error(
        &api.get("/v1/nothing/here").await,
        400,
        "invalid_request_url",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn page_objects_truncate_at_25_and_property_items_complete_them() {
    let (sim, api) = start(GenConfig::edge(5)).await;
    let relaunch = page_id(&sim, fx::WEBSITE_RELAUNCH);
    let page = api.get(&format!("/v1/pages/{relaunch}")).await.body;
    let tasks = &page["properties"]["Tasks"];
    assert_eq!(tasks["relation"].as_array().map(Vec::len), Some(25));
    assert_eq!(tasks["has_more"], true);
    // Rollups and formulas in page objects see only the first 25 related pages [S11].
    assert_eq!(page["properties"]["Task count"]["rollup"]["number"], 25);
    assert_eq!(page["properties"]["Linked tasks"]["formula"]["number"], 25);
    let mobile = page_id(&sim, "Mobile app");
    let small = api.get(&format!("/v1/pages/{mobile}")).await.body;
    assert_eq!(small["properties"]["Tasks"]["has_more"], false);

    let prop = tasks["id"].as_str().expect("id");
    let all = api
        .walk_get(&format!("/v1/pages/{relaunch}/properties/{prop}"), 100)
        .await;
    let expected = sim.expected();
    let total = expected.pages[&relaunch].raw["properties"]["Tasks"]["relation"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        expected.pages[&relaunch].raw["properties"]["Tasks"]["has_more"],
        false
    );
    assert_eq!(all.len(), total);
    assert!(all.len() > 25);
    // The rollup's property item is complete on its last page, incomplete before.
    let count_id = page["properties"]["Task count"]["id"].as_str().expect("id");
    let first = api
        .get(&format!(
            "/v1/pages/{relaunch}/properties/{count_id}?page_size=10"
        ))
        .await
        .body;
    assert_eq!(first["property_item"]["rollup"]["type"], "incomplete");
    assert!(first["property_item"]["next_url"]
        .as_str()
        .is_some_and(|u| u.contains("start_cursor=")));
    let whole = api
        .get(&format!("/v1/pages/{relaunch}/properties/{count_id}"))
        .await
        .body;
    assert_eq!(whole["property_item"]["rollup"]["number"], json!(all.len()));
    // A show_original rollup of titles lists the related titles' rich-text items, one per
    // item, each the title property's own item (its id is `title`, not the rollup's).
    let names_id = page["properties"]["Task names"]["id"].as_str().expect("id");
    let names = api
        .walk_get(&format!("/v1/pages/{relaunch}/properties/{names_id}"), 100)
        .await;
    assert!(names.len() >= all.len(), "{} items", names.len());
    for item in &names {
        assert_eq!(item["object"], "property_item");
        assert_eq!(item["type"], "title");
        assert_eq!(item["id"], "title");
        assert!(item["title"].is_object(), "one rich-text object: {item}");
        assert!(item["title"]["plain_text"].is_string());
    }

    let hands = page_id(&sim, fx::ALL_HANDS);
    let hp = api.get(&format!("/v1/pages/{hands}")).await.body;
    assert_eq!(
        hp["properties"]["Assignee"]["people"]
            .as_array()
            .map(Vec::len),
        Some(25)
    );
    let pid = hp["properties"]["Assignee"]["id"].as_str().expect("id");
    assert_eq!(
        api.walk_get(&format!("/v1/pages/{hands}/properties/{pid}"), 100)
            .await
            .len(),
        30
    );

    let staffing = page_id(&sim, fx::STAFFING_PLAN);
    let sp = api.get(&format!("/v1/pages/{staffing}")).await.body;
    let team = &sp["properties"]["Owner's \"Team\""];
    let mentions = |v: &Value| {
        v.as_array()
            .map_or(0, |a| a.iter().filter(|i| i["type"] == "mention").count())
    };
    assert_eq!(mentions(&team["rich_text"]), 25);
    let tid = team["id"].as_str().expect("id");
    let full = api
        .walk_get(&format!("/v1/pages/{staffing}/properties/{tid}"), 100)
        .await;
    let full_rt: Vec<Value> = full.iter().map(|i| i["rich_text"].clone()).collect();
    assert_eq!(mentions(&Value::Array(full_rt)), 30);

    let review = sim.read(|ws| {
        ws.pages
            .values()
            .find(|p| {
                notion_mirror::sim::richtext::plain_text(&p.title)
                    .starts_with(fx::MENTION_TITLE_PREFIX)
            })
            .map(|p| p.id.clone())
    });
    let review = review.expect("mention-title row");
    let rp = api.get(&format!("/v1/pages/{review}")).await.body;
    assert_eq!(mentions(&rp["properties"]["Name"]["title"]), 25);
    let title_items = api
        .walk_get(&format!("/v1/pages/{review}/properties/title"), 100)
        .await;
    assert_eq!(
        title_items
            .iter()
            .filter(|i| i["title"]["type"] == "mention")
            .count(),
        27
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn simple_property_items_and_encoded_ids() {
    let (sim, api) = start(GenConfig::small(6)).await;
    let tasks = ds_id(&sim, fx::DS_TASKS);
    let row = sim.read(|ws| ws.rows_of(&tasks)[0].clone());
    let page = api.get(&format!("/v1/pages/{row}")).await.body;
    let odd = &page["properties"]["Estimate x2"];
    assert_eq!(odd["id"], "f%5C%5C%3Ap");
    let item = api
        .get(&format!("/v1/pages/{row}/properties/f%5C%5C%3Ap"))
        .await;
    assert_eq!(item.status, 200, "{}", item.body);
    assert_eq!(item.body["object"], "property_item");
    assert_eq!(item.body["type"], "formula");
    assert_eq!(item.body["formula"], odd["formula"]);
    let status_id = page["properties"]["Status"]["id"].as_str().expect("id");
    let st = api
        .get(&format!("/v1/pages/{row}/properties/{status_id}"))
        .await
        .body;
    assert_eq!(st["status"], page["properties"]["Status"]["status"]);
    assert!(st["request_id"].is_string());
    // filter_properties trims the page object.
    let trimmed = api
        .get(&format!(
            "/v1/pages/{row}?filter_properties=title&filter_properties={status_id}"
        ))
        .await
        .body;
    let keys: BTreeSet<&str> = trimmed["properties"]
        .as_object()
        .expect("props")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["Name", "Status"]));
    let roadmap = page_id(&sim, fx::ROADMAP);
    let t = api
        .get(&format!("/v1/pages/{roadmap}/properties/title"))
        .await
        .body;
    assert_eq!(t["type"], "property_item");
    assert_eq!(t["property_item"]["type"], "title");
    assert_eq!(t["results"][0]["title"]["plain_text"], fx::ROADMAP);
    assert_error(
        &api.get(&format!("/v1/pages/{roadmap}/properties/nope"))
            .await,
        404,
        "object_not_found",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_burst_earns_429_with_integer_retry_after_and_the_bucket_refills() {
    let knobs = Knobs {
        rate_limit: Some(RateLimit {
            rate: 4.0,
            burst: 3.0,
        }),
        ..Knobs::default()
    };
    let (sim, api) = start_with(GenConfig::small(7), knobs).await;
    let mut limited = None;
    for _ in 0..8 {
        let r = api.get("/v1/users/me").await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a burst is rate limited");
    assert_error(&r, 429, "rate_limited");
    let retry: u64 = r.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("integer Retry-After");
    assert!(retry >= 1);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if api.get("/v1/users/me").await.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "bucket refills");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sim.stats().rate_limited() >= 1);
    // The override knob sets Retry-After.
    sim.set_knobs(Knobs {
        retry_after: Some(7),
        storm_429_rate: 1.0,
        rate_limit: None,
        ..Knobs::default()
    });
    let storm = api.get("/v1/users/me").await;
    assert_eq!(storm.status, 429);
    assert_eq!(storm.headers["retry-after"], "7");
    sim.shutdown().await;
}

#[tokio::test]
async fn version_and_token_are_checked_before_anything_else() {
    let (sim, api) = start(GenConfig::small(8)).await;
    let m = reqwest::Method::GET;
    let r = api
        .send(m.clone(), "/v1/users/me", None, None, Some(&api.token))
        .await;
    assert_error(&r, 400, "missing_version");
    let r = api
        .send(
            m.clone(),
            "/v1/users/me",
            None,
            Some("2022-06-28"),
            Some(&api.token),
        )
        .await;
    assert_error(&r, 400, "validation_error");
    let r = api
        .send(
            m.clone(),
            "/v1/users/me",
            None,
            Some("2026-03-11"),
            Some("ntn_wrong"),
        )
        .await;
    assert_error(&r, 401, "unauthorized");
    assert_eq!(r.body["message"], "API token is invalid.");
    let r = api
        .send(m.clone(), "/v1/users/me", None, Some("2026-03-11"), None)
        .await;
    assert_error(&r, 401, "unauthorized");
    let me = api.get("/v1/users/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["type"], "bot");
    assert_eq!(me.body["bot"]["owner"]["type"], "workspace");
    assert!(me.body["bot"]["workspace_id"].is_string());
    assert!(me.headers.contains_key("x-notion-request-id"));
    let s = sim.stats();
    assert_eq!(s.status("users.me", 401), 2);
    assert_eq!(s.status("users.me", 400), 2);
    assert_eq!(s.ok("users.me"), 1);
    sim.shutdown().await;
}

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
