//! The benchmark runner: `cargo bench --bench mirror [-- --quick] [--seed N] [--json PATH]
//! [--only GROUP]`.
//!
//! The simulated Notion API (`notion_mirror::sim::Sim`) runs in this process on 127.0.0.1;
//! the mirror side is the real `notion-mirror` binary (`sync`, then `run`) as a child
//! process, so request counts are what the simulator answered and memory figures are the
//! binary's own. The run prints ONE table, every figure beside its target with a met/missed
//! mark, then the raw numbers behind each figure.
//!
//! Exit status: 0 when every step ran and every mirror checked was exact (a missed target
//! is reported, not a failure); 1 on a crash, a timeout or a wrong mirror; 2 on bad
//! arguments. Every wait has a deadline and says what it was waiting for.
//!
//! Order of a run: cold sync of the big workspace (`sync`, NOTION_MIRROR_RATE=1000); an
//! idle incremental sweep (`run` with a one-shot cron); `run` with NOTION_MIRROR_RATE=1000
//! and the simulator's webhook sender for the edit costs, coalescing, change → mirror and
//! idle RSS; `run` at its defaults (3 req/s) for the ingest load; last, the rate-limited
//! cold sync of a small workspace on its own simulator (wall time); then the hostile-client
//! phases on their own small workspace (`run` under a 1,024 descriptor limit: connection
//! floods, held bodies).
//!
//! Groups (`--only`): cold, eta, wall, idle, edits, coalescing, latency, memory, ingest,
//! backup, history, hostile, load, files (`eta`: the ETA sampled during the cold sync). The
//! daemon groups need the cold-synced mirror, so they run the cold sync first (its figures
//! are then not printed); `wall`, `hostile`, `load` and `files` do not (the cold sync's own
//! files figures are in the `files` group too). `history` uses both: the cold mirror
//! (SIGHUP resync of the unchanged workspace, after the idle sweep) and its own small
//! workspace (the edit mix, outbound webhooks, with and without the feed).
//!
//! Modules, in reading order: `args` (flags), `report` (the `Bench` collector, the table and
//! the JSON report), `proc` (the binary as a child process, `/proc` readings), `wait`
//! (bounded waits on the mirror), `http` (signed webhook events, `/metrics`), `cold` (cold
//! sync and wall time), `daemon_phases` (idle sweep, coalescing, latency, idle RSS, and the
//! order the daemon phases run in), `edits` (one-edit costs), `ingest` (the load generator),
//! `hostile` (connection floods and held bodies under a low descriptor limit), `views`
//! (views as SQL, and the cold sync speaking 2026-12-01), `backup` (`notion-mirror backup`
//! of the cold mirror), `replica` (the WAL's size, Litestream), `files` (archived files:
//! the cold sync's, re-signing every expired URL, a 100 MB download), `history` (the change
//! feed on the cold mirror: rows of a SIGHUP resync, bytes per 1,000 changes, an outbound
//! receiver), `history_edits` (the history group's own workspace: rows per edit of the load
//! mix, outbound delivery latency, the writer's cost of the feed).
//!
//! Invariant: this file only orders the phases and maps the outcome to the exit status;
//! every figure is measured in its module and enters the report through `Bench`.

mod args;
mod backup;
mod cold;
mod daemon_phases;
mod edits;
mod files;
mod history;
mod history_edits;
mod hostile;
mod http;
mod ingest;
mod load;
mod proc;
mod replica;
mod report;
mod views;
mod visible;
mod wait;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::args::{parse_args, GROUPS, OWN_WORKSPACE};
use crate::cold::{cold, wall};
use crate::daemon_phases::{daemon_phases, idle_sweep};
use crate::load::load;
use crate::report::{cores, print_report, report_json, Bench};

/// Every group asked for, in order: the cold sync and what needs its mirror, then wall time.
async fn run_all(b: &mut Bench) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("notion-mirror-bench-")
        .tempdir()?;
    let root = tmp.path().to_path_buf();
    // `--keep`: the directory outlives the run (printed now, so a crash still names it).
    let _tmp = if b.args.keep {
        eprintln!("[bench] working directory kept: {}", root.display());
        let _ = tmp.keep();
        None
    } else {
        Some(tmp)
    };
    // Every group but those with their own small workspace works on the cold sync's mirror.
    let needs_mirror = GROUPS
        .iter()
        .any(|g| !OWN_WORKSPACE.contains(g) && b.wants(g));
    if needs_mirror {
        let dir = root.join("cold");
        std::fs::create_dir_all(&dir)?;
        eprintln!("[bench] cold sync …");
        match cold(b, &dir).await {
            Ok(sim) => {
                if b.wants("backup") {
                    eprintln!("[bench] backup of the cold-synced mirror …");
                    if let Err(e) = backup::backup(b, &sim, &dir).await {
                        b.fail("backup", &e);
                    }
                }
                if b.wants("idle") {
                    eprintln!("[bench] idle incremental sweep …");
                    if let Err(e) = idle_sweep(b, &sim, &dir).await {
                        b.fail("idle", &e);
                    }
                }
                if b.wants("history") {
                    eprintln!("[bench] change feed of the cold sync, SIGHUP resync …");
                    if let Err(e) = history::resync_rows(b, &sim, &dir).await {
                        b.fail("history", &e);
                    }
                }
                if ["edits", "coalescing", "latency", "memory", "ingest"]
                    .iter()
                    .any(|g| b.wants(g))
                {
                    eprintln!("[bench] daemon phases …");
                    if let Err(e) = daemon_phases(b, &sim, &dir).await {
                        b.fail("daemon", &e);
                    }
                }
                sim.shutdown().await;
            }
            Err(e) => b.fail("cold", &e),
        }
    }
    if b.wants("wall") {
        eprintln!("[bench] rate-limited cold sync (wall time) …");
        if let Err(e) = wall(b, &root).await {
            b.fail("wall", &e);
        }
    }
    if b.wants("hostile") {
        eprintln!("[bench] hostile clients (1,024 descriptors) …");
        if let Err(e) = hostile::hostile(b, &root).await {
            b.fail("hostile", &e);
        }
    }
    if b.wants("history") {
        eprintln!("[bench] change feed: edit mix, outbound webhooks, cost of history …");
        if let Err(e) = history_edits::history_edits(b, &root).await {
            b.fail("history", &e);
        }
    }
    if b.wants("load") {
        eprintln!("[bench] edits under load at 3 req/s …");
        if let Err(e) = load(b, &root).await {
            b.fail("load", &e);
        }
    }
    if b.wants("files") {
        eprintln!("[bench] files: expired URLs, a 100 MB download …");
        if let Err(e) = files::files(b, &root).await {
            b.fail("files", &e);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mirror bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores().max(2))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mirror bench: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut bench = Bench::new(args);
    if let Err(e) = runtime.block_on(run_all(&mut bench)) {
        bench.fail("setup", &e);
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    let text = print_report(&mut bench);
    print!("{text}");
    if let Some(path) = bench.args.json.clone() {
        let body = serde_json::to_string_pretty(&report_json(&bench)).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, body) {
            eprintln!("mirror bench: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if bench.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
