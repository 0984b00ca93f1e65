//! `notion-mirror status`: a read-only summary of the mirror — counts, sweeps, the queue,
//! parked failures, webhooks — for humans or as JSON.
//!
//! Invariant: opens the mirror read-only (safe while the daemon runs) and never prints
//! the verification token unless asked (`--show-token`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::mirror::{open, write, StoreError, USER_TABLES};
use crate::queue;
use crate::webhook::events::{printable, type_label};
use crate::webhook::ingest::ACTIVE_TOKEN_KEY;
use crate::webhook::tokens::{self, Arrival, Ignored};

#[derive(Debug, Serialize)]
pub struct Run {
    pub started_at: String,
    pub finished_at: Option<String>,
    /// When the work the sweep queued was done (its watermark moved then).
    pub settled_at: Option<String>,
    pub requests: i64,
    pub objects: i64,
    pub removed: i64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Parked {
    pub kind: String,
    pub id: String,
    pub attempts: i64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct QueueStatus {
    pub pending: u64,
    pub running: u64,
    pub parked: u64,
    /// When the oldest pending item became due.
    pub oldest_pending: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Webhooks {
    pub last_received_at: Option<String>,
    pub last_type: Option<String>,
    /// Events received in the last hour, by type (types Notion does not document are
    /// counted together as `other`).
    pub last_hour: BTreeMap<String, i64>,
    pub verification_token_stored: bool,
    pub pending_token: bool,
    /// The first characters of the pending token (to tell tokens apart, not to use one).
    pub pending_token_prefix: Option<String>,
    /// When and from where the pending token arrived.
    pub pending_token_from: Option<Arrival>,
    /// Different tokens that arrived while one was pending (not kept).
    pub pending_tokens_ignored: Option<Ignored>,
}

/// Characters of a pending token `status` shows (`secret_` and five more).
const TOKEN_PREFIX: usize = 12;

/// Archived files (docs/files.md).
#[derive(Debug, Serialize)]
pub struct Files {
    /// What writes record: `off`, `hosted` or `all` (hosted and external).
    pub mode: String,
    pub stored: u64,
    pub pending: u64,
    pub failed: u64,
    pub too_large: u64,
    /// Bytes of the distinct blobs on disk.
    pub bytes: u64,
    /// Where the blobs are (as the archiving process recorded it).
    pub dir: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub db: String,
    /// The workspace users/me named when the daemon or `sync` last started (`None` until
    /// then; `status` itself makes no request).
    pub workspace: Option<crate::workspace::Workspace>,
    pub schema_version: u32,
    pub counts: BTreeMap<String, i64>,
    pub last_full_sweep: Option<Run>,
    pub last_incremental_sweep: Option<Run>,
    /// Every sweep kind: its schedule (as the daemon last recorded it) and its last run.
    pub sweeps: Vec<Sweep>,
    /// A resync was asked for and has not settled yet (a restart resumes it).
    pub resync_pending_since: Option<String>,
    pub watermark: Option<String>,
    pub queue: QueueStatus,
    pub parked: Vec<Parked>,
    pub webhooks: Webhooks,
    /// Objects of types this version does not know, stored raw (`"block future_block"`).
    pub unknown_types: BTreeMap<String, i64>,
    /// The newest record in the mirror (event, sweep or page write): how far behind a
    /// stopped or restored mirror is.
    pub newest_record: Option<String>,
    /// Sweep work left and its time at the configured request rate (`eta.rs`).
    pub sweep_work: Option<crate::eta::Estimate>,
    /// `None` for a mirror from before files (schema < 7).
    pub files: Option<Files>,
    /// The change feed: its newest seq (docs/history.md).
    pub changes_seq: i64,
    /// Outbound webhook destinations the daemon delivers to: cursor, lag, last error.
    pub outbound: Vec<crate::outbound::DestinationStatus>,
}

/// One kind of sweep in `status`.
#[derive(Debug, Serialize)]
pub struct Sweep {
    pub kind: &'static str,
    /// The cron the running daemon uses (`None` for `resync`, which runs on request).
    pub schedule: Option<String>,
    /// What it costs, in words.
    pub cost: &'static str,
    pub last: Option<Run>,
}

/// Settings key under which the daemon records the schedule of a sweep kind.
pub fn schedule_key(kind: &str) -> String {
    format!("schedule.{kind}")
}

fn sweeps(conn: &Connection) -> Result<Vec<Sweep>, StoreError> {
    let kinds: [(&'static str, &'static str); 4] = [
        ("incremental", "1 + data sources when nothing changed"),
        (
            "presence",
            "about pages/100 + rows/100 (search and every row), no comment lists",
        ),
        (
            "full",
            "presence + every data source and database + every page's comment lists",
        ),
        (
            "resync",
            "a cold sync's: everything refetched (SIGHUP / `notion-mirror resync`)",
        ),
    ];
    kinds
        .iter()
        .map(|(kind, cost)| {
            Ok(Sweep {
                kind,
                schedule: write::get_setting(conn, &schedule_key(kind))?,
                cost,
                last: last_run(conn, kind)?,
            })
        })
        .collect()
}

/// Reads the status from a read-only connection (the ETA at the default 3 requests/s).
pub fn gather(path: &Path) -> Result<Status, StoreError> {
    gather_with(path, 3.0)
}

/// Like [`gather`], with the ETA at `rate` requests per second.
pub fn gather_with(path: &Path, rate: f64) -> Result<Status, StoreError> {
    let conn = open::open_read_only(path)?;
    let mut counts = BTreeMap::new();
    for table in USER_TABLES {
        // A mirror from an older binary (read-only: not migrated) lacks newer tables.
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |r| r.get(0),
        )?;
        if !exists {
            continue;
        }
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        counts.insert(table.to_string(), n);
    }
    let depth = queue::depth(&conn, queue::now_ms())?;
    let oldest: Option<i64> = conn.query_row(
        "SELECT min(due_at) FROM queue WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(Status {
        db: path.display().to_string(),
        workspace: crate::workspace::recorded(&conn)?,
        schema_version: conn.query_row("PRAGMA user_version", [], |r| r.get(0))?,
        counts,
        last_full_sweep: last_run(&conn, "full")?,
        last_incremental_sweep: last_run(&conn, "incremental")?,
        sweeps: sweeps(&conn)?,
        resync_pending_since: write::get_setting(&conn, crate::daemon::RESYNC_PENDING)?,
        watermark: write::get_setting(&conn, crate::reconcile::WATERMARK_KEY)?,
        queue: QueueStatus {
            pending: depth.pending,
            running: depth.running,
            parked: depth.failed,
            oldest_pending: oldest.map(queue::iso_ms),
        },
        parked: parked(&conn)?,
        webhooks: webhooks(&conn)?,
        unknown_types: crate::mirror::known::unknown_types(&conn)?,
        newest_record: crate::resume::behind(&conn)?.newest().map(str::to_string),
        sweep_work: crate::eta::estimate(&conn, rate)?,
        files: files(&conn)?,
        changes_seq: crate::history::last_seq(&conn)?,
        outbound: crate::outbound::status(&conn)?,
    })
}

fn files(conn: &Connection) -> Result<Option<Files>, StoreError> {
    use crate::mirror::write::files as rows;
    let Some(c) = crate::files::counts(conn)? else {
        return Ok(None);
    };
    Ok(Some(Files {
        mode: rows::mode(conn)?.as_str().to_string(),
        stored: c.stored,
        pending: c.pending,
        failed: c.failed,
        too_large: c.too_large,
        bytes: c.bytes,
        dir: write::get_setting(conn, rows::DIR_KEY)?,
    }))
}

/// `12.3 MiB` and the like.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn last_run(conn: &Connection, kind: &str) -> Result<Option<Run>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT started_at, finished_at, requests, objects, removed, error, settled_at
             FROM sync_runs WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
            [kind],
            |r| {
                Ok(Run {
                    started_at: r.get(0)?,
                    finished_at: r.get(1)?,
                    settled_at: r.get(6)?,
                    requests: r.get(2)?,
                    objects: r.get(3)?,
                    removed: r.get(4)?,
                    error: r.get(5)?,
                })
            },
        )
        .optional()?)
}

fn parked(conn: &Connection) -> Result<Vec<Parked>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT kind, id, attempts, last_error FROM queue WHERE state = 'failed' ORDER BY enqueued_at LIMIT 50",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Parked {
            kind: r.get(0)?,
            id: r.get(1)?,
            attempts: r.get(2)?,
            error: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn webhooks(conn: &Connection) -> Result<Webhooks, StoreError> {
    let last: Option<(String, String)> = conn
        .query_row(
            "SELECT received_at, type FROM webhook_events ORDER BY received_at DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let hour_ago = queue::iso_ms(queue::now_ms() - 3_600_000);
    let mut stmt = conn.prepare(
        "SELECT type, count(*) FROM webhook_events WHERE received_at >= ?1 GROUP BY type ORDER BY type",
    )?;
    let mut last_hour = BTreeMap::new();
    let rows = stmt.query_map(params![hour_ago], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (event_type, n) = row?;
        *last_hour
            .entry(type_label(&event_type).to_string())
            .or_insert(0) += n;
    }
    let pending = tokens::pending(conn)?;
    Ok(Webhooks {
        last_received_at: last.as_ref().map(|l| l.0.clone()),
        last_type: last.map(|l| l.1),
        last_hour,
        verification_token_stored: write::get_setting(conn, ACTIVE_TOKEN_KEY)?.is_some(),
        pending_token: pending.is_some(),
        pending_token_prefix: pending
            .as_ref()
            .map(|(t, _)| t.chars().take(TOKEN_PREFIX).collect()),
        pending_token_from: pending.and_then(|(_, from)| from),
        pending_tokens_ignored: tokens::ignored(conn)?,
    })
}

/// The stored verification token (for `--show-token`).
pub fn stored_token(path: &Path) -> Result<Option<String>, StoreError> {
    let conn = open::open_read_only(path)?;
    write::get_setting(&conn, ACTIVE_TOKEN_KEY)
}

/// The pending verification token (for `--show-pending-token`).
pub fn pending_token(path: &Path) -> Result<Option<String>, StoreError> {
    let conn = open::open_read_only(path)?;
    Ok(tokens::pending(&conn)?.map(|(token, _)| token))
}

/// The human rendering.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mirror      {} (schema v{})", s.db, s.schema_version);
    match &s.workspace {
        Some(w) => {
            let id =
                w.id.as_deref()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default();
            let _ = writeln!(out, "workspace   {}{id}", printable(&w.name, 80));
        }
        None => {
            let _ = writeln!(
                out,
                "workspace   not named yet (the daemon and `sync` record it at start)"
            );
        }
    }
    let counts: Vec<String> = s.counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
    let _ = writeln!(out, "objects     {}", counts.join(" · "));
    if !s.unknown_types.is_empty() {
        let unknown: Vec<String> = s
            .unknown_types
            .iter()
            .map(|(t, n)| format!("{} {n}", printable(t, 60)))
            .collect();
        let _ = writeln!(out, "unknown     {} (stored raw)", unknown.join(" · "));
    }
    for sweep in &s.sweeps {
        let schedule = match (&sweep.schedule, sweep.kind) {
            (Some(cron), _) => format!("cron `{cron}`"),
            (None, "resync") => "on request".to_string(),
            (None, _) => "schedule not recorded yet (the daemon records it at start)".to_string(),
        };
        let _ = writeln!(out, "{:<11} {schedule} · costs {}", sweep.kind, sweep.cost);
        match &sweep.last {
            Some(r) => {
                let state = match (&r.finished_at, &r.settled_at, &r.error) {
                    (None, _, _) => "listing (or interrupted)".to_string(),
                    (Some(_), _, Some(e)) => format!("finished with errors: {e}"),
                    (Some(f), None, None) => format!("listed by {f}, its work still queued"),
                    (Some(_), Some(t), None) => format!("ok, its work done {t}"),
                };
                let _ = writeln!(
                    out,
                    "            last started {} · {} requests · {} written · {} removed · {state}",
                    r.started_at, r.requests, r.objects, r.removed
                );
            }
            None => {
                let _ = writeln!(out, "            never run");
            }
        }
    }
    if let Some(since) = &s.resync_pending_since {
        let _ = writeln!(
            out,
            "resync      asked for at {since}, not finished yet (a restart resumes it)"
        );
    }
    if let Some(w) = &s.watermark {
        let _ = writeln!(out, "watermark   {w}");
    }
    let _ = writeln!(
        out,
        "queue       {} pending · {} running · {} parked{}",
        s.queue.pending,
        s.queue.running,
        s.queue.parked,
        s.queue
            .oldest_pending
            .as_ref()
            .map(|o| format!(" · oldest due {o}"))
            .unwrap_or_default()
    );
    if let Some(e) = &s.sweep_work {
        let eta = match e.eta {
            Some(d) => format!(
                "ETA {} (~{:.0} requests at {} req/s)",
                crate::eta::humanize(d),
                e.requests_left,
                e.rate
            ),
            None if e.sweeps.iter().any(|w| w.listing) => {
                "ETA once the sweep's listing ends".into()
            }
            None => "ETA once a few items are done".into(),
        };
        let _ = writeln!(out, "sweep work  {} items left · {eta}", e.items_left);
    }
    if let Some(newest) = &s.newest_record {
        let _ = writeln!(out, "newest record {newest}");
    }
    for p in &s.parked {
        let _ = writeln!(
            out,
            "  parked    {} {} after {} attempts: {}",
            p.kind,
            p.id,
            p.attempts,
            p.error.as_deref().unwrap_or("")
        );
    }
    if !s.parked.is_empty() {
        let _ = writeln!(out, "            (requeue them with `notion-mirror retry`)");
    }
    if let Some(f) = &s.files {
        if f.mode == "off" {
            let _ = writeln!(
                out,
                "files       off (--no-files) · {} stored · {} on disk",
                f.stored,
                human_bytes(f.bytes)
            );
        } else {
            let _ = writeln!(
                out,
                "files       {} stored ({} on disk{}) · {} pending · {} failed · {} too large",
                f.stored,
                human_bytes(f.bytes),
                f.dir
                    .as_deref()
                    .map(|d| format!(" in {d}"))
                    .unwrap_or_default(),
                f.pending,
                f.failed,
                f.too_large
            );
        }
    }
    render_feed(&mut out, s);
    let w = &s.webhooks;
    match (&w.last_received_at, &w.last_type) {
        (Some(at), Some(t)) => {
            let _ = writeln!(out, "webhooks    last {} at {at}", printable(t, 80));
        }
        _ => {
            let _ = writeln!(out, "webhooks    none received yet");
        }
    }
    if !w.last_hour.is_empty() {
        let by_type: Vec<String> = w
            .last_hour
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        let _ = writeln!(out, "last hour   {}", by_type.join(" · "));
    }
    let token = if w.verification_token_stored {
        "stored (print it with --show-token)"
    } else {
        "not received yet"
    };
    let _ = writeln!(out, "verification token {token}");
    render_pending(&mut out, w);
    out
}

/// The change feed and each outbound destination.
fn render_feed(out: &mut String, s: &Status) {
    let _ = writeln!(
        out,
        "changes     {} kept · newest seq {} (`notion-mirror changes`)",
        s.counts.get("changes").copied().unwrap_or(0),
        s.changes_seq
    );
    for d in &s.outbound {
        let state = match (&d.last_error, d.failures) {
            (Some(e), n) if n > 0 => format!(
                "FAILING ({n} attempts): {} at {}",
                printable(e, 120),
                d.last_error_at.as_deref().unwrap_or("?")
            ),
            _ => "ok".to_string(),
        };
        let _ = writeln!(
            out,
            "outbound    {} ({}) cursor {} · lag {} changes, {:.0} s · {} delivered{} · {state}",
            printable(&d.name, 60),
            d.url,
            d.cursor,
            d.lag,
            d.lag_seconds,
            d.delivered,
            d.last_delivery_at
                .as_ref()
                .map(|t| format!(", last {t}"))
                .unwrap_or_default()
        );
    }
}

/// The pending token: which one, when, from where, and how to check it with Notion.
fn render_pending(out: &mut String, w: &Webhooks) {
    if w.pending_token {
        let prefix = printable(w.pending_token_prefix.as_deref().unwrap_or(""), 40);
        let from = w
            .pending_token_from
            .as_ref()
            .map(|a| format!(" at {} from {}", a.received_at, printable(&a.peer, 120)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  a different token ({prefix}…) arrived{from} and is PENDING (anyone can send one).\n  \
             If you re-created the subscription in Notion, check it is Notion's: print it with\n  \
             --show-pending-token and paste it into the subscription's Verify dialog in Notion\n  \
             (integration settings → Webhooks); Notion accepts only the token it sent. If it\n  \
             does, make it active with --accept-pending-token. If it does not, discard it with\n  \
             --clear-pending-token, press \"Resend token\" in Notion, and expect a new pending\n  \
             token received at that moment."
        );
    }
    if let Some(ignored) = &w.pending_tokens_ignored {
        let _ = writeln!(
            out,
            "  {} more different token(s) arrived while one was pending and were ignored (last at {} from {})",
            ignored.count,
            ignored.last.received_at,
            printable(&ignored.last.peer, 120)
        );
    }
}
