//! Converging at the floor: a block edit costs its children list and no comment listing,
//! the presence sweep notices an unshared subtree on its own schedule, and SIGTERM under
//! load leaves every piece of work queued or done.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use notion_mirror::reconcile::SweepKind;
use notion_mirror::sim::util::SimRng;
use notion_mirror::sim::{GenConfig, Knobs, Mutation, RateLimit};
use notion_mirror::verify::Scope;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_edit_with_updated_blocks_lists_no_comments_and_reads_one_children_list() {
    let (sim, config, daemon, sender, _dir) = common::live(41).await.parts();
    // A paragraph of a page that has comments, so a content refresh would list them.
    let (block, page) = sim.read(|ws| {
        ws.blocks
            .values()
            .filter(|b| b.btype == "paragraph" && !b.in_trash)
            .filter(|b| ws.comments.values().any(|c| c.page_id == b.page_id))
            .map(|b| (b.id.clone(), b.page_id.clone()))
            .next()
            .unwrap()
    });
    sim.reset_stats();
    sim.mutate(Mutation::EditBlock {
        block_id: block.clone(),
        text: "edited under the floor".into(),
    })
    .unwrap();
    let c = config.clone();
    let b = block.clone();
    common::wait_for("the edit in the mirror", Duration::from_secs(30), || {
        let (c, b) = (c.clone(), b.clone());
        async move {
            common::count(
                &c,
                &format!("select count(*) from blocks where id = '{b}' and text = 'edited under the floor'"),
            ) == 1
        }
    })
    .await;
    assert!(sender.quiesce(Duration::from_secs(30)).await);
    common::wait_queue_idle(&config).await;
    let stats = sim.stats();
    assert_eq!(stats.endpoint("comments.list"), 0, "{stats:?}");
    assert_eq!(stats.endpoint("blocks.children"), 1, "{stats:?}");
    assert_eq!(
        stats.total(),
        1,
        "one children list and nothing else: {stats:?}"
    );
    // The page's new last_edited_time comes with the next incremental sweep's listing:
    // the events explain the edit, so the sweep refetches no content.
    sim.reset_stats();
    common::sweep_and_settle(&daemon, &config, SweepKind::Incremental).await;
    let stats = sim.stats();
    assert_eq!(stats.endpoint("blocks.children"), 0, "{stats:?}");
    assert_eq!(stats.endpoint("comments.list"), 0, "{stats:?}");
    let explained = common::count(
        &config,
        &format!("select count(*) from pages where id = '{page}' and events_edited_time >= last_edited_time"),
    );
    assert_eq!(explained, 1, "the page's edit is explained by its event");
    common::assert_mirror_equals(&sim, &config, Scope::default());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_presence_sweep_notices_an_unshared_subtree_without_sighup() {
    let sim = common::sim(GenConfig::small(42), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    config.presence_cron = "*/2 * * * * *".into();
    let daemon = common::start_daemon(&config).await;
    common::wait_queue_idle(&config).await;
    // A standalone page with pages under it: unsharing it hides the whole subtree.
    let (root, under) = sim.read(|ws| {
        ws.standalone_page_ids()
            .into_iter()
            .map(|p| {
                let under: Vec<String> = ws
                    .pages
                    .values()
                    .filter(|c| matches!(&c.parent, notion_mirror::sim::model::Parent::Page(x) if *x == p))
                    .map(|c| c.id.clone())
                    .collect();
                (p, under)
            })
            .max_by_key(|(_, under)| under.len())
            .unwrap()
    });
    assert!(!under.is_empty(), "the page has subpages");
    // One page of the subtree is in the trash (and mirrored so).
    let in_bin = under
        .iter()
        .find(|p| sim.read(|ws| ws.pages.get(*p).is_some_and(|p| !p.in_trash)))
        .unwrap()
        .clone();
    sim.mutate(Mutation::TrashPage {
        page_id: in_bin.clone(),
    })
    .unwrap();
    // No listing shows a trashed page: with no webhook, a direct GET of the page missing
    // from the presence sweep's listings finds it in the trash.
    common::sweep_and_settle(&daemon, &config, SweepKind::Presence).await;
    assert_eq!(
        common::count(
            &config,
            &format!("select in_trash from pages where id = '{in_bin}'")
        ),
        1
    );
    let resyncs_before = common::sweeps_finished(&config, "resync");
    sim.mutate(Mutation::RevokeAccess {
        page_id: root.clone(),
    })
    .unwrap();
    // Trashed pages are in no listing: the presence sweep leaves them to the daily one.
    let c = config.clone();
    let trashed: Vec<String> = sim.read(|ws| {
        under
            .iter()
            .filter(|p| ws.pages.get(*p).is_some_and(|p| p.in_trash))
            .filter(|p| {
                common::count(&c, &format!("select count(*) from pages where id = '{p}'")) == 1
            })
            .cloned()
            .collect()
    });
    assert!(trashed.contains(&in_bin));
    let c = config.clone();
    let ids: Vec<String> = std::iter::once(root.clone())
        .chain(
            under
                .iter()
                .filter(|p| !sim.read(|ws| ws.pages.get(*p).is_some_and(|p| p.in_trash)))
                .cloned(),
        )
        .collect();
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    common::wait_for(
        "the unshared pages removed with tombstones",
        Duration::from_secs(60),
        || {
            let (c, list) = (c.clone(), list.clone());
            async move {
                common::count(&c, &format!("select count(*) from pages where id in ({list})")) == 0
                    && common::count(
                        &c,
                        &format!("select count(*) from tombstones where object = 'page' and id in ({list})"),
                    ) as usize
                        == list.split(',').count()
            }
        },
    )
    .await;
    assert!(common::sweeps_finished(&config, "presence") >= 1);
    assert_eq!(
        common::sweeps_finished(&config, "resync"),
        resyncs_before,
        "no resync was needed"
    );
    common::wait_queue_idle(&config).await;
    for page in &trashed {
        assert_eq!(
            common::count(
                &config,
                &format!("select count(*) from pages where id = '{page}'")
            ),
            1,
            "a trashed page is the daily sweep's"
        );
    }
    common::sweep_and_settle(&daemon, &config, SweepKind::Full).await;
    for page in &trashed {
        assert_eq!(
            common::count(
                &config,
                &format!("select count(*) from tombstones where id = '{page}'")
            ),
            1,
            "the daily sweep checks trashed pages too"
        );
    }
    common::assert_mirror_equals(&sim, &config, Scope::default());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_zero_with_every_item_queued_or_done() {
    let sim = common::sim(GenConfig::small(43), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    assert!(matches!(
        common::sync(&config).await,
        notion_mirror::sync::SyncEnd::Complete(_)
    ));
    // The real budget, and a daemon held to it.
    sim.set_knobs(Knobs {
        rate_limit: Some(RateLimit {
            rate: 3.0,
            burst: 10.0,
        }),
        ..Knobs::unlimited()
    });
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut hooks = sim.default_webhook_config(&format!("http://{listen}/webhook"));
    let spawn = |rate: &str, token: &str| {
        Command::new(common::binary())
            .arg("run")
            .env_clear()
            .env("HOME", dir.path())
            .env("NOTION_TOKEN", sim.token())
            .env("NOTION_API_URL", sim.base_url())
            .env("NOTION_MIRROR_DB", &config.db_path)
            .env("NOTION_MIRROR_LISTEN", &listen)
            .env("NOTION_MIRROR_RATE", rate)
            .env("NOTION_MIRROR_INCREMENTAL", "*/3 * * * * *")
            .env("NOTION_WEBHOOK_TOKEN", token)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let token = hooks.verification_token.clone();
    let mut child = spawn("3", &token);
    hooks.aggregation_window = Duration::from_millis(200);
    sim.start_webhooks(hooks);
    let client = common::http();
    let health = format!("http://{listen}/healthz");
    common::wait_for("the daemon up", Duration::from_secs(30), || {
        let (client, health) = (client.clone(), health.clone());
        async move { client.get(&health).send().await.is_ok() }
    })
    .await;
    let mut rng = SimRng::new(4343);
    for kind in [
        "props", "edit", "append", "comment", "create", "props", "edit",
    ]
    .iter()
    .cycle()
    .take(60)
    {
        sim.mutate_kind(&mut rng, kind);
    }
    let c = config.clone();
    common::wait_for("work piling up", Duration::from_secs(30), || {
        let c = c.clone();
        async move { common::count(&c, "select count(*) from queue where state != 'failed'") >= 5 }
    })
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        common::count(
            &config,
            "select count(*) from queue where state = 'running'"
        ),
        0,
        "nothing left running"
    );
    // Every acknowledged event that is not done still has its work queued.
    let orphaned = common::count(
        &config,
        "select count(*) from webhook_events e where e.status = 'queued'
           and e.type != 'data_source.content_updated'
           and not exists (select 1 from queue q where q.id = e.entity_id)",
    );
    assert_eq!(orphaned, 0, "an acknowledged event lost its work");
    // A restart (without the rate limit) finishes the work and converges.
    sim.set_knobs(Knobs::unlimited());
    let sender = sim.webhooks().unwrap();
    let mut child = spawn("500", &token);
    assert!(sender.quiesce(Duration::from_secs(60)).await);
    let c = config.clone();
    let s = sim.clone();
    common::wait_for(
        "the mirror to converge after the restart",
        Duration::from_secs(90),
        || {
            let (c, s) = (c.clone(), s.clone());
            async move { common::differences(&s, &c, Scope::default()).is_empty() }
        },
    )
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_sweep_relists_every_comment_list_and_settles_after_its_work() {
    let sim = common::sim(GenConfig::small(44), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let daemon = common::start_daemon(&config).await;
    common::wait_queue_idle(&config).await;
    let floor = sim.floor();
    sim.reset_stats();
    common::sweep_and_settle(&daemon, &config, SweepKind::Full).await;
    assert_eq!(
        common::count(
            &config,
            "select count(*) from queue where state != 'failed'"
        ),
        0,
        "settled means its work is done"
    );
    let stats = sim.stats();
    assert_eq!(
        stats.endpoint("comments.list"),
        floor.by_endpoint["comments.list"],
        "every page's and block's comments are listed once: {stats:?}"
    );
    assert_eq!(
        stats.endpoint("blocks.children"),
        0,
        "no content is refetched"
    );
    daemon.stop().await;
}
