//! The durable work queue: one row per object (`kind`, `id`) in the mirror database,
//! holding the union of reasons to refetch it, when it is due, and its retry state.
//!
//! Invariants:
//! - SQLite holds the work; in-memory channels only wake workers. Losing a wake-up delays
//!   work, never loses it; a crash (`kill -9`) loses nothing committed.
//! - Coalescing: signals for one object merge into its row; the earliest due time and the
//!   most urgent priority win.
//! - One worker per object: a claimed row is `running`; a signal arriving meanwhile is kept
//!   in `next_reasons` and the object runs once more afterwards.
//! - Failures back off (the next attempt time is in the row, not in a sleeping task); after
//!   `max_attempts` the row is parked as `failed` with its error until `notion-mirror retry`
//!   (or a new signal for the object) puts it back.
//! - Every function runs on the writer's connection (see `mirror::store`), so each
//!   read-modify-write is atomic.

use std::collections::BTreeSet;

use rusqlite::{params, Connection, OptionalExtension};

use crate::mirror::StoreError;

/// Reasons to refetch an object (a bit set in `queue.reasons`).
pub mod reason {
    /// Refetch the object itself (page properties, database, data source, comment).
    pub const PROPERTIES: u32 = 1;
    /// Refetch a page's whole block tree and its comments.
    pub const CONTENT: u32 = 1 << 1;
    /// Refetch only the blocks listed in the row (`updated_blocks` of a webhook).
    pub const BLOCKS: u32 = 1 << 2;
    /// Re-list a page's comments (no block tree).
    pub const COMMENTS: u32 = 1 << 3;
    /// Data source: retrieve the schema and rebuild its typed view.
    pub const SCHEMA: u32 = 1 << 4;
    /// Data source: query rows edited since its watermark.
    pub const ROWS_SINCE: u32 = 1 << 5;
    /// Data source: query every row (after a schema change).
    pub const ROWS_ALL: u32 = 1 << 6;
    /// Confirm the object still exists with a direct GET (sweep found it absent).
    pub const VERIFY: u32 = 1 << 7;
    /// Trash state changed (deleted/undeleted events).
    pub const TRASH: u32 = 1 << 8;
    /// Database: refetch each of its data sources too.
    pub const DATA_SOURCES: u32 = 1 << 9;

    const NAMES: &[(u32, &str)] = &[
        (PROPERTIES, "properties"),
        (CONTENT, "content"),
        (BLOCKS, "blocks"),
        (COMMENTS, "comments"),
        (SCHEMA, "schema"),
        (ROWS_SINCE, "rows_since"),
        (ROWS_ALL, "rows_all"),
        (VERIFY, "verify"),
        (TRASH, "trash"),
        (DATA_SOURCES, "data_sources"),
    ];

    /// `"properties,content"` for logs and `status`.
    pub fn describe(bits: u32) -> String {
        NAMES
            .iter()
            .filter(|(bit, _)| bits & bit != 0)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// More block ids than this for one page and a full content refetch is cheaper.
const MAX_BLOCKS: usize = 32;

/// What kind of object a queue row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Page,
    Database,
    DataSource,
    Comment,
    /// The whole users list (id `*`).
    Users,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::Database => "database",
            Kind::DataSource => "data_source",
            Kind::Comment => "comment",
            Kind::Users => "users",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "page" => Kind::Page,
            "database" => Kind::Database,
            "data_source" => Kind::DataSource,
            "comment" => Kind::Comment,
            "users" => Kind::Users,
            _ => return None,
        })
    }
}

/// Webhook work runs before sweep work.
pub const PRIORITY_WEBHOOK: i64 = 0;
pub const PRIORITY_SWEEP: i64 = 1;

/// The due time of sweep work enqueued at `now_ms`: the start of its minute. Items due at
/// the same time are claimed in id order, and ids are random UUIDs, so a sweep's work is
/// drawn as a random sample rather than in listing (creation) order. Listing order can
/// front-load the heavy pages (in the generated 2,000-page workspace the richest pages are
/// the oldest), and `sync`'s ETA from the completion rate then read 2-3x too long.
pub fn sweep_due_at(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(60_000)
}

/// A signal to refetch an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub kind: Kind,
    pub id: String,
    pub reasons: u32,
    /// Block ids to refetch (with [`reason::BLOCKS`]).
    pub blocks: Vec<String>,
    /// A routing hint (the page of a comment).
    pub hint: Option<String>,
    pub priority: i64,
    /// When the work becomes due (unix ms).
    pub due_at: i64,
    /// Sweep semantics: merge into pending work, but never make a run that already covers
    /// these reasons run once more, and never revive parked work (only a webhook or
    /// `notion-mirror retry` does that).
    pub if_idle: bool,
}

impl Signal {
    pub fn new(kind: Kind, id: impl Into<String>, reasons: u32, due_at: i64) -> Self {
        Signal {
            kind,
            id: id.into(),
            reasons,
            blocks: Vec::new(),
            hint: None,
            priority: PRIORITY_WEBHOOK,
            due_at,
            if_idle: false,
        }
    }
}

/// A claimed row, handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub kind: Kind,
    pub id: String,
    pub reasons: u32,
    pub blocks: Vec<String>,
    pub hint: Option<String>,
    pub priority: i64,
    /// Failed attempts so far (0 on the first run).
    pub attempts: u32,
    pub due_at: i64,
    pub claimed_at: i64,
}

/// How a worker finished an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Try again at `at` (unix ms).
    RetryAt {
        at: i64,
        error: String,
    },
    /// Give up until an operator (or a new signal) requeues it.
    Park {
        error: String,
    },
}

fn blocks_to_json(blocks: &BTreeSet<String>) -> Option<String> {
    (!blocks.is_empty()).then(|| serde_json::to_string(blocks).unwrap_or_default())
}

fn blocks_from_json(text: Option<String>) -> BTreeSet<String> {
    text.and_then(|t| serde_json::from_str::<Vec<String>>(&t).ok())
        .map(|v| v.into_iter().collect())
        .unwrap_or_default()
}

/// Merges block lists; too many blocks (or a full content refetch) means "whole tree".
fn merge_blocks(reasons: &mut u32, blocks: &mut BTreeSet<String>, more: &[String]) {
    blocks.extend(more.iter().cloned());
    if *reasons & reason::CONTENT != 0 || blocks.len() > MAX_BLOCKS {
        if blocks.len() > MAX_BLOCKS {
            *reasons |= reason::CONTENT;
        }
        *reasons &= !reason::BLOCKS;
        blocks.clear();
    }
}

struct Row {
    state: String,
    reasons: u32,
    blocks: BTreeSet<String>,
    due_at: i64,
    priority: i64,
    hint: Option<String>,
    next_reasons: u32,
    next_blocks: BTreeSet<String>,
}

fn load_row(conn: &Connection, kind: Kind, id: &str) -> Result<Option<Row>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT state, reasons, blocks, next_reasons, next_blocks, due_at, priority, hint
             FROM queue WHERE kind = ?1 AND id = ?2",
        )?
        .query_row(params![kind.as_str(), id], |r| {
            Ok(Row {
                state: r.get(0)?,
                reasons: r.get(1)?,
                blocks: blocks_from_json(r.get(2)?),
                next_reasons: r.get(3)?,
                next_blocks: blocks_from_json(r.get(4)?),
                due_at: r.get(5)?,
                priority: r.get(6)?,
                hint: r.get(7)?,
            })
        })
        .optional()?)
}

/// Adds a signal to the queue, coalescing with the object's row if it has one.
pub fn enqueue(conn: &Connection, signal: &Signal, now_ms: i64) -> Result<(), StoreError> {
    let mut reasons = signal.reasons;
    match load_row(conn, signal.kind, &signal.id)? {
        None => {
            let mut blocks = BTreeSet::new();
            merge_blocks(&mut reasons, &mut blocks, &signal.blocks);
            conn.prepare_cached(
                "INSERT INTO queue (kind, id, reasons, blocks, hint, priority, due_at, state, enqueued_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
            )?
            .execute(params![
                signal.kind.as_str(),
                signal.id,
                reasons,
                blocks_to_json(&blocks),
                signal.hint,
                signal.priority,
                signal.due_at,
                now_ms
            ])?;
        }
        Some(row)
            if signal.if_idle
                && (row.state == "failed"
                    || (row.state == "running"
                        && (row.reasons | row.next_reasons) & reasons == reasons)) => {}
        Some(row) if row.state == "running" => {
            let mut next = row.next_reasons | reasons;
            let mut blocks = row.next_blocks;
            merge_blocks(&mut next, &mut blocks, &signal.blocks);
            conn.prepare_cached(
                "UPDATE queue SET next_reasons = ?3, next_blocks = ?4, priority = min(priority, ?5),
                     hint = coalesce(?6, hint)
                 WHERE kind = ?1 AND id = ?2",
            )?
            .execute(params![
                signal.kind.as_str(),
                signal.id,
                next,
                blocks_to_json(&blocks),
                signal.priority,
                signal.hint
            ])?;
        }
        Some(row) => {
            // pending: merge; failed (parked): a new signal revives it with fresh attempts.
            let revive = row.state == "failed";
            let mut merged = row.reasons | reasons;
            let mut blocks = row.blocks.clone();
            merge_blocks(&mut merged, &mut blocks, &signal.blocks);
            let unchanged = !revive
                && merged == row.reasons
                && blocks == row.blocks
                && signal.due_at >= row.due_at
                && signal.priority >= row.priority
                && (signal.hint.is_none() || signal.hint == row.hint);
            if unchanged {
                // A burst of signals for one pending object changes nothing after the first:
                // skipping the UPDATE keeps its page clean (ingest writes less).
                return Ok(());
            }
            conn.prepare_cached(
                "UPDATE queue SET reasons = ?3, blocks = ?4, priority = min(priority, ?5),
                     due_at = CASE WHEN ?7 THEN ?6 ELSE min(due_at, ?6) END,
                     state = 'pending', attempts = CASE WHEN ?7 THEN 0 ELSE attempts END,
                     hint = coalesce(?8, hint)
                 WHERE kind = ?1 AND id = ?2",
            )?
            .execute(params![
                signal.kind.as_str(),
                signal.id,
                merged,
                blocks_to_json(&blocks),
                signal.priority,
                signal.due_at,
                revive,
                signal.hint
            ])?;
        }
    }
    Ok(())
}

/// Claims up to `limit` due items, most urgent first, marking them running.
pub fn claim(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> Result<Vec<WorkItem>, StoreError> {
    let items: Vec<WorkItem> = {
        let mut stmt = conn.prepare_cached(
            "SELECT kind, id, reasons, blocks, hint, priority, attempts, due_at FROM queue
             WHERE state = 'pending' AND due_at <= ?1
             ORDER BY priority, due_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, u32>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, id, reasons, blocks, hint, priority, attempts, due_at) = row?;
            let Some(kind) = Kind::parse(&kind) else {
                continue;
            };
            out.push(WorkItem {
                kind,
                id,
                reasons,
                blocks: blocks_from_json(blocks).into_iter().collect(),
                hint,
                priority,
                attempts,
                due_at,
                claimed_at: now_ms,
            });
        }
        out
    };
    let mut mark = conn.prepare_cached(
        "UPDATE queue SET state = 'running', lease_until = ?3, claimed_at = ?4
         WHERE kind = ?1 AND id = ?2",
    )?;
    for item in &items {
        mark.execute(params![
            item.kind.as_str(),
            item.id,
            now_ms + lease_ms,
            now_ms
        ])?;
    }
    Ok(items)
}

/// Records how a claimed item ended. Returns the webhook events it settled.
pub fn complete(
    conn: &Connection,
    item: &WorkItem,
    outcome: &Outcome,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let Some(row) = load_row(conn, item.kind, &item.id)? else {
        return Ok(0);
    };
    let claimed_iso = iso_ms(item.claimed_at);
    let settled = match outcome {
        Outcome::Done => {
            if row.next_reasons != 0 {
                conn.prepare_cached(
                    "UPDATE queue SET state = 'pending', reasons = next_reasons, blocks = next_blocks,
                         next_reasons = 0, next_blocks = NULL, attempts = 0, last_error = NULL,
                         lease_until = NULL, claimed_at = NULL, due_at = max(?3, due_at)
                     WHERE kind = ?1 AND id = ?2",
                )?
                .execute(params![item.kind.as_str(), item.id, now_ms])?;
            } else {
                conn.prepare_cached("DELETE FROM queue WHERE kind = ?1 AND id = ?2")?
                    .execute(params![item.kind.as_str(), item.id])?;
            }
            conn.prepare_cached(
                "UPDATE webhook_events SET status = 'done', error = NULL
                 WHERE entity_id = ?1 AND status IN ('queued', 'failed') AND received_at <= ?2",
            )?
            .execute(params![item.id, claimed_iso])?
        }
        Outcome::RetryAt { at, error } => {
            let mut reasons = row.reasons | row.next_reasons;
            let mut blocks = row.blocks;
            merge_blocks(
                &mut reasons,
                &mut blocks,
                &row.next_blocks.into_iter().collect::<Vec<_>>(),
            );
            conn.prepare_cached(
                "UPDATE queue SET state = 'pending', reasons = ?3, blocks = ?4, next_reasons = 0,
                     next_blocks = NULL, attempts = attempts + 1, last_error = ?5, due_at = ?6,
                     lease_until = NULL, claimed_at = NULL
                 WHERE kind = ?1 AND id = ?2",
            )?
            .execute(params![
                item.kind.as_str(),
                item.id,
                reasons,
                blocks_to_json(&blocks),
                error,
                at
            ])?;
            0
        }
        Outcome::Park { error } => {
            let mut reasons = row.reasons | row.next_reasons;
            let mut blocks = row.blocks;
            merge_blocks(
                &mut reasons,
                &mut blocks,
                &row.next_blocks.into_iter().collect::<Vec<_>>(),
            );
            conn.prepare_cached(
                "UPDATE queue SET state = 'failed', reasons = ?3, blocks = ?4, next_reasons = 0,
                     next_blocks = NULL, attempts = attempts + 1, last_error = ?5,
                     lease_until = NULL, claimed_at = NULL
                 WHERE kind = ?1 AND id = ?2",
            )?
            .execute(params![
                item.kind.as_str(),
                item.id,
                reasons,
                blocks_to_json(&blocks),
                error
            ])?;
            conn.prepare_cached(
                "UPDATE webhook_events SET status = 'failed', error = ?2
                 WHERE entity_id = ?1 AND status IN ('queued', 'failed') AND received_at <= ?3",
            )?
            .execute(params![item.id, error, claimed_iso])?
        }
    };
    Ok(settled)
}

/// Puts claimed items back as pending without counting an attempt (shutdown).
pub fn release(conn: &Connection, items: &[WorkItem]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE queue SET state = 'pending', reasons = reasons | next_reasons, next_reasons = 0,
             lease_until = NULL, claimed_at = NULL
         WHERE kind = ?1 AND id = ?2 AND state = 'running'",
    )?;
    for item in items {
        stmt.execute(params![item.kind.as_str(), item.id])?;
    }
    Ok(())
}

/// At start-up: rows left `running` by a process that died go back to pending.
pub fn recover(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE queue SET state = 'pending', reasons = reasons | next_reasons, next_reasons = 0,
             lease_until = NULL, claimed_at = NULL
         WHERE state = 'running'",
        [],
    )?)
}

/// `notion-mirror retry`: parked items go back to pending with fresh attempts.
pub fn retry_parked(conn: &Connection, now_ms: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE queue SET state = 'pending', attempts = 0, due_at = ?1 WHERE state = 'failed'",
        [now_ms],
    )?)
}

/// The earliest due time among pending rows.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT min(due_at) FROM queue WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?)
}

/// Queue figures for metrics and `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Depth {
    pub pending: u64,
    pub running: u64,
    pub failed: u64,
    /// The due time of the oldest due pending item (unix ms).
    pub oldest_due: Option<i64>,
    /// Pending or running items at sweep priority.
    pub sweep_work: u64,
}

pub fn depth(conn: &Connection, now_ms: i64) -> Result<Depth, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'running'), 0),
                    coalesce(sum(state = 'failed'), 0),
                    min(CASE WHEN state = 'pending' AND due_at <= ?1 THEN due_at END),
                    coalesce(sum(state != 'failed' AND priority = ?2), 0)
             FROM queue",
        )?
        .query_row(params![now_ms, PRIORITY_SWEEP], |r| {
            let count = |i: usize| r.get::<_, i64>(i).map(|n| n.max(0) as u64);
            Ok(Depth {
                pending: count(0)?,
                running: count(1)?,
                failed: count(2)?,
                oldest_due: r.get(3)?,
                sweep_work: count(4)?,
            })
        })?)
}

/// Wakes the worker pool when work becomes due earlier than the pool planned to look.
///
/// The pool tells it when it plans to look next ([`Wake::plan`]); an enqueue reports its
/// due time ([`Wake::due_at`]) and only wakes the pool when that is earlier. A flood of
/// debounced webhook events therefore wakes the pool once, not once per event. A lost or
/// spurious wake-up only changes when the pool looks, never what it finds: the queue
/// table is the truth.
#[derive(Debug)]
pub struct Wake {
    notify: tokio::sync::Notify,
    earliest: std::sync::atomic::AtomicI64,
}

impl Default for Wake {
    fn default() -> Self {
        Wake {
            notify: tokio::sync::Notify::new(),
            earliest: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }
}

impl Wake {
    /// Work was enqueued that is due at `at` (unix ms).
    pub fn due_at(&self, at: i64) {
        let before = self
            .earliest
            .fetch_min(at, std::sync::atomic::Ordering::SeqCst);
        if at < before {
            self.notify.notify_one();
        }
    }

    /// The pool will look again at `at` on its own; only earlier work wakes it.
    pub fn plan(&self, at: i64) {
        self.earliest.store(at, std::sync::atomic::Ordering::SeqCst);
    }

    /// Resolves when woken.
    pub async fn woken(&self) {
        self.notify.notified().await;
    }
}

/// Unix ms now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Unix ms as the mirror's ISO-8601 text.
pub fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::mirror::open::open_read_write(&dir.path().join("q.db")).unwrap();
        (dir, c)
    }

    fn page(id: &str, reasons: u32, due: i64) -> Signal {
        Signal::new(Kind::Page, id, reasons, due)
    }

    #[test]
    fn signals_for_one_object_coalesce() {
        let (_d, c) = conn();
        for i in 0..50 {
            enqueue(&c, &page("p1", reason::PROPERTIES, 1000 + i), 0).unwrap();
        }
        enqueue(&c, &page("p1", reason::CONTENT, 5000), 0).unwrap();
        let items = claim(&c, 10_000, 10, 60_000).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].reasons, reason::PROPERTIES | reason::CONTENT);
        assert_eq!(items[0].due_at, 1000, "earliest due time wins");
    }

    #[test]
    fn nothing_is_claimed_before_it_is_due_and_webhooks_go_first() {
        let (_d, c) = conn();
        let mut sweep = page("a", reason::CONTENT, 100);
        sweep.priority = PRIORITY_SWEEP;
        enqueue(&c, &sweep, 0).unwrap();
        enqueue(&c, &page("b", reason::PROPERTIES, 200), 0).unwrap();
        enqueue(&c, &page("c", reason::PROPERTIES, 9_000), 0).unwrap();
        let items = claim(&c, 1_000, 10, 60_000).unwrap();
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["b", "a"]);
        assert!(
            claim(&c, 1_000, 10, 60_000).unwrap().is_empty(),
            "claimed rows are not claimed twice"
        );
    }

    #[test]
    fn sweep_work_of_one_minute_is_claimed_in_id_order_not_listing_order() {
        let (_d, c) = conn();
        let minute = 1_700_000_040_000;
        // Listed (and enqueued) newest id first, a few milliseconds apart.
        for (i, id) in ["c3", "b2", "a1"].into_iter().enumerate() {
            let mut s = page(id, reason::CONTENT, sweep_due_at(minute + 5 + i as i64));
            s.priority = PRIORITY_SWEEP;
            enqueue(&c, &s, 0).unwrap();
        }
        let items = claim(&c, minute + 10, 10, 60_000).unwrap();
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["a1", "b2", "c3"]);
        assert_eq!(sweep_due_at(minute + 59_999), minute);
    }

    #[test]
    fn a_signal_while_running_runs_once_more() {
        let (_d, c) = conn();
        enqueue(&c, &page("p", reason::PROPERTIES, 0), 0).unwrap();
        let item = claim(&c, 10, 1, 60_000).unwrap().remove(0);
        enqueue(&c, &page("p", reason::CONTENT, 20), 15).unwrap();
        complete(&c, &item, &Outcome::Done, 30).unwrap();
        let again = claim(&c, 100, 1, 60_000).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].reasons, reason::CONTENT);
        complete(&c, &again[0], &Outcome::Done, 110).unwrap();
        assert_eq!(depth(&c, 200).unwrap(), Depth::default());
    }

    #[test]
    fn failures_back_off_then_park_and_retry_revives() {
        let (_d, c) = conn();
        enqueue(&c, &page("p", reason::PROPERTIES, 0), 0).unwrap();
        let item = claim(&c, 0, 1, 60_000).unwrap().remove(0);
        complete(
            &c,
            &item,
            &Outcome::RetryAt {
                at: 500,
                error: "503".into(),
            },
            0,
        )
        .unwrap();
        assert!(claim(&c, 499, 1, 60_000).unwrap().is_empty());
        let item = claim(&c, 500, 1, 60_000).unwrap().remove(0);
        assert_eq!(item.attempts, 1);
        complete(
            &c,
            &item,
            &Outcome::Park {
                error: "gave up".into(),
            },
            600,
        )
        .unwrap();
        let d = depth(&c, 700).unwrap();
        assert_eq!((d.pending, d.failed), (0, 1));
        assert!(claim(&c, 10_000, 1, 60_000).unwrap().is_empty());
        assert_eq!(retry_parked(&c, 800).unwrap(), 1);
        let item = claim(&c, 800, 1, 60_000).unwrap().remove(0);
        assert_eq!(item.attempts, 0);
    }

    #[test]
    fn block_lists_merge_and_overflow_to_full_content() {
        let (_d, c) = conn();
        let mut s = page("p", reason::BLOCKS, 0);
        s.blocks = vec!["b1".into(), "b2".into()];
        enqueue(&c, &s, 0).unwrap();
        s.blocks = vec!["b2".into(), "b3".into()];
        enqueue(&c, &s, 0).unwrap();
        let item = claim(&c, 0, 1, 1).unwrap().remove(0);
        assert_eq!(item.blocks, vec!["b1", "b2", "b3"]);
        release(&c, &[item]).unwrap();
        s.blocks = (0..40).map(|i| format!("x{i}")).collect();
        enqueue(&c, &s, 0).unwrap();
        let item = claim(&c, 0, 1, 1).unwrap().remove(0);
        assert_eq!(item.reasons & reason::CONTENT, reason::CONTENT);
        assert!(item.blocks.is_empty());
    }

    #[test]
    fn sweep_signals_merge_but_never_repeat_covered_runs() {
        let (_d, c) = conn();
        enqueue(&c, &page("p", reason::PROPERTIES | reason::CONTENT, 0), 0).unwrap();
        let item = claim(&c, 0, 1, 60_000).unwrap().remove(0);
        let mut sweep = page("p", reason::CONTENT, 0);
        sweep.if_idle = true;
        enqueue(&c, &sweep, 0).unwrap();
        complete(&c, &item, &Outcome::Done, 1).unwrap();
        assert_eq!(
            depth(&c, 10).unwrap(),
            Depth::default(),
            "a covered run does not repeat"
        );
        // A run that does not cover the sweep's reasons runs once more, for those only.
        enqueue(&c, &page("p", reason::PROPERTIES, 0), 0).unwrap();
        let item = claim(&c, 10, 1, 60_000).unwrap().remove(0);
        enqueue(&c, &sweep, 0).unwrap();
        complete(&c, &item, &Outcome::Done, 11).unwrap();
        let again = claim(&c, 20, 1, 60_000).unwrap();
        assert_eq!(again[0].reasons, reason::CONTENT);
        complete(&c, &again[0], &Outcome::Done, 21).unwrap();
        // Pending work absorbs sweep signals.
        enqueue(&c, &page("q", reason::PROPERTIES, 50), 0).unwrap();
        enqueue(&c, &sweep_q(), 0).unwrap();
        let merged = claim(&c, 50, 1, 60_000).unwrap();
        assert_eq!(merged[0].reasons, reason::PROPERTIES | reason::CONTENT);
    }

    fn sweep_q() -> Signal {
        let mut s = page("q", reason::CONTENT, 0);
        s.if_idle = true;
        s
    }

    #[tokio::test]
    async fn only_work_due_before_the_planned_look_wakes_the_pool() {
        let wake = Wake::default();
        let quick = std::time::Duration::from_millis(50);
        wake.plan(1_000);
        wake.due_at(2_000);
        wake.due_at(1_500);
        assert!(
            tokio::time::timeout(quick, wake.woken()).await.is_err(),
            "later work does not wake"
        );
        wake.due_at(900);
        assert!(
            tokio::time::timeout(quick, wake.woken()).await.is_ok(),
            "earlier work wakes"
        );
        wake.due_at(950);
        assert!(
            tokio::time::timeout(quick, wake.woken()).await.is_err(),
            "900 is already known"
        );
    }

    #[test]
    fn crashed_runs_are_recovered() {
        let (_d, c) = conn();
        enqueue(&c, &page("p", reason::PROPERTIES, 0), 0).unwrap();
        claim(&c, 0, 1, 60_000).unwrap();
        assert_eq!(recover(&c).unwrap(), 1);
        assert_eq!(claim(&c, 0, 1, 60_000).unwrap().len(), 1);
    }
}
