//! Bounded waits on the daemon through its mirror (opened read-only): queue idle, a SQL
//! condition, "settled", and the exactness check of the mirror against the simulator.
//! Invariant: every wait has a deadline and its error says what it was waiting for.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use notion_mirror::mirror::open::open_read_only;
use notion_mirror::sim::Sim;
use notion_mirror::verify::{self, Scope};
use rusqlite::Connection;

/// The mirror opened read-only, beside a daemon that may be writing it.
pub(crate) fn open_mirror(db: &Path) -> Result<Connection> {
    open_read_only(db).map_err(|e| anyhow!("cannot open the mirror read-only: {e}"))
}

/// The one integer a query such as `select count(*) …` returns.
pub(crate) fn count(conn: &Connection, sql: &str) -> Result<i64> {
    Ok(conn.query_row(sql, [], |r| r.get(0))?)
}

/// Pending or running queue items (parked failures do not count).
pub(crate) fn queue_busy(conn: &Connection) -> Result<i64> {
    count(conn, "select count(*) from queue where state != 'failed'")
}

/// Waits until the queue has no pending or running item.
pub(crate) async fn wait_queue_idle(db: &Path, limit: Duration) -> Result<()> {
    let conn = open_mirror(db)?;
    let start = Instant::now();
    loop {
        let busy = queue_busy(&conn)?;
        if busy == 0 {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("the daemon's queue still had {busy} items after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` every `every` until it holds; returns when it first held.
pub(crate) async fn wait_until(
    db: &Path,
    what: &str,
    limit: Duration,
    every: Duration,
    check: impl Fn(&Connection) -> rusqlite::Result<bool>,
) -> Result<Instant> {
    let conn = open_mirror(db)?;
    let start = Instant::now();
    loop {
        if check(&conn)? {
            return Ok(Instant::now());
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits until the queue is idle and neither the queue nor the simulator's request count
/// moves for 1.2 s (longer than the debounce, so follow-up work has shown up).
pub(crate) async fn settle(sim: &Sim, db: &Path, limit: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        wait_queue_idle(db, limit.saturating_sub(start.elapsed())).await?;
        let before = sim.stats().total();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let conn = open_mirror(db)?;
        if queue_busy(&conn)? == 0 && sim.stats().total() == before {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("the daemon kept working for {limit:?} (queue or requests still moving)");
        }
    }
}

/// Differences between the mirror and the simulator's workspace (empty when exact).
pub(crate) fn mirror_diff(sim: &Sim, db: &Path) -> Result<Vec<String>> {
    tokio::task::block_in_place(|| {
        let conn = open_mirror(db)?;
        verify::diff(&conn, &sim.expected(), Scope::default())
            .map_err(|e| anyhow!("comparison failed: {e}"))
    })
}
