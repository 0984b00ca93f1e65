//! Cold sync figures: `notion-mirror sync` of the big workspace (requests against the
//! floor, peak RSS, mirror exactness) and the rate-limited cold sync of a small workspace on
//! its own simulator (wall time against the 3 req/s budget, and the ETA at 10/25/50/75 %
//! of the sync beside the time actually left).
//! Invariant: each sync starts from an empty mirror directory and is checked for exactness.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use notion_mirror::sim::model::Parent;
use notion_mirror::sim::{GenConfig, Knobs, Mutation, RateLimit, Sim, SimConfig};
use serde_json::{json, Map};

use crate::proc::{mirror_cmd, run_to_success, MIB};
use crate::report::{by_endpoint_json, by_endpoint_line, thousands, Bench};
use crate::wait::mirror_diff;

/// A simulator serving a generated workspace.
async fn start_sim(generator: GenConfig, knobs: Knobs) -> Result<Sim> {
    let mut config = SimConfig::new(generator);
    config.knobs = knobs;
    Sim::start(config).await.context("the simulator starts")
}

/// "N live pages, N blocks, N comments, N data sources" of the workspace.
fn ws_summary(sim: &Sim) -> String {
    sim.read(|ws| {
        let pages = ws
            .pages
            .values()
            .filter(|p| !p.in_trash && ws.visible(&p.id))
            .count();
        let blocks = ws.blocks.values().filter(|b| !b.in_trash).count();
        let comments = ws.comments.len();
        format!(
            "{} live pages, {} blocks, {} comments, {} data sources",
            thousands(pages as u64),
            thousands(blocks as u64),
            thousands(comments as u64),
            ws.data_sources.len()
        )
    })
}

/// The cold sync of the big workspace; returns its simulator for the daemon phases.
pub(crate) async fn cold(b: &mut Bench, dir: &Path) -> Result<Sim> {
    let pages = if b.args.quick { 300 } else { 2000 };
    let sim = start_sim(
        GenConfig::with_pages(b.args.seed, pages),
        Knobs::unlimited(),
    )
    .await?;
    let floor = sim.floor();
    let summary = ws_summary(&sim);
    sim.reset_stats();
    let log = dir.join("sync.log");
    let mut cmd = mirror_cmd(&sim, dir, "sync", &log)?;
    cmd.arg("--quiet").env("NOTION_MIRROR_RATE", "1000");
    let limit = Duration::from_secs(if b.args.quick { 150 } else { 420 });
    let sampler = EtaSampler::start(&sim, &dir.join("mirror.db"));
    let run = run_to_success(cmd, limit, "`notion-mirror sync` (cold)", &log).await?;
    let samples = sampler.finish().await;
    let stats = sim.stats();
    let me = stats.endpoint("users.me");
    let requests = stats.total() - me;
    let ratio = requests as f64 / floor.total.max(1) as f64;
    b.row(
        "cold",
        "cold_requests_over_floor",
        "cold sync requests / floor",
        format!(
            "{ratio:.3} ({} / {})",
            thousands(requests),
            thousands(floor.total)
        ),
        ratio,
        "≤ 1.05".into(),
        ratio <= 1.05,
    );
    b.raw(
        "cold",
        format!(
            "workspace with_pages(seed {}, {pages}): {summary}; sync wall {:.1} s at NOTION_MIRROR_RATE=1000, simulator unlimited",
            b.args.seed,
            run.wall.as_secs_f64()
        ),
    );
    b.raw(
        "cold",
        format!(
            "requests {} (+ {me} users.me token check, not counted); non-2xx answers {}; floor {} ({} without per-block comment lists)",
            requests,
            stats.total() - stats.by_endpoint().keys().map(|e| stats.ok(e)).sum::<u64>(),
            floor.total,
            floor.total_without_block_comments
        ),
    );
    let mut table = String::from("by endpoint (requests / floor):");
    let mut endpoints: Vec<String> = stats.by_endpoint().keys().cloned().collect();
    for e in floor.by_endpoint.keys() {
        if !endpoints.contains(e) {
            endpoints.push(e.clone());
        }
    }
    endpoints.sort();
    let mut by = Map::new();
    for e in &endpoints {
        let got = stats.endpoint(e);
        let want = floor.by_endpoint.get(e).copied().unwrap_or(0);
        let mark = if e == "users.me" {
            "  (token check, not counted)"
        } else if got > want {
            "  ← over the floor"
        } else {
            ""
        };
        let _ = write!(table, "\n      {e:<24} {got:>7} / {want:<7}{mark}");
        by.insert(e.clone(), json!({"requests": got, "floor": want}));
    }
    b.raw("cold", table);
    b.raw_json(
        "cold",
        "requests",
        json!({"requests": requests, "users_me": me, "floor": floor.total,
               "floor_without_block_comments": floor.total_without_block_comments,
               "wall_s": run.wall.as_secs_f64(), "by_endpoint": by}),
    );

    eta_table(
        b,
        &samples,
        stats.total() - stats.rate_limited(),
        &format!("the {pages}-page cold sync above"),
    );
    let peak = run.peak_kib.unwrap_or(0) as f64 * 1024.0 / MIB;
    b.row(
        "memory",
        "sync_peak_rss_mib",
        "sync peak RSS (VmHWM)",
        format!("{peak:.1} MiB ({pages}-page cold sync)"),
        peak,
        "≤ 64 MiB".into(),
        peak <= 64.0,
    );
    b.raw(
        "memory",
        format!(
            "sync: last VmHWM read before exit {} KiB (polled every 50 ms)",
            run.peak_kib.unwrap_or(0)
        ),
    );
    b.raw_json("memory", "sync_vmhwm_kib", json!(run.peak_kib.unwrap_or(0)));

    crate::files::cold_files(b, &sim, dir)?;
    let diffs = mirror_diff(&sim, &dir.join("mirror.db"))?;
    b.raw(
        "cold",
        format!(
            "mirror vs workspace: {}",
            if diffs.is_empty() {
                "equal".to_string()
            } else {
                format!("{} differences", diffs.len())
            }
        ),
    );
    if !diffs.is_empty() {
        b.fail(
            "cold",
            &anyhow!(
                "the mirror differs from the workspace after the cold sync:\n    {}",
                diffs.join("\n    ")
            ),
        );
    }
    if b.wants("cold") {
        let views = stats.endpoint("views.list") + stats.endpoint("views.retrieve");
        if let Err(e) = crate::views::views_and_versions(b, &sim, dir, requests, views).await {
            b.fail("cold", &e);
        }
    }
    Ok(sim)
}

// ---------------------------------------------------------------------------------------
// Cold sync wall time against the rate budget

/// Quick: `small(seed)` with top-level pages unshared (newest first) until the floor is at
/// most 100 requests. Full: `small(seed)` with 100 pages (~500 requests).
async fn wall_sim(quick: bool, seed: u64) -> Result<(Sim, String)> {
    let knobs = Knobs {
        rate_limit: Some(RateLimit {
            rate: 3.0,
            burst: 10.0,
        }),
        latency: Duration::from_millis(50),
        ..Knobs::default()
    };
    if !quick {
        let sim = start_sim(
            GenConfig {
                pages: 100,
                ..GenConfig::small(seed)
            },
            knobs,
        )
        .await?;
        return Ok((sim, format!("small(seed {seed}) with 100 pages")));
    }
    let sim = start_sim(GenConfig::small(seed), knobs).await?;
    let tops: Vec<(String, String)> = sim.read(|ws| {
        let mut v: Vec<_> = ws
            .pages
            .values()
            .filter(|p| matches!(p.parent, Parent::Workspace) && !p.in_trash)
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.seq));
        v.iter()
            .map(|p| (p.id.clone(), ws.page_title(&p.id)))
            .collect()
    });
    let mut unshared = Vec::new();
    for (id, title) in tops {
        if sim.floor().total <= 100 {
            break;
        }
        sim.mutate(Mutation::RevokeAccess { page_id: id })
            .map_err(|e| anyhow!("cannot unshare {title}: {e}"))?;
        unshared.push(title);
    }
    Ok((
        sim,
        format!(
            "small(seed {seed}) with top-level pages unshared: {}",
            unshared.join(", ")
        ),
    ))
}

/// The rate-limited cold sync (its own simulator and mirror under `root/wall`).
pub(crate) async fn wall(b: &mut Bench, root: &Path) -> Result<()> {
    let dir = root.join("wall");
    std::fs::create_dir_all(&dir)?;
    let (sim, how) = wall_sim(b.args.quick, b.args.seed).await?;
    let floor = sim.floor().total;
    let summary = ws_summary(&sim);
    sim.reset_stats();
    let log = dir.join("sync.log");
    let mut cmd = mirror_cmd(&sim, &dir, "sync", &log)?;
    cmd.arg("--quiet");
    let limit = Duration::from_secs(floor + 120);
    let run = run_to_success(cmd, limit, "`notion-mirror sync` (rate-limited)", &log).await?;
    let stats = sim.stats();
    let limited = stats.rate_limited();
    let useful = stats.total() - limited;
    let ideal = useful as f64 / 3.0;
    let wall = run.wall.as_secs_f64();
    let ratio = wall / ideal.max(f64::MIN_POSITIVE);
    b.row(
        "wall",
        "cold_wall_over_budget",
        "cold sync wall / (requests ÷ 3)",
        format!("{ratio:.3} ({wall:.1} s / {useful} req ÷ 3 = {ideal:.1} s)"),
        ratio,
        "≤ 1.10".into(),
        ratio <= 1.10,
    );
    b.raw(
        "wall",
        format!(
            "workspace {how}: {summary}; floor {floor}; simulator 3 req/s burst 10, +50 ms latency; binary at its defaults (3 req/s)"
        ),
    );
    b.raw(
        "wall",
        format!(
            "requests {useful} (incl. users.me) + {limited} answered 429; wall {wall:.2} s; by endpoint: {}",
            by_endpoint_line(&stats)
        ),
    );
    b.raw_json(
        "wall",
        "run",
        json!({"wall_s": wall, "requests": useful, "rate_limited": limited, "floor": floor,
               "by_endpoint": by_endpoint_json(&stats)}),
    );
    let diffs = mirror_diff(&sim, &dir.join("mirror.db"))?;
    sim.shutdown().await;
    if !diffs.is_empty() {
        bail!(
            "the mirror differs from the workspace after the rate-limited sync:\n    {}",
            diffs.join("\n    ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The ETA against the time actually left

/// One look at the syncing mirror: seconds since the sync started, useful requests the
/// simulator answered so far, and the requests `eta::estimate` expects are left (`None`
/// while it gives no estimate: listing, or too few items done).
#[derive(Debug, Clone, Copy)]
struct EtaSample {
    at: f64,
    requests: u64,
    expected: Option<f64>,
}

/// Samples the estimate every 25 ms while the sync runs.
struct EtaSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Vec<EtaSample>>,
}

impl EtaSampler {
    fn start(sim: &Sim, db: &Path) -> EtaSampler {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (flag, sim, db) = (stop.clone(), sim.clone(), db.to_path_buf());
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let stats = sim.stats();
                let requests = stats.total() - stats.rate_limited();
                let expected = notion_mirror::mirror::open::open_read_only(&db)
                    .ok()
                    .and_then(|c| notion_mirror::eta::estimate(&c, 1.0).ok().flatten())
                    .and_then(|e| e.eta.map(|_| e.requests_left));
                samples.push(EtaSample {
                    at: started.elapsed().as_secs_f64(),
                    requests,
                    expected,
                });
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            samples
        });
        EtaSampler { stop, task }
    }

    async fn finish(self) -> Vec<EtaSample> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

/// The ETA at 10/25/50/75 % of the sync's requests beside the time actually left, both at
/// 3 req/s (the rate limit keeps a real sync at that rate, so time is requests ÷ 3; the
/// bench's sync runs unlimited, so its own clock would say nothing about the estimate).
fn eta_table(b: &mut Bench, samples: &[EtaSample], total: u64, how: &str) {
    let mut cells = Vec::new();
    let mut worst: f64 = 0.0;
    let mut all = true;
    let mut rows = Vec::new();
    let time =
        |requests: f64| notion_mirror::eta::humanize(Duration::from_secs_f64(requests / 3.0));
    for pct in [10u64, 25, 50, 75] {
        let Some(s) = samples.iter().find(|s| s.requests * 100 >= total * pct) else {
            all = false;
            cells.push(format!("{pct} %: no sample"));
            continue;
        };
        let after = total.saturating_sub(s.requests) as f64;
        match s.expected {
            Some(expected) => {
                let err = (expected - after) / after.max(1.0);
                worst = worst.max(err.abs());
                cells.push(format!(
                    "{pct} %: ETA {} vs {} left ({:+.0} %; {expected:.0} requests expected, {after:.0} made)",
                    time(expected),
                    time(after),
                    err * 100.0
                ));
                rows.push(json!({"percent": pct, "requests_expected": expected, "requests_after": after,
                                 "eta_s_at_3": expected / 3.0, "left_s_at_3": after / 3.0, "error": err}));
            }
            None => {
                all = false;
                cells.push(format!(
                    "{pct} %: no ETA yet (listing, or under 5 items done), {} left",
                    time(after)
                ));
                rows.push(
                    json!({"percent": pct, "requests_expected": null, "requests_after": after}),
                );
            }
        }
    }
    b.row(
        "eta",
        "eta_worst_error",
        "sync ETA vs time left at 10/25/50/75 %, worst",
        format!(
            "{:+.0} %{}",
            worst * 100.0,
            if all {
                ""
            } else {
                " (some points without an ETA)"
            }
        ),
        worst,
        "within ±30 % from 10 % on".into(),
        all && worst <= 0.30,
    );
    let first = samples
        .iter()
        .find(|s| s.expected.is_some())
        .map(|s| {
            format!(
                "{:.1} % of the requests ({:.2} s into the run)",
                s.requests as f64 * 100.0 / total.max(1) as f64,
                s.at
            )
        })
        .unwrap_or_else(|| "never".into());
    b.raw(
        "eta",
        format!(
            "ETA during {how} ({} samples every 25 ms; {total} requests; times at 3 req/s; first estimate at {first}): {}",
            samples.len(),
            cells.join("; ")
        ),
    );
    b.raw_json("eta", "samples", json!(rows));
}
