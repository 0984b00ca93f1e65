//! The change feed (docs/history.md): exact rows for every kind of edit, no false changes,
//! `changes --follow`, signed outbound webhooks delivered once per seq across `kill -9`.

mod common;

use notion_mirror::config::Config;
use notion_mirror::history::{self, ChangeRow};
use notion_mirror::mirror::changes::{Change, Kind, Object};
use notion_mirror::reconcile::SweepKind;
use notion_mirror::sim::changes;
use notion_mirror::sim::mutate::Mutation;
use notion_mirror::sim::util::SimRng;
use notion_mirror::sim::{GenConfig, Knobs};
use notion_mirror::verify::Scope;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Every change after `seq`.
fn rows_after(config: &Config, seq: i64) -> Vec<ChangeRow> {
    history::rows_after(&common::open(config), seq, i64::MAX, 1_000_000).unwrap()
}

fn last_seq(config: &Config) -> i64 {
    history::last_seq(&common::open(config)).unwrap()
}

/// A feed row as a comparable change (its seq, times and cause left out).
fn as_change(r: &ChangeRow) -> Change {
    let map = |v: &Value| v.as_object().cloned().unwrap_or_default();
    Change {
        object: Object::parse(&r.object).expect("known object"),
        id: r.id.clone(),
        page_id: r.page_id.clone(),
        kind: Kind::parse(&r.kind).expect("known kind"),
        fields: r
            .fields
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        before: map(&r.before),
        after: map(&r.after),
        edited_time: None,
        edited_by: None,
    }
}

fn sorted(mut changes: Vec<Change>) -> Vec<Change> {
    changes.sort_by(|a, b| (a.object, &a.id).cmp(&(b.object, &b.id)));
    changes
}

async fn resync(config: &Config) {
    let end =
        notion_mirror::sync::run_kind(config, SweepKind::Resync, CancellationToken::new(), false)
            .await
            .expect("resync runs");
    assert!(
        matches!(end, notion_mirror::sync::SyncEnd::Complete(_)),
        "{end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_edit_records_exactly_its_changes() {
    let sim = common::sim(GenConfig::small(21), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    common::sync(&config).await;
    // The cold sync: one `created` row per object, nothing else.
    let cold = rows_after(&config, 0);
    assert!(cold
        .iter()
        .all(|r| r.kind == "created" && r.cause.as_deref() == Some("sync")));
    let mut ids: Vec<&str> = cold.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "one created row per object");

    let mut rng = SimRng::new(77);
    let mut tried = Vec::new();
    for kind in notion_mirror::sim::random::KINDS {
        let Some((m, exact, meant)) =
            sim.mutate_kind_with_changes(&mut rng, kind, config.notion_version)
        else {
            tried.push(format!("{kind}: no target"));
            continue;
        };
        let seq = last_seq(&config);
        resync(&config).await;
        common::assert_mirror_equals(&sim, &config, Scope::default());
        let rows = rows_after(&config, seq);
        assert!(
            rows.iter().all(|r| r.cause.as_deref() == Some("sync")),
            "{kind}: {rows:?}"
        );
        let got = sorted(rows.iter().map(as_change).collect());
        let want = sorted(exact);
        assert_eq!(got, want, "{kind}: {m:?}");
        for e in &meant {
            assert!(
                got.iter().any(|c| e.met_by(c)),
                "{kind}: {m:?} lacks {e:?} in {got:?}"
            );
        }
        if std::env::var("SHOW").is_ok() {
            for c in &got {
                println!(
                    "{kind}: {:?} {} {:?} {:?} -> {:?}",
                    c.object,
                    c.kind.as_str(),
                    c.fields,
                    c.before,
                    c.after
                );
            }
        }
        tried.push(format!("{kind}: {} row(s)", got.len()));
    }
    // Edits the random picks may miss: deleting a first block shifts its siblings (no
    // move), appending under a nested block.
    let (first, nested) = sim.read(|ws| {
        let text = |b: &&notion_mirror::sim::model::Block| b.data.get("rich_text").is_some();
        let first = ws
            .pages
            .values()
            .filter(|p| !p.in_trash && ws.visible(&p.id))
            .find_map(|p| {
                let kids = ws.live_children(&p.id);
                (kids.len() >= 3 && kids.iter().all(text)).then(|| kids[0].id.clone())
            });
        let nested = ws
            .blocks
            .values()
            .find(|b| {
                b.btype == "toggle"
                    && !b.in_trash
                    && ws
                        .pages
                        .get(&b.page_id)
                        .is_some_and(|p| !p.in_trash && ws.visible(&p.id))
            })
            .map(|b| b.id.clone());
        (first, nested)
    });
    let explicit = [
        first.map(|block_id| Mutation::DeleteBlock { block_id }),
        nested.map(|parent_id| Mutation::AppendBlocks {
            parent_id,
            texts: vec!["nested".into()],
        }),
    ];
    for m in explicit.into_iter().flatten() {
        let before = sim.expected_for(config.notion_version);
        let outcome = sim.mutate(m.clone()).expect("mutation applies");
        let after = sim.expected_for(config.notion_version);
        let seq = last_seq(&config);
        resync(&config).await;
        let got = sorted(rows_after(&config, seq).iter().map(as_change).collect());
        assert_eq!(got, sorted(changes::between(&before, &after)), "{m:?}");
        for e in changes::of_mutation(&m, &outcome, &before, &after) {
            assert!(
                got.iter().any(|c| e.met_by(c)),
                "{m:?} lacks {e:?} in {got:?}"
            );
        }
        assert!(
            got.iter().all(|c| c.kind != Kind::Moved),
            "{m:?} moved nothing: {got:?}"
        );
        tried.push(format!("{m:?}: {} row(s)", got.len()));
    }
    println!("{}", tried.join("\n"));
}

/// Waits until the webhook sender delivered everything and the queue is idle.
async fn settle(sim: &notion_mirror::sim::Sim, config: &Config) {
    let sender = sim.webhooks().expect("webhooks on");
    assert!(sender.quiesce(std::time::Duration::from_secs(30)).await);
    common::wait_queue_idle(config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_edits_are_recorded_once_with_their_cause_and_follow_prints_them() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let sim = common::sim(GenConfig::small(33), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let daemon = common::start_daemon(&config).await;
    common::wait_queue_idle(&config).await;
    let cold = rows_after(&config, 0);
    assert!(cold
        .iter()
        .all(|r| r.kind == "created" && r.cause.as_deref() == Some("full")));
    let mut hooks = sim.default_webhook_config(&format!("http://{}/webhook", daemon.addr));
    hooks.aggregation_window = Duration::from_millis(100);
    hooks.max_extra_delay = Duration::ZERO;
    sim.start_webhooks(hooks);
    assert_eq!(sim.webhooks().unwrap().send_verification().await, Ok(200));

    // `changes --follow --json`, the real binary, beside the daemon.
    let mut follow = Command::new(common::binary())
        .args(["changes", "--follow", "--json", "--db"])
        .arg(&config.db_path)
        .env_clear()
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("changes --follow starts");
    let (lines, printed) = std::sync::mpsc::channel::<(String, Instant)>();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send((line, Instant::now())).is_err() {
                return;
            }
        }
    });
    let mut followed: Vec<(Value, Instant)> = Vec::new();

    let mut rng = SimRng::new(5);
    for kind in [
        "edit",
        "append",
        "delete_block",
        "props",
        "rename",
        "comment",
        "move",
        "trash",
    ] {
        let Some((m, exact, meant)) =
            sim.mutate_kind_with_changes(&mut rng, kind, config.notion_version)
        else {
            continue;
        };
        let seq = last_seq(&config);
        settle(&sim, &config).await;
        // Webhook work fetches what the events name; an incremental sweep brings the rest
        // (a page's new last_edited_time after a block edit): that adds no row.
        common::sweep_and_settle(&daemon, &config, SweepKind::Incremental).await;
        common::wait_queue_idle(&config).await;
        common::assert_mirror_equals(&sim, &config, Scope::default());
        let rows = rows_after(&config, seq);
        let got = sorted(rows.iter().map(as_change).collect());
        assert_eq!(got, sorted(exact), "{kind}: {m:?}");
        for e in &meant {
            let row = rows.iter().find(|r| e.met_by(&as_change(r)));
            let row = row.unwrap_or_else(|| panic!("{kind}: {m:?} lacks {e:?} in {got:?}"));
            assert_eq!(row.cause.as_deref(), Some("webhook"), "{kind}: {row:?}");
        }
        // `--follow` printed each of them (bounded wait; its poll is 200 ms).
        let deadline = Instant::now() + Duration::from_secs(30);
        while followed
            .iter()
            .filter(|(v, _)| v["seq"].as_i64() > Some(seq))
            .count()
            < rows.len()
        {
            let left = deadline.saturating_duration_since(Instant::now());
            let (line, at) = printed
                .recv_timeout(left)
                .expect("--follow prints the new rows");
            followed.push((serde_json::from_str(&line).expect("a JSON line"), at));
        }
    }
    // The lines are the rows, in seq order, each once.
    let seqs: Vec<i64> = followed
        .iter()
        .map(|(v, _)| v["seq"].as_i64().unwrap())
        .collect();
    let mut sorted_seqs = seqs.clone();
    sorted_seqs.sort();
    sorted_seqs.dedup();
    assert_eq!(seqs, sorted_seqs);
    let all = rows_after(&config, cold.last().map_or(0, |r| r.seq));
    assert_eq!(seqs, all.iter().map(|r| r.seq).collect::<Vec<_>>());
    assert_eq!(followed[0].0, all[0].to_json());
    // SIGINT ends it cleanly.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(follow.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(follow.wait().unwrap().success());
    // A reader that goes away (`| head -1`) ends it cleanly too.
    let mut head = Command::new(common::binary())
        .args(["changes", "--db"])
        .arg(&config.db_path)
        .env_clear()
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(head.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"seq\":1,"), "{first}");
    let status = head.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut head.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success() && err.is_empty(), "{status}: {err}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_of_an_unchanged_workspace_adds_no_row_even_with_re_signed_file_urls() {
    let sim = common::sim(GenConfig::small(9), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let daemon = common::start_daemon(&config).await;
    common::wait_queue_idle(&config).await;
    let cold = last_seq(&config);
    assert!(cold > 0);
    let c = config.clone();
    common::wait_for(
        "signed hosted-file URLs in the mirror",
        std::time::Duration::from_secs(60),
        || {
            let c = c.clone();
            async move {
                common::count(
                    &c,
                    "select count(*) from blocks where raw like '%X-Amz-Signature=%'",
                ) + common::count(
                    &c,
                    "select count(*) from pages where raw like '%X-Amz-Signature=%'",
                ) >= 2
            }
        },
    )
    .await;
    // The mirror holds Notion-hosted files under other signatures and expiry times (as
    // after an earlier read): the resync rewrites them, which is no change.
    let edited = {
        let rw = rusqlite::Connection::open(&config.db_path).unwrap();
        rw.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        let mut n = 0;
        for table in ["pages", "blocks", "databases", "data_sources"] {
            n += rw
                .execute(
                    &format!(
                        "UPDATE {table} SET raw = replace(replace(raw,
                             'X-Amz-Signature=', 'X-Amz-Signature=stale'),
                             '\"expiry_time\":\"2', '\"expiry_time\":\"1')
                         WHERE raw LIKE '%X-Amz-Signature=%'"
                    ),
                    [],
                )
                .unwrap();
        }
        n
    };
    assert!(edited >= 2, "hosted files in the fixtures: {edited}");
    let before = common::sweeps_finished(&config, "resync");
    daemon.request_resync().await; // what SIGHUP does
    common::wait_sweeps(&config, "resync", before + 1).await;
    common::wait_queue_idle(&config).await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    // The resync rewrote every stale URL (fresh signatures in `raw`) ...
    let stale: i64 = ["pages", "blocks", "databases", "data_sources"]
        .iter()
        .map(|t| {
            common::count(
                &config,
                &format!("select count(*) from {t} where raw like '%X-Amz-Signature=stale%'"),
            )
        })
        .sum();
    assert_eq!(stale, 0, "the resync rewrote the re-signed URLs");
    // ... and recorded none of it as a change.
    assert_eq!(last_seq(&config), cold, "{:?}", rows_after(&config, cold));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_webhooks_reach_a_flaky_receiver_once_per_seq_across_kill_9() {
    use common::process;
    use std::time::Duration;

    let secret = "outbound-secret";
    let (receiver, got) = common::receiver::start(secret, 4).await;
    let sim = common::sim(GenConfig::small(13), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mirror.db");
    let config_file = dir.path().join("config.toml");
    std::fs::write(
        &config_file,
        format!(
            "[[outbound]]\nname = \"test\"\nurl = \"http://{receiver}/hook?token=t\"\nsecret = \"{secret}\"\nbackoff_max_secs = 1\n"
        ),
    )
    .unwrap();
    let env = [("NOTION_MIRROR_CONFIG", config_file.display().to_string())];
    let addr = process::free_addr();
    let log = dir.path().join("daemon.log");
    // Slow enough that the cold sync is still writing changes when the daemon is killed.
    let mut daemon = process::daemon(&sim, &db, addr, 40, &log, &env);
    process::wait_healthy(&mut daemon, addr).await;
    let seen = |n: usize| {
        let got = got.clone();
        move || {
            let got = got.clone();
            async move { got.lock().unwrap().seqs.len() >= n }
        }
    };
    common::wait_for("a first delivery", Duration::from_secs(60), seen(1)).await;
    daemon.kill9();
    let before_kill = got.lock().unwrap().seqs.len();
    let mut daemon = process::daemon(&sim, &db, addr, 1000, &log, &env);
    process::wait_healthy(&mut daemon, addr).await;
    let config = {
        let mut c = common::config(&sim, dir.path());
        c.db_path = db.clone();
        c
    };
    common::wait_sweeps(&config, "full", 1).await;
    common::wait_queue_idle(&config).await;
    // Edits, then a SIGHUP resync: more changes to deliver.
    sim.mutate_random(3, 15, notion_mirror::sim::MutationMix::default());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    common::wait_sweeps(&config, "resync", 1).await;
    common::wait_queue_idle(&config).await;
    let newest = last_seq(&config);
    let all = {
        let got = got.clone();
        move || {
            let got = got.clone();
            async move { got.lock().unwrap().seqs.keys().next_back() == Some(&newest) }
        }
    };
    common::wait_for("every change delivered", Duration::from_secs(60), all).await;
    {
        let r = got.lock().unwrap();
        let table: Vec<i64> = rows_after(&config, 0).iter().map(|c| c.seq).collect();
        assert_eq!(
            r.seqs.keys().copied().collect::<Vec<_>>(),
            table,
            "every seq, once after dedupe"
        );
        assert_eq!(
            (r.bad_signatures, r.bad_seq_headers, r.out_of_order),
            (0, 0, 0)
        );
        assert!(r.failed > 0, "the receiver failed some POSTs");
        assert!(r.largest <= 100);
        println!(
            "outbound: {} changes, {} posts ({} answered 503), {} delivered again after kill -9 (delivered before it: {before_kill})",
            table.len(),
            r.posts,
            r.failed,
            r.duplicates()
        );
    }
    // `status` and `/metrics` show the destination caught up.
    let status = std::process::Command::new(common::binary())
        .args(["status", "--json", "--db"])
        .arg(&db)
        .env_clear()
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let dest = &status["outbound"][0];
    assert_eq!(dest["name"], "test");
    assert_eq!(
        dest["url"],
        format!("http://{receiver}"),
        "no path, no token"
    );
    assert_eq!(
        (dest["cursor"].as_i64(), dest["lag"].as_i64()),
        (Some(newest), Some(0))
    );
    let metrics = common::http()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "notion_mirror_outbound_cursor{{destination=\"test\"}} {newest}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("notion_mirror_outbound_lag{destination=\"test\"} 0"));
    assert!(!metrics.contains("token=t") && !process::Proc::log_text(&daemon).contains("token=t"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(daemon.child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_in_the_full_sweep_and_sync_without_history_records_nothing() {
    let sim = common::sim(GenConfig::small(4), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    common::sync(&config).await;
    let cold = last_seq(&config);
    assert!(cold > 0);
    // History kept 0 days: the next full sweep prunes everything written before it.
    config.history_retention = Some(std::time::Duration::ZERO);
    sim.mutate_random(8, 5, notion_mirror::sim::MutationMix::default());
    common::sync(&config).await;
    let rows = rows_after(&config, 0);
    assert!(
        rows.iter().all(|r| r.seq > cold),
        "older rows pruned: {}",
        rows.len()
    );
    let kept = last_seq(&config);
    // `sync --no-history`: the mirror follows, the feed does not.
    config.history_retention = None;
    config.history = false;
    let no_comments = notion_mirror::sim::MutationMix {
        comments: false,
        ..notion_mirror::sim::MutationMix::default()
    };
    assert_eq!(sim.mutate_random(9, 5, no_comments).len(), 5);
    common::sync(&config).await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    assert_eq!(last_seq(&config), kept);
    // Seqs are never reused after pruning.
    config.history = true;
    sim.mutate(Mutation::RenamePage {
        page_id: sim.read(|ws| ws.standalone_page_ids()[0].clone()),
        title: "Renamed once more".into(),
    })
    .unwrap();
    common::sync(&config).await;
    assert!(rows_after(&config, 0).iter().all(|r| r.seq > cold));
    assert!(last_seq(&config) > kept);
}
