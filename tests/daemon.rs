//! The daemon end to end: webhooks from the simulator's sender become refetches, events
//! are stored durably and idempotently, bursts coalesce, bad requests are refused, and
//! shutdown/crash leave nothing behind.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use notion_mirror::daemon::{self, Daemon};
use notion_mirror::reconcile::SweepKind;
use notion_mirror::sim::{GenConfig, Knobs, MutationMix, Sim};
use notion_mirror::verify::Scope;
use notion_mirror::webhook::signature;
use serde_json::{json, Value};

async fn start(sim: &Sim, dir: &std::path::Path) -> (notion_mirror::config::Config, Daemon) {
    let config = common::config(sim, dir);
    let daemon = common::start_daemon(&config).await;
    (config, daemon)
}

async fn queue_idle(config: &notion_mirror::config::Config) {
    common::wait_queue_idle(config).await;
}

fn event(id: &str, kind: &str, entity_id: &str, entity_type: &str, data: Value) -> Value {
    json!({
        "id": id, "timestamp": "2026-11-23T10:00:00.000Z", "workspace_id": "w", "workspace_name": "W",
        "subscription_id": "s", "integration_id": "i", "type": kind,
        "authors": [{"id": "u", "type": "person"}], "attempt_number": 1, "api_version": "2025-09-03",
        "entity": {"id": entity_id, "type": entity_type}, "data": data
    })
}

/// `post` with the body signed by `secret`, as Notion signs it.
async fn post_signed(client: &reqwest::Client, url: &str, body: &[u8], secret: &str) -> u16 {
    post(client, url, body, Some(&signature::sign(secret, body))).await
}

async fn post(client: &reqwest::Client, url: &str, body: &[u8], signature: Option<&str>) -> u16 {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        request = request.header("X-Notion-Signature", s);
    }
    request
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_with_duplicates_and_reordering_converge_the_mirror() {
    // Search lags behind changes, as Notion's index does: webhooks still bring everything.
    let knobs = Knobs {
        search_lag: Duration::from_millis(500),
        ..Knobs::unlimited()
    };
    let sim = common::sim(GenConfig::small(21), knobs).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, daemon) = start(&sim, dir.path()).await;
    let url = format!("http://{}/webhook", daemon.addr);
    let mut hooks = sim.default_webhook_config(&url);
    hooks.aggregation_window = Duration::from_millis(300);
    hooks.duplicate_rate = 0.1;
    hooks.max_extra_delay = Duration::from_millis(400);
    hooks.drop_rate = 0.0;
    sim.start_webhooks(hooks);
    let sender = sim.webhooks().unwrap();
    assert_eq!(sender.send_verification().await, Ok(200));

    let applied = sim.mutate_random(
        300,
        300,
        MutationMix {
            comments: true,
            structure: true,
            revoke: false,
        },
    );
    assert!(applied.len() >= 280, "applied {}", applied.len());
    assert!(
        sender.quiesce(Duration::from_secs(90)).await,
        "every event delivered"
    );
    queue_idle(&config).await;
    // Block edits fetch only the blocks: the pages' new `last_edited_time`/`_by` (and the
    // data sources') come with the next incremental sweep's listings, at no extra cost.
    common::sweep_and_settle(&daemon, &config, SweepKind::Incremental).await;
    queue_idle(&config).await;
    let stats = sender.stats();
    println!("webhook sender: {stats:?}");
    assert!(stats.duplicated > 0, "duplicates were sent");
    let stored = common::count(&config, "select count(*) from webhook_events");
    assert_eq!(
        stored as u64,
        stats.deliveries - stats.dropped,
        "each delivered event stored once"
    );
    common::assert_mirror_equals(&sim, &config, Scope::default());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_events_for_one_page_cause_one_refetch() {
    let sim = common::sim(GenConfig::small(22), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    config.debounce = Duration::from_millis(1500);
    config.webhook_token = Some(notion_mirror::config::Secret::new("secret_test"));
    let daemon = common::start_daemon(&config).await;
    queue_idle(&config).await;
    let page = sim.read(|ws| ws.find_page_by_title("Roadmap")).unwrap();
    sim.reset_stats();
    let client = common::http();
    let url = format!("http://{}/webhook", daemon.addr);
    for i in 0..50 {
        let body = event(
            &format!("00000000-0000-4000-8000-{i:012}"),
            "page.properties_updated",
            &page,
            "page",
            json!({"updated_properties": ["title"]}),
        )
        .to_string();
        let sig = signature::sign("secret_test", body.as_bytes());
        assert_eq!(post(&client, &url, body.as_bytes(), Some(&sig)).await, 200);
    }
    queue_idle(&config).await;
    assert_eq!(
        sim.stats().object("pages.retrieve", &page),
        1,
        "one refetch for 50 events"
    );
    assert_eq!(
        common::count(
            &config,
            "select count(*) from webhook_events where status = 'done'"
        ),
        50
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_leave_no_rows() {
    let sim = common::sim(GenConfig::small(23), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, daemon) = start(&sim, dir.path()).await;
    let client = common::http();
    let base = format!("http://{}", daemon.addr);
    let url = format!("{base}/webhook");
    let page = sim.read(|ws| ws.find_page_by_title("Roadmap")).unwrap();
    let body = event(
        "11111111-0000-4000-8000-000000000001",
        "page.created",
        &page,
        "page",
        json!({}),
    )
    .to_string();

    // No verification token yet: signed or not, events are refused.
    assert_eq!(
        post_signed(&client, &url, body.as_bytes(), "guess").await,
        401
    );
    // The handshake stores the token (trust on first use)...
    assert_eq!(
        post(
            &client,
            &url,
            br#"{"verification_token":"secret_first"}"#,
            None
        )
        .await,
        200
    );
    // ...and a second, different one does not replace it.
    assert_eq!(
        post(
            &client,
            &url,
            br#"{"verification_token":"secret_attacker"}"#,
            None
        )
        .await,
        200
    );
    let conn = common::open(&config);
    let active: String = conn
        .query_row(
            "select value from settings where key = 'webhook.verification_token'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(active, "secret_first");
    let pending: String = conn
        .query_row(
            "select value from settings where key = 'webhook.pending_token'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, "secret_attacker");

    assert_eq!(
        post(&client, &url, body.as_bytes(), None).await,
        401,
        "missing signature"
    );
    assert_eq!(
        post(&client, &url, body.as_bytes(), Some("sha256=00")).await,
        401,
        "wrong signature"
    );
    let attacker = signature::sign("secret_attacker", body.as_bytes());
    assert_eq!(
        post(&client, &url, body.as_bytes(), Some(&attacker)).await,
        401,
        "pending token is not active"
    );
    let garbage = b"{not json";
    assert_eq!(
        post_signed(&client, &url, garbage, "secret_first").await,
        400
    );
    let no_id = br#"{"type":"page.created"}"#;
    assert_eq!(post_signed(&client, &url, no_id, "secret_first").await, 400);
    let huge = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(post_signed(&client, &url, &huge, "secret_first").await, 413);
    assert_eq!(
        client.get(&url).send().await.unwrap().status().as_u16(),
        405
    );
    assert_eq!(
        client
            .post(format!("{base}/nope"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        common::count(&config, "select count(*) from webhook_events"),
        0,
        "rejected requests store nothing"
    );

    // An unknown event type is stored as ignored, with 200.
    let unknown = event(
        "22222222-0000-4000-8000-000000000002",
        "file_upload.completed",
        &page,
        "file_upload",
        json!({}),
    )
    .to_string();
    assert_eq!(
        post_signed(&client, &url, unknown.as_bytes(), "secret_first").await,
        200
    );
    // A valid event is stored once even when delivered twice.
    let sig = signature::sign("secret_first", body.as_bytes());
    assert_eq!(post(&client, &url, body.as_bytes(), Some(&sig)).await, 200);
    assert_eq!(post(&client, &url, body.as_bytes(), Some(&sig)).await, 200);
    let statuses: Vec<(String, String)> = common::open(&config)
        .prepare("select type, status from webhook_events order by type")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(statuses.len(), 2);
    assert_eq!(
        statuses[0],
        ("file_upload.completed".into(), "ignored".into())
    );

    // Still healthy, and the metrics say what happened.
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("notion_mirror_webhook_rejected_total{reason=\"signature\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "notion_mirror_webhook_events_total{type=\"page.created\",outcome=\"duplicate\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("notion_mirror_notion_requests_total{endpoint=\"search\",status=\"200\"}"),
        "{metrics}"
    );
    daemon.stop().await;
}

fn spawn_daemon(sim: &Sim, dir: &std::path::Path, listen: &str) -> Child {
    Command::new(common::binary())
        .arg("run")
        .env_clear()
        .env("HOME", dir)
        .env("NOTION_TOKEN", sim.token())
        .env("NOTION_API_URL", sim.base_url())
        .env("NOTION_MIRROR_DB", dir.join("mirror.db"))
        .env("NOTION_MIRROR_LISTEN", listen)
        .env("NOTION_MIRROR_RATE", "500")
        .env("NOTION_WEBHOOK_TOKEN", "secret_crash")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Waits until the process logs that it is running (READY).
fn wait_running(child: &mut Child) {
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("notion-mirror running") {
            break;
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_kill_9() {
    let sim = common::sim(GenConfig::small(24), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let mut child = spawn_daemon(&sim, dir.path(), &listen);
    wait_running(&mut child);
    let client = common::http();
    let url = format!("http://{listen}/webhook");
    let pages = sim.read(|ws| ws.standalone_page_ids());
    let mut acknowledged = Vec::new();
    for i in 0..400 {
        if i == 200 {
            let _ = Command::new("kill")
                .args(["-9", &child.id().to_string()])
                .status();
        }
        let id = format!("33333333-0000-4000-8000-{i:012}");
        let body = event(
            &id,
            "page.properties_updated",
            &pages[i % pages.len()],
            "page",
            json!({}),
        )
        .to_string();
        let sig = signature::sign("secret_crash", body.as_bytes());
        if post(&client, &url, body.as_bytes(), Some(&sig)).await == 200 {
            acknowledged.push(id);
        }
    }
    let _ = child.wait();
    assert!(
        acknowledged.len() >= 150,
        "events acknowledged before the kill: {}",
        acknowledged.len()
    );
    // Every acknowledged event is on disk after the crash.
    let config = common::config(&sim, dir.path());
    let conn = common::open(&config);
    for id in &acknowledged {
        let n: i64 = conn
            .query_row(
                "select count(*) from webhook_events where id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "acknowledged event {id} lost");
    }
    drop(conn);
    // A restart processes what was queued and converges.
    let mut child = spawn_daemon(&sim, dir.path(), &listen);
    wait_running(&mut child);
    queue_idle(&config).await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    assert_eq!(
        common::count(
            &config,
            "select count(*) from webhook_events where status = 'queued'"
        ),
        0
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_work_exits_zero_and_leaves_no_lease() {
    let mut knobs = Knobs::unlimited();
    knobs.latency = Duration::from_millis(20);
    let sim = common::sim(GenConfig::edge(25), knobs).await;
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let mut child = spawn_daemon(&sim, dir.path(), &listen);
    wait_running(&mut child);
    let watcher = sim.clone();
    common::wait_for("work in progress", Duration::from_secs(30), || {
        let s = watcher.clone();
        async move { s.stats().endpoint("blocks.children") > 10 }
    })
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let config = common::config(&sim, dir.path());
    assert_eq!(
        common::count(
            &config,
            "select count(*) from queue where state = 'running'"
        ),
        0,
        "no lease left behind"
    );
    assert!(!config.pid_path().exists(), "pid file removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_only_mode_has_no_webhook_endpoint() {
    let sim = common::sim(GenConfig::small(26), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    config.webhooks_enabled = false;
    let daemon = daemon::start(&config).await.unwrap();
    let client = common::http();
    let base = format!("http://{}", daemon.addr);
    let handshake = br#"{"verification_token":"secret_x"}"#;
    assert_eq!(
        post(&client, &format!("{base}/webhook"), handshake, None).await,
        404
    );
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // The start-up sweep still fills the mirror; incremental sweeps keep it current
    // (see tests/reconcile.rs, where every webhook is dropped).
    let c = config.clone();
    common::wait_for("the start-up sweep", Duration::from_secs(60), || {
        let c = c.clone();
        async move {
            common::count(
                &c,
                "select count(*) from sync_runs where finished_at is not null",
            ) > 0
        }
    })
    .await;
    assert_eq!(
        common::count(
            &config,
            "select count(*) from settings where key like 'webhook.%'"
        ),
        0
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_follow_the_rows_they_read_and_nothing_else_is_refetched() {
    use notion_mirror::sim::Mutation;
    use serde_json::Map;
    let sim = common::sim(GenConfig::small(27), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, daemon) = start(&sim, dir.path()).await;
    queue_idle(&config).await;
    let mut hooks = sim.default_webhook_config(&format!("http://{}/webhook", daemon.addr));
    hooks.aggregation_window = Duration::from_millis(100);
    hooks.max_extra_delay = Duration::ZERO;
    sim.start_webhooks(hooks);
    let sender = sim.webhooks().unwrap();
    assert_eq!(sender.send_verification().await, Ok(200));
    let (project, task) = sim.read(|ws| {
        let projects = ws.find_data_source_by_title("Projects").unwrap();
        let tasks = ws.find_data_source_by_title("Tasks").unwrap();
        let project = ws.rows_of(&projects)[0].clone();
        let task = ws
            .rows_of(&tasks)
            .into_iter()
            .find(|t| {
                let raw = ws.page_api_json(t).unwrap_or_default();
                raw.pointer("/properties/Project/relation/0/id")
                    .and_then(|v| v.as_str())
                    == Some(project.as_str())
            })
            .expect("a task of the project");
        (project, task)
    });
    let edit = |page: &str, name: &str, value: Value| {
        let mut values = Map::new();
        values.insert(name.into(), value);
        sim.mutate(Mutation::UpdateProperties {
            page_id: page.into(),
            values,
        })
        .unwrap();
    };
    let settle = || async {
        assert!(
            sim.webhooks()
                .unwrap()
                .quiesce(Duration::from_secs(30))
                .await
        );
        queue_idle(&config).await;
    };

    // A project's budget moves every task's "Project budget" rollup: no event tells them.
    // Its tasks are found with one query of Tasks, not one GET each.
    let tasks_of_project = sim.read(|ws| {
        let tasks = ws.find_data_source_by_title("Tasks").unwrap();
        ws.rows_of(&tasks)
            .into_iter()
            .filter(|t| {
                let raw = ws.page_api_json(t).unwrap_or_default();
                raw.pointer("/properties/Project/relation")
                    .and_then(Value::as_array)
                    .is_some_and(|r| r.iter().any(|x| x["id"] == json!(project)))
            })
            .count()
    });
    assert!(
        tasks_of_project >= 2,
        "the project has {tasks_of_project} tasks"
    );
    sim.reset_stats();
    edit(&project, "Budget", json!(123456));
    settle().await;
    assert_eq!(
        (
            sim.stats().endpoint("pages.retrieve"),
            sim.stats().endpoint("data_sources.query")
        ),
        (1, 1),
        "{:?}",
        sim.stats().by_endpoint()
    );
    common::assert_mirror_equals(&sim, &config, Scope::default());
    // A task's estimate moves its project's "Total estimate".
    edit(&task, "Estimate", json!(99));
    settle().await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    // A property no rollup reads refetches the edited page only.
    sim.reset_stats();
    edit(&task, "Done", json!(true));
    settle().await;
    assert_eq!(
        sim.stats().endpoint("pages.retrieve"),
        1,
        "{:?}",
        sim.stats().by_endpoint()
    );
    common::assert_mirror_equals(&sim, &config, Scope::default());
    daemon.stop().await;
}
