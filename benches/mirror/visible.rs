//! When a change shows in the mirror: one SQL-level check per mutation (the new text, the
//! new property value, the row gone…), polled by a thread over a read-only connection, for
//! the change → mirror latency of the load group.
//! Invariant: a check looks only at what its change touched; a later change of the same
//! object and field supersedes it (its latency is then not counted, only reported).

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use notion_mirror::sim::properties::Mode;
use notion_mirror::sim::{render, Mutation, MutationOutcome, ParentRef, Sim};
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

use crate::wait::open_mirror;

/// What must hold in the mirror for a change to be visible.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// `pages.raw` has this JSON for property `name`.
    Property {
        page: String,
        name: String,
        value: Value,
    },
    PageTitle(String, String),
    PageExists(String),
    PageTrash(String, bool),
    PageLocked(String, bool),
    PageParent(String, Option<String>),
    BlockText(String, String),
    BlockExists(String),
    BlockGone(String),
    CommentText(String, String),
    CommentExists(String),
    CommentGone(String),
    /// The data source's schema has (or lacks) a property of this name.
    Schema(String, String, bool),
    DatabaseExists(String),
}

impl Expect {
    /// The object and field a check watches (a newer check of the same key supersedes).
    fn key(&self) -> String {
        match self {
            Expect::Property { page, name, .. } => format!("{page}/p/{name}"),
            Expect::PageTitle(p, _) => format!("{p}/title"),
            Expect::PageExists(p) | Expect::PageTrash(p, _) => format!("{p}/life"),
            Expect::PageLocked(p, _) => format!("{p}/lock"),
            Expect::PageParent(p, _) => format!("{p}/parent"),
            Expect::BlockText(b, _) | Expect::BlockExists(b) | Expect::BlockGone(b) => {
                format!("{b}/block")
            }
            Expect::CommentText(c, _) | Expect::CommentExists(c) | Expect::CommentGone(c) => {
                format!("{c}/comment")
            }
            Expect::Schema(ds, name, _) => format!("{ds}/schema/{name}"),
            Expect::DatabaseExists(d) => format!("{d}/db"),
        }
    }

    fn holds(&self, c: &Connection) -> rusqlite::Result<bool> {
        let one = |sql: &str, a: &str| -> rusqlite::Result<Option<String>> {
            c.query_row(sql, [a], |r| r.get::<_, Option<String>>(0))
                .optional()
                .map(Option::flatten)
        };
        let exists = |sql: &str, a: &str| -> rusqlite::Result<bool> {
            c.query_row(sql, [a], |r| r.get::<_, bool>(0))
        };
        Ok(match self {
            Expect::Property { page, name, value } => {
                let raw = one("select raw from pages where id = ?1", page)?;
                raw.and_then(|r| serde_json::from_str::<Value>(&r).ok())
                    .is_some_and(|v| {
                        v.pointer("/properties").and_then(|p| p.get(name)) == Some(value)
                    })
            }
            Expect::PageTitle(p, t) => {
                one("select title from pages where id = ?1", p)?.as_deref() == Some(t)
            }
            Expect::PageExists(p) => exists("select exists(select 1 from pages where id = ?1)", p)?,
            Expect::PageTrash(p, t) => {
                one("select cast(in_trash as text) from pages where id = ?1", p)?.as_deref()
                    == Some(if *t { "1" } else { "0" })
            }
            Expect::PageLocked(p, l) => {
                one(
                    "select cast(raw ->> '$.is_locked' as text) from pages where id = ?1",
                    p,
                )?
                .as_deref()
                    == Some(if *l { "1" } else { "0" })
            }
            Expect::PageParent(p, parent) => {
                one("select parent_id from pages where id = ?1", p)? == *parent
            }
            Expect::BlockText(b, t) => one("select text from blocks where id = ?1", b)?
                .is_some_and(|x| x.contains(t.as_str())),
            Expect::BlockExists(b) => {
                exists("select exists(select 1 from blocks where id = ?1)", b)?
            }
            Expect::BlockGone(b) => !exists(
                "select exists(select 1 from blocks where id = ?1 and in_trash = 0)",
                b,
            )?,
            Expect::CommentText(cm, t) => {
                one("select text from comments where id = ?1", cm)?.as_deref() == Some(t)
            }
            Expect::CommentExists(cm) => {
                exists("select exists(select 1 from comments where id = ?1)", cm)?
            }
            Expect::CommentGone(cm) => {
                !exists("select exists(select 1 from comments where id = ?1)", cm)?
            }
            Expect::Schema(ds, name, present) => {
                let raw = one("select raw from data_sources where id = ?1", ds)?;
                let has = raw
                    .and_then(|r| serde_json::from_str::<Value>(&r).ok())
                    .and_then(|v| v.get("properties").cloned())
                    .is_some_and(|p| p.get(name).is_some());
                has == *present
            }
            Expect::DatabaseExists(d) => {
                exists("select exists(select 1 from databases where id = ?1)", d)?
            }
        })
    }
}

/// The checks for one applied mutation (read from the simulator right after it).
pub(crate) fn expectations(sim: &Sim, m: &Mutation, outcome: &MutationOutcome) -> Vec<Expect> {
    let created = |i: usize| outcome.created_ids.get(i).cloned();
    match m {
        Mutation::UpdateProperties { page_id, values } => sim.read(|ws| {
            let Some(page) = ws.pages.get(page_id) else {
                return Vec::new();
            };
            let json = render::page_json(ws, page, Mode::Completed);
            values
                .keys()
                .filter_map(|name| {
                    let value = json.pointer("/properties")?.get(name)?.clone();
                    Some(Expect::Property {
                        page: page_id.clone(),
                        name: name.clone(),
                        value,
                    })
                })
                .collect()
        }),
        Mutation::RenamePage { page_id, title } => {
            vec![Expect::PageTitle(page_id.clone(), title.clone())]
        }
        Mutation::EditBlock { block_id, text } => {
            vec![Expect::BlockText(block_id.clone(), text.clone())]
        }
        Mutation::AppendBlocks { .. } => outcome
            .created_ids
            .iter()
            .map(|b| Expect::BlockExists(b.clone()))
            .collect(),
        Mutation::DeleteBlock { block_id } => vec![Expect::BlockGone(block_id.clone())],
        Mutation::LockPage { page_id } => vec![Expect::PageLocked(page_id.clone(), true)],
        Mutation::UnlockPage { page_id } => vec![Expect::PageLocked(page_id.clone(), false)],
        Mutation::AddComment { .. } => created(0).map(Expect::CommentExists).into_iter().collect(),
        Mutation::EditComment { comment_id, text } => {
            vec![Expect::CommentText(comment_id.clone(), text.clone())]
        }
        Mutation::DeleteComment { comment_id } | Mutation::ResolveComment { comment_id } => {
            vec![Expect::CommentGone(comment_id.clone())]
        }
        Mutation::CreatePage { .. } => created(0).map(Expect::PageExists).into_iter().collect(),
        Mutation::MovePage {
            page_id,
            new_parent,
        } => {
            let parent = match new_parent {
                ParentRef::Workspace => None,
                ParentRef::Page(p) | ParentRef::DataSource(p) => Some(p.clone()),
            };
            vec![Expect::PageParent(page_id.clone(), parent)]
        }
        Mutation::TrashPage { page_id } => vec![Expect::PageTrash(page_id.clone(), true)],
        Mutation::RestorePage { page_id } => vec![Expect::PageTrash(page_id.clone(), false)],
        Mutation::AddProperty {
            data_source_id,
            name,
            ..
        } => vec![Expect::Schema(data_source_id.clone(), name.clone(), true)],
        Mutation::RenameProperty {
            data_source_id,
            new_name,
            ..
        } => vec![Expect::Schema(
            data_source_id.clone(),
            new_name.clone(),
            true,
        )],
        Mutation::DeleteProperty {
            data_source_id,
            name,
        } => vec![Expect::Schema(data_source_id.clone(), name.clone(), false)],
        Mutation::CreateDatabase { .. } => {
            created(0).map(Expect::DatabaseExists).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// One change's latency: `None` while not (yet) visible.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) kind: &'static str,
    pub(crate) after: Option<Duration>,
    pub(crate) superseded: bool,
    /// The first check's key (object id and what is checked), for `--keep`'s dump.
    pub(crate) key: String,
}

enum Msg {
    Watch(usize, &'static str, Instant, Vec<Expect>),
    Done,
}

/// A thread that polls the registered checks every 50 ms.
pub(crate) struct Watcher {
    tx: mpsc::Sender<Msg>,
    handle: Option<std::thread::JoinHandle<Vec<Seen>>>,
    next: usize,
}

impl Watcher {
    pub(crate) fn start(db: &Path) -> Result<Watcher> {
        let conn = open_mirror(db)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let handle = std::thread::spawn(move || poll(conn, rx));
        Ok(Watcher {
            tx,
            handle: Some(handle),
            next: 0,
        })
    }

    /// Watches the checks of a change made at `at`.
    pub(crate) fn watch(&mut self, kind: &'static str, at: Instant, checks: Vec<Expect>) {
        let _ = self.tx.send(Msg::Watch(self.next, kind, at, checks));
        self.next += 1;
    }

    /// Stops polling and returns every change's latency.
    pub(crate) fn finish(mut self) -> Vec<Seen> {
        let _ = self.tx.send(Msg::Done);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

fn poll(conn: Connection, rx: mpsc::Receiver<Msg>) -> Vec<Seen> {
    struct Open {
        at: Instant,
        checks: Vec<Expect>,
    }
    let mut seen: Vec<Seen> = Vec::new();
    let mut open: HashMap<usize, Open> = HashMap::new();
    let mut owner: HashMap<String, usize> = HashMap::new();
    loop {
        loop {
            match rx.try_recv() {
                Ok(Msg::Watch(i, kind, at, checks)) => {
                    while seen.len() <= i {
                        seen.push(Seen {
                            kind: "",
                            after: None,
                            superseded: false,
                            key: String::new(),
                        });
                    }
                    seen[i].kind = kind;
                    seen[i].key = checks.first().map(Expect::key).unwrap_or_default();
                    if checks.is_empty() {
                        continue;
                    }
                    for c in &checks {
                        if let Some(prev) = owner.insert(c.key(), i) {
                            if open.remove(&prev).is_some() {
                                seen[prev].superseded = true;
                            }
                        }
                    }
                    open.insert(i, Open { at, checks });
                }
                Ok(Msg::Done) | Err(mpsc::TryRecvError::Disconnected) => return seen,
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        let mut done = Vec::new();
        for (i, o) in &open {
            if o.checks.iter().all(|c| c.holds(&conn).unwrap_or(false)) {
                seen[*i].after = Some(now - o.at);
                done.push(*i);
            }
        }
        for i in done {
            open.remove(&i);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
