//! Search candidates: the live workspace, or — when `search_lag` > 0 — a snapshot that
//! receives each mutation's effect only `search_lag` after it happened [S13].
//!
//! Invariant: a queued update holds the object's JSON rendered at mutation time; access
//! (revocation) is always checked live, so revoked objects vanish from search at once.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::model::Workspace;
use super::properties::Mode;
use super::render::{data_source_json, page_json};
use super::util::round_minute;

/// One searchable object.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub is_page: bool,
    pub seq: u64,
    /// Lowercase title the `query` matches (a data source matches its database's title [S7]).
    pub title_lower: String,
    pub last_edited_ms: i64,
    pub json: Value,
}

/// The candidate entry for an object now, `None` when search must not show it (missing,
/// trashed). Visibility (revocation) is not considered here.
pub(crate) fn entry_for(ws: &Workspace, id: &str) -> Option<Entry> {
    if let Some(p) = ws.pages.get(id) {
        if p.in_trash {
            return None;
        }
        return Some(Entry {
            is_page: true,
            seq: p.seq,
            title_lower: super::richtext::plain_text(&p.title).to_lowercase(),
            last_edited_ms: round_minute(p.last_edited_time).timestamp_millis(),
            json: page_json(ws, p, Mode::Truncated),
        });
    }
    let ds = ws.data_sources.get(id)?;
    if ws.ds_trashed(ds) {
        return None;
    }
    Some(Entry {
        is_page: false,
        seq: ds.seq,
        title_lower: ws.database_title(&ds.database_id).to_lowercase(),
        last_edited_ms: round_minute(ds.last_edited_time).timestamp_millis(),
        json: data_source_json(ws, ds),
    })
}

/// The lagging snapshot.
#[derive(Default)]
pub(crate) struct SearchIndex {
    built: bool,
    entries: BTreeMap<String, Entry>,
    pending: VecDeque<(Instant, String, Option<Entry>)>,
}

impl SearchIndex {
    pub fn is_built(&self) -> bool {
        self.built
    }

    /// Snapshots the whole workspace (on the first lagged search or when lag is enabled).
    pub fn build(&mut self, ws: &Workspace) {
        self.entries.clear();
        self.pending.clear();
        for id in ws.pages.keys().chain(ws.data_sources.keys()) {
            if let Some(e) = entry_for(ws, id) {
                self.entries.insert(id.clone(), e);
            }
        }
        self.built = true;
    }

    /// Drops the snapshot (lag turned off).
    pub fn clear(&mut self) {
        self.built = false;
        self.entries.clear();
        self.pending.clear();
    }

    /// Queues the current state of `ids` to become visible after `lag`.
    pub fn queue(&mut self, ws: &Workspace, ids: &[String], now: Instant, lag: Duration) {
        if !self.built {
            return;
        }
        for id in ids {
            if ws.pages.contains_key(id) || ws.data_sources.contains_key(id) {
                let due = now
                    .checked_add(lag)
                    .or_else(|| now.checked_add(Duration::from_secs(365 * 86_400)))
                    .unwrap_or(now);
                self.pending.push_back((due, id.clone(), entry_for(ws, id)));
            }
        }
    }

    /// Applies every update that is due.
    pub fn apply_due(&mut self, now: Instant) {
        while let Some((due, _, _)) = self.pending.front() {
            if *due > now {
                break;
            }
            if let Some((_, id, entry)) = self.pending.pop_front() {
                match entry {
                    Some(e) => {
                        self.entries.insert(id, e);
                    }
                    None => {
                        self.entries.remove(&id);
                    }
                }
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }
}
