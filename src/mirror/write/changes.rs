//! Recording the change feed: every upsert and removal notes the object's version before
//! and after here; at the end of its store job — inside the job's transaction — the notes
//! are diffed (`mirror::changes`) and written to `changes`, so a change is in `changes` if
//! and only if it is in the mirror.
//!
//! Invariants: notes are kept per job and per object (the first version before, the last
//! after), so an object removed and written again within one job is one change, or none;
//! a job that fails leaves no row (its savepoint rolls the rows back and its notes are
//! dropped); with history off (`sync --no-history`) nothing is noted at all.
//!
//! The notes live in a thread-local: jobs run one at a time on the writer thread, which
//! opens a job's notes ([`begin`]) with the job's cause and closes them ([`finish`]).
//! Writes outside a store job (tests on a bare connection) are recorded at once.

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::mirror::changes::{self, blocks, render, Cause, Change, Object};
use crate::mirror::{now_iso, StoreError};

/// One version of an object, as the mirror holds it.
#[derive(Debug, Clone)]
pub struct Version {
    pub raw: String,
    /// Blocks only: where the block sits and its derived text.
    pub place: Option<Place>,
}

/// A block's place and text.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub parent: String,
    pub position: i64,
    pub text: String,
    pub kind: String,
}

#[derive(Debug)]
struct Entry {
    object: Object,
    id: String,
    page_id: Option<String>,
    old: Option<Version>,
    new: Option<Version>,
}

#[derive(Debug, Default)]
struct Notes {
    cause: Option<Cause>,
    entries: Vec<Entry>,
    index: HashMap<(Object, String), usize>,
}

#[derive(Debug, Default)]
struct Recorder {
    off: bool,
    job: Option<Notes>,
    last_seq: Option<i64>,
}

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::new(Recorder::default());
}

/// Turns history on or off for this thread (the writer thread, from `StoreOptions`).
pub fn set_history(on: bool) {
    RECORDER.with(|r| r.borrow_mut().off = !on);
}

/// Whether changes are recorded on this thread.
pub fn history_on() -> bool {
    RECORDER.with(|r| !r.borrow().off)
}

/// Opens the notes of a store job.
pub(crate) fn begin(cause: Option<Cause>) {
    RECORDER.with(|r| {
        r.borrow_mut().job = Some(Notes {
            cause,
            ..Notes::default()
        })
    });
}

/// Drops the notes of a failed job.
pub(crate) fn abandon() {
    RECORDER.with(|r| r.borrow_mut().job = None);
}

/// Writes the changes the job's notes add up to (inside the job's transaction).
pub(crate) fn finish(conn: &Connection) -> Result<(), StoreError> {
    let notes = RECORDER.with(|r| r.borrow_mut().job.take());
    match notes {
        Some(notes) => write_notes(conn, notes).map(wrote),
        None => Ok(()),
    }
}

/// Remembers the highest seq written (by a job that succeeded).
fn wrote(seq: Option<i64>) {
    if let Some(seq) = seq {
        RECORDER.with(|r| {
            let mut r = r.borrow_mut();
            r.last_seq = Some(r.last_seq.map_or(seq, |s| s.max(seq)));
        });
    }
}

/// The highest seq written since the last call (the writer publishes it once durable).
pub(crate) fn take_last_seq() -> Option<i64> {
    RECORDER.with(|r| r.borrow_mut().last_seq.take())
}

/// Notes one version change of an object (`None`: absent on that side).
fn note(conn: &Connection, entry: Entry) -> Result<(), StoreError> {
    let immediate = RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        let Some(notes) = r.job.as_mut() else {
            return Some(entry);
        };
        let key = (entry.object, entry.id.clone());
        match notes.index.get(&key) {
            Some(&i) => {
                let kept = &mut notes.entries[i];
                kept.new = entry.new;
                if entry.page_id.is_some() {
                    kept.page_id = entry.page_id;
                }
            }
            None => {
                notes.index.insert(key, notes.entries.len());
                notes.entries.push(entry);
            }
        }
        None
    });
    match immediate {
        Some(entry) => write_notes(
            conn,
            Notes {
                entries: vec![entry],
                ..Notes::default()
            },
        )
        .map(wrote),
        None => Ok(()),
    }
}

fn object_of(name: &str) -> Option<Object> {
    Object::parse(name).filter(|o| *o != Object::Block)
}

/// An object was written (`previous`: its raw JSON before, `None` when new).
pub(crate) fn note_upsert(
    conn: &Connection,
    object: &str,
    id: &str,
    previous: Option<&str>,
    raw: &str,
) -> Result<(), StoreError> {
    let Some(object) = object_of(object) else {
        return Ok(());
    };
    if !history_on() || previous == Some(raw) {
        return Ok(());
    }
    let page_id = page_of(conn, object, id)?;
    let version = |raw: &str| Version {
        raw: raw.to_string(),
        place: None,
    };
    note(
        conn,
        Entry {
            object,
            id: id.to_string(),
            page_id,
            old: previous.map(version),
            new: Some(version(raw)),
        },
    )
}

/// An object is about to be deleted: notes its last version (nothing if absent).
pub(crate) fn note_removed(conn: &Connection, object: &str, id: &str) -> Result<(), StoreError> {
    let Some(object) = object_of(object) else {
        return Ok(());
    };
    if !history_on() {
        return Ok(());
    }
    let sql = format!("SELECT raw FROM {} WHERE id = ?1", object.table());
    let Some(raw) = conn
        .prepare_cached(&sql)?
        .query_row([id], |r| r.get::<_, String>(0))
        .optional()?
    else {
        return Ok(());
    };
    let page_id = page_of(conn, object, id)?;
    note(
        conn,
        Entry {
            object,
            id: id.to_string(),
            page_id,
            old: Some(Version { raw, place: None }),
            new: None,
        },
    )
}

/// The page an object belongs to (read from the mirror row, which exists).
fn page_of(conn: &Connection, object: Object, id: &str) -> Result<Option<String>, StoreError> {
    Ok(match object {
        Object::Page => Some(id.to_string()),
        Object::Comment => conn
            .prepare_cached("SELECT page_id FROM comments WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?,
        _ => None,
    })
}

/// A block's version as the mirror holds it now (`None`: absent, or history is off).
pub(crate) fn block_before(conn: &Connection, id: &str) -> Result<Option<Version>, StoreError> {
    if !history_on() {
        return Ok(None);
    }
    Ok(conn
        .prepare_cached("SELECT raw, parent_id, position, text, type FROM blocks WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Version {
                raw: r.get(0)?,
                place: Some(Place {
                    parent: r.get(1)?,
                    position: r.get(2)?,
                    text: r.get(3)?,
                    kind: r.get(4)?,
                }),
            })
        })
        .optional()?)
}

/// A block of `page_id` changed from `old` to `new`. Blocks standing for a child page or
/// database are not recorded (their object's changes are).
pub(crate) fn note_block(
    conn: &Connection,
    page_id: &str,
    id: &str,
    old: Option<Version>,
    new: Option<Version>,
) -> Result<(), StoreError> {
    if !history_on() {
        return Ok(());
    }
    let stand_in = |v: &Option<Version>| {
        v.as_ref()
            .and_then(|v| v.place.as_ref())
            .is_some_and(|p| render::is_stand_in(&p.kind))
    };
    if stand_in(&old) || stand_in(&new) {
        return Ok(());
    }
    note(
        conn,
        Entry {
            object: Object::Block,
            id: id.to_string(),
            page_id: Some(page_id.to_string()),
            old,
            new,
        },
    )
}

/// Deletes block rows with `sql` (a `DELETE ... RETURNING id, raw, parent_id, position,
/// text, type, page_id`) and notes each as removed. Returns how many went.
pub(crate) fn delete_blocks(conn: &Connection, sql: &str, arg: &str) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map([arg], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(6)?,
                Version {
                    raw: r.get(1)?,
                    place: Some(Place {
                        parent: r.get(2)?,
                        position: r.get(3)?,
                        text: r.get(4)?,
                        kind: r.get(5)?,
                    }),
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let n = rows.len() as u64;
    for (id, page_id, version) in rows {
        note_block(conn, &page_id, &id, Some(version), None)?;
    }
    Ok(n)
}

fn parse(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or(Value::Null)
}

/// A block's state; `position` overrides the version's own (see [`write_notes`]).
fn block_state(v: &Version, position: i64) -> changes::State {
    let raw = parse(&v.raw);
    match &v.place {
        Some(p) => render::block(&raw, &p.parent, position, &p.text),
        None => render::of(Object::Block, &raw),
    }
}

/// Writes the changes of `notes`; returns the highest seq written.
fn write_notes(conn: &Connection, notes: Notes) -> Result<Option<i64>, StoreError> {
    if notes.entries.is_empty() {
        return Ok(None);
    }
    let placements: Vec<blocks::Placement> = notes
        .entries
        .iter()
        .filter_map(|e| {
            let (old, new) = (
                e.old.as_ref()?.place.as_ref()?,
                e.new.as_ref()?.place.as_ref()?,
            );
            Some(blocks::Placement {
                id: &e.id,
                old_parent: &old.parent,
                old_position: old.position,
                new_parent: &new.parent,
                new_position: new.position,
            })
        })
        .collect();
    let reordered = blocks::reordered(&placements);
    let mut cause: Option<Option<String>> = None;
    let mut last = None;
    for e in &notes.entries {
        let Some(change) = change_of(e, reordered.contains(e.id.as_str())) else {
            continue;
        };
        if cause.is_none() {
            cause = Some(cause_label(conn, notes.cause)?);
        }
        last = Some(insert(
            conn,
            &change,
            cause.as_ref().and_then(|c| c.as_deref()),
        )?);
    }
    Ok(last)
}

/// The change one entry adds up to, if any.
fn change_of(e: &Entry, reordered: bool) -> Option<Change> {
    let (old, new) = (e.old.as_ref(), e.new.as_ref());
    let delta = match e.object {
        Object::Block => {
            if let (Some(o), Some(n)) = (old, new) {
                if o.raw == n.raw && o.place == n.place {
                    return None;
                }
            }
            // Under the same parent, a shifted position is a move only when the block's
            // order among its siblings changed.
            let same_parent = matches!((old.and_then(|v| v.place.as_ref()), new.and_then(|v| v.place.as_ref())),
                (Some(a), Some(b)) if a.parent == b.parent);
            let old_state = old.map(|v| block_state(v, v.place.as_ref().map_or(0, |p| p.position)));
            let new_state = new.map(|v| {
                let position = match (old.and_then(|o| o.place.as_ref()), v.place.as_ref()) {
                    (Some(o), Some(_)) if same_parent && !reordered => o.position,
                    (_, Some(p)) => p.position,
                    _ => 0,
                };
                block_state(v, position)
            });
            changes::diff(old_state.as_ref(), new_state.as_ref())
        }
        object => {
            if let (Some(o), Some(n)) = (old, new) {
                if o.raw == n.raw {
                    return None;
                }
            }
            let old_state = old.map(|v| render::of(object, &parse(&v.raw)));
            let new_state = new.map(|v| render::of(object, &parse(&v.raw)));
            changes::diff(old_state.as_ref(), new_state.as_ref())
        }
    };
    let kind = delta.kind?;
    let (edited_time, edited_by) = match new {
        Some(v) => render::edited(&parse(&v.raw)),
        None => (None, None),
    };
    Some(Change {
        object: e.object,
        id: e.id.clone(),
        page_id: e.page_id.clone(),
        kind,
        fields: delta.fields,
        before: delta.before,
        after: delta.after,
        edited_time,
        edited_by,
    })
}

/// The `cause` column of a job's changes.
fn cause_label(conn: &Connection, cause: Option<Cause>) -> Result<Option<String>, StoreError> {
    Ok(match cause {
        None => None,
        Some(Cause::Run(run)) => {
            let kind: Option<String> = conn
                .prepare_cached("SELECT kind FROM sync_runs WHERE id = ?1")?
                .query_row([run], |r| r.get(0))
                .optional()?;
            Cause::of_sweep(kind.as_deref().unwrap_or("full"))
                .label()
                .map(str::to_string)
        }
        Some(c) => c.label().map(str::to_string),
    })
}

/// Inserts one change row; returns its seq.
fn insert(conn: &Connection, c: &Change, cause: Option<&str>) -> Result<i64, StoreError> {
    let json = |v: &serde_json::Map<String, Value>| Value::Object(v.clone()).to_string();
    conn.prepare_cached(
        "INSERT INTO changes (at, object, id, page_id, kind, fields, before, after,
                              edited_time, edited_by, cause)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        now_iso(),
        c.object.as_str(),
        c.id,
        c.page_id,
        c.kind.as_str(),
        serde_json::to_string(&c.fields).unwrap_or_else(|_| "[]".into()),
        json(&c.before),
        json(&c.after),
        c.edited_time,
        c.edited_by,
        cause,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Deletes changes written before `cutoff` (ISO-8601) that every active outbound
/// destination has already handled. Returns how many went.
pub fn prune_changes(conn: &Connection, cutoff: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM changes WHERE at < ?1
           AND seq <= coalesce((SELECT min(cursor) FROM outbound WHERE active = 1), seq)",
        [cutoff],
    )?)
}

/// The highest seq in `changes` (0 when empty).
pub fn last_seq(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
            r.get(0)
        })?,
    )
}

#[cfg(test)]
mod tests;
