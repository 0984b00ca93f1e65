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
    let store = Store::open(&config.db_path)?;
    store.write(queue::recover).await?;
    let metrics = Arc::new(Metrics::new());
    let ctx = daemon::context(config, store.clone(), metrics)?;
    if crate::files::configure(&store, &config.files).await? {
        crate::files::index_all(&store, config.files.mode()).await?;
    }
    // The first call doubles as the token check: a rejected token fails here, clearly.
    ctx.client.users_me().await?;
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
    let reporter = tokio::spawn(report_progress(ctx.clone(), progress, interrupt.clone()));
    // A one-shot sync costs only listing calls when nothing changed; re-listing every
    // page's comments is the daemon's daily full sweep's job (`comments.full_sweep`).
    let options = SweepOptions {
        full_sweep_comments: false,
        event_retention: config.event_retention,
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

async fn report_progress(ctx: Ctx, tty: bool, stop: CancellationToken) {
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
    let mut eta = Eta::default();
    loop {
        let depth = ctx
            .store
            .read(|c| queue::depth(c, queue::now_ms()))
            .await
            .unwrap_or_default();
        let requests = ctx.client.requests();
        let limited = ctx.client.counters().rate_limited.load(Ordering::Relaxed);
        let totals = ctx.totals.snapshot();
        let items = ctx.totals.items.load(Ordering::Relaxed);
        let files = ctx
            .store
            .read(crate::files::counts)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let remaining = depth.pending + depth.running;
        let eta = eta.update(Instant::now(), items, remaining);
        let line = format!(
            "objects written {} · requests {} · 429s {} · queue {} · files {}/{} · ETA {}",
            totals.written,
            requests,
            limited,
            remaining,
            files.stored,
            files.stored + files.pending,
            eta.map(humanize).unwrap_or_else(|| "…".into())
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

/// Time left, from how fast work items finished over the last ten minutes (listing adds
/// items while content is fetched, so a ratio of totals would mislead). Items cost from one
/// request to hundreds, so a short window swings; sweep work is claimed in random order
/// (`queue::sweep_due_at`), so a long window's rate is a fair sample of what is left.
#[derive(Debug, Default)]
struct Eta {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl Eta {
    const WINDOW: Duration = Duration::from_secs(600);

    fn update(&mut self, now: Instant, done: u64, remaining: u64) -> Option<Duration> {
        self.samples.push_back((now, done));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Self::WINDOW)
        {
            self.samples.pop_front();
        }
        let (t0, d0) = *self.samples.front()?;
        let span = now.duration_since(t0).as_secs_f64();
        let rate = (done.saturating_sub(d0)) as f64 / span;
        if remaining == 0 {
            return Some(Duration::ZERO);
        }
        (span >= 5.0 && rate > 0.0).then(|| Duration::from_secs_f64(remaining as f64 / rate))
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_follows_the_recent_completion_rate() {
        let mut eta = Eta::default();
        let t0 = Instant::now();
        assert_eq!(eta.update(t0, 0, 100), None, "no rate yet");
        // 2 items per second for 10 s, 100 left: 50 s.
        let left = eta.update(t0 + Duration::from_secs(10), 20, 100).unwrap();
        assert_eq!(left.as_secs(), 50);
        assert_eq!(
            eta.update(t0 + Duration::from_secs(11), 22, 0),
            Some(Duration::ZERO)
        );
        assert_eq!(humanize(Duration::from_secs(3900)), "1h05m");
        assert_eq!(humanize(Duration::from_secs(247)), "4m07s");
    }
}
