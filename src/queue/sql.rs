//! The queue's statements: enqueue (coalescing), claim, complete, release, recovery and
//! the figures `status` and the metrics read.
//!
//! Invariant: every function runs on the writer's connection, inside the writer's
//! transaction, so each read-modify-write of a row is atomic.

use std::collections::BTreeSet;

use rusqlite::{params, Connection, OptionalExtension};

use super::{reason, Depth, Kind, Outcome, Signal, WorkItem, MAX_BLOCKS, PRIORITY_SWEEP};
use crate::mirror::StoreError;

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

/// The later of two optional ISO timestamps.
fn later(a: Option<String>, b: Option<&String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) if b.as_str() > a.as_str() => Some(b.clone()),
        (Some(a), _) => Some(a),
        (None, b) => b.cloned(),
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
    signalled_at: Option<String>,
    sweep_run: Option<i64>,
}

fn load_row(conn: &Connection, kind: Kind, id: &str) -> Result<Option<Row>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT state, reasons, blocks, next_reasons, next_blocks, due_at, priority, hint,
                    signalled_at, sweep_run
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
                signalled_at: r.get(8)?,
                sweep_run: r.get(9)?,
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
                "INSERT INTO queue (kind, id, reasons, blocks, hint, priority, due_at, state,
                                    enqueued_at, signalled_at, sweep_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10)",
            )?
            .execute(params![
                signal.kind.as_str(),
                signal.id,
                reasons,
                blocks_to_json(&blocks),
                signal.hint,
                signal.priority,
                signal.due_at,
                now_ms,
                signal.signalled_at,
                signal.sweep_run
            ])?;
        }
        Some(row)
            if signal.if_idle
                && (row.state == "failed"
                    || (row.state == "running"
                        && (row.reasons | row.next_reasons) & reasons == reasons)) =>
        {
            // Covered by the run in progress (or parked): the sweep owns nothing here.
            return Ok(());
        }
        Some(row) if row.state == "running" => {
            let mut next = row.next_reasons | reasons;
            let mut blocks = row.next_blocks;
            merge_blocks(&mut next, &mut blocks, &signal.blocks);
            conn.prepare_cached(
                "UPDATE queue SET next_reasons = ?3, next_blocks = ?4, priority = min(priority, ?5),
                     hint = coalesce(?6, hint), signalled_at = ?7,
                     sweep_run = coalesce(?8, sweep_run)
                 WHERE kind = ?1 AND id = ?2",
            )?
            .execute(params![
                signal.kind.as_str(),
                signal.id,
                next,
                blocks_to_json(&blocks),
                signal.priority,
                signal.hint,
                later(row.signalled_at, signal.signalled_at.as_ref()),
                signal.sweep_run
            ])?;
        }
        Some(row) => {
            // pending: merge; failed (parked): a new signal revives it with fresh attempts.
            let revive = row.state == "failed";
            let mut merged = row.reasons | reasons;
            let mut blocks = row.blocks.clone();
            merge_blocks(&mut merged, &mut blocks, &signal.blocks);
            let signalled_at = later(row.signalled_at.clone(), signal.signalled_at.as_ref());
            let unchanged = !revive
                && merged == row.reasons
                && blocks == row.blocks
                && signal.due_at >= row.due_at
                && signal.priority >= row.priority
                && (signal.hint.is_none() || signal.hint == row.hint)
                && signalled_at == row.signalled_at
                && (signal.sweep_run.is_none() || signal.sweep_run == row.sweep_run);
            if unchanged {
                // A burst of signals for one pending object changes nothing after the first:
                // skipping the UPDATE keeps its page clean (ingest writes less).
                return Ok(());
            }
            conn.prepare_cached(
                "UPDATE queue SET reasons = ?3, blocks = ?4, priority = min(priority, ?5),
                     due_at = CASE WHEN ?7 THEN ?6 ELSE min(due_at, ?6) END,
                     state = 'pending', attempts = CASE WHEN ?7 THEN 0 ELSE attempts END,
                     hint = coalesce(?8, hint), signalled_at = ?9,
                     sweep_run = coalesce(?10, sweep_run)
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
                signal.hint,
                signalled_at,
                signal.sweep_run
            ])?;
        }
    }
    if let Some(run) = signal.sweep_run {
        conn.prepare_cached(
            "INSERT INTO sweep_items (run, kind, id, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (run, kind, id) DO UPDATE SET at = excluded.at",
        )?
        .execute(params![run, signal.kind.as_str(), signal.id, now_ms])?;
    }
    Ok(())
}

/// Sweeps' claims on an object that a run claimed at `claimed_at` covered.
fn settle_sweep_items(conn: &Connection, item: &WorkItem) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sweep_items WHERE kind = ?1 AND id = ?2 AND at <= ?3")?
        .execute(params![item.kind.as_str(), item.id, item.claimed_at])?;
    Ok(())
}

/// Claims up to `limit` due items, most urgent first, marking them running. At most
/// `sweep_limit` of them are sweep work, so a pool busy with a sweep always has room for
/// webhook work.
pub fn claim(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
    sweep_limit: usize,
    lease_ms: i64,
) -> Result<Vec<WorkItem>, StoreError> {
    let mut items: Vec<WorkItem> = Vec::new();
    for (priority_clause, take) in [("priority < ?3", limit), ("priority >= ?3", sweep_limit)] {
        let take = take.min(limit - items.len());
        if take == 0 {
            continue;
        }
        let sql = format!(
            "SELECT kind, id, reasons, blocks, hint, priority, attempts, due_at, signalled_at,
                    sweep_run
             FROM queue WHERE state = 'pending' AND due_at <= ?1 AND {priority_clause}
             ORDER BY priority, due_at LIMIT ?2"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![now_ms, take as i64, PRIORITY_SWEEP], |r| {
            Ok((
                r.get::<_, String>(0)?,
                WorkItem {
                    kind: Kind::Page,
                    id: r.get(1)?,
                    reasons: r.get(2)?,
                    blocks: blocks_from_json(r.get(3)?).into_iter().collect(),
                    hint: r.get(4)?,
                    priority: r.get(5)?,
                    attempts: r.get(6)?,
                    due_at: r.get(7)?,
                    claimed_at: now_ms,
                    signalled_at: r.get(8)?,
                    sweep_run: r.get(9)?,
                },
            ))
        })?;
        for row in rows {
            let (kind, mut item) = row?;
            let Some(kind) = Kind::parse(&kind) else {
                continue;
            };
            item.kind = kind;
            items.push(item);
        }
    }
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
    let claimed_iso = super::iso_ms(item.claimed_at);
    if !matches!(outcome, Outcome::RetryAt { .. }) {
        settle_sweep_items(conn, item)?;
    }
    let settled = match outcome {
        Outcome::Done => {
            if row.next_reasons != 0 {
                // Tags that arrived during the run belong to the next run; the ones the
                // run carried are done.
                conn.prepare_cached(
                    "UPDATE queue SET state = 'pending', reasons = next_reasons, blocks = next_blocks,
                         next_reasons = 0, next_blocks = NULL, attempts = 0, last_error = NULL,
                         lease_until = NULL, claimed_at = NULL, due_at = max(?3, due_at),
                         signalled_at = CASE WHEN signalled_at IS ?4 THEN NULL ELSE signalled_at END,
                         sweep_run = CASE WHEN sweep_run IS ?5 THEN NULL ELSE sweep_run END
                     WHERE kind = ?1 AND id = ?2",
                )?
                .execute(params![
                    item.kind.as_str(),
                    item.id,
                    now_ms,
                    item.signalled_at,
                    item.sweep_run
                ])?;
            } else {
                conn.prepare_cached("DELETE FROM queue WHERE kind = ?1 AND id = ?2")?
                    .execute(params![item.kind.as_str(), item.id])?;
            }
            let mut settled = conn
                .prepare_cached(
                    "UPDATE webhook_events SET status = 'done', error = NULL
                 WHERE entity_id = ?1 AND status IN ('queued', 'failed') AND received_at <= ?2",
                )?
                .execute(params![item.id, claimed_iso])?;
            if item.kind == Kind::Page {
                settled += settle_row_events(conn, &item.id, &claimed_iso)?;
            }
            settled
        }
        Outcome::RetryAt { at, error } => {
            let (reasons, blocks) = merged_with_next(&row);
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
            let (reasons, blocks) = merged_with_next(&row);
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

/// `data_source.content_updated` events are worked on as the rows they name: one is done
/// when this row is done and none of the others it names is still queued.
fn settle_row_events(conn: &Connection, row: &str, claimed_iso: &str) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE webhook_events SET status = 'done', error = NULL
             WHERE status IN ('queued', 'failed') AND received_at <= ?2
               AND type = 'data_source.content_updated'
               AND EXISTS (SELECT 1 FROM json_each(raw, '$.data.updated_blocks') j
                           WHERE lower(json_extract(j.value, '$.id')) = ?1)
               AND NOT EXISTS (SELECT 1 FROM json_each(raw, '$.data.updated_blocks') j
                               JOIN queue q ON q.kind = 'page'
                                 AND q.id = lower(json_extract(j.value, '$.id'))
                               WHERE q.id != ?1 AND q.state != 'failed')",
        )?
        .execute(params![row, claimed_iso])?)
}

fn merged_with_next(row: &Row) -> (u32, BTreeSet<String>) {
    let mut reasons = row.reasons | row.next_reasons;
    let mut blocks = row.blocks.clone();
    let next: Vec<String> = row.next_blocks.iter().cloned().collect();
    merge_blocks(&mut reasons, &mut blocks, &next);
    (reasons, blocks)
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
/// The earliest due time among pending rows the pool could claim: with
/// `sweep_claimable` false (its sweep slots are full), webhook work only.
pub fn next_due(conn: &Connection, sweep_claimable: bool) -> Result<Option<i64>, StoreError> {
    let sql = if sweep_claimable {
        "SELECT min(due_at) FROM queue WHERE state = 'pending'"
    } else {
        "SELECT min(due_at) FROM queue WHERE state = 'pending' AND priority < ?1"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(if sweep_claimable {
        stmt.query_row([], |r| r.get(0))?
    } else {
        stmt.query_row([PRIORITY_SWEEP], |r| r.get(0))?
    })
}

/// Objects sweep `run` queued work for that are still pending or running (parked work
/// does not count: a full sweep requeues it). Work another sweep or a webhook merged into
/// the same row is waited for too: it covers this sweep's.
pub fn sweep_open(conn: &Connection, run: i64) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM sweep_items s JOIN queue q ON q.kind = s.kind AND q.id = s.id
             WHERE s.run = ?1 AND q.state != 'failed'",
        )?
        .query_row([run], |r| r.get::<_, i64>(0))?
        .max(0) as u64)
}

/// A settled sweep's bookkeeping goes; `None`: that of every sweep that will never
/// settle (at start-up: those interrupted or failed during their listings, and settled
/// ones a crash left behind). Sweeps whose listings ended keep theirs: they are watched
/// again after a restart.
pub fn forget_sweeps(conn: &Connection, run: Option<i64>) -> Result<(), StoreError> {
    match run {
        Some(run) => conn
            .prepare_cached("DELETE FROM sweep_items WHERE run = ?1")?
            .execute([run])?,
        None => conn.execute(
            "DELETE FROM sweep_items WHERE run NOT IN (SELECT id FROM sync_runs
                 WHERE finished_at IS NOT NULL AND settled_at IS NULL AND error IS NULL)",
            [],
        )?,
    };
    Ok(())
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
