//! What an operator runs: `status` (human and JSON, while the daemon runs), `retry`,
//! `demo`, every subcommand's `--help`, and the SQL the README shows.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use notion_mirror::queue::{self, reason, Kind, Outcome, Signal};
use notion_mirror::sim::{GenConfig, Knobs};
use serde_json::Value;

fn notion_mirror(db: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::binary())
        .args(args)
        .env_clear()
        .env("HOME", db.parent().unwrap())
        .env("NOTION_MIRROR_DB", db)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Parks one work item with an error, as repeated failures would.
fn park_one(db: &std::path::Path, id: &str) {
    let conn = notion_mirror::mirror::open::open_read_write(db).unwrap();
    queue::enqueue(
        &conn,
        &Signal::new(Kind::Page, id, reason::PROPERTIES, 0),
        0,
    )
    .unwrap();
    let item = queue::claim(&conn, 0, 1, 1, 1000).unwrap().remove(0);
    queue::complete(
        &conn,
        &item,
        &Outcome::Park {
            error: "503 service_unavailable".into(),
        },
        0,
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_mirror_while_the_daemon_runs() {
    let sim = common::sim(GenConfig::small(41), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let daemon = common::start_daemon(&config).await;
    let db = config.db_path.clone();

    let (code, out, err) = notion_mirror(&db, &["status"]);
    assert_eq!(code, 0, "{err}");
    let pages = common::count(&config, "select count(*) from pages");
    assert!(out.contains(&format!("pages {pages}")), "{out}");
    for kind in ["incremental", "presence", "full", "resync"] {
        assert!(out.contains(kind), "{kind}: {out}");
    }
    assert!(
        out.contains("cron `0 0 0 1 1 *`")
            && out.contains("requests")
            && out.contains("on request"),
        "the schedules the daemon runs: {out}"
    );
    assert!(out.contains("verification token not received yet"), "{out}");
    assert!(out.contains("webhooks    none received yet"), "{out}");

    let (code, _, err) = notion_mirror(&db, &["status", "--show-token"]);
    assert_ne!(code, 0);
    assert!(err.contains("no verification token stored yet"), "{err}");

    // The handshake arrives; then a second, different one.
    let client = common::http();
    let url = format!("http://{}/webhook", daemon.addr);
    for token in ["secret_one", "secret_two"] {
        let body = format!("{{\"verification_token\":\"{token}\"}}");
        assert_eq!(
            client
                .post(&url)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            200
        );
    }
    let (code, out, _) = notion_mirror(&db, &["status", "--show-token"]);
    assert_eq!((code, out.trim()), (0, "secret_one"));
    let (_, out, _) = notion_mirror(&db, &["status"]);
    assert!(out.contains("PENDING"), "{out}");

    let (code, json, err) = notion_mirror(&db, &["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["counts"]["pages"].as_i64(), Some(pages));
    assert_eq!(
        status["webhooks"]["verification_token_stored"],
        Value::Bool(true)
    );
    assert_eq!(status["webhooks"]["pending_token"], Value::Bool(true));
    assert!(status["last_full_sweep"]["requests"].as_i64().unwrap() > 0);
    assert!(status["last_incremental_sweep"].is_null());
    assert_eq!(status["sweeps"].as_array().map(Vec::len), Some(4));
    assert!(status["sweeps"][2]["last"]["settled_at"].is_string());
    assert!(
        !json.contains("secret_one"),
        "status never prints the token unless asked"
    );

    let (code, out, _) = notion_mirror(&db, &["status", "--accept-pending-token", "--show-token"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("now active") && out.trim_end().ends_with("secret_two"),
        "{out}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_failures_are_shown_and_retry_requeues_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mirror.db");
    park_one(&db, "5f3c0000-0000-4000-8000-000000000001");
    let (_, out, _) = notion_mirror(&db, &["status"]);
    assert!(out.contains("1 parked"), "{out}");
    assert!(
        out.contains("503 service_unavailable") && out.contains("notion-mirror retry"),
        "{out}"
    );
    let (code, out, err) = notion_mirror(&db, &["retry"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("requeued 1 parked item"), "{out}");
    let conn = notion_mirror::mirror::open::open_read_only(&db).unwrap();
    let state: String = conn
        .query_row("select state from queue", [], |r| r.get(0))
        .unwrap();
    assert_eq!(state, "pending");
    let missing = dir.path().join("nothing-here.db");
    let (code, _, err) = notion_mirror(&missing, &["status"]);
    assert_ne!(code, 0);
    assert!(err.contains("no mirror at"), "{err}");
}

#[test]
fn the_demo_shows_each_edit_arriving_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(common::binary())
        .args(["demo", "--dir"])
        .arg(dir.path())
        .env_clear()
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    for step in [
        "1. rename",
        "2. tick",
        "3. comment",
        "4. move",
        "5. add a",
        "6. attach",
    ] {
        assert!(stdout.contains(step), "missing {step}: {stdout}");
    }
    assert_eq!(stdout.matches("visible after").count(), 5, "{stdout}");
    assert!(stdout.contains("on disk after"), "{stdout}");
    assert!(
        stdout.contains(dir.path().join("files").to_str().unwrap()),
        "the attachment is shown in the files directory: {stdout}"
    );
    // The change feed's lines for the edits.
    for line in [
        "Roadmap 2027\"",
        "updated · Done: 0 → 1",
        "comment",
        "trashed · in_trash: 0 → 1",
        "data_source \"Tasks\" updated · schema:",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains("changes> #") && l.contains(line)),
            "no feed line with {line}: {stdout}"
        );
    }
    assert!(
        stdout.contains(dir.path().join("mirror.db").to_str().unwrap()),
        "prints the mirror path"
    );
    assert!(!stdout.contains("demo step failed"), "{stdout}");

    // The terminal shows the demo's story only; the daemon's logs go to the file it names.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !text.lines().any(|l| l.contains(" INFO ")),
            "no INFO log line reaches the terminal ({name}): {text}"
        );
    }
    let log = dir.path().join("demo.log");
    assert!(
        stdout.contains(log.to_str().unwrap()),
        "the demo names its log file: {stdout}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(" INFO ") && logged.contains("notion-mirror running"),
        "the daemon's lines are in {}: {logged}",
        log.display()
    );
}

#[test]
fn every_subcommand_explains_itself() {
    for sub in [
        "run", "sync", "resync", "status", "retry", "backup", "cat", "export", "changes", "demo",
        "sim",
    ] {
        let out = Command::new(common::binary())
            .args([sub, "--help"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{sub} --help");
        assert!(text.contains("Usage: notion-mirror"), "{sub}: {text}");
    }
    for sub in ["run", "sync"] {
        let out = Command::new(common::binary())
            .args([sub, "--help"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for var in [
            "NOTION_TOKEN",
            "NOTION_API_URL",
            "NOTION_MIRROR_DB",
            "NOTION_MIRROR_RATE",
        ] {
            assert!(text.contains(var), "{sub} --help names {var}");
        }
    }
    let out = Command::new(common::binary())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for var in [
        "NOTION_MIRROR_LISTEN",
        "NOTION_MIRROR_INCREMENTAL",
        "NOTION_MIRROR_FULL",
        "NOTION_WEBHOOK_TOKEN",
    ] {
        assert!(text.contains(var), "run --help names {var}");
    }
    let out = Command::new(common::binary())
        .args(["sync", "--rate", "fast"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad flag is a usage error");
}

/// The `sqlite3 mirror.db '…'` lines of README.md, as SQL.
fn readme_queries() -> Vec<String> {
    let readme = include_str!("../README.md");
    readme
        .lines()
        .filter_map(|line| line.trim().strip_prefix("sqlite3 mirror.db "))
        .map(|rest| {
            let quote = rest.chars().next().unwrap();
            rest.trim_matches(quote).replace("\\\"", "\"").to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_in_the_readme_runs_on_a_real_mirror() {
    let sim = common::sim(GenConfig::small(42), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    assert!(matches!(
        common::sync(&config).await,
        notion_mirror::sync::SyncEnd::Complete(_)
    ));
    // Give the tombstones query something to show.
    let page = sim.read(|ws| {
        let tasks = ws.find_data_source_by_title("Tasks").unwrap();
        ws.rows_of(&tasks)[0].clone()
    });
    sim.mutate(notion_mirror::sim::Mutation::RevokeAccess { page_id: page })
        .unwrap();
    assert!(matches!(
        common::sync(&config).await,
        notion_mirror::sync::SyncEnd::Complete(_)
    ));
    let queries = readme_queries();
    assert!(queries.len() >= 6, "found {} README queries", queries.len());
    let conn = common::open(&config);
    for sql in &queries {
        let mut stmt = conn
            .prepare(sql)
            .unwrap_or_else(|e| panic!("README query fails: {sql}\n{e}"));
        let columns = stmt.column_count();
        let rows: Vec<Vec<rusqlite::types::Value>> = stmt
            .query_map([], |r| (0..columns).map(|i| r.get(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("README query fails: {sql}\n{e}"));
        assert!(
            !rows.is_empty(),
            "README query returns nothing on the demo workspace: {sql}"
        );
    }
}

#[test]
fn the_sim_command_serves_a_workspace_that_sync_mirrors_completely() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut sim = Command::new(common::binary())
        .args(["sim", "--seed", "1", "--rate-limit", "0", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sim.stdout.take().unwrap()).lines();
    let api = lines.next().unwrap().unwrap();
    let token = lines.next().unwrap().unwrap();
    let api = api
        .strip_prefix("api: ")
        .expect("first line names the API")
        .to_string();
    let token = token
        .strip_prefix("token: ")
        .expect("second line names the token")
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    let out = Command::new(common::binary())
        .args(["sync", "--quiet"])
        .env_clear()
        .env("HOME", dir.path())
        .env("NOTION_TOKEN", &token)
        .env("NOTION_API_URL", &api)
        .env("NOTION_MIRROR_DB", dir.path().join("mirror.db"))
        .env("NOTION_MIRROR_RATE", "200")
        .output()
        .unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("synced") && stdout.contains("requests"),
        "{stdout}"
    );
    let conn = notion_mirror::mirror::open::open_read_only(&dir.path().join("mirror.db")).unwrap();
    let tasks: i64 = conn
        .query_row("select count(*) from tasks", [], |r| r.get(0))
        .unwrap();
    assert!(tasks > 0);
    let bad = Command::new(common::binary())
        .args(["sim", "--fail-rate", "2"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "bad flags are usage errors");
}

#[test]
fn config_file_mistakes_are_named_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = |config: &std::path::Path| {
        Command::new(common::binary())
            .args(["sync", "--quiet", "--config"])
            .arg(config)
            .env_clear()
            .env("HOME", dir.path())
            .env("NOTION_TOKEN", "ntn_x")
            .output()
            .unwrap()
    };
    let out = run(&dir.path().join("missing.toml"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot read config file") && err.contains("missing.toml"),
        "{err}"
    );
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "rate = 3\n[comments]\nscan_block = false\n").unwrap();
    let out = run(&typo);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("typo.toml") && err.contains("scan_block"),
        "{err}"
    );
    let bad_value = dir.path().join("bad.toml");
    std::fs::write(&bad_value, "workers = 0\n").unwrap();
    let out = run(&bad_value);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("workers"), "{err}");
}

/// Starts a simulator whose users/me names the workspace `name`.
async fn named_sim(seed: u64, name: &str) -> notion_mirror::sim::Sim {
    let mut config = notion_mirror::sim::SimConfig::new(GenConfig::small(seed));
    config.knobs = Knobs::unlimited();
    config.workspace_name = Some(name.to_string());
    notion_mirror::sim::Sim::start(config)
        .await
        .expect("simulator starts")
}

fn mirrored_page_ids(config: &notion_mirror::config::Config) -> BTreeSet<String> {
    let conn = notion_mirror::mirror::open::open_read_only(&config.db_path).unwrap();
    let mut stmt = conn.prepare("select id from pages").unwrap();
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_side_by_side_each_name_and_mirror_their_own_workspace() {
    let (acme, beta) = (
        named_sim(43, "Acme Sales").await,
        named_sim(44, "Beta Labs").await,
    );
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (config_a, config_b) = (
        common::config(&acme, dir_a.path()),
        common::config(&beta, dir_b.path()),
    );
    let daemon_a = common::start_daemon(&config_a).await;
    let daemon_b = common::start_daemon(&config_b).await;
    assert_ne!(daemon_a.addr, daemon_b.addr, "each listens on its own port");
    // `run` takes its pid file beside its own mirror, so `resync --db` finds the right one.
    for (config, dir) in [(&config_a, &dir_a), (&config_b, &dir_b)] {
        assert_eq!(config.pid_path().parent(), Some(dir.path()));
    }

    for (config, own, other) in [
        (&config_a, "Acme Sales", "Beta Labs"),
        (&config_b, "Beta Labs", "Acme Sales"),
    ] {
        let (code, out, err) = notion_mirror(&config.db_path, &["status"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(&format!("workspace   {own} (")) && !out.contains(other),
            "status names its own workspace, {own}: {out}"
        );
        let (_, json, _) = notion_mirror(&config.db_path, &["status", "--json"]);
        let status: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(status["workspace"]["name"], Value::from(own), "{json}");
    }

    let sim_ids = |sim: &notion_mirror::sim::Sim| -> BTreeSet<String> {
        sim.read(|ws| ws.pages.keys().cloned().collect())
    };
    let (in_acme, in_beta) = (sim_ids(&acme), sim_ids(&beta));
    let (mirror_a, mirror_b) = (mirrored_page_ids(&config_a), mirrored_page_ids(&config_b));
    assert!(!mirror_a.is_empty() && !mirror_b.is_empty());
    assert!(
        mirror_a.is_subset(&in_acme) && mirror_a.is_disjoint(&in_beta),
        "mirror A holds only Acme's pages"
    );
    assert!(
        mirror_b.is_subset(&in_beta) && mirror_b.is_disjoint(&in_acme),
        "mirror B holds only Beta's pages"
    );

    // A resync of one instance leaves the other alone.
    daemon_a.request_resync().await;
    common::wait_sweeps(&config_a, "resync", 1).await;
    assert_eq!(
        common::count(
            &config_b,
            "select count(*) from sync_runs where kind = 'resync'"
        ),
        0
    );
    daemon_a.stop().await;
    daemon_b.stop().await;
}
