//! The reconciler: incremental sweeps catch what lost webhooks missed, full sweeps heal
//! the mirror and confirm absences, and nothing that still exists is ever removed.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use notion_mirror::config::Config;
use notion_mirror::daemon::Daemon;
use notion_mirror::reconcile::SweepKind;
use notion_mirror::sim::{GenConfig, Knobs, Mutation, MutationMix, ParentRef, Sim};
use notion_mirror::sync::SyncEnd;
use notion_mirror::verify::Scope;

async fn wait_sweeps(config: &Config, kind: &'static str, n: i64) {
    common::wait_sweeps(config, kind, n).await;
}

async fn start(sim: &Sim, dir: &std::path::Path) -> (Config, Daemon) {
    let config = common::config(sim, dir);
    let daemon = common::start_daemon(&config).await;
    (config, daemon)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incremental_then_the_presence_sweep_catch_up_when_every_webhook_is_dropped() {
    let sim = common::sim(GenConfig::small(31), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, daemon) = start(&sim, dir.path()).await;
    let mut hooks = sim.default_webhook_config(&format!("http://{}/webhook", daemon.addr));
    hooks.drop_rate = 1.0;
    sim.start_webhooks(hooks);
    // Comments move no timestamp: only webhooks or the daily sweep find them (left out of
    // the mix). Everything that moves a timestamp must be found by one incremental sweep;
    // a lock (no timestamp) and a page trashed at the top level (no listing shows it) are
    // the presence sweep's, which sees every listed object and checks the missing ones.
    for seed in [3100_u64, 1, 2] {
        let applied = sim.mutate_random(
            seed,
            70,
            MutationMix {
                comments: false,
                structure: true,
                revoke: false,
            },
        );
        assert!(applied.len() >= 60, "applied {}", applied.len());
    }
    let sender = sim.webhooks().unwrap();
    assert!(sender.quiesce(Duration::from_secs(30)).await);
    assert_eq!(sender.stats().acknowledged, 0, "nothing was delivered");
    common::sweep_and_settle(&daemon, &config, SweepKind::Incremental).await;
    // Views come with webhooks and the daily sweep only (all webhooks were dropped).
    let left = common::differences(&sim, &config, Scope::without_views());
    let presence_only = |d: &String| {
        d.contains("/is_locked:")
            || d.contains("/in_trash:")
            || d.contains("/archived:")
            || d.contains("in_trash column")
    };
    assert!(
        left.iter().all(presence_only),
        "the incremental sweep left what it can see:\n{}",
        left.join("\n")
    );
    println!("left for the presence sweep: {left:?}");
    common::sweep_and_settle(&daemon, &config, SweepKind::Presence).await;
    common::assert_mirror_equals(&sim, &config, Scope::without_views());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_incremental_sweep_costs_one_search_plus_one_query_per_source() {
    let sim = common::sim(GenConfig::small(32), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, daemon) = start(&sim, dir.path()).await;
    let c = config.clone();
    common::wait_for("the start-up work", Duration::from_secs(60), || {
        let c = c.clone();
        async move { common::count(&c, "select count(*) from queue where state != 'failed'") == 0 }
    })
    .await;
    let sources = common::count(
        &config,
        "select count(*) from data_sources where in_trash = 0",
    ) as u64;
    sim.reset_stats();
    daemon.triggers.request(SweepKind::Incremental);
    wait_sweeps(&config, "incremental", 1).await;
    let stats = sim.stats();
    println!(
        "idle incremental sweep: {:?} ({} data sources)",
        stats.by_endpoint(),
        sources
    );
    assert!(
        stats.total() <= 1 + sources,
        "{} requests > 1 + {sources}",
        stats.total()
    );
    assert_eq!(stats.endpoint("search"), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_access_removes_with_a_tombstone_while_trash_stays() {
    let sim = common::sim(GenConfig::small(33), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    assert!(matches!(common::sync(&config).await, SyncEnd::Complete(_)));
    let pages = sim.read(|ws| ws.standalone_page_ids());
    let (revoked, trashed) = (pages[1].clone(), pages[2].clone());
    sim.mutate(Mutation::RevokeAccess {
        page_id: revoked.clone(),
    })
    .unwrap();
    sim.mutate(Mutation::TrashPage {
        page_id: trashed.clone(),
    })
    .unwrap();
    assert!(matches!(common::sync(&config).await, SyncEnd::Complete(_)));

    let conn = common::open(&config);
    let gone: i64 = conn
        .query_row(
            "select count(*) from pages where id = ?1",
            [&revoked],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(gone, 0, "revoked page removed");
    let reason: String = conn
        .query_row(
            "select reason from tombstones where object = 'page' and id = ?1",
            [&revoked],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        matches!(reason.as_str(), "not_found" | "restricted"),
        "{reason}"
    );
    let blocks: i64 = conn
        .query_row(
            "select count(*) from blocks where page_id = ?1",
            [&revoked],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(blocks, 0, "its blocks went with it");
    let in_trash: i64 = conn
        .query_row(
            "select in_trash from pages where id = ?1",
            [&trashed],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_trash, 1, "trashed page kept with in_trash = 1");
    drop(conn);
    common::assert_mirror_equals(&sim, &config, Scope::default());

    sim.mutate(Mutation::RestorePage {
        page_id: trashed.clone(),
    })
    .unwrap();
    sim.mutate(Mutation::RestoreAccess {
        page_id: revoked.clone(),
    })
    .unwrap();
    assert!(matches!(common::sync(&config).await, SyncEnd::Complete(_)));
    let conn = common::open(&config);
    let back: i64 = conn
        .query_row(
            "select in_trash from pages where id = ?1",
            [&trashed],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(back, 0, "restored page is live again");
    let tomb: i64 = conn
        .query_row(
            "select count(*) from tombstones where id = ?1",
            [&revoked],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tomb, 0, "an object that came back loses its tombstone");
    drop(conn);
    common::assert_mirror_equals(&sim, &config, Scope::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sweep_removes_nothing_that_still_exists_under_search_lag_and_failing_queries() {
    let sim = common::sim(GenConfig::small(34), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, daemon) = start(&sim, dir.path()).await;
    let mut hooks = sim.default_webhook_config(&format!("http://{}/webhook", daemon.addr));
    hooks.aggregation_window = Duration::from_millis(200);
    sim.start_webhooks(hooks);
    let sender = sim.webhooks().unwrap();
    assert_eq!(sender.send_verification().await, Ok(200));
    // New pages reach the mirror by webhook while search cannot see them yet.
    let mut knobs = sim.knobs();
    knobs.search_lag = Duration::from_secs(600);
    sim.set_knobs(knobs);
    let root = sim.read(|ws| ws.find_page_by_title("Roadmap")).unwrap();
    let mut created = Vec::new();
    for i in 0..5 {
        let out = sim
            .mutate(Mutation::CreatePage {
                parent: ParentRef::Page(root.clone()),
                title: format!("Fresh page {i}"),
            })
            .unwrap();
        created.extend(out.created_ids);
    }
    assert!(sender.quiesce(Duration::from_secs(30)).await);
    let c = config.clone();
    let ids = created.clone();
    common::wait_for(
        "the new pages in the mirror",
        Duration::from_secs(30),
        || {
            let (c, ids) = (c.clone(), ids.clone());
            async move {
                ids.iter().all(|id| {
                    common::count(&c, &format!("select count(*) from pages where id = '{id}'")) == 1
                })
            }
        },
    )
    .await;
    // Every data source query fails for a while: 404 (how timeouts used to look) and 504s.
    sim.inject("data_sources.query", 404, 2);
    sim.inject("data_sources.query", 504, 12);
    let pages_before = common::count(&config, "select count(*) from pages");
    daemon.triggers.request(SweepKind::Full);
    wait_sweeps(&config, "full", 2).await;
    let c = config.clone();
    common::wait_for("verification work to finish", Duration::from_secs(60), || {
        let c = c.clone();
        async move { common::count(&c, "select count(*) from queue where state = 'pending' and due_at < strftime('%s','now') * 1000 + 60000") == 0 }
    })
    .await;
    assert_eq!(
        common::count(&config, "select count(*) from tombstones"),
        0,
        "nothing was removed"
    );
    assert_eq!(
        common::count(&config, "select count(*) from pages"),
        pages_before
    );
    for id in &created {
        assert_eq!(
            common::count(
                &config,
                &format!("select count(*) from pages where id = '{id}'")
            ),
            1
        );
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_heals_rows_deleted_or_corrupted_in_the_mirror() {
    let sim = common::sim(GenConfig::small(35), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut child = Command::new(common::binary())
        .arg("run")
        .env_clear()
        .env("HOME", dir.path())
        .env("NOTION_TOKEN", sim.token())
        .env("NOTION_API_URL", sim.base_url())
        .env("NOTION_MIRROR_DB", dir.path().join("mirror.db"))
        .env("NOTION_MIRROR_LISTEN", &port)
        .env("NOTION_MIRROR_RATE", "500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let config = common::config(&sim, dir.path());
    let c = config.clone();
    common::wait_for("the first full sweep", Duration::from_secs(60), || {
        let c = c.clone();
        async move { c.db_path.exists() && common::sweeps_finished(&c, "full") >= 1 }
    })
    .await;
    {
        let conn = rusqlite::Connection::open(&config.db_path).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute_batch(
            "delete from pages where id in (select id from pages where data_source_id is not null limit 3);
             update pages set title = 'CORRUPTED', raw = json_set(raw, '$.url', 'x') where id in (select id from pages limit 2);
             delete from data_sources where id in (select id from data_sources limit 1);
             delete from comments where id in (select id from comments limit 3);
             delete from property_values where page_id in (select id from pages where data_source_id is not null limit 2);
             delete from blocks where id in (select id from blocks where type = 'paragraph' limit 5);
             update blocks set text = 'CORRUPTED' where id in (select id from blocks where type = 'paragraph' limit 3);
             update data_sources set title = 'CORRUPTED' where id in (select id from data_sources limit 1);
             update property_values set text = 'CORRUPTED' where (page_id, property_id) in (select page_id, property_id from property_values where type = 'number' limit 2);
             update comments set text = 'CORRUPTED' where id in (select id from comments limit 2);",
        )
        .unwrap();
    }
    assert!(
        !common::differences(&sim, &config, Scope::default()).is_empty(),
        "the damage is visible"
    );
    let out = Command::new(common::binary())
        .arg("resync")
        .env("NOTION_MIRROR_DB", &config.db_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SIGHUP"));
    wait_sweeps(&config, "resync", 1).await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    let healed = common::count(
        &config,
        "select (select count(*) from blocks where text = 'CORRUPTED')
              + (select count(*) from data_sources where title = 'CORRUPTED')
              + (select count(*) from property_values where text = 'CORRUPTED')
              + (select count(*) from comments where text = 'CORRUPTED')",
    );
    assert_eq!(healed, 0, "every hand edit is undone");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    let out = Command::new(common::binary())
        .arg("resync")
        .env("NOTION_MIRROR_DB", &config.db_path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "no daemon: resync fails");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running notion-mirror daemon"));
}
