//! The worker pool: claims due items from the durable queue, runs each through the
//! fetcher, and records the outcome (done, retry at, parked).
//!
//! Invariants: at most `size` items run at once, one per object (the queue's claim
//! guarantees it), and at most half of them (at least one) are sweep work, so webhook work
//! always finds a free slot; webhook items use the high-priority client, sweep items the
//! low one. On shutdown no new item is claimed, running items get `drain_deadline` to
//! finish, then they are cancelled (every item is idempotent: what it wrote stays, the
//! rest runs again) and released back to pending — no lease is left behind.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::fetch::{self, Ctx, FetchError, Report};
use crate::mirror::changes::Cause;
use crate::notion::Priority;
use crate::queue::{self, Outcome, WorkItem};

/// Claimed rows are leased for this long (diagnostic: a row left `running` by a dead
/// process is recovered at start-up).
const LEASE_MS: i64 = 10 * 60 * 1000;
/// Even without a wake-up, the pool looks at the queue this often.
const POLL: Duration = Duration::from_secs(1);

/// A finished item: the item, its result, when it started and the requests it made.
type Ran = (WorkItem, Result<Report, FetchError>, Instant, u64);
type Running = JoinSet<Ran>;

/// How many of `size` slots sweep work may hold.
pub fn sweep_slots(size: usize) -> usize {
    (size / 2).max(1)
}

/// Runs the pool until `shutdown`, then drains within `drain_deadline`.
pub async fn run(ctx: Ctx, size: usize, shutdown: CancellationToken, drain_deadline: Duration) {
    let size = size.max(1);
    let mut running: Running = JoinSet::new();
    let mut in_flight: Vec<WorkItem> = Vec::new();
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let free = size.saturating_sub(running.len());
        let sweeping = in_flight.iter().filter(|i| !i.from_webhook()).count();
        let sweep_free = sweep_slots(size).saturating_sub(sweeping);
        let mut next_due = None;
        if free > 0 {
            match claim(&ctx, free, sweep_free).await {
                Ok((items, due)) => {
                    next_due = due;
                    for item in items {
                        in_flight.push(item.clone());
                        spawn_item(&ctx, &mut running, item);
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot claim work"),
            }
        }
        let now = queue::now_ms();
        let look_at = next_due
            .unwrap_or(i64::MAX)
            .min(now + POLL.as_millis() as i64);
        let free = size.saturating_sub(running.len());
        if free > 0 {
            ctx.wake.plan(look_at);
        }
        let sleep = Duration::from_millis((look_at - now).max(0) as u64);
        tokio::select! {
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Ok(ran) = done {
                    in_flight.retain(|i| !(i.kind == ran.0.kind && i.id == ran.0.id));
                    finish(&ctx, ran).await;
                }
            }
            _ = ctx.wake.woken() => {}
            _ = tokio::time::sleep(sleep), if free > 0 => {}
            _ = shutdown.cancelled() => {}
        }
    }
    drain(&ctx, running, in_flight, drain_deadline).await;
}

async fn claim(
    ctx: &Ctx,
    free: usize,
    sweep_free: usize,
) -> Result<(Vec<WorkItem>, Option<i64>), crate::mirror::StoreError> {
    let now = queue::now_ms();
    ctx.store
        .write(move |c| {
            let items = queue::claim(c, now, free, sweep_free, LEASE_MS)?;
            let sweeping = items.iter().filter(|i| !i.from_webhook()).count();
            // With its sweep slots full the pool waits for a slot (an item finishing), not
            // for sweep work it could not claim anyway.
            Ok((items, queue::next_due(c, sweeping < sweep_free)?))
        })
        .await
}

fn spawn_item(ctx: &Ctx, running: &mut Running, item: WorkItem) {
    let mut ctx = ctx.clone();
    let priority = if item.from_webhook() {
        Priority::High
    } else {
        Priority::Low
    };
    // The item's requests so far (its tally) and due time rank them in the limiter.
    let (client, tally) = ctx
        .client
        .with_priority(priority)
        .for_item(item.due_at)
        .tallied();
    ctx.client = client;
    // What the item writes is recorded in the change feed with the work's cause.
    ctx.store = ctx.store.with_cause(cause_of(&item));
    let span = tracing::info_span!(
        "work",
        object = item.kind.as_str(),
        id = %item.id,
        reason = %queue::reason::describe(item.reasons),
        attempt = item.attempts + 1
    );
    running.spawn(
        async move {
            let started = Instant::now();
            let result = fetch::run_item(&ctx, &item).await;
            let requests = tally.load(std::sync::atomic::Ordering::Relaxed);
            (item, result, started, requests)
        }
        .instrument(span),
    );
}

/// The change feed's cause of what `item` writes: webhook work, or its sweep's kind (work
/// at sweep priority without a sweep re-lists comments after a gap: the full sweep's job).
fn cause_of(item: &WorkItem) -> Cause {
    match (item.from_webhook(), item.sweep_run) {
        (true, _) => Cause::Webhook,
        (false, Some(run)) => Cause::Run(run),
        (false, None) => Cause::Full,
    }
}

async fn finish(ctx: &Ctx, (item, result, started, requests): Ran) {
    let item = &item;
    let now = queue::now_ms();
    let report = result.as_ref().ok().copied();
    let outcome = match &result {
        Ok(report) => {
            ctx.totals.record(*report);
            Outcome::Done
        }
        Err(e) => fetch::error_policy(e, item.attempts, &ctx.options, now),
    };
    let label = match &outcome {
        Outcome::Done => "done",
        Outcome::RetryAt { .. } => "retry",
        Outcome::Park { .. } => "parked",
    };
    match &outcome {
        Outcome::Done => {
            tracing::debug!(object = item.kind.as_str(), id = %item.id, elapsed_ms = started.elapsed().as_millis() as u64, "refetched")
        }
        Outcome::RetryAt { error, at } => {
            tracing::warn!(object = item.kind.as_str(), id = %item.id, attempt = item.attempts + 1, retry_in_ms = at - now, error = %error, "work failed; will retry")
        }
        Outcome::Park { error } => {
            tracing::error!(object = item.kind.as_str(), id = %item.id, attempt = item.attempts + 1, error = %error, "work parked as failed (see `notion-mirror status`, requeue with `notion-mirror retry`)")
        }
    }
    ctx.metrics.inc(
        "notion_mirror_work_total",
        &[("kind", item.kind.as_str()), ("outcome", label)],
    );
    if matches!(outcome, Outcome::Done) {
        let waited = (now - item.due_at).max(0) as f64 / 1000.0;
        ctx.metrics.observe(
            "notion_mirror_refetch_seconds",
            &[("kind", item.kind.as_str())],
            waited,
        );
    }
    let record = item.clone();
    let finished = matches!(outcome, Outcome::Done);
    if let Err(e) = ctx
        .store
        .write(move |c| {
            if let Some(run) = record.sweep_run {
                let done = report.unwrap_or_default();
                let work = crate::mirror::write::ItemWork {
                    requests,
                    written: done.written,
                    removed: done.removed,
                    done: finished,
                };
                crate::mirror::write::add_run_work(c, run, work)?;
            }
            queue::complete(c, &record, &outcome, now)
        })
        .await
    {
        tracing::error!(error = %e, "cannot record a work outcome; the item will run again after a restart");
    }
}

/// Lets running items finish until `deadline`, then cancels the rest and puts every
/// unfinished item back to pending (nothing is lost: items are idempotent).
async fn drain(ctx: &Ctx, mut running: Running, mut in_flight: Vec<WorkItem>, deadline: Duration) {
    let until = tokio::time::Instant::now() + deadline;
    while !running.is_empty() {
        match tokio::time::timeout_at(until, running.join_next()).await {
            Ok(Some(Ok(ran))) => {
                in_flight.retain(|i| !(i.kind == ran.0.kind && i.id == ran.0.id));
                finish(ctx, ran).await;
            }
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                tracing::info!(
                    items = running.len(),
                    "stop: cancelling unfinished work (it stays queued)"
                );
                running.abort_all();
                while running.join_next().await.is_some() {}
                break;
            }
        }
    }
    if !in_flight.is_empty() {
        let items = in_flight.clone();
        if let Err(e) = ctx.store.write(move |c| queue::release(c, &items)).await {
            tracing::error!(error = %e, "cannot release unfinished work; it is recovered at the next start");
        }
    }
}
