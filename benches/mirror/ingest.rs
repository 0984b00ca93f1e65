//! Webhook ingest throughput: a load generator of keep-alive connections in this process
//! posting signed events for a fixed time, with the daemon's CPU, commits and storage writes.
//! Invariant: the figure counts only events answered 200; the caller checks afterwards that
//! every one of them is stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use bytes::Bytes;
use notion_mirror::sim::Sim;
use notion_mirror::webhook::signature;
use serde_json::json;

use crate::http::{event_id, metric, nonce, now_iso, page_event, Poster};
use crate::proc::{cpu_secs, thread_cpu_secs, written_bytes, Daemon, MIB};
use crate::report::{cores, percentile, thousands, Bench};

/// Load-generator connections for the ingest figure (the spec asks for 32–64;
/// `MIRROR_BENCH_CONNECTIONS` overrides it for experiments).
const INGEST_TASKS: usize = 48;

/// The number of load-generator connections (`MIRROR_BENCH_CONNECTIONS`, 1–1024, or 48).
fn ingest_tasks() -> usize {
    std::env::var("MIRROR_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=1024).contains(n))
        .unwrap_or(INGEST_TASKS)
}

/// What one load-generator connection saw.
struct TaskResult {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

/// The ingest load against `daemon` at `addr`; returns the event-id tag and the number of
/// events answered 200.
pub(crate) async fn ingest(
    b: &mut Bench,
    sim: &Sim,
    addr: &str,
    token: &str,
    daemon: &mut Daemon,
) -> Result<(u32, u64)> {
    let secs = if b.args.quick { 2 } else { 10 };
    let pages: Arc<Vec<String>> = Arc::new(sim.read(|ws| {
        ws.pages
            .values()
            .filter(|p| !p.in_trash && ws.visible(&p.id))
            .map(|p| p.id.clone())
            .collect()
    }));
    let tag = nonce();
    let token = Arc::new(token.to_string());
    let mut posters = Vec::new();
    let connections = ingest_tasks();
    for _ in 0..connections {
        posters.push(Poster::connect(addr).await?);
    }
    let commits_before = metric(
        &Poster::connect(addr).await?.get("/metrics").await?,
        "notion_mirror_mirror_commits_total",
    )
    .unwrap_or(0.0);
    let written = written_bytes(daemon.pid());
    let cpu_daemon = cpu_secs(daemon.pid());
    let cpu_writer = thread_cpu_secs(daemon.pid(), "mirror-writer");
    let cpu_self = cpu_secs(std::process::id());
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (t, mut poster) in posters.into_iter().enumerate() {
        let (pages, token, addr) = (pages.clone(), token.clone(), addr.to_string());
        tasks.push(tokio::spawn(async move {
            let mut r = TaskResult {
                latencies_us: Vec::with_capacity(4096),
                statuses: BTreeMap::new(),
                errors: 0,
            };
            let mut n: u64 = 0;
            let timestamp = now_iso();
            while Instant::now() < stop_at {
                let page = &pages[(t * 7919 + n as usize * connections) % pages.len()];
                let body = page_event(&event_id(tag, t, n), page, &timestamp);
                let sig = signature::sign(&token, body.as_bytes());
                let t0 = Instant::now();
                let outcome = poster.post(Bytes::from(body), &sig).await;
                r.latencies_us
                    .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                n += 1;
                match outcome {
                    Ok(status) => *r.statuses.entry(status).or_insert(0) += 1,
                    Err(_) => {
                        r.errors += 1;
                        match Poster::connect(&addr).await {
                            Ok(p) => poster = p,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                }
            }
            r
        }));
    }
    let mut all = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut errors = 0;
    for t in tasks {
        let r = tokio::time::timeout(Duration::from_secs(secs + 30), t)
            .await
            .map_err(|_| anyhow!("a load-generator task did not finish"))??;
        all.extend(r.latencies_us);
        for (s, n) in r.statuses {
            *statuses.entry(s).or_insert(0) += n;
        }
        errors += r.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_daemon = cpu_secs(daemon.pid()) - cpu_daemon;
    let written = written_bytes(daemon.pid()).saturating_sub(written);
    let cpu_writer = thread_cpu_secs(daemon.pid(), "mirror-writer") - cpu_writer;
    // A fresh connection: the server closes keep-alive connections idle for 10 s.
    let page = Poster::connect(addr).await?.get("/metrics").await?;
    let commits =
        metric(&page, "notion_mirror_mirror_commits_total").unwrap_or(0.0) - commits_before;
    let cpu_self = cpu_secs(std::process::id()) - cpu_self;
    daemon.alive()?;
    let accepted = statuses.get(&200).copied().unwrap_or(0);
    let rate = accepted as f64 / elapsed;
    all.sort_unstable();
    let ms: Vec<f64> = all.iter().map(|u| f64::from(*u) / 1000.0).collect();
    let (p50, p99, max) = (
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN),
    );
    b.row(
        "ingest",
        "ingest_events_per_s",
        "webhook ingest, accepted events/s",
        format!("{} /s", thousands(rate.round() as u64)),
        rate,
        "≥ 10,000 /s".into(),
        rate >= 10_000.0,
    );
    b.row(
        "ingest",
        "ingest_p99_ms",
        "webhook ingest POST latency p99 (p50)",
        format!("{p99:.2} ms ({p50:.2} ms)"),
        p99,
        "p99 < 20 ms".into(),
        p99 < 20.0,
    );
    let codes: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    let available = elapsed * cores() as f64;
    b.raw(
        "ingest",
        format!(
            "CPU during the load: daemon {cpu_daemon:.1} s ({:.0}%), of which its writer thread {cpu_writer:.1} s ({:.0}% of one core); bench process (generator + simulator) {cpu_self:.1} s ({:.0}%) of {available:.1} core-seconds; daemon CPU per accepted event {:.0} µs",
            100.0 * cpu_daemon / available,
            100.0 * cpu_writer / elapsed,
            100.0 * cpu_self / available,
            1e6 * cpu_daemon / accepted.max(1) as f64
        ),
    );
    b.raw(
        "ingest",
        format!(
            "group commit: {commits:.0} mirror transactions for {accepted} events ({:.1} events per commit, {:.0} commits/s); storage writes {:.1} MiB ({:.1} KiB per event, {:.1} KiB per commit)",
            accepted as f64 / commits.max(1.0),
            commits / elapsed,
            written as f64 / MIB,
            written as f64 / 1024.0 / accepted.max(1) as f64,
            written as f64 / 1024.0 / commits.max(1.0)
        ),
    );
    b.raw(
        "ingest",
        format!(
            "{connections} keep-alive HTTP/1.1 connections in this process for {secs} s ({elapsed:.2} s to the last answer), signed page.properties_updated events over {} pages; answers {{{}}}, connection errors {errors}; latency p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
            pages.len(),
            codes.join(", ")
        ),
    );
    b.raw_json(
        "ingest",
        "load",
        json!({"connections": connections, "seconds": elapsed, "accepted": accepted,
               "events_per_s": rate, "statuses": statuses, "connection_errors": errors,
               "p50_ms": p50, "p99_ms": p99, "max_ms": max,
               "cpu_s_daemon": cpu_daemon, "cpu_s_writer_thread": cpu_writer,
               "cpu_s_bench": cpu_self, "commits": commits, "bytes_written": written}),
    );
    b.notes.push(format!(
        "webhook ingest: the load generator ({connections} tasks in the bench process, with the simulator) and the daemon share the machine's {} cores",
        cores()
    ));
    Ok((tag, accepted))
}
