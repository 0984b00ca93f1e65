//! `notion-mirror sync` against the simulator over real HTTP: exactness, cost, resilience,
//! incremental re-runs, typed views, and clear failures on bad input.

mod common;

use std::process::Command;
use std::time::Duration;

use notion_mirror::sim::{GenConfig, Knobs, MutationMix};
use notion_mirror::sync::SyncEnd;
use notion_mirror::verify::Scope;

fn complete(end: SyncEnd) -> notion_mirror::reconcile::SweepFigures {
    match end {
        SyncEnd::Complete(f) => f,
        other => panic!("sync did not complete: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_of_the_edge_workspace_equals_the_simulation() {
    let sim = common::sim(GenConfig::edge(7), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let figures = complete(common::sync(&config).await);
    common::assert_mirror_equals(&sim, &config, Scope::default());

    let floor = sim.floor();
    let stats = sim.stats();
    println!("requests by endpoint: {:?}", stats.by_endpoint());
    println!("floor by endpoint:    {:?}", floor.by_endpoint);
    println!(
        "requests {} / floor {} = {:.3}",
        stats.total(),
        floor.total,
        stats.total() as f64 / floor.total as f64
    );
    // `sync` checks the token with users/me before the sweep; the sweep records the rest.
    assert_eq!(
        figures.requests,
        stats.total() - stats.endpoint("users.me"),
        "sync_runs counts every request"
    );
    // No per-page GETs: rows come from queries, standalone pages from search.
    assert_eq!(stats.endpoint("pages.retrieve"), 0);
    // Property items only for truncated values: exactly as many as the floor counts.
    assert_eq!(
        stats.endpoint("pages.property"),
        floor
            .by_endpoint
            .get("pages.property")
            .copied()
            .unwrap_or(0)
    );
    let runs = common::count(&config, "SELECT count(*) FROM sync_runs WHERE kind = 'full' AND finished_at IS NOT NULL AND error IS NULL");
    assert_eq!(runs, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_survives_rate_limit_storms_and_server_errors() {
    let mut knobs = Knobs::unlimited();
    knobs.storm_429_rate = 0.03;
    knobs.retry_after = Some(1);
    knobs.fail_rate = 0.05;
    let sim = common::sim(GenConfig::small(11), knobs).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    complete(common::sync(&config).await);
    let stats = sim.stats();
    assert!(stats.rate_limited() > 0, "the storm produced 429s");
    let server_errors: u64 = stats
        .by_endpoint()
        .keys()
        .map(|ep| {
            [500u16, 502, 503, 504]
                .iter()
                .map(|code| stats.status(ep, *code))
                .sum::<u64>()
        })
        .sum();
    assert!(server_errors > 0, "5xx errors were injected");
    common::assert_mirror_equals(&sim, &config, Scope::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_sync_of_an_unchanged_workspace_costs_only_listing_calls() {
    let sim = common::sim(GenConfig::small(3), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    complete(common::sync(&config).await);
    sim.reset_stats();
    let figures = complete(common::sync(&config).await);
    let stats = sim.stats();
    println!("second sync: {:?}", stats.by_endpoint());
    for endpoint in [
        "blocks.children",
        "blocks.retrieve",
        "comments.list",
        "comments.retrieve",
        "pages.retrieve",
        "pages.property",
    ] {
        assert_eq!(
            stats.endpoint(endpoint),
            0,
            "{endpoint} was called on an unchanged workspace"
        );
    }
    assert_eq!(
        figures.report.written, 0,
        "nothing changed, nothing written"
    );
    common::assert_mirror_equals(&sim, &config, Scope::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_mutations_a_second_sync_converges() {
    let sim = common::sim(GenConfig::small(5), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    complete(common::sync(&config).await);
    let mix = MutationMix {
        comments: false,
        structure: true,
        revoke: false,
    };
    let applied = sim.mutate_random(99, 60, mix);
    assert!(applied.len() >= 50, "mutations applied: {}", applied.len());
    complete(common::sync(&config).await);
    common::assert_mirror_equals(&sim, &config, Scope::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_views_answer_sql_with_the_right_values_and_types() {
    let sim = common::sim(GenConfig::small(2), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    complete(common::sync(&config).await);
    let conn = common::open(&config);

    // The expected (name, status) pairs straight from the simulated workspace.
    let tasks = sim
        .read(|ws| ws.find_data_source_by_title("Tasks"))
        .expect("a Tasks source");
    let expected = sim.expected();
    let mut want: Vec<(String, Option<String>)> = expected
        .pages
        .values()
        .filter(|p| {
            !p.in_trash
                && p.raw
                    .pointer("/parent/data_source_id")
                    .and_then(|v| v.as_str())
                    == Some(tasks.as_str())
        })
        .map(|p| {
            let name = notion_mirror::mirror::text::page_title(&p.raw);
            let status = p
                .raw
                .pointer("/properties/Status/status/name")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            (name, status)
        })
        .collect();
    want.sort();
    let mut got: Vec<(String, Option<String>)> = conn
        .prepare(r#"select "Name", "Status" from tasks where in_trash = 0"#)
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    got.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // Types: numbers are numbers, checkboxes 0/1, multi-selects JSON arrays.
    let (estimate_type, done_type, tags): (String, String, Option<String>) = conn
        .query_row(
            r#"select typeof("Estimate"), typeof("Done"), "Tags" from tasks where "Estimate" is not null and "Tags" is not null limit 1"#,
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(
        matches!(estimate_type.as_str(), "integer" | "real"),
        "{estimate_type}"
    );
    assert_eq!(done_type, "integer");
    let tags: serde_json::Value = serde_json::from_str(&tags.unwrap()).unwrap();
    assert!(tags.is_array());

    // Titles that normalise to the same name both carry their id suffix.
    let collided: Vec<String> = conn
        .prepare("select name from typed_views where name like 'q_a_log_%' order by name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(collided.len(), 2, "{collided:?}");
    assert!(collided.iter().all(|n| n.len() == "q_a_log_".len() + 8));
    // Every data source has a view that SQLite can run.
    let views: Vec<String> = conn
        .prepare("select name from typed_views")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let sources = common::count(&config, "select count(*) from data_sources");
    assert_eq!(views.len() as i64, sources);
    for view in views {
        let sql = format!("select count(*) from \"{}\"", view.replace('"', "\"\""));
        conn.query_row(&sql, [], |r| r.get::<_, i64>(0))
            .unwrap_or_else(|e| panic!("view {view}: {e}"));
    }
    // FTS finds page titles and block text.
    let hits: i64 = conn
        .query_row(
            "select count(*) from search where search match 'Roadmap'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hits > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sync_resumes_without_refetching_finished_pages() {
    let mut knobs = Knobs::unlimited();
    knobs.latency = Duration::from_millis(5);
    let sim = common::sim(GenConfig::small(8), knobs).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    config.workers = 1;
    let interrupt = tokio_util::sync::CancellationToken::new();
    let stop = interrupt.clone();
    let watcher_sim = sim.clone();
    tokio::spawn(async move {
        // Interrupt once some page content has been fetched.
        while watcher_sim.stats().endpoint("blocks.children") < 20 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
    });
    let end = notion_mirror::sync::run(&config, interrupt, false)
        .await
        .unwrap();
    assert!(matches!(end, SyncEnd::Interrupted), "{end:?}");
    let synced = common::count(
        &config,
        "select count(*) from pages where content_edited_time is not null",
    );
    assert!(synced > 0, "some pages finished before the interrupt");
    sim.reset_stats();
    complete(common::sync(&config).await);
    common::assert_mirror_equals(&sim, &config, Scope::default());
    let total_pages = common::count(&config, "select count(*) from pages where in_trash = 0");
    let children_calls = sim.stats().endpoint("blocks.children") as i64;
    assert!(
        children_calls < total_pages + 200,
        "resumed without redoing everything: {children_calls} calls for {total_pages} pages"
    );
}

fn run_sync(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(common::binary());
    cmd.arg("sync").arg("--quiet").args(args);
    cmd.env_clear().env("HOME", std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_one_clear_line_and_a_non_zero_exit() {
    let sim = common::sim(GenConfig::small(1), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let db = db.to_str().unwrap();
    let api = sim.base_url();

    let (code, err) = run_sync(&[("NOTION_API_URL", &api), ("NOTION_MIRROR_DB", db)], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("NOTION_TOKEN"), "{err}");

    let (code, err) = run_sync(
        &[
            ("NOTION_TOKEN", "ntn_wrong"),
            ("NOTION_API_URL", &api),
            ("NOTION_MIRROR_DB", db),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, err) = run_sync(
        &[
            ("NOTION_TOKEN", &sim.token()),
            ("NOTION_API_URL", &format!("http://{closed}")),
            ("NOTION_MIRROR_DB", db),
        ],
        &["--request-timeout", "2"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach the Notion API"), "{err}");

    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let unwritable = blocker.join("mirror.db");
    let (code, err) = run_sync(
        &[
            ("NOTION_TOKEN", &sim.token()),
            ("NOTION_API_URL", &api),
            ("NOTION_MIRROR_DB", unwritable.to_str().unwrap()),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(blocker.to_str().unwrap()),
        "names the path: {err}"
    );

    // A mirror written by a newer schema version is refused, untouched.
    let newer = dir.path().join("newer.db");
    {
        let c = notion_mirror::mirror::open::open_read_write(&newer).unwrap();
        c.pragma_update(None, "user_version", 999).unwrap();
    }
    let (code, err) = run_sync(
        &[
            ("NOTION_TOKEN", &sim.token()),
            ("NOTION_API_URL", &api),
            ("NOTION_MIRROR_DB", newer.to_str().unwrap()),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("newer notion-mirror"), "{err}");
    let lines = err
        .lines()
        .filter(|l| l.starts_with("notion-mirror:"))
        .count();
    assert_eq!(lines, 1, "one clear line: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_past_the_query_cap_are_fetched_in_created_time_windows() {
    let mut knobs = Knobs::unlimited();
    knobs.max_query_rows = 100;
    let sim = common::sim(GenConfig::edge(12), knobs).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    complete(common::sync(&config).await);
    common::assert_mirror_equals(&sim, &config, Scope::default());
    let biggest = common::count(&config, "select max(n) from (select count(*) n from pages where data_source_id is not null group by data_source_id)");
    assert!(biggest > 250, "a source bigger than the cap: {biggest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_mid_sync_are_retried_not_fatal() {
    let sim = common::sim(GenConfig::small(13), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    config.retry_base = Duration::from_secs(1);
    // More failures in a row than one request retries: the work item fails and is retried.
    sim.inject("blocks.children", 503, 8);
    sim.inject("comments.list", 502, 8);
    complete(common::sync(&config).await);
    let stats = sim.stats();
    assert_eq!(stats.status("blocks.children", 503), 8);
    assert_eq!(stats.status("comments.list", 502), 8);
    common::assert_mirror_equals(&sim, &config, Scope::default());
    assert_eq!(
        common::count(&config, "select count(*) from queue"),
        0,
        "nothing left parked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_sync_binary_cleanly_and_the_next_run_completes() {
    let mut knobs = Knobs::unlimited();
    knobs.latency = Duration::from_millis(15);
    let sim = common::sim(GenConfig::small(14), knobs).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let run = || {
        Command::new(common::binary())
            .args(["sync", "--quiet"])
            .env_clear()
            .env("HOME", dir.path())
            .env("NOTION_TOKEN", sim.token())
            .env("NOTION_API_URL", sim.base_url())
            .env("NOTION_MIRROR_DB", &config.db_path)
            .env("NOTION_MIRROR_RATE", "500")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let child = run();
    let watcher = sim.clone();
    common::wait_for("some content fetched", Duration::from_secs(30), || {
        let s = watcher.clone();
        async move { s.stats().endpoint("blocks.children") > 15 }
    })
    .await;
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("run `notion-mirror sync` again to resume"),
        "{stderr}"
    );
    assert_eq!(
        common::count(
            &config,
            "select count(*) from queue where state = 'running'"
        ),
        0
    );
    let out = run().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::assert_mirror_equals(&sim, &config, Scope::default());
}
