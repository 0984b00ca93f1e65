//! The simulator's HTTP API over real loopback HTTP: pagination, errors, auth, limits,
//! truncation, search lag, revocation, the query cap and wrong-type ids.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use notion_mirror::sim::fixtures as fx;
use notion_mirror::sim::{GenConfig, Knobs, Mutation, ParentRef, RateLimit, Sim, SimConfig};
use serde_json::{json, Value};

mod changes;
mod visibility;

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
