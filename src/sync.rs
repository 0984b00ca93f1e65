//! `notion-mirror sync`: one full sweep in the foreground with its own worker pool, a
//! progress bar on a TTY (plain periodic log lines otherwise), and a clean Ctrl-C.
//!
//! Invariants: every object is committed as soon as it is fetched, so an interrupted sync
//! keeps what it wrote and the next run resumes (pages whose content was fetched are not
//! fetched again); the exit status says whether the mirror is complete.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::daemon;
use crate::eta;
use crate::fetch::Ctx;
use crate::metrics::Metrics;
use crate::mirror::Store;
use crate::queue;
use crate::reconcile::{self, SweepFigures, SweepKind, SweepOptions};
use crate::worker;

/// How a sync ended.
#[derive(Debug)]
pub enum SyncEnd {
    /// Complete: the figures of the sweep.
    Complete(SweepFigures),
    /// Ctrl-C: what was written is kept; run again to resume.
    Interrupted,
    /// Done, but some objects could not be fetched (parked in the queue).
    Incomplete { figures: SweepFigures, parked: u64 },
}

/// Runs the sync (a full sweep: what changed is fetched); `interrupt` is fired by Ctrl-C
/// (tests fire it themselves).
pub async fn run(
    config: &Config,
    interrupt: CancellationToken,
    progress: bool,
) -> anyhow::Result<SyncEnd> {
    run_kind(config, SweepKind::Full, interrupt, progress).await
}

/// Runs one sweep of `kind` (`Full`, or `Resync` to refetch everything) to completion.
pub async fn run_kind(
    config: &Config,
    kind: SweepKind,
    interrupt: CancellationToken,
    progress: bool,
) -> anyhow::Result<SyncEnd> {
    // Every change this process writes is the `sync` command's.
    let store_options = crate::mirror::StoreOptions {
        cause: Some(crate::mirror::changes::Cause::Sync),
        ..config.store_options()
    };
    let store = Store::open_with(&config.db_path, store_options)?;
    store.write(queue::recover).await?;
    let metrics = Arc::new(Metrics::new());
    let ctx = daemon::context(config, store.clone(), metrics)?;
    if crate::files::configure(&store, &config.files).await? {
        crate::files::index_all(&store, config.files.mode()).await?;
    }
    // The first call doubles as the token check: a rejected token fails here, clearly.
    let me = ctx.client.users_me().await?;
    crate::workspace::record(&store, &me).await;
    let stop_workers = CancellationToken::new();
    let pool = tokio::spawn(worker::run(
        ctx.clone(),
        config.workers,
        stop_workers.clone(),
        config.shutdown_timeout,
    ));
    let (files, file_sweep) = if config.files.enabled {
        let pool = crate::files::Pool::new(ctx.clone(), &config.files)?;
        let sweep = crate::files::FileSweep {
            blobs: pool.blobs().clone(),
            mode: config.files.mode(),
        };
        (
            Some(tokio::spawn(pool.run(stop_workers.clone()))),
            Some(sweep),
        )
    } else {
        (None, None)
    };
    let reporter = tokio::spawn(report_progress(
        ctx.clone(),
        progress,
        interrupt.clone(),
        config.rate,
    ));
    // A one-shot sync costs only listing calls when nothing changed; re-listing every
    // page's comments is the daemon's daily full sweep's job (`comments.full_sweep`).
    let options = SweepOptions {
        full_sweep_comments: false,
        event_retention: config.event_retention,
        history_retention: config.history_retention,
        webhooks_enabled: false,
        files: file_sweep,
    };
    let result = match reconcile::sweep(&ctx, kind, &options, &interrupt).await {
        Ok(figures) => settle_and_total(&ctx, figures, &interrupt).await,
        Err(e) => Err(e),
    };
    if result.is_ok() && files.is_some() {
        // Downloads may still need the workers: an expired URL is refetched through them.
        let pending = crate::files::wait_idle(&store, &interrupt).await?;
        if pending > 0 {
            tracing::info!(
                files = pending,
                "files still pending (the daemon, or the next sync, continues them)"
            );
        }
    }
    stop_workers.cancel();
    let _ = pool.await;
    if let Some(files) = files {
        let _ = files.await;
    }
    reporter.abort();
    let depth = store.read(|c| queue::depth(c, queue::now_ms())).await;
    store.close();
    let figures = result?;
    if interrupt.is_cancelled() {
        return Ok(SyncEnd::Interrupted);
    }
    let parked = depth.map(|d| d.failed).unwrap_or(0);
    if parked > 0 {
        return Ok(SyncEnd::Incomplete { figures, parked });
    }
    Ok(SyncEnd::Complete(figures))
}

/// Waits for the sweep's work, then reports the whole sync (listings and work items) from
/// its `sync_runs` record.
async fn settle_and_total(
    ctx: &Ctx,
    mut figures: SweepFigures,
    interrupt: &CancellationToken,
) -> Result<SweepFigures, crate::fetch::FetchError> {
    reconcile::settle_inline(ctx, &figures, interrupt).await?;
    let run = figures.run_id;
    if let Some((requests, written, removed)) = ctx
        .store
        .read(move |c| crate::mirror::read::run_totals(c, run))
        .await?
    {
        figures.requests = requests;
        figures.report.written = written;
        figures.report.removed = removed;
    }
    Ok(figures)
}

async fn report_progress(ctx: Ctx, tty: bool, stop: CancellationToken, rate: f64) {
    let started = Instant::now();
    let bar = (tty && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut last_log = Instant::now();
    let mut window = eta::RateWindow::new(Duration::from_secs(30));
    loop {
        let requests = ctx.client.requests();
        // The measured rate (what the limiter and Notion actually allow), else the
        // configured one.
        let measured = window.update(Instant::now(), requests);
        let rate = measured.map_or(rate, |m| m.min(rate * 1.5));
        let (depth, estimate) = ctx
            .store
            .read(move |c| Ok((queue::depth(c, queue::now_ms())?, eta::estimate(c, rate)?)))
            .await
            .unwrap_or_default();
        let limited = ctx.client.counters().rate_limited.load(Ordering::Relaxed);
        let totals = ctx.totals.snapshot();
        let line = progress_line(
            totals.written,
            requests,
            limited,
            depth.pending + depth.running,
            estimate.as_ref(),
        );
        match &bar {
            Some(bar) => bar.set_message(line),
            None if last_log.elapsed() >= Duration::from_secs(10) => {
                tracing::info!(elapsed_s = started.elapsed().as_secs(), "{line}");
                last_log = Instant::now();
            }
            None => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.cancelled() => break,
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// `objects written … · requests … · 429s … · queue … · ETA …` (`listing…` while the sweep
/// still lists, `…` before enough work is done to tell).
fn progress_line(
    written: u64,
    requests: u64,
    limited: u64,
    queued: u64,
    estimate: Option<&eta::Estimate>,
) -> String {
    let eta = match estimate {
        None if queued == 0 => "0s".to_string(),
        None => "…".to_string(),
        Some(e) => match e.eta {
            Some(d) => format!("{} (~{:.0} requests)", eta::humanize(d), e.requests_left),
            None if e.sweeps.iter().any(|s| s.listing) => "listing…".to_string(),
            None => "…".to_string(),
        },
    };
    format!("objects written {written} · requests {requests} · 429s {limited} · queue {queued} · ETA {eta}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_says_what_is_known() {
        let line = progress_line(10, 20, 0, 5, None);
        assert!(line.ends_with("ETA …"), "{line}");
        let sweep = eta::OpenSweep {
            run_id: 1,
            kind: "full".into(),
            listing: false,
            items_done: 10,
            work_requests: 30,
            listed_items: 0,
            listed_work_requests: 0,
            items_left: 20,
        };
        let e = eta::from_sweeps(vec![sweep.clone()], 3.0).unwrap();
        let line = progress_line(10, 20, 0, 20, Some(&e));
        assert!(line.ends_with("ETA 20s (~60 requests)"), "{line}");
        let listing = eta::from_sweeps(
            vec![eta::OpenSweep {
                listing: true,
                ..sweep
            }],
            3.0,
        )
        .unwrap();
        assert!(progress_line(1, 2, 0, 3, Some(&listing)).ends_with("ETA listing…"));
    }
}
