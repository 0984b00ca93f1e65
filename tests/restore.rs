//! `notion-mirror backup` while the daemon writes, and restore-and-resume from that backup:
//! the copy is consistent and private, and a daemon started on it catches up with what
//! happened since (events its original acknowledged after the backup included) for fewer
//! requests than a cold sync — without SIGHUP.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use common::process::{self, Churn};
use notion_mirror::sim::{GenConfig, Knobs};

/// The daemon's request rate in these tests (the small workspace's cold sync is ~15 s).
const RATE: u32 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_mid_cold_sync_under_churn_restores_and_resumes() {
    // `RESTORE_SEED=N` replays a run (the timing still varies).
    let seed = std::env::var("RESTORE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::random::<u64>() % 1000);
    eprintln!(
        "seed {seed} (the backup's moment and the edits follow it; RESTORE_SEED={seed} replays it)"
    );
    let sim = common::sim(GenConfig::small(7), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    std::fs::create_dir(&first).unwrap();
    let db = first.join("mirror.db");
    let addr = process::free_addr();
    let mut daemon = process::daemon(&sim, &db, addr, RATE, &first.join("run.log"), &[]);
    process::wait_healthy(&mut daemon, addr).await;
    let hooks = sim.default_webhook_config(&format!("http://{addr}/webhook"));
    process::handshake(addr, &hooks.verification_token).await;
    sim.start_webhooks(hooks.clone());
    let churn = Churn::start(&sim, seed, Duration::from_millis(400));

    // The backup at a random moment of the cold sync (between 30 % and 80 % of the pages'
    // content fetched), while the daemon writes.
    let fraction = 0.3 + 0.5 * (seed as f64 / 1000.0);
    let at = process::wait_content_fraction(&sim, &db, fraction, &mut daemon).await;
    let backup = dir.path().join("backup.db");
    let out = Command::new(common::binary())
        .args(["backup", "--db"])
        .arg(&db)
        .arg(&backup)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("backed up") && stdout.contains("MiB"),
        "{stdout}"
    );
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup is private");
    process::assert_consistent(&backup);
    let conn = notion_mirror::mirror::open::open_read_only(&backup).unwrap();
    let pages_in_backup = process::scalar(&conn, "select count(*) from pages");
    let events_in_backup = process::scalar(&conn, "select count(*) from webhook_events");
    let full_listed = process::scalar(
        &conn,
        "select count(*) from sync_runs where kind = 'full' and settled_at is not null",
    );
    drop(conn);
    assert!(pages_in_backup > 0, "the backup holds part of the mirror");
    eprintln!(
        "backup at {:.0} % of the content ({at:.1} s): {pages_in_backup} pages, {events_in_backup} events, settled full sweeps {full_listed}",
        fraction * 100.0
    );

    // Events keep arriving (and are acknowledged) after the backup; then the machine dies.
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let edits = churn.stop().await;

    // Restore on "another machine": the copy in a new directory, same webhook address.
    let second = dir.path().join("second");
    std::fs::create_dir(&second).unwrap();
    let restored = second.join("mirror.db");
    std::fs::copy(&backup, &restored).unwrap();
    std::fs::set_permissions(&restored, std::fs::Permissions::from_mode(0o644)).unwrap();
    sim.reset_stats();
    let mut daemon = process::daemon(
        &sim,
        &restored,
        addr,
        RATE,
        &second.join("run.log"),
        &[("NOTION_MIRROR_LOG", "notion_mirror=debug".into())],
    );
    let _keep = dir.path().to_path_buf();
    std::mem::forget(dir);
    process::wait_healthy(&mut daemon, addr).await;
    process::wait_equal(&sim, &restored, &mut daemon, Duration::from_secs(150)).await;
    let stats = sim.stats();
    let requests = stats.total() - stats.endpoint("users.me");
    let floor = sim.floor().total;
    eprintln!(
        "restored mirror caught up with {requests} requests; a cold sync of the workspace needs {floor} (floor); {edits} edits\n  by endpoint: {:?}\n  floor: {:?}",
        stats.by_endpoint(),
        sim.floor().by_endpoint
    );
    assert!(
        requests < floor,
        "resuming cost {requests} requests, a cold sync {floor}:\n{}",
        daemon.tail()
    );

    // It resumed: the copy was recognised and the log says how far behind it was.
    let log = daemon.log_text();
    assert!(
        log.contains("old; this mirror is a copy"),
        "{}",
        daemon.tail()
    );
    assert!(log.contains("newest="), "{}", daemon.tail());
    let conn = notion_mirror::mirror::open::open_read_only(&restored).unwrap();
    assert_eq!(
        process::scalar(
            &conn,
            "select count(*) from settings where key = 'webhook.verification_token'"
        ),
        1,
        "the webhook token came along"
    );
    let accepted = process::scalar(&conn, "select count(*) from webhook_events");
    assert!(
        accepted > events_in_backup || edits == 0,
        "the restored daemon verified new deliveries with the stored token"
    );
    let mode = std::fs::metadata(&restored).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "a 0644 copy loses what others could do");
    drop(conn);
    if let Some(w) = sim.webhooks() {
        w.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daemon_killed_mid_cold_sync_resumes_in_place_without_starting_over() {
    let seed = rand::random::<u64>() % 1000;
    eprintln!("seed {seed}");
    let sim = common::sim(GenConfig::small(5), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mirror.db");
    let addr = process::free_addr();
    let mut daemon = process::daemon(&sim, &db, addr, RATE, &dir.path().join("run1.log"), &[]);
    process::wait_healthy(&mut daemon, addr).await;
    let fraction = 0.4 + 0.4 * (seed as f64 / 1000.0);
    process::wait_content_fraction(&sim, &db, fraction, &mut daemon).await;
    let before = sim.stats();
    daemon.kill9();
    let spent_before = before.total() - before.endpoint("users.me");

    sim.reset_stats();
    let mut daemon = process::daemon(&sim, &db, addr, RATE, &dir.path().join("run2.log"), &[]);
    process::wait_healthy(&mut daemon, addr).await;
    process::wait_equal(&sim, &db, &mut daemon, Duration::from_secs(120)).await;
    let stats = sim.stats();
    let resumed = stats.total() - stats.endpoint("users.me");
    let floor = sim.floor().total;
    eprintln!(
        "killed at {:.0} % of the content after {spent_before} requests; resuming took {resumed}; floor {floor}",
        fraction * 100.0
    );
    // What was fetched is not fetched again: together about one cold sync, and the second
    // daemon far less than one.
    assert!(
        spent_before + resumed <= floor + floor / 10,
        "{spent_before} + {resumed} requests for a workspace whose cold sync needs {floor}:\n{}",
        daemon.tail()
    );
    assert!(resumed < floor, "{resumed} >= {floor}");
    let log = daemon.log_text();
    assert!(!log.contains("this mirror is a copy"), "{}", daemon.tail());
    // The first sweep settles (its work is done) and its watermark is in place.
    let conn = || notion_mirror::mirror::open::open_read_only(&db).unwrap();
    common::wait_for("the watermark", Duration::from_secs(30), || async {
        process::scalar(
            &conn(),
            "select count(*) from settings where key = 'watermark.incremental'",
        ) == 1
    })
    .await;
}
