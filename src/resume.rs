//! Start-up after a gap: how far behind the mirror is, whether this file is a copy (restored
//! from a Litestream replica or a `notion-mirror backup`, or copied), the sweeps a previous
//! process left unsettled, and which sweep catches up (docs/replication.md, "Restore and
//! resume").
//!
//! A mirror is only ever behind Notion; what it holds is always a consistent, committed
//! state (the queue row of an event is committed with the event). So resuming is the
//! daemon's ordinary machinery — the durable queue, the watermark, the webhook token — plus
//! three decisions made here, once, before the first sweep:
//! - sweeps whose listings ended but whose work was not done yet are watched again, so
//!   their watermark still moves when their work (in the queue) is done;
//! - a mirror behind by more than [`CATCH_UP_AFTER`] gets an incremental sweep at once
//!   (changes with a timestamp: pages, properties, content, databases, data sources);
//! - a copy also lost the events its original acknowledged after the snapshot, including
//!   those no timestamp shows (comments, locks): it gets one full sweep — the daily one,
//!   timestamp-guided, not a resync — which lists everything and re-reads comment lists
//!   (a copy of a mirror that was never complete, taken mid-cold-sync, gets the comment
//!   lists of the pages it already holds queued here: its full sweep lists only those of
//!   the pages it fetches); and a page whose tree was read within a minute of its edit
//!   gets its tree read again (a later edit that minute moved no timestamp; its event is
//!   what the copy lost).
//!
//! Invariants: nothing here fetches or deletes anything; a copy is recognised by the
//! identity (machine, device, inode) the daemon records in `settings` at every start, so a
//! restart in place is never mistaken for a restore; every decision is logged with how far
//! behind the mirror is.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::mirror::{write, Store, StoreError};
use crate::reconcile::{Settler, SweepFigures, SweepKind, Triggers, WATERMARK_KEY};

/// Settings key of the file's identity (`host=… dev=… ino=…`) at the last start.
pub const IDENTITY_KEY: &str = "mirror.identity";
/// A mirror whose newest record is older than this gets an incremental sweep at start-up
/// (the default incremental interval: a shorter gap waits for the next scheduled sweep).
pub const CATCH_UP_AFTER: Duration = Duration::from_secs(300);

/// The newest records in the mirror: when it last saw Notion or a webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behind {
    /// Newest `webhook_events.received_at`.
    pub last_event: Option<String>,
    /// Newest start, end or settlement of a sweep.
    pub last_sweep: Option<String>,
    /// Newest `synced_at` of a page (a work item or a listing wrote it).
    pub last_write: Option<String>,
    /// The incremental watermark (a Notion `last_edited_time`).
    pub watermark: Option<String>,
}

impl Behind {
    /// The newest of the records (ISO-8601 strings of one format compare as text).
    pub fn newest(&self) -> Option<&str> {
        [&self.last_event, &self.last_sweep, &self.last_write]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .max()
    }

    /// How long ago the newest record was written, if there is one.
    pub fn age(&self, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        let newest = chrono::DateTime::parse_from_rfc3339(self.newest()?).ok()?;
        (now - newest.with_timezone(&chrono::Utc)).to_std().ok()
    }
}

/// Reads the newest records.
pub fn behind(conn: &Connection) -> Result<Behind, StoreError> {
    let one = |sql: &str| -> Result<Option<String>, StoreError> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, Option<String>>(0))?)
    };
    Ok(Behind {
        last_event: one("SELECT max(received_at) FROM webhook_events")?,
        last_sweep: one(
            "SELECT max(max(started_at), coalesce(max(finished_at), ''), coalesce(max(settled_at), ''))
             FROM sync_runs",
        )?
        .filter(|s| !s.is_empty()),
        last_write: one("SELECT max(synced_at) FROM pages")?,
        watermark: write::get_setting(conn, WATERMARK_KEY)?,
    })
}

/// The identity of the mirror file on this machine.
pub fn identity(db: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(db)?;
    Ok(format!(
        "host={} dev={} ino={}",
        host_id(),
        meta.dev(),
        meta.ino()
    ))
}

/// `/etc/machine-id`, else the host name.
fn host_id() -> String {
    ["/etc/machine-id", "/proc/sys/kernel/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether the file is the one the daemon last ran on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// No identity recorded yet (a new mirror, or one from before this check).
    Unknown,
    /// The same file on the same machine.
    Same,
    /// Another file: restored, copied, or moved to another machine.
    Copy { recorded: String },
}

/// Compares the recorded identity with `current`.
pub fn origin(recorded: Option<&str>, current: &str) -> Origin {
    match recorded {
        None => Origin::Unknown,
        Some(r) if r == current => Origin::Same,
        Some(r) => Origin::Copy {
            recorded: r.to_string(),
        },
    }
}

/// The sweep that catches up at start-up (beyond one the mirror owes anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// Nothing now: the scheduled sweeps suffice.
    Nothing,
    /// An incremental sweep now.
    Incremental,
    /// A full sweep now (a copy: events after its snapshot are lost).
    Full,
}

/// Decides the catch-up: a copy gets a full sweep; a mirror with a watermark whose newest
/// record is older than [`CATCH_UP_AFTER`] an incremental one (without a watermark no
/// sweep ever settled, and the owed full sweep or the next incremental — which runs full
/// without one — covers it).
pub fn plan(origin: &Origin, behind: &Behind, age: Option<Duration>) -> CatchUp {
    if matches!(origin, Origin::Copy { .. }) && behind.newest().is_some() {
        return CatchUp::Full;
    }
    let stale = age.is_some_and(|a| a > CATCH_UP_AFTER);
    if stale && behind.watermark.is_some() {
        CatchUp::Incremental
    } else {
        CatchUp::Nothing
    }
}

/// Sweeps whose listings ended without error but whose work was not done when the last
/// process stopped, rebuilt as the figures [`Settler`] watches.
pub fn unsettled(conn: &Connection) -> Result<Vec<SweepFigures>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, kind, watermark FROM sync_runs
         WHERE finished_at IS NOT NULL AND settled_at IS NULL AND error IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (run_id, kind, watermark) = row?;
        out.push(SweepFigures {
            kind: SweepKind::ALL.into_iter().find(|k| k.as_str() == kind),
            run_id,
            watermark,
            ..SweepFigures::default()
        });
    }
    Ok(out)
}

/// What start-up found and did (for the log and tests).
#[derive(Debug, Clone)]
pub struct Resumed {
    pub behind: Behind,
    pub age: Option<Duration>,
    pub origin: Origin,
    pub catch_up: CatchUp,
    pub rewatched: usize,
}

/// At daemon start (after `close_interrupted_runs` and `queue::recover`): logs how far
/// behind the mirror is, watches unsettled sweeps again, triggers the catch-up (unless
/// `full_owed`: the full sweep or resync the mirror owes covers it) and records the file's
/// identity.
pub async fn on_start(
    store: &Store,
    db: &Path,
    triggers: &Triggers,
    settler: &Arc<Settler>,
    full_owed: bool,
) -> Result<Resumed, StoreError> {
    let current = identity(db).map_err(|e| StoreError::Io {
        path: db.display().to_string(),
        what: "cannot stat the mirror",
        source: e,
    })?;
    let (behind, recorded, runs, queued, completed) = store
        .read(|c| {
            let queued: i64 = c.query_row(
                "SELECT count(*) FROM queue WHERE state != 'failed'",
                [],
                |r| r.get(0),
            )?;
            Ok((
                behind(c)?,
                write::get_setting(c, IDENTITY_KEY)?,
                unsettled(c)?,
                queued,
                crate::mirror::read::completed_once(c)?,
            ))
        })
        .await?;
    let origin = origin(recorded.as_deref(), &current);
    let age = behind.age(chrono::Utc::now());
    let catch_up = match plan(&origin, &behind, age) {
        // The full sweep (or resync) the mirror owes anyway covers the catch-up.
        _ if full_owed => CatchUp::Nothing,
        planned => planned,
    };
    report(&behind, age, &origin, catch_up, runs.len(), queued);
    let rewatched = runs.len();
    for figures in runs {
        settler.watch(figures);
    }
    match catch_up {
        CatchUp::Full => triggers.request(SweepKind::Full),
        CatchUp::Incremental => triggers.request(SweepKind::Incremental),
        CatchUp::Nothing => {}
    }
    if matches!(origin, Origin::Copy { .. }) && !completed && behind.newest().is_some() {
        // Before its first complete sweep a full sweep re-lists only the comments of the
        // pages it fetches; a copy also lost comment events for pages fetched before its
        // snapshot, so those pages' comment lists are read once more.
        let n = store.write(relist_comments).await?;
        tracing::info!(
            pages = n,
            "comment lists of the pages mirrored before the snapshot are read again"
        );
    }
    if matches!(origin, Origin::Copy { .. }) && behind.newest().is_some() {
        let n = store.write(reread_unsettled).await?;
        tracing::info!(
            pages = n,
            "trees read within a minute of their edit before the snapshot are read again"
        );
    }
    if recorded.as_deref() != Some(current.as_str()) {
        store
            .write(move |c| write::set_setting(c, IDENTITY_KEY, &current))
            .await?;
    }
    Ok(Resumed {
        behind,
        age,
        origin,
        catch_up,
        rewatched,
    })
}

fn report(
    behind: &Behind,
    age: Option<Duration>,
    origin: &Origin,
    catch_up: CatchUp,
    rewatched: usize,
    queued: i64,
) {
    let Some(newest) = behind.newest() else {
        return; // an empty mirror: the cold sync says the rest
    };
    let age_text = age.map(human).unwrap_or_else(|| "in the future".into());
    let what = match (origin, catch_up) {
        (Origin::Copy { .. }, CatchUp::Nothing) => "this mirror is a copy (restored from a replica or a backup); the full sweep it owes catches up (only what changed is fetched; comment lists are re-read)",
        (Origin::Copy { .. }, _) => "this mirror is a copy (restored from a replica or a backup): events its original acknowledged after the snapshot are lost, so a full sweep (only what changed is fetched; comment lists are re-read) catches up",
        (_, CatchUp::Incremental) => "behind: an incremental sweep catches up now",
        _ => "resuming",
    };
    tracing::info!(
        newest = newest,
        behind = %age_text,
        last_event = behind.last_event.as_deref().unwrap_or("none"),
        last_sweep = behind.last_sweep.as_deref().unwrap_or("none"),
        watermark = behind.watermark.as_deref().unwrap_or("none"),
        queued,
        unsettled_sweeps = rewatched,
        "the mirror's newest record is {age_text} old; {what}"
    );
    if let Origin::Copy { recorded } = origin {
        tracing::info!(was = %recorded, "the mirror file's identity changed since the last start");
    }
}

/// Queues a comment listing (sweep priority) for every live page whose content was
/// fetched; returns how many.
fn relist_comments(conn: &Connection) -> Result<usize, StoreError> {
    let mut stmt = conn
        .prepare("SELECT id FROM pages WHERE in_trash = 0 AND content_edited_time IS NOT NULL")?;
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    queue_pages(conn, &ids, crate::queue::reason::COMMENTS)
}

/// Queues page work for `reasons` at sweep priority for each of `ids`; returns how many.
fn queue_pages(conn: &Connection, ids: &[String], reasons: u32) -> Result<usize, StoreError> {
    let origin = crate::fetch::Origin::sweep(None);
    let now = crate::queue::now_ms();
    for id in ids {
        let signal = origin.signal(crate::queue::Kind::Page, id, reasons);
        crate::queue::enqueue(conn, &signal, now)?;
    }
    Ok(ids.len())
}

/// Queues a whole-tree read (sweep priority) for every live page whose last tree read was
/// unsettled — it started within [`CONTENT_SETTLE_SECS`] of the version it read, so a later
/// edit in that minute moved no timestamp and only its event told of it, and a copy lost the
/// events its original acknowledged after the snapshot. Every lost event is older than
/// this start, so one read now covers them. Returns how many.
///
/// [`CONTENT_SETTLE_SECS`]: crate::mirror::read::CONTENT_SETTLE_SECS
fn reread_unsettled(conn: &Connection) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id FROM pages WHERE in_trash = 0 AND content_edited_time IS NOT NULL
           AND (content_synced_at IS NULL
                OR julianday(content_synced_at)
                   < julianday(content_edited_time) + ?1 / 86400.0)",
    )?;
    let ids = stmt
        .query_map([crate::mirror::read::CONTENT_SETTLE_SECS], |r| {
            r.get::<_, String>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    queue_pages(conn, &ids, crate::queue::reason::CONTENT)
}

/// `1h02m`, `4m07s`, `12s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 {
        format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
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

    fn behind_at(newest: &str, watermark: bool) -> Behind {
        Behind {
            last_event: Some(newest.into()),
            watermark: watermark.then(|| "2026-01-01T00:00:00.000Z".to_string()),
            ..Behind::default()
        }
    }

    #[test]
    fn a_copy_gets_a_full_sweep_a_stale_mirror_an_incremental_one() {
        let copy = Origin::Copy {
            recorded: "host=a dev=1 ino=2".into(),
        };
        let b = behind_at("2026-01-01T00:00:00.000Z", true);
        let long = Some(Duration::from_secs(3600));
        let short = Some(Duration::from_secs(10));
        assert_eq!(plan(&copy, &b, short), CatchUp::Full);
        assert_eq!(plan(&Origin::Same, &b, long), CatchUp::Incremental);
        assert_eq!(plan(&Origin::Unknown, &b, long), CatchUp::Incremental);
        assert_eq!(plan(&Origin::Same, &b, short), CatchUp::Nothing);
        let no_mark = behind_at("2026-01-01T00:00:00.000Z", false);
        assert_eq!(plan(&Origin::Same, &no_mark, long), CatchUp::Nothing);
        assert_eq!(
            plan(&copy, &Behind::default(), None),
            CatchUp::Nothing,
            "an empty copy is a new mirror"
        );
    }

    #[test]
    fn identity_tells_a_copy_from_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.db");
        std::fs::write(&a, b"x").unwrap();
        let id = identity(&a).unwrap();
        assert_eq!(origin(Some(&id), &identity(&a).unwrap()), Origin::Same);
        let b = dir.path().join("b.db");
        std::fs::copy(&a, &b).unwrap();
        assert!(matches!(
            origin(Some(&id), &identity(&b).unwrap()),
            Origin::Copy { .. }
        ));
        assert_eq!(origin(None, &id), Origin::Unknown);
        let moved = dir.path().join("moved.db");
        std::fs::rename(&a, &moved).unwrap();
        assert_eq!(
            origin(Some(&id), &identity(&moved).unwrap()),
            Origin::Same,
            "a rename in place is the same file"
        );
    }

    #[test]
    fn newest_record_and_age() {
        let b = Behind {
            last_event: Some("2026-01-01T00:00:05.000Z".into()),
            last_sweep: Some("2026-01-01T00:01:00.000Z".into()),
            last_write: Some("2026-01-01T00:00:30.000Z".into()),
            watermark: None,
        };
        assert_eq!(b.newest(), Some("2026-01-01T00:01:00.000Z"));
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T01:01:00.000Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(b.age(now), Some(Duration::from_secs(3600)));
        assert_eq!(human(Duration::from_secs(3725)), "1h02m");
        assert_eq!(human(Duration::from_secs(90_000)), "1d01h");
    }

    #[test]
    fn unsettled_sweeps_come_back_with_their_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
        let run = write::start_run(&conn, "full").unwrap();
        let figures = write::RunFigures {
            watermark: Some("2026-01-01T00:00:00.000Z".into()),
            ..write::RunFigures::default()
        };
        write::finish_run(&conn, run, &figures).unwrap();
        let interrupted = write::start_run(&conn, "incremental").unwrap();
        write::close_interrupted_runs(&conn).unwrap();
        let settled = write::start_run(&conn, "incremental").unwrap();
        write::finish_run(&conn, settled, &write::RunFigures::default()).unwrap();
        write::settle_run(&conn, settled).unwrap();
        let runs = unsettled(&conn).unwrap();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].run_id, run);
        assert_ne!(runs[0].run_id, interrupted);
        assert_eq!(runs[0].kind, Some(SweepKind::Full));
        assert_eq!(
            runs[0].watermark.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        let b = behind(&conn).unwrap();
        assert!(b.last_sweep.is_some() && b.last_event.is_none());
    }

    #[test]
    fn a_copy_rereads_the_trees_read_within_a_minute_of_their_edit() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
        let page = |id: &str, edited: &str, read: &str| {
            conn.execute(
                "INSERT INTO pages (id, raw, parent_type, created_time, last_edited_time,
                                    in_trash, synced_at, content_edited_time, content_synced_at)
                 VALUES (?1, '{}', 'workspace', ?2, ?2, 0, ?3, ?2, ?3)",
                rusqlite::params![id, edited, read],
            )
            .unwrap();
        };
        page("a", "2026-01-01T00:01:00.000Z", "2026-01-01T00:01:38.000Z"); // unsettled
        page("b", "2026-01-01T00:01:00.000Z", "2026-01-01T00:03:00.000Z"); // settled
        assert_eq!(reread_unsettled(&conn).unwrap(), 1);
        let queued: Vec<String> = conn
            .prepare("SELECT id FROM queue")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(queued, vec!["a".to_string()]);
    }
}
