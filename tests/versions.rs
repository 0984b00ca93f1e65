//! The three Notion versions the mirror speaks (docs/notion-2026.md): each converges after
//! random changes, costs the same cold sync, and 2026-12-01 never stores a row short
//! (title-only lists unless `filter_properties` asks for every property).

mod common;

use notion_mirror::notion::NotionVersion;
use notion_mirror::sim::{GenConfig, Knobs, MutationMix};
use notion_mirror::sync::SyncEnd;
use notion_mirror::verify::Scope;
use serde_json::{json, Value};

fn complete(end: SyncEnd) {
    assert!(
        matches!(end, SyncEnd::Complete(_)),
        "sync did not complete: {end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_version_converges_after_random_changes_at_the_same_cold_cost() {
    let mut cold = Vec::new();
    for version in NotionVersion::ALL {
        let knobs = Knobs {
            // Search lags behind changes, as Notion's does.
            search_lag: std::time::Duration::from_millis(300),
            ..Knobs::unlimited()
        };
        let sim = common::sim(GenConfig::small(5), knobs).await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::config(&sim, dir.path());
        config.notion_version = version;
        complete(common::sync(&config).await);
        common::assert_mirror_equals(&sim, &config, Scope::default());
        let stats = sim.stats();
        cold.push((version, stats.total(), stats.endpoint("pages.retrieve")));
        let mix = MutationMix {
            comments: false,
            structure: true,
            revoke: false,
        };
        let applied = sim.mutate_random(99, 60, mix);
        assert!(applied.len() >= 50, "{version}: applied {}", applied.len());
        // Let the lagging search catch up before the second sync lists it.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        complete(common::sync(&config).await);
        common::assert_mirror_equals(&sim, &config, Scope::default());
        // Every row holds every property of its schema (never stored short).
        let short = common::count(
            &config,
            "select count(*) from pages p join data_sources d on d.id = p.data_source_id
             where p.in_trash = 0 and (select count(*) from property_values v where v.page_id = p.id)
                 <> (select count(*) from json_each(d.raw, '$.properties'))",
        );
        assert_eq!(short, 0, "{version}: rows stored without some property");
        sim.shutdown().await;
    }
    println!("cold syncs (version, requests, page GETs): {cold:?}");
    let totals: Vec<u64> = cold.iter().map(|c| c.1).collect();
    assert!(
        totals.windows(2).all(|w| w[0] == w[1]),
        "a cold sync costs the same under every version: {cold:?}"
    );
    assert!(cold.iter().all(|c| c.2 == 0), "no page GETs: {cold:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_property_lists_are_split_and_rows_stay_complete_on_2026_12_01() {
    let sim = common::sim(GenConfig::small(6), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    config.notion_version = NotionVersion::V2026_12_01;
    // A few property ids per request: schemas with many properties take several requests
    // for each page of rows.
    config.filter_properties_budget = 80;
    complete(common::sync(&config).await);
    common::assert_mirror_equals(&sim, &config, Scope::default());
    let stats = sim.stats();
    let floor = sim.floor();
    let queries = stats.endpoint("data_sources.query");
    let floor_queries = floor.by_endpoint["data_sources.query"];
    println!("queries {queries}, floor {floor_queries}");
    assert!(
        queries > 2 * floor_queries,
        "split lists cost one request per share: {queries} vs {floor_queries}"
    );
    assert_eq!(
        stats.endpoint("pages.retrieve"),
        0,
        "merged rows are complete"
    );
}

#[tokio::test]
async fn lists_show_only_titles_on_2026_12_01_unless_asked_and_archived_is_gone() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = common::sim(GenConfig::small(7), Knobs::unlimited()).await;
    let tasks = sim
        .read(|ws| ws.find_data_source_by_title(notion_mirror::sim::fixtures::DS_TASKS))
        .expect("tasks");
    let http = reqwest::Client::new();
    let query = |version: &'static str, props: &'static [&'static str]| {
        let mut url = format!("{}/v1/data_sources/{tasks}/query", sim.base_url());
        for (i, p) in props.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&format!("filter_properties={p}"));
        }
        http.post(url)
            .bearer_auth(sim.token())
            .header("Notion-Version", version)
            .json(&json!({ "page_size": 1 }))
            .send()
    };
    let first = |v: Value| v["results"][0].clone();
    let old = first(
        query("2025-09-03", &[])
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    let new = first(
        query("2026-12-01", &[])
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    let asked = first(
        query("2026-12-01", &["title", "Done"])
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    let count = |p: &Value| p["properties"].as_object().map_or(0, |m| m.len());
    assert!(count(&old) > 10);
    assert_eq!(old["archived"], false, "2025-09-03 still has `archived`");
    assert_eq!(count(&new), 1, "title only: {}", new["properties"]);
    assert!(new["properties"]["Name"]["title"].is_array());
    assert!(new.get("archived").is_none());
    assert_eq!(count(&asked), 2);
    let refused = http
        .get(format!("{}/v1/users/me", sim.base_url()))
        .bearer_auth(sim.token())
        .header("Notion-Version", "2022-06-28")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    sim.shutdown().await;
}
