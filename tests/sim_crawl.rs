//! A naive, complete cold crawl over the HTTP API must produce exactly `Sim::expected()`
//! and cost exactly `Sim::floor()` requests.

use std::collections::{BTreeMap, BTreeSet};

use notion_mirror::mirror::file_refs::unsigned;
use notion_mirror::sim::expected::{Expected, ExpectedBlock, ExpectedComment, ExpectedObject};
use notion_mirror::sim::{GenConfig, Knobs, MutationMix, Sim, SimConfig};
use serde_json::{json, Value};

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("Notion-Version", "2026-03-11")
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request completes");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let mut v: Value = resp.json().await.expect("JSON");
        if let Some(m) = v.as_object_mut() {
            m.remove("request_id");
        }
        v
    }

    async fn list(&self, path: &str, post: Option<Value>) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let page = match &post {
                Some(body) => {
                    let mut b = body.clone();
                    b["page_size"] = json!(100);
                    if let Some(c) = &cursor {
                        b["start_cursor"] = json!(c);
                    }
                    self.call(reqwest::Method::POST, path, Some(b)).await
                }
                None => {
                    let sep = if path.contains('?') { '&' } else { '?' };
                    let mut url = format!("{path}{sep}page_size=100");
                    if let Some(c) = &cursor {
                        url.push_str(&format!("&start_cursor={c}"));
                    }
                    self.call(reqwest::Method::GET, &url, None).await
                }
            };
            out.extend(page["results"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) if page["has_more"] == true => cursor = Some(c.to_string()),
                _ => return out,
            }
        }
        panic!("list {path} did not end");
    }
}

fn mentions(v: &Value) -> usize {
    v.as_array()
        .map_or(0, |a| a.iter().filter(|i| i["type"] == "mention").count())
}

/// Completes truncated properties through the property-item endpoint.
async fn complete(api: &Api, page: &mut Value) {
    let id = page["id"].as_str().unwrap_or_default().to_string();
    let props = page["properties"].as_object().cloned().unwrap_or_default();
    for (name, prop) in props {
        let ty = prop["type"].as_str().unwrap_or_default().to_string();
        let truncated = match ty.as_str() {
            "relation" => prop["has_more"] == true,
            "people" => prop["people"].as_array().map_or(0, Vec::len) == 25,
            "title" | "rich_text" => mentions(&prop[&ty]) == 25,
            _ => false,
        };
        if !truncated {
            continue;
        }
        let pid = prop["id"].as_str().unwrap_or_default();
        let items = api
            .list(&format!("/v1/pages/{id}/properties/{pid}"), None)
            .await;
        let values: Vec<Value> = items.iter().map(|i| i[&ty].clone()).collect();
        page["properties"][&name][&ty] = Value::Array(values);
        if ty == "relation" {
            page["properties"][&name]["has_more"] = json!(false);
        }
    }
}

/// Walks a block's (or page's) children recursively, not into child pages/databases.
async fn blocks(
    api: &Api,
    page: &str,
    holder: &str,
    out: &mut Expected,
    block_ids: &mut Vec<String>,
) {
    let kids = api
        .list(&format!("/v1/blocks/{holder}/children"), None)
        .await;
    for (i, b) in kids.into_iter().enumerate() {
        let id = b["id"].as_str().unwrap_or_default().to_string();
        let ty = b["type"].as_str().unwrap_or_default().to_string();
        let recurse = b["has_children"] == true && ty != "child_page" && ty != "child_database";
        out.blocks.insert(
            id.clone(),
            ExpectedBlock {
                page_id: page.to_string(),
                parent_id: holder.to_string(),
                position: i as i64,
                raw: b,
            },
        );
        if ty != "child_page" && ty != "child_database" {
            block_ids.push(id.clone());
        }
        if recurse {
            Box::pin(blocks(api, page, &id, out, block_ids)).await;
        }
    }
}

async fn crawl(api: &Api) -> Expected {
    let mut out = Expected::default();
    for u in api.list("/v1/users", None).await {
        out.users
            .insert(u["id"].as_str().unwrap_or_default().to_string(), u);
    }
    let mut pages: BTreeMap<String, Value> = BTreeMap::new();
    let mut sources = Vec::new();
    for r in api.list("/v1/search", Some(json!({}))).await {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        if r["object"] == "page" {
            pages.insert(id, r);
        } else {
            sources.push(id);
        }
    }
    let mut dbs = BTreeSet::new();
    for ds in &sources {
        let d = api
            .call(
                reqwest::Method::GET,
                &format!("/v1/data_sources/{ds}"),
                None,
            )
            .await;
        dbs.insert(
            d["parent"]["database_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        out.data_sources.insert(
            ds.clone(),
            ExpectedObject {
                raw: d,
                in_trash: false,
            },
        );
        for row in api
            .list(&format!("/v1/data_sources/{ds}/query"), Some(json!({})))
            .await
        {
            pages.insert(row["id"].as_str().unwrap_or_default().to_string(), row);
        }
    }
    for db in dbs {
        let d = api
            .call(reqwest::Method::GET, &format!("/v1/databases/{db}"), None)
            .await;
        for r in api.list(&format!("/v1/views?database_id={db}"), None).await {
            let vid = r["id"].as_str().unwrap_or_default().to_string();
            let v = api
                .call(reqwest::Method::GET, &format!("/v1/views/{vid}"), None)
                .await;
            out.views.insert(
                vid,
                ExpectedObject {
                    raw: v,
                    in_trash: false,
                },
            );
        }
        out.databases.insert(
            db,
            ExpectedObject {
                raw: d,
                in_trash: false,
            },
        );
    }
    for (id, mut page) in pages {
        complete(api, &mut page).await;
        let mut block_ids = Vec::new();
        blocks(api, &id, &id, &mut out, &mut block_ids).await;
        for c in api.list(&format!("/v1/comments?block_id={id}"), None).await {
            let cid = c["id"].as_str().unwrap_or_default().to_string();
            out.comments.insert(
                cid,
                ExpectedComment {
                    page_id: id.clone(),
                    on_block: false,
                    raw: c,
                },
            );
        }
        for b in block_ids {
            for c in api.list(&format!("/v1/comments?block_id={b}"), None).await {
                let cid = c["id"].as_str().unwrap_or_default().to_string();
                out.comments.insert(
                    cid,
                    ExpectedComment {
                        page_id: id.clone(),
                        on_block: true,
                        raw: c,
                    },
                );
            }
        }
        out.pages.insert(
            id,
            ExpectedObject {
                raw: page,
                in_trash: false,
            },
        );
    }
    out
}

/// Live objects, compared without hosted-file signatures: every answer signs its file URLs
/// anew (docs/files.md), so a crawl and `expected()` differ only there.
fn live(m: &BTreeMap<String, ExpectedObject>) -> BTreeMap<&String, Value> {
    m.iter()
        .filter(|(_, o)| !o.in_trash)
        .map(|(k, o)| (k, unsigned(&o.raw)))
        .collect()
}

fn assert_same(got: &Expected, want: &Expected) {
    assert_eq!(got.users, want.users);
    assert_eq!(live(&got.pages), live(&want.pages), "pages");
    assert_eq!(live(&got.databases), live(&want.databases), "databases");
    assert_eq!(
        live(&got.data_sources),
        live(&want.data_sources),
        "data sources"
    );
    assert_eq!(got.blocks.len(), want.blocks.len());
    let plain = |b: &ExpectedBlock| ExpectedBlock {
        raw: unsigned(&b.raw),
        ..b.clone()
    };
    for (id, b) in &want.blocks {
        assert_eq!(got.blocks.get(id).map(plain), Some(plain(b)), "block {id}");
    }
    assert_eq!(got.comments, want.comments, "comments");
    assert_eq!(live(&got.views), live(&want.views), "views");
}

async fn start(gen: GenConfig) -> (Sim, Api) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = SimConfig::new(gen);
    cfg.knobs = Knobs::unlimited();
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        token: sim.token(),
    };
    (sim, api)
}

#[tokio::test]
async fn a_naive_complete_crawl_equals_expected_and_costs_the_floor() {
    let (sim, api) = start(GenConfig::small(21)).await;
    let got = crawl(&api).await;
    let want = sim.expected();
    assert_same(&got, &want);
    let floor = sim.floor();
    let stats = sim.stats();
    assert_eq!(
        stats.by_endpoint(),
        floor.by_endpoint,
        "the crawl made exactly the floor's requests"
    );
    assert_eq!(stats.total(), floor.total);
    assert!(floor.total_without_block_comments < floor.total);
    sim.shutdown().await;
}

#[tokio::test]
async fn expected_stays_exact_after_random_mutations() {
    let (sim, api) = start(GenConfig::small(22)).await;
    let mix = MutationMix {
        comments: true,
        structure: true,
        revoke: true,
    };
    let applied = sim.mutate_random(99, 60, mix);
    assert_eq!(applied.len(), 60);
    let got = crawl(&api).await;
    assert_same(&got, &sim.expected());
    sim.shutdown().await;
}
