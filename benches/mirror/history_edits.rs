//! The history group's own workspace (`--only history`, docs/history.md): ~80 pages
//! cold-synced twice without the rate limit, once with the change feed and once with
//! `sync --no-history`; then `notion-mirror run` (webhooks with Notion's semantics, an
//! incremental sweep every 10 s, an outbound destination on 127.0.0.1) takes the load
//! group's edit mix (60 edits over 15 s with `--quick`, 200 over 50 s without). Printed:
//! change rows written against the edits applied and against the exact changes they made
//! (the simulator's account, `Sim::mutate_kind_with_changes`), the feed's bytes per 1,000
//! changes, the outbound delivery latency (change written → POST answered), and the cost of
//! writing history: the writer thread's CPU and the wall time of a cold sync and of a
//! catch-up `sync` of the same edits, with and without the feed.
//! Invariant: every wait is bounded; the two catch-up syncs start from the same mirror
//! state and read the same workspace, so they differ only in the feed.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use notion_mirror::sim::util::SimRng;
use notion_mirror::sim::{GenConfig, Knobs, Sim, SimConfig};
use serde_json::{json, Value};

use crate::history::{feed_bytes, last_seq, Receiver};
use crate::load::{schedule, timestamp_invisible};
use crate::proc::{free_addr, log_tail, mirror_cmd, proc_kib, thread_cpu_secs, Daemon};
use crate::report::{percentile, Bench};
use crate::wait::{count, mirror_diff, open_mirror, settle};

/// A cron (with seconds) that does not fire during a run.
const FAR_AWAY: &str = "0 0 0 1 1 *";

/// Cold syncs with and without the feed, each.
const COLD_RUNS: usize = 3;

/// A one-shot `sync`: its wall time and its writer thread's CPU.
#[derive(Debug, Clone, Copy)]
struct Timed {
    wall: Duration,
    /// CPU seconds of the `mirror-writer` thread (sampled every 10 ms until it ended; the
    /// clock ticks at 10 ms).
    writer_cpu: f64,
}

impl Timed {
    /// The lesser wall time and the lesser CPU of two runs of the same work.
    fn least(self, other: Timed) -> Timed {
        Timed {
            wall: self.wall.min(other.wall),
            writer_cpu: self.writer_cpu.min(other.writer_cpu),
        }
    }
}

/// Runs `cmd` to its end, sampling the writer thread's CPU; fails unless it exits 0.
async fn timed(cmd: Command, what: &'static str, log: &Path) -> Result<Timed> {
    let log_owned = log.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut cmd = cmd;
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let pid = child.id();
        let mut writer_cpu: f64 = 0.0;
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!(
                        "{what} exited with {status}; log tail:\n    {}",
                        log_tail(&log_owned)
                    );
                }
                return Ok(Timed {
                    wall: started.elapsed(),
                    writer_cpu,
                });
            }
            // A zombie has no threads left: keep the last reading.
            if proc_kib(pid, "VmRSS:").is_some() {
                writer_cpu = writer_cpu.max(thread_cpu_secs(pid, "mirror-writer"));
            }
            if started.elapsed() > Duration::from_secs(300) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{what} did not finish within 300 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
    .await?
}

/// `notion-mirror sync` of `dir`'s mirror at 1,000 req/s, with `args`.
async fn sync(sim: &Sim, dir: &Path, args: &[&str], what: &'static str) -> Result<Timed> {
    let log = dir.join(format!("sync-{}.log", args.len()));
    let mut cmd = mirror_cmd(sim, dir, "sync", &log)?;
    cmd.env("NOTION_MIRROR_RATE", "1000")
        .arg("--quiet")
        .args(args);
    timed(cmd, what, &log).await
}

/// A consistent copy of the mirror at `from` (a daemon may not be writing it).
fn snapshot(from: &Path, to: &Path) -> Result<()> {
    open_mirror(from)?
        .execute("VACUUM INTO ?1", [to.display().to_string()])
        .with_context(|| format!("cannot copy the mirror to {}", to.display()))?;
    Ok(())
}

/// `notion-mirror changes --follow --json` beside the daemon: per seq, seconds from the
/// change's `at` (written) to its line being read here.
struct Follower {
    child: Child,
    lines: std::thread::JoinHandle<BTreeMap<i64, f64>>,
}

impl Follower {
    fn start(sim: &Sim, dir: &Path) -> Result<Follower> {
        let mut cmd = mirror_cmd(sim, dir, "changes", &dir.join("follow.log"))?;
        cmd.args(["--follow", "--json"]).stdout(Stdio::piped());
        let mut child = cmd.spawn().context("cannot start `changes --follow`")?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("`changes --follow` has no stdout"))?;
        let lines = std::thread::spawn(move || {
            let mut seen = BTreeMap::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let now = chrono::Utc::now();
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let at = v["at"]
                    .as_str()
                    .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok());
                if let (Some(seq), Some(at)) = (v["seq"].as_i64(), at) {
                    let micros = (now - at.with_timezone(&chrono::Utc))
                        .num_microseconds()
                        .unwrap_or(0);
                    seen.entry(seq).or_insert((micros as f64 / 1e6).max(0.0));
                }
            }
            seen
        });
        Ok(Follower { child, lines })
    }

    /// SIGINT, then what it printed and how it exited.
    fn finish(mut self) -> Result<(BTreeMap<i64, f64>, ExitStatus)> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .context("cannot send SIGINT to `changes --follow`")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("`changes --follow` did not end within 10 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let seen = self
            .lines
            .join()
            .map_err(|_| anyhow!("the `changes --follow` reader panicked"))?;
        Ok((seen, status))
    }
}

fn pct(with: f64, without: f64) -> String {
    match without > 0.0 {
        true => format!("{:+.0} %", (with / without - 1.0) * 100.0),
        false => "n/a".into(),
    }
}

/// The history group's own-workspace figures.
pub(crate) async fn history_edits(b: &mut Bench, root: &Path) -> Result<()> {
    let (edits, over_secs) = if b.args.quick {
        (60, 15.0)
    } else {
        (200, 50.0)
    };
    let dir = root.join("history");
    let (live, with, without) = (dir.join("live"), dir.join("with"), dir.join("without"));
    for d in [&live, &with, &without] {
        std::fs::create_dir_all(d)?;
    }
    let mut config = SimConfig::new(GenConfig::small(b.args.seed));
    config.knobs = Knobs::unlimited();
    let sim = Sim::start(config).await?;

    // The cold sync, with and without the feed (the least of COLD_RUNS runs each: the
    // writer's CPU is a few tenths of a second); the catch-up copy starts where `without` is.
    let mut cold_without =
        sync(&sim, &without, &["--no-history"], "cold sync --no-history").await?;
    let mut cold_with = sync(&sim, &live, &[], "cold sync").await?;
    for run in 1..COLD_RUNS {
        let (again_without, again_with) = (
            dir.join(format!("cold-{run}-n")),
            dir.join(format!("cold-{run}-h")),
        );
        std::fs::create_dir_all(&again_without)?;
        std::fs::create_dir_all(&again_with)?;
        cold_without = cold_without.least(
            sync(
                &sim,
                &again_without,
                &["--no-history"],
                "cold sync --no-history",
            )
            .await?,
        );
        cold_with = cold_with.least(sync(&sim, &again_with, &[], "cold sync").await?);
    }
    let db = live.join("mirror.db");
    snapshot(&db, &with.join("mirror.db"))?;
    let cold_rows = last_seq(&db)?;

    // The daemon takes the edit mix, with an outbound destination.
    let secret = "bench-history-secret";
    let receiver = Receiver::start(secret).await?;
    let outbound = live.join("outbound.toml");
    std::fs::write(&outbound, receiver.config(secret))?;
    let addr = free_addr()?;
    let mut hooks = sim.default_webhook_config(&format!("http://{addr}/webhook"));
    hooks.aggregation_window = Duration::from_millis(500);
    hooks.duplicate_rate = 0.05;
    hooks.max_extra_delay = Duration::from_millis(300);
    let env = vec![
        ("NOTION_MIRROR_RATE", "1000".to_string()),
        ("NOTION_MIRROR_INCREMENTAL", "*/10 * * * * *".into()),
        ("NOTION_MIRROR_PRESENCE", FAR_AWAY.into()),
        ("NOTION_MIRROR_FULL", FAR_AWAY.into()),
        ("NOTION_WEBHOOK_TOKEN", hooks.verification_token.clone()),
        ("NOTION_MIRROR_CONFIG", outbound.display().to_string()),
    ];
    let mut daemon = Daemon::spawn(&sim, &live, &addr, "run-history.log", &env)?;
    daemon.wait_running(Duration::from_secs(60)).await?;
    sim.start_webhooks(hooks);
    let sender = sim.webhooks().ok_or_else(|| anyhow!("no webhook sender"))?;
    settle(&sim, &db, Duration::from_secs(60)).await?;
    let follower = Follower::start(&sim, &live)?;
    let before = last_seq(&db)?;

    let version = notion_mirror::notion::NotionVersion::default();
    let mut rng = SimRng::new(b.args.seed ^ 0x4157);
    let kinds = schedule(edits, &mut rng);
    let mut applied: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut exact = 0usize;
    let gap = Duration::from_secs_f64(over_secs / kinds.len() as f64);
    let started = Instant::now();
    for (i, kind) in kinds.iter().enumerate() {
        tokio::time::sleep_until((started + gap * i as u32).into()).await;
        let Some((_, changes, _)) = sim.mutate_kind_with_changes(&mut rng, kind, version) else {
            continue;
        };
        exact += changes.len();
        *applied.entry(kind).or_insert(0) += 1;
    }
    let applied_total: usize = applied.values().sum();

    // Until the mirror equals the workspace (a lost event's change no timestamp shows is
    // told apart, not waited for), then quiet.
    let last_edit = Instant::now();
    let mut diff = mirror_diff(&sim, &db)?;
    while !diff.iter().all(|d| timestamp_invisible(d)) {
        if last_edit.elapsed() > Duration::from_secs(180) {
            bail!(
                "the mirror still differs 180 s after the last edit: {}",
                diff.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        diff = mirror_diff(&sim, &db)?;
    }
    settle(&sim, &db, Duration::from_secs(60)).await?;
    daemon.alive()?;
    let after = last_seq(&db)?;
    let rows = after - before;
    // Every change delivered (bounded), then the daemon stops.
    let deadline = Instant::now() + Duration::from_secs(60);
    while (receiver.latencies(before, after).len() as i64) < rows && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = daemon.terminate(Duration::from_secs(30)).await?;
    sender.shutdown();
    if !status.success() {
        bail!("`notion-mirror run` exited with {status}");
    }
    let (followed, follow_status) = tokio::task::block_in_place(|| follower.finish())?;

    // The same edits caught up by `sync`, without and with the feed.
    let catch_without = sync(
        &sim,
        &without,
        &["--no-history"],
        "catch-up sync --no-history",
    )
    .await?;
    let with_db = with.join("mirror.db");
    let with_before = last_seq(&with_db)?;
    let catch_with = sync(&sim, &with, &[], "catch-up sync").await?;
    let catch_rows = last_seq(&with_db)? - with_before;
    let no_history_rows = count(
        &open_mirror(&without.join("mirror.db"))?,
        "select count(*) from changes",
    )?;
    sim.shutdown().await;

    // The figures.
    let conn = open_mirror(&db)?;
    let breakdown: Vec<String> = {
        let mut stmt = conn.prepare(
            "select object || ' ' || kind || ' (' || coalesce(cause, '?') || ')', count(*)
             from changes where seq > ?1 and seq <= ?2 group by 1 order by 2 desc, 1",
        )?;
        let found = stmt.query_map([before, after], |r| {
            Ok(format!(
                "{} {}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?
            ))
        })?;
        found.collect::<rusqlite::Result<_>>()?
    };
    drop(conn);
    let per_edit = rows as f64 / applied_total.max(1) as f64;
    b.row(
        "history",
        "history_rows_per_edit",
        "history: change rows / edits of the load mix (/ exact changes they made)",
        format!("{rows} / {applied_total} = {per_edit:.2} (/ {exact})"),
        per_edit,
        "≤ exact changes (no false rows)".into(),
        rows > 0 && rows as usize <= exact,
    );
    let (measured, bytes) = feed_bytes(&db, before)?;
    let per_thousand = bytes as f64 * 1000.0 / measured.max(1) as f64;
    b.row(
        "history",
        "history_bytes_per_1000",
        "history: feed bytes per 1,000 changes of the mix (table + indexes)",
        format!(
            "{:.0} KiB ({measured} rows, {:.1} KiB)",
            per_thousand / 1024.0,
            bytes as f64 / 1024.0
        ),
        per_thousand,
        "reported".into(),
        measured > 0,
    );
    let latency = receiver.latencies(before, after);
    let (p50, p95) = (percentile(&latency, 0.5), percentile(&latency, 0.95));
    let (posts, bad, duplicates) = receiver
        .seen
        .lock()
        .map(|s| (s.posts, s.bad_signatures, s.duplicates))
        .unwrap_or_default();
    b.row(
        "history",
        "history_outbound_latency",
        "history: outbound delivery, change written → 2xx, p50 (p95)",
        format!(
            "{:.0} ms ({:.0} ms), {} of {rows} changes in {posts} POSTs",
            p50 * 1000.0,
            p95 * 1000.0,
            latency.len()
        ),
        p50,
        "p95 ≤ 1 s, every change once, signatures valid".into(),
        p95 <= 1.0 && latency.len() as i64 == rows && bad == 0,
    );
    let mut follow_lag: Vec<f64> = followed
        .range(before + 1..=after)
        .map(|(_, l)| *l)
        .collect();
    follow_lag.sort_by(f64::total_cmp);
    let follow_max = follow_lag.last().copied().unwrap_or(0.0);
    b.row(
        "history",
        "history_follow_lag",
        "history: `changes --follow`, change written → line printed, p50 (max)",
        format!(
            "{:.0} ms ({:.0} ms), {} of {rows} changes; exit on SIGINT: {}",
            percentile(&follow_lag, 0.5) * 1000.0,
            follow_max * 1000.0,
            follow_lag.len(),
            follow_status
                .code()
                .map_or("by signal".into(), |c| c.to_string())
        ),
        percentile(&follow_lag, 0.5),
        "≤ 1 s, every change, clean exit".into(),
        follow_max <= 1.0 && follow_lag.len() as i64 == rows && follow_status.success(),
    );
    let cold_cost = cold_with.writer_cpu / cold_without.writer_cpu.max(0.01);
    b.row(
        "history",
        "history_write_cost",
        "history: writer CPU with / without the feed, cold sync (least of 3); catch-up sync of the edits",
        format!(
            "{:.2} / {:.2} s ({}); {:.2} / {:.2} s ({})",
            cold_with.writer_cpu,
            cold_without.writer_cpu,
            pct(cold_with.writer_cpu, cold_without.writer_cpu),
            catch_with.writer_cpu,
            catch_without.writer_cpu,
            pct(catch_with.writer_cpu, catch_without.writer_cpu),
        ),
        cold_cost,
        "≤ +25 % (cold sync)".into(),
        cold_cost <= 1.25 && no_history_rows == 0,
    );
    b.raw(
        "history",
        format!(
            "feed of the mix: {}; cold sync: {cold_rows} created rows, wall {:.2} s with / {:.2} s without (least of {COLD_RUNS}); catch-up sync: {catch_rows} rows, wall {:.2} s with / {:.2} s without; `sync --no-history` mirror: {no_history_rows} rows; outbound: {duplicates} duplicate seqs, {bad} bad signatures",
            breakdown.join(", "),
            cold_with.wall.as_secs_f64(),
            cold_without.wall.as_secs_f64(),
            catch_with.wall.as_secs_f64(),
            catch_without.wall.as_secs_f64(),
        ),
    );
    b.raw_json(
        "history",
        "feed",
        json!({"edits": applied_total, "by_edit_kind": applied, "exact_changes": exact,
               "rows": rows, "rows_per_edit": per_edit, "by_kind": breakdown,
               "bytes": bytes, "bytes_per_1000": per_thousand,
               "outbound_delivered": latency.len(), "outbound_p50_s": p50, "outbound_p95_s": p95,
               "outbound_posts": posts, "outbound_bad_signatures": bad,
               "outbound_duplicates": duplicates,
               "cold_rows": cold_rows,
               "cold_writer_cpu_s": [cold_with.writer_cpu, cold_without.writer_cpu],
               "cold_wall_s": [cold_with.wall.as_secs_f64(), cold_without.wall.as_secs_f64()],
               "catch_up_rows": catch_rows,
               "catch_up_writer_cpu_s": [catch_with.writer_cpu, catch_without.writer_cpu],
               "catch_up_wall_s": [catch_with.wall.as_secs_f64(), catch_without.wall.as_secs_f64()],
               "no_history_rows": no_history_rows}),
    );
    Ok(())
}
