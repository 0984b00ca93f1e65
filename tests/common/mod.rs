//! Shared fixture for the integration tests: a simulator and a mirror configured against
//! it over real HTTP on 127.0.0.1, plus bounded waiting and mirror comparison.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notion_mirror::config::{Config, Env, FileConfig, Overrides};
use notion_mirror::sim::{GenConfig, Knobs, Sim, SimConfig};
use notion_mirror::verify::{self, Scope};
use rusqlite::Connection;

pub mod process;
pub mod receiver;

/// Starts a simulator with `knobs` (use `Knobs::unlimited()` unless the test is about limits).
pub async fn sim(generator: GenConfig, knobs: Knobs) -> Sim {
    let mut config = SimConfig::new(generator);
    config.knobs = knobs;
    Sim::start(config).await.expect("simulator starts")
}

/// A cron (with seconds) that does not fire during a test: midnight on January 1st.
pub const NEVER: &str = "0 0 0 1 1 *";

/// A mirror configuration pointing at `sim`, with test-friendly timing.
pub fn config(sim: &Sim, dir: &Path) -> Config {
    let over = Overrides {
        db: Some(dir.join("mirror.db")),
        api_url: Some(sim.base_url()),
        listen: Some("127.0.0.1:0".into()),
        rate: Some(1000.0),
        debounce_ms: Some(200),
        request_timeout_secs: Some(10),
        ..Overrides::default()
    };
    let env = Env {
        notion_token: Some(sim.token()),
        ..Env::default()
    };
    let mut config =
        Config::from_parts(FileConfig::default(), &over, &env).expect("valid test config");
    config.burst = 50.0;
    config.shutdown_timeout = Duration::from_secs(10);
    // Sweeps' content checks wait this long for webhook events in flight (20 s in
    // production): tests settle faster.
    config.event_grace = Duration::from_secs(1);
    // No scheduled sweep fires during a test unless the test asks for it (a test crossing
    // a five-minute boundary would otherwise see an extra incremental sweep).
    config.incremental_cron = NEVER.into();
    config.presence_cron = NEVER.into();
    config.full_cron = NEVER.into();
    config
}

pub fn db_path(config: &Config) -> PathBuf {
    config.db_path.clone()
}

pub fn open(config: &Config) -> Connection {
    notion_mirror::mirror::open::open_read_only(&config.db_path).expect("mirror opens read-only")
}

/// The differences between the mirror and the simulated workspace (empty = equal).
pub fn differences(sim: &Sim, config: &Config, scope: Scope) -> Vec<String> {
    let conn = open(config);
    verify::diff(&conn, &sim.expected_for(config.notion_version), scope).expect("comparison runs")
}

#[track_caller]
pub fn assert_mirror_equals(sim: &Sim, config: &Config, scope: Scope) {
    let diffs = differences(sim, config, scope);
    assert!(
        diffs.is_empty(),
        "mirror differs from the workspace:\n{}",
        diffs.join("\n")
    );
}

/// Polls `condition` every 50 ms until it holds or `limit` passes (then panics with `what`).
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if condition().await {
            return;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to `limit` until the SQL count `sql` is `expected` (then panics with `what`).
pub async fn wait_count(config: &Config, what: &str, sql: &str, expected: i64, limit: Duration) {
    wait_for(
        what,
        limit,
        || async move { count(config, sql) == expected },
    )
    .await;
}

/// One SQL count from the mirror.
pub fn count(config: &Config, sql: &str) -> i64 {
    open(config)
        .query_row(sql, [], |r| r.get(0))
        .expect("count query")
}

/// Runs a one-shot sync (the library path behind `notion-mirror sync`).
pub async fn sync(config: &Config) -> notion_mirror::sync::SyncEnd {
    notion_mirror::sync::run(config, tokio_util::sync::CancellationToken::new(), false)
        .await
        .expect("sync runs")
}

/// The path of the built binary, for tests that run it as a process.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_notion-mirror"))
}

/// Installs the rustls provider reqwest needs (test binaries build their own clients).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Settled sweeps of `kind` (`full`, `incremental`, `presence`, `resync`, or `%` for
/// any): their listings ended and the work they queued is done.
/// 0 while the mirror is not migrated yet (a daemon started as a process creates the file
/// before its tables).
pub fn sweeps_finished(config: &Config, kind: &str) -> i64 {
    let sql = format!(
        "select count(*) from sync_runs where kind like '{kind}' and settled_at is not null"
    );
    notion_mirror::mirror::open::open_read_only(&config.db_path)
        .ok()
        .and_then(|c| c.query_row(&sql, [], |r| r.get(0)).ok())
        .unwrap_or(0)
}

/// Runs one more sweep of `kind` on a running daemon and waits until it settled.
pub async fn sweep_and_settle(
    daemon: &notion_mirror::daemon::Daemon,
    config: &Config,
    kind: notion_mirror::reconcile::SweepKind,
) {
    let label: &'static str = kind.as_str();
    // A sweep of this kind may already be running (a test's fast cron): only one that
    // starts after this call (a higher `sync_runs` id) saw what the caller just changed.
    let after = count(config, "select coalesce(max(id), 0) from sync_runs");
    daemon.triggers.request(kind);
    let c = config.clone();
    wait_for(
        &format!("a {label} sweep started after run {after} to settle"),
        Duration::from_secs(120),
        || {
            let sql = format!(
                "select count(*) from sync_runs where kind = '{label}' and id > {after} and settled_at is not null"
            );
            let c = c.clone();
            async move { count(&c, &sql) >= 1 }
        },
    )
    .await;
}

/// Waits until `n` sweeps of `kind` have settled.
pub async fn wait_sweeps(config: &Config, kind: &'static str, n: i64) {
    let c = config.clone();
    wait_for(
        &format!("{n} finished {kind} sweep(s)"),
        Duration::from_secs(120),
        || {
            let c = c.clone();
            async move { sweeps_finished(&c, kind) >= n }
        },
    )
    .await;
}

/// Waits until no work is pending or running (parked items do not count).
pub async fn wait_queue_idle(config: &Config) {
    let c = config.clone();
    wait_for("the queue to drain", Duration::from_secs(90), || {
        let c = c.clone();
        async move { count(&c, "select count(*) from queue where state != 'failed'") == 0 }
    })
    .await;
}

/// Starts the daemon on `config` and waits for its start-up full sweep.
pub async fn start_daemon(config: &Config) -> notion_mirror::daemon::Daemon {
    let daemon = notion_mirror::daemon::start(config)
        .await
        .expect("daemon starts");
    wait_sweeps(config, "full", 1).await;
    daemon
}

/// A simulator, a synced daemon on it, and the simulator's webhooks pointed at the daemon
/// (verified, 200 ms aggregation, no faults), with the queue idle.
pub struct Live {
    pub sim: Sim,
    pub config: Config,
    pub daemon: notion_mirror::daemon::Daemon,
    pub sender: std::sync::Arc<notion_mirror::sim::webhook::WebhookSender>,
    /// Keeps the mirror's directory alive.
    pub dir: tempfile::TempDir,
}

/// A [`Live`] setup's parts (sim, config, daemon, sender, dir): keep the dir bound (`_dir`),
/// it holds the mirror.
pub type LiveParts = (
    Sim,
    Config,
    notion_mirror::daemon::Daemon,
    std::sync::Arc<notion_mirror::sim::webhook::WebhookSender>,
    tempfile::TempDir,
);

impl Live {
    pub fn parts(self) -> LiveParts {
        (self.sim, self.config, self.daemon, self.sender, self.dir)
    }
}

/// Starts a [`Live`] setup on the small workspace of `seed`.
pub async fn live(seed: u64) -> Live {
    let sim = sim(GenConfig::small(seed), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(&sim, dir.path());
    let daemon = start_daemon(&config).await;
    let mut hooks = sim.default_webhook_config(&format!("http://{}/webhook", daemon.addr));
    hooks.aggregation_window = Duration::from_millis(200);
    sim.start_webhooks(hooks);
    let sender = sim.webhooks().expect("webhook sender");
    assert_eq!(sender.send_verification().await, Ok(200));
    wait_queue_idle(&config).await;
    Live {
        sim,
        config,
        daemon,
        sender,
        dir,
    }
}
