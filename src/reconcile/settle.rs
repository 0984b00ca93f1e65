//! Settling sweeps: a sweep's listings end quickly, its work runs in the queue. When the
//! work a sweep tagged with its run is done, the sweep is *settled*: `sync_runs.settled_at`
//! is set and the incremental watermark moves to what the sweep saw.
//!
//! Invariants: the watermark moves only after the sweep's own work is done (work of other
//! sweeps and webhooks is never waited for) and only when its listings had no error; it
//! never moves backwards. Losing a pending settlement (a crash) only means the next
//! incremental sweep looks back further — the work itself is durable in the queue.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{advance_watermark, SweepFigures};
use crate::fetch::Ctx;
use crate::mirror::{write, StoreError};
use crate::queue;

/// How often pending settlements look at the queue.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// Sweeps whose work is still running.
#[derive(Debug, Default)]
pub struct Settler {
    pending: Mutex<Vec<(SweepFigures, Instant)>>,
}

impl Settler {
    /// Watches `figures`' work until it is done.
    pub fn watch(&self, figures: SweepFigures) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.push((figures, Instant::now()));
        }
    }

    /// Sweeps not settled yet.
    pub fn unsettled(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Settles what is done, until `shutdown`.
    pub async fn run(&self, ctx: Ctx, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.settle_done(&ctx).await {
                tracing::warn!(error = %e, "cannot settle sweeps yet");
            }
            tokio::select! {
                _ = tokio::time::sleep(LOOK_EVERY) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    async fn settle_done(&self, ctx: &Ctx) -> Result<(), StoreError> {
        let runs: Vec<(SweepFigures, Instant)> = match self.pending.lock() {
            Ok(p) => p.clone(),
            Err(_) => return Ok(()),
        };
        for (figures, since) in runs {
            let run = figures.run_id;
            if ctx.store.read(move |c| queue::sweep_open(c, run)).await? > 0 {
                continue;
            }
            settle(ctx, &figures).await?;
            tracing::info!(
                kind = figures.kind.map(|k| k.as_str()).unwrap_or(""),
                run,
                work_secs = since.elapsed().as_secs_f64(),
                "sweep settled: its work is done"
            );
            if let Ok(mut p) = self.pending.lock() {
                p.retain(|(f, _)| f.run_id != run);
            }
        }
        Ok(())
    }
}

/// Records a settled sweep and moves the watermark.
async fn settle(ctx: &Ctx, figures: &SweepFigures) -> Result<(), StoreError> {
    let run = figures.run_id;
    let resync = figures.kind == Some(super::SweepKind::Resync) && figures.errors.is_empty();
    ctx.store
        .write(move |c| {
            write::settle_run(c, run)?;
            queue::forget_sweeps(c, Some(run))?;
            if resync {
                write::delete_setting(c, crate::daemon::RESYNC_PENDING)?;
            }
            Ok(())
        })
        .await?;
    if figures.errors.is_empty() {
        if let Some(mark) = figures.watermark.clone() {
            advance_watermark(ctx, mark).await?;
        }
    }
    if let Some(kind) = figures.kind {
        ctx.metrics.set(
            "notion_mirror_last_reconcile_timestamp_seconds",
            &[("kind", kind.as_str())],
            chrono::Utc::now().timestamp() as f64,
        );
    }
    Ok(())
}

/// Waits until `figures`' work is done (or `stop`), then settles it (`notion-mirror sync`).
pub async fn settle_inline(
    ctx: &Ctx,
    figures: &SweepFigures,
    stop: &CancellationToken,
) -> Result<bool, StoreError> {
    let run = figures.run_id;
    loop {
        if ctx.store.read(move |c| queue::sweep_open(c, run)).await? == 0 {
            settle(ctx, figures).await?;
            return Ok(true);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.cancelled() => return Ok(false),
        }
    }
}
