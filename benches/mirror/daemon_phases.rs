//! The phases against `notion-mirror run` on the cold-synced mirror: the idle incremental
//! sweep; then, at NOTION_MIRROR_RATE=1000, edits, coalescing, change → mirror latency and
//! idle RSS; then, at the defaults, the ingest load.
//! Invariant: one daemon at a time on the mirror, each stopped by SIGTERM and required to exit
//! cleanly; an error inside one figure's phase is recorded and the later phases still run.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use chrono::{Timelike as _, Utc};
use notion_mirror::sim::{Mutation, Sim};
use notion_mirror::webhook::signature;
use rusqlite::OptionalExtension as _;
use serde_json::json;

use crate::edits::edits;
use crate::http::{event_id, nonce, now_iso, page_event, Poster};
use crate::ingest::ingest;
use crate::proc::{free_addr, proc_kib, Daemon, MIB};
use crate::report::{by_endpoint_json, by_endpoint_line, percentile, Bench};
use crate::wait::{count, open_mirror, queue_busy, settle, wait_queue_idle, wait_until};

/// A cron (with seconds) that does not fire during a run: midnight on January 1st.
const FAR_AWAY: &str = "0 0 0 1 1 *";
/// The daemon's default webhook debounce (not overridden here).
const DEBOUNCE: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------
// Idle incremental sweep

/// One incremental sweep with nothing changed, fired by a one-shot cron of its own daemon.
pub(crate) async fn idle_sweep(b: &mut Bench, sim: &Sim, dir: &Path) -> Result<()> {
    let db = dir.join("mirror.db");
    let last_run = count(
        &open_mirror(&db)?,
        "select coalesce(max(id), 0) from sync_runs",
    )?;
    // Fire once, ~8 s from now (a fixed second each minute; the daemon is stopped after).
    let second = (Utc::now() + chrono::Duration::seconds(8)).second();
    let cron = format!("{second} * * * * *");
    let mut daemon = Daemon::spawn(
        sim,
        dir,
        &free_addr()?,
        "run-idle.log",
        &[
            ("NOTION_MIRROR_INCREMENTAL", cron.clone()),
            ("NOTION_MIRROR_FULL", FAR_AWAY.into()),
            ("NOTION_WEBHOOK_TOKEN", "secret_bench_idle".into()),
        ],
    )?;
    daemon.wait_running(Duration::from_secs(60)).await?;
    // The daemon checks its token once at start-up, off the READY path: let that call land
    // before counting, so the figure is the sweep's alone.
    let start_check = std::time::Instant::now();
    while sim.stats().endpoint("users.me") == 0 && start_check.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.reset_stats();
    let reset_at = Utc::now();
    let sql = format!(
        "select count(*) from sync_runs where id > {last_run} and kind = 'incremental' and finished_at is not null"
    );
    wait_until(
        &db,
        "one finished incremental sweep in sync_runs",
        Duration::from_secs(90),
        Duration::from_millis(100),
        |c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))? > 0),
    )
    .await?;
    daemon.alive()?;
    let stats = sim.stats();
    let (recorded, objects, error, started): (i64, i64, Option<String>, String) = open_mirror(&db)?.query_row(
        &format!("select requests, objects, error, started_at from sync_runs where id > {last_run} and kind = 'incremental' order by id limit 1"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let started = chrono::DateTime::parse_from_rfc3339(&started)
        .with_context(|| format!("sync_runs.started_at `{started}`"))?;
    if started < reset_at {
        bail!("the sweep started before the simulator's counters were reset (daemon start-up took longer than 8 s)");
    }
    let status = daemon.terminate(Duration::from_secs(45)).await?;
    if !status.success() {
        bail!("`notion-mirror run` exited with {status} on SIGTERM");
    }
    let sources = sim
        .floor()
        .by_endpoint
        .get("data_sources.retrieve")
        .copied()
        .unwrap_or(0);
    let delta = stats.total();
    let target = 1 + sources;
    b.row(
        "idle",
        "idle_sweep_requests",
        "idle incremental sweep requests",
        format!("{delta} (sync_runs.requests {recorded})"),
        delta as f64,
        format!("≤ 1 + {sources} data sources = {target}"),
        delta <= target && recorded as u64 <= target,
    );
    b.raw(
        "idle",
        format!(
            "cron `{cron}`; sync_runs: requests {recorded}, objects written {objects}, error {}; simulator delta by endpoint: {}",
            error.as_deref().unwrap_or("none"),
            by_endpoint_line(&stats)
        ),
    );
    b.raw_json(
        "idle",
        "sweep",
        json!({"sim_requests": delta, "sync_runs_requests": recorded, "objects": objects,
               "data_sources": sources, "by_endpoint": by_endpoint_json(&stats)}),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Coalescing: 100 events for one page inside the debounce window

async fn coalescing(b: &mut Bench, sim: &Sim, db: &Path, addr: &str, token: &str) -> Result<()> {
    let page = sim
        .read(|ws| ws.find_page_by_title("Knowledge base"))
        .ok_or_else(|| anyhow!("no Knowledge base page"))?;
    settle(sim, db, Duration::from_secs(60)).await?;
    sim.reset_stats();
    let tag = nonce();
    let connections = 10;
    let mut posters = Vec::new();
    for _ in 0..connections {
        posters.push(Poster::connect(addr).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (t, mut poster) in posters.into_iter().enumerate() {
        let (page, token) = (page.clone(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u32;
            for n in 0..(100 / connections) {
                let body = page_event(&event_id(tag, t, n as u64), &page, &now_iso());
                let sig = signature::sign(&token, body.as_bytes());
                if poster.post(Bytes::from(body), &sig).await? == 200 {
                    ok += 1;
                }
            }
            anyhow::Ok(ok)
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??;
    }
    let burst = started.elapsed();
    if accepted != 100 {
        bail!("only {accepted} of 100 signed events were answered 200");
    }
    let watcher = sim.clone();
    let p = page.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while watcher.stats().object("pages.retrieve", &p) == 0 {
        if Instant::now() > deadline {
            bail!("no refetch of the page within 20 s of 100 events");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    settle(sim, db, Duration::from_secs(60)).await?;
    let stats = sim.stats();
    let refetches = stats.object("pages.retrieve", &page);
    let done = count(
        &open_mirror(db)?,
        &format!(
            "select count(*) from webhook_events where id like '{tag:08x}-%' and status = 'done'"
        ),
    )?;
    b.row(
        "coalescing",
        "coalescing_refetches",
        "coalescing: 100 events → page refetches",
        format!("{refetches}"),
        refetches as f64,
        "1".into(),
        refetches == 1,
    );
    b.raw(
        "coalescing",
        format!(
            "100 signed page.properties_updated events over {connections} connections in {:.0} ms (debounce {} ms); all requests after: {}; webhook_events done {done}/100",
            burst.as_secs_f64() * 1000.0,
            DEBOUNCE.as_millis(),
            by_endpoint_line(&stats)
        ),
    );
    b.raw_json(
        "coalescing",
        "burst",
        json!({"refetches": refetches, "burst_ms": burst.as_secs_f64() * 1000.0,
               "events_done": done, "by_endpoint": by_endpoint_json(&stats)}),
    );
    if burst >= DEBOUNCE {
        b.notes.push(format!(
            "coalescing: the 100 POSTs took {:.0} ms, longer than the debounce",
            burst.as_secs_f64() * 1000.0
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Change → mirror latency

async fn latency(b: &mut Bench, sim: &Sim, db: &Path, addr: &str, token: &str) -> Result<()> {
    let samples = if b.args.quick { 5 } else { 20 };
    let avoid = ["Roadmap", "Meeting notes", "Knowledge base"];
    let pages: Vec<String> = sim.read(|ws| {
        ws.standalone_page_ids()
            .into_iter()
            .filter(|p| !avoid.contains(&ws.page_title(p).as_str()))
            .filter(|p| ws.visible(p))
            .collect()
    });
    if pages.is_empty() {
        bail!("no standalone page to rename");
    }
    let tag = nonce();
    let mut poster = Poster::connect(addr).await?;
    let mut lat = Vec::new();
    settle(sim, db, Duration::from_secs(60)).await?;
    for i in 0..samples {
        let page = pages[i % pages.len()].clone();
        let title = format!("Bench rename {i} {tag:08x}");
        sim.mutate(Mutation::RenamePage {
            page_id: page.clone(),
            title: title.clone(),
        })
        .map_err(|e| anyhow!("rename failed: {e}"))?;
        let body = page_event(&event_id(tag, 0, i as u64), &page, &now_iso());
        let sig = signature::sign(token, body.as_bytes());
        let status = poster.post(Bytes::from(body), &sig).await?;
        let acked = Instant::now();
        if status != 200 {
            bail!("the daemon answered {status} to a signed event");
        }
        let (p, t) = (page.clone(), title.clone());
        let seen = wait_until(
            db,
            "a renamed page's title in the mirror",
            Duration::from_secs(20),
            Duration::from_millis(5),
            move |c| {
                let got: Option<String> = c
                    .query_row("select title from pages where id = ?1", [&p], |r| r.get(0))
                    .optional()?;
                Ok(got.as_deref() == Some(t.as_str()))
            },
        )
        .await?;
        lat.push((seen - acked).as_secs_f64());
        wait_queue_idle(db, Duration::from_secs(30)).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    let p50 = percentile(&sorted, 0.5);
    let p95 = percentile(&sorted, 0.95);
    let target = DEBOUNCE.as_secs_f64() + 0.5;
    b.row(
        "latency",
        "change_to_mirror_p50_s",
        "change → mirror p50 (p95)",
        format!("{p50:.3} s ({p95:.3} s)"),
        p50,
        format!("p50 ≤ {target:.1} s (debounce 1 s + 0.5)"),
        p50 <= target,
    );
    let shown: Vec<String> = lat.iter().map(|s| format!("{:.3}", s)).collect();
    b.raw(
        "latency",
        format!(
            "{samples} renames, each signalled by one signed event; 200 → title visible (s): {}",
            shown.join(" ")
        ),
    );
    b.raw_json(
        "latency",
        "samples_s",
        json!({"p50": p50, "p95": p95, "samples": lat}),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Idle RSS of `run`

async fn idle_rss(b: &mut Bench, sim: &Sim, db: &Path, daemon: &mut Daemon) -> Result<()> {
    settle(sim, db, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    daemon.alive()?;
    if queue_busy(&open_mirror(db)?)? != 0 {
        bail!("the queue was not idle for the idle-RSS reading");
    }
    let pid = daemon.pid();
    let rss = proc_kib(pid, "VmRSS:").ok_or_else(|| anyhow!("cannot read VmRSS"))?;
    let hwm = proc_kib(pid, "VmHWM:").unwrap_or(0);
    let mib = rss as f64 * 1024.0 / MIB;
    b.row(
        "memory",
        "run_idle_rss_mib",
        "run idle RSS (VmRSS)",
        format!("{mib:.1} MiB"),
        mib,
        "≤ 24 MiB".into(),
        mib <= 24.0,
    );
    b.raw(
        "memory",
        format!(
            "run (NOTION_MIRROR_RATE=1000; after the edit, coalescing and latency phases, queue idle + 3 s quiet): VmRSS {rss} KiB, VmHWM so far {hwm} KiB"
        ),
    );
    b.raw_json(
        "memory",
        "run_idle",
        json!({"vmrss_kib": rss, "vmhwm_kib": hwm}),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The daemon phases

/// Runs the daemon-backed groups asked for, each daemon started and stopped here.
pub(crate) async fn daemon_phases(b: &mut Bench, sim: &Sim, dir: &Path) -> Result<()> {
    let db = dir.join("mirror.db");
    let addr = free_addr()?;
    let hooks = sim.default_webhook_config(&format!("http://{addr}/webhook"));
    let token = hooks.verification_token.clone();
    let quiet_schedules = [
        ("NOTION_MIRROR_INCREMENTAL", FAR_AWAY.to_string()),
        ("NOTION_MIRROR_FULL", FAR_AWAY.to_string()),
        ("NOTION_WEBHOOK_TOKEN", token.clone()),
    ];

    // Request counts and latencies: NOTION_MIRROR_RATE=1000, so that follow-up work (such
    // as rollup propagation) finishes in seconds instead of queueing behind a 3 req/s
    // budget; the counts do not depend on the rate.
    if ["edits", "coalescing", "latency", "memory"]
        .iter()
        .any(|g| b.wants(g))
    {
        let mut env = quiet_schedules.to_vec();
        env.push(("NOTION_MIRROR_RATE", "1000".into()));
        let mut daemon = Daemon::spawn(sim, dir, &addr, "run.log", &env)?;
        daemon.wait_running(Duration::from_secs(60)).await?;
        wait_queue_idle(&db, Duration::from_secs(120)).await?;
        if b.wants("edits") {
            sim.start_webhooks(hooks);
            if let Err(e) = edits(b, sim, &db).await {
                b.fail("edits", &e);
            }
            // Later phases signal their changes with the bench's own events only.
            if let Some(sender) = sim.webhooks() {
                sender.shutdown();
            }
        }
        if b.wants("coalescing") {
            if let Err(e) = coalescing(b, sim, &db, &addr, &token).await {
                b.fail("coalescing", &e);
            }
        }
        if b.wants("latency") {
            if let Err(e) = latency(b, sim, &db, &addr, &token).await {
                b.fail("latency", &e);
            }
        }
        if b.wants("memory") {
            if let Err(e) = idle_rss(b, sim, &db, &mut daemon).await {
                b.fail("memory", &e);
            }
        }
        let status = daemon.terminate(Duration::from_secs(60)).await?;
        if !status.success() {
            bail!("`notion-mirror run` exited with {status} on SIGTERM");
        }
    }

    // Ingest: the daemon at its defaults (3 req/s), as in production: the refetches the
    // events cause wait for the budget instead of competing for the CPU.
    if b.wants("ingest") {
        let addr = free_addr()?;
        let mut daemon = Daemon::spawn(sim, dir, &addr, "run-ingest.log", &quiet_schedules)?;
        daemon.wait_running(Duration::from_secs(60)).await?;
        wait_queue_idle(&db, Duration::from_secs(120)).await?;
        let fresh = proc_kib(daemon.pid(), "VmRSS:").unwrap_or(0);
        b.raw(
            "memory",
            format!("run freshly started on the same mirror (queue idle): VmRSS {fresh} KiB"),
        );
        let ingested = match ingest(b, sim, &addr, &token, &mut daemon).await {
            Ok(x) => Some(x),
            Err(e) => {
                b.fail("ingest", &e);
                None
            }
        };
        let after = proc_kib(daemon.pid(), "VmHWM:").unwrap_or(0);
        let stop_started = Instant::now();
        let status = daemon.terminate(Duration::from_secs(60)).await?;
        if !status.success() {
            bail!("`notion-mirror run` exited with {status} on SIGTERM");
        }
        let stop = stop_started.elapsed().as_secs_f64();
        if let Some((tag, accepted)) = ingested {
            let stored = count(
                &open_mirror(&db)?,
                &format!("select count(*) from webhook_events where id like '{tag:08x}-%'"),
            )?;
            b.raw(
                "ingest",
                format!("after SIGTERM (clean exit in {stop:.1} s): {stored} of {accepted} acknowledged events are in webhook_events; daemon VmHWM {after} KiB"),
            );
            if stored as u64 != accepted {
                bail!("{accepted} events were acknowledged but {stored} are stored");
            }
        }
    }
    Ok(())
}
