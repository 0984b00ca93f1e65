//! The `hostile` group: `notion-mirror run` under a 1,024 file-descriptor limit (soft and
//! hard, set in the child before exec, as a service manager's default would be) against
//! connection floods. Idle RSS before and after 10 rounds of 2,000 slowloris connections
//! (headers never finished; 3 rounds with `--quick`); then, while 2,000 connections hold
//! incomplete bodies, `/healthz` latency on a fresh connection and signed-event latency
//! (answered, and the change in the mirror).
//!
//! Invariant: its own small workspace and simulator (not the cold mirror); every wait is
//! bounded; the daemon is stopped with SIGTERM and must exit cleanly.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use notion_mirror::sim::{GenConfig, Knobs, Mutation, Sim, SimConfig};
use notion_mirror::webhook::signature;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::http::{event_id, metric, nonce, now_iso, page_event, Poster};
use crate::proc::{free_addr, proc_kib, Daemon, MIB};
use crate::report::{percentile, Bench};
use crate::wait::wait_until;

const FD_LIMIT: u64 = 1024;
const CONNECTIONS: usize = 2000;
const TOKEN: &str = "secret_bench_hostile";
const FAR_AWAY: &str = "0 0 0 1 1 *";
/// Headers that never end.
const SLOWLORIS: &[u8] = b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
/// Headers complete, body never finished.
const INCOMPLETE_BODY: &[u8] =
    b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{";

pub(crate) async fn hostile(b: &mut Bench, root: &Path) -> Result<()> {
    raise_own_fd_limit(CONNECTIONS as u64 * 2 + 256);
    let dir = root.join("hostile");
    std::fs::create_dir_all(&dir)?;
    let mut config = SimConfig::new(GenConfig::small(b.args.seed));
    config.knobs = Knobs::unlimited();
    let sim = Sim::start(config).await.context("the simulator starts")?;
    let toml = dir.join("config.toml");
    // A long request deadline: the held connections stay held for the whole phase, so what
    // keeps the daemon available is the connection cap.
    std::fs::write(&toml, "[http]\nrequest_deadline_secs = 600\n")?;
    let addr = free_addr()?;
    let env = [
        ("NOTION_MIRROR_RATE", "1000".to_string()),
        ("NOTION_MIRROR_INCREMENTAL", FAR_AWAY.into()),
        ("NOTION_MIRROR_FULL", FAR_AWAY.into()),
        ("NOTION_WEBHOOK_TOKEN", TOKEN.into()),
        ("NOTION_MIRROR_CONFIG", toml.display().to_string()),
    ];
    let mut daemon =
        Daemon::spawn_limited(&sim, &dir, &addr, "run-hostile.log", &env, Some(FD_LIMIT))?;
    daemon.wait_running(Duration::from_secs(60)).await?;
    let db = dir.join("mirror.db");
    wait_until(
        &db,
        "the start-up full sweep",
        Duration::from_secs(120),
        Duration::from_millis(100),
        |c| {
            c.query_row(
                "select count(*) from sync_runs where finished_at is not null",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        },
    )
    .await?;
    let limits = fd_limits(daemon.pid())?;
    b.raw("hostile", format!("daemon `Max open files` {limits}"));
    let rounds = if b.args.quick { 3 } else { 10 };
    slowloris_rounds(b, &mut daemon, &addr, rounds).await?;
    siege(b, &sim, &db, &mut daemon, &addr).await?;
    let status = daemon.terminate(Duration::from_secs(45)).await?;
    sim.shutdown().await;
    if !status.success() {
        bail!("`notion-mirror run` exited with {status} on SIGTERM");
    }
    Ok(())
}

/// Idle RSS before and after `rounds` rounds of 2,000 connections that never finish their
/// headers (each round: open all, hold 1 s, close all, wait until the daemon holds none).
async fn slowloris_rounds(
    b: &mut Bench,
    daemon: &mut Daemon,
    addr: &str,
    rounds: usize,
) -> Result<()> {
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = daemon.pid();
    let before = proc_kib(pid, "VmRSS:").ok_or_else(|| anyhow!("cannot read VmRSS"))?;
    let mut after_each = Vec::new();
    for _ in 0..rounds {
        let held = open_many(addr, SLOWLORIS).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(held);
        wait_connections_closed(addr).await?;
        daemon.alive()?;
        after_each.push(proc_kib(pid, "VmRSS:").unwrap_or(0));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = proc_kib(pid, "VmRSS:").ok_or_else(|| anyhow!("cannot read VmRSS"))?;
    let peak = proc_kib(pid, "VmHWM:").unwrap_or(0);
    let (before_mib, after_mib) = (before as f64 * 1024.0 / MIB, after as f64 * 1024.0 / MIB);
    let growth = after_mib - before_mib;
    b.row(
        "hostile",
        "slowloris_idle_rss_mib",
        "idle RSS after 10 × 2,000 slowloris",
        format!("{after_mib:.1} MiB (before {before_mib:.1} MiB, {growth:+.1})"),
        after_mib,
        "≤ before + 8 MiB".into(),
        growth <= 8.0,
    );
    b.raw(
        "hostile",
        format!(
            "{rounds} rounds of {CONNECTIONS} slowloris connections: VmRSS before {before} KiB, after each round (all closed) {after_each:?} KiB, idle 3 s after the last {after} KiB, VmHWM {peak} KiB"
        ),
    );
    b.raw_json(
        "hostile",
        "slowloris",
        json!({"rounds": rounds, "connections": CONNECTIONS, "vmrss_before_kib": before,
               "vmrss_after_rounds_kib": after_each, "vmrss_after_kib": after, "vmhwm_kib": peak}),
    );
    Ok(())
}

/// `/healthz` and event latency while 2,000 connections hold incomplete bodies.
async fn siege(b: &mut Bench, sim: &Sim, db: &Path, daemon: &mut Daemon, addr: &str) -> Result<()> {
    let held = open_many(addr, INCOMPLETE_BODY).await?;
    let opened = Instant::now();
    let mut health = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let mut poster = Poster::connect(addr).await?;
        let page = tokio::time::timeout(Duration::from_secs(10), poster.get("/healthz"))
            .await
            .context("/healthz did not answer within 10 s")??;
        if !page.contains("\"database_writable\":true") {
            bail!("/healthz under siege: {page}");
        }
        health.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let page = sim
        .read(|ws| ws.find_page_by_title("Roadmap"))
        .ok_or_else(|| anyhow!("no Roadmap page"))?;
    let (mut acked, mut mirrored) = (Vec::new(), Vec::new());
    let tag = nonce();
    for i in 0..5u64 {
        let title = format!("Under siege {tag:x} {i}");
        sim.mutate(Mutation::RenamePage {
            page_id: page.clone(),
            title: title.clone(),
        })
        .map_err(|e| anyhow!("rename: {e:?}"))?;
        let body = page_event(&event_id(tag, 0, i), &page, &now_iso());
        let sig = signature::sign(TOKEN, body.as_bytes());
        let started = Instant::now();
        let mut poster = Poster::connect(addr).await?;
        let status = tokio::time::timeout(
            Duration::from_secs(10),
            poster.post(Bytes::from(body), &sig),
        )
        .await
        .context("the event was not answered within 10 s")??;
        if status != 200 {
            bail!("a signed event under siege got {status}");
        }
        acked.push(started.elapsed().as_secs_f64() * 1000.0);
        let (p, t) = (page.clone(), title.clone());
        let seen = wait_until(
            db,
            "the renamed page",
            Duration::from_secs(30),
            Duration::from_millis(10),
            move |c| {
                c.query_row("select title from pages where id = ?1", [&p], |r| {
                    r.get::<_, String>(0)
                })
                .map(|got| got == t)
            },
        )
        .await?;
        mirrored.push((seen - started).as_secs_f64() * 1000.0);
    }
    let mut poster = Poster::connect(addr).await?;
    let metrics = poster.get("/metrics").await?;
    let open = metric(&metrics, "notion_mirror_http_connections").unwrap_or(f64::NAN);
    let held_for = opened.elapsed().as_secs_f64();
    drop(held);
    daemon.alive()?;
    for v in [&mut health, &mut acked, &mut mirrored] {
        v.sort_by(f64::total_cmp);
    }
    let (h50, hmax) = (percentile(&health, 0.5), percentile(&health, 1.0));
    let (a50, amax) = (percentile(&acked, 0.5), percentile(&acked, 1.0));
    let (m50, mmax) = (percentile(&mirrored, 0.5), percentile(&mirrored, 1.0));
    b.row(
        "hostile",
        "siege_healthz_ms",
        "/healthz under 2,000 held bodies (1,024 fds)",
        format!("p50 {h50:.1} ms, max {hmax:.1} ms"),
        hmax,
        "max ≤ 250 ms".into(),
        hmax <= 250.0,
    );
    b.row(
        "hostile",
        "siege_event_ack_ms",
        "signed event answered, same siege",
        format!("p50 {a50:.1} ms, max {amax:.1} ms"),
        amax,
        "max ≤ 250 ms".into(),
        amax <= 250.0,
    );
    b.row(
        "hostile",
        "siege_event_mirrored_ms",
        "signed event → change in the mirror, same siege",
        format!("p50 {m50:.0} ms, max {mmax:.0} ms"),
        mmax,
        "max ≤ 1 s debounce + 1 s".into(),
        mmax <= 2000.0,
    );
    b.raw(
        "hostile",
        format!(
            "{CONNECTIONS} incomplete bodies held {held_for:.1} s; the daemon held {open} connections at the end (cap: half of {FD_LIMIT}); /healthz ms {health:.1?}; event answered ms {acked:.1?}; mirrored ms {mirrored:.0?}; {}",
            closed_line(&metrics)
        ),
    );
    b.raw_json(
        "hostile",
        "siege",
        json!({"held": CONNECTIONS, "fd_limit": FD_LIMIT, "daemon_open_connections": open,
               "healthz_ms": health, "event_ack_ms": acked, "event_mirrored_ms": mirrored}),
    );
    Ok(())
}

/// Opens `CONNECTIONS` connections, each sending `first` and then nothing.
async fn open_many(addr: &str, first: &[u8]) -> Result<Vec<TcpStream>> {
    let mut held = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let mut s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .with_context(|| format!("connection {i} not accepted within 10 s"))??;
        // A connection the daemon already closed to make room may refuse the write.
        let _ = s.write_all(first).await;
        held.push(s);
    }
    Ok(held)
}

/// Waits until the daemon holds no connection but the one asking.
async fn wait_connections_closed(addr: &str) -> Result<()> {
    let start = Instant::now();
    loop {
        let mut poster = Poster::connect(addr).await?;
        let open = metric(
            &poster.get("/metrics").await?,
            "notion_mirror_http_connections",
        );
        if open.is_some_and(|n| n <= 1.0) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("the daemon still held {open:?} connections 30 s after the client closed them");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn closed_line(metrics: &str) -> String {
    let closed: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("notion_mirror_http_connections_closed_total{"))
        .map(|l| l.trim_start_matches("notion_mirror_http_connections_closed_total"))
        .collect();
    format!("closed by the daemon: {}", closed.join(", "))
}

/// `Max open files` soft/hard of a process.
fn fd_limits(pid: u32) -> Result<String> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or_else(|| anyhow!("no `Max open files` in /proc/{pid}/limits"))?;
    let fields: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    if fields.first() != Some(&"1024") {
        bail!("the daemon runs with `{line}`, not a 1,024 limit");
    }
    Ok(fields.join("/"))
}

/// The bench itself needs a descriptor per held connection.
fn raise_own_fd_limit(need: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < need {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, need.min(hard), hard);
        }
    }
}
