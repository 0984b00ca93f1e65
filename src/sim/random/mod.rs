//! Random mutations with valid targets, for churn, soak tests and benchmarks.
//!
//! Invariant: random mutations never trash, move, rename, revoke or restructure the fixture
//! objects (`Workspace::protected`), so the named edge cases survive any amount of churn;
//! edits of their values and content are allowed.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use super::model::{Block, Holder, Page, Parent, PropKind, Workspace};
use super::mutate::{Mutation, ParentRef};
use super::util::SimRng;

mod schema;
use schema::{add_property, create_database, database, random_fields, schema};

/// Which kinds of random mutations to pick from (property/content edits and locks are
/// always on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationMix {
    /// Add/edit/delete/resolve comments.
    pub comments: bool,
    /// Create/move/trash/restore pages, databases, data sources; schema changes.
    pub structure: bool,
    /// Revoke/restore access.
    pub revoke: bool,
}

impl Default for MutationMix {
    fn default() -> Self {
        MutationMix {
            comments: true,
            structure: true,
            revoke: false,
        }
    }
}

/// Prefix of properties created by random `AddProperty` (the only ones random schema
/// changes rename or delete).
const FIELD: &str = "Field ";

struct View<'a> {
    ws: &'a Workspace,
}

/// How many random draws a sampler makes before giving up on a kind of mutation.
const TRIES: usize = 64;

impl View<'_> {
    fn free(&self, id: &str) -> bool {
        !self.ws.protected.contains(id)
    }

    /// Live and editable: not trashed, visible, and not a row of a trashed data source
    /// (its rows went to the trash with it).
    fn live(&self, p: &Page) -> bool {
        !p.in_trash
            && self.ws.visible(&p.id)
            && self
                .ws
                .row_source(p)
                .is_none_or(|ds| !self.ws.ds_trashed(ds))
    }

    fn is_row(&self, p: &Page) -> bool {
        self.ws
            .row_source(p)
            .is_some_and(|ds| !self.ws.ds_trashed(ds))
    }

    fn is_standalone(p: &Page) -> bool {
        !matches!(p.parent, Parent::DataSource(_))
    }

    /// A random page satisfying `ok` (sampled, so cheap on large workspaces).
    fn page(&self, rng: &mut SimRng, ok: impl Fn(&Page) -> bool) -> Option<String> {
        let n = self.ws.pages.len();
        for _ in 0..TRIES {
            let p = self.ws.pages.values().nth(rng.index(n))?;
            if ok(p) {
                return Some(p.id.clone());
            }
        }
        None
    }

    fn live_page(&self, rng: &mut SimRng) -> Option<String> {
        self.page(rng, |p| self.live(p))
    }

    fn standalone(&self, rng: &mut SimRng, free_only: bool) -> Option<String> {
        self.page(rng, |p| {
            Self::is_standalone(p) && self.live(p) && (!free_only || self.free(&p.id))
        })
    }

    /// A live text block (not under a deleted block) of a live page.
    fn text_block(&self, rng: &mut SimRng, free_only: bool) -> Option<String> {
        let n = self.ws.blocks.len();
        for _ in 0..TRIES {
            let b = self.ws.blocks.values().nth(rng.index(n))?;
            if b.in_trash || b.data.get("rich_text").is_none() || !self.reachable(b) {
                continue;
            }
            let Some(page) = self.ws.pages.get(&b.page_id) else {
                continue;
            };
            if self.live(page) && (!free_only || self.free(&page.id)) {
                return Some(b.id.clone());
            }
        }
        None
    }

    fn reachable(&self, b: &Block) -> bool {
        let mut cur = &b.parent;
        for _ in 0..512 {
            match cur {
                Holder::Page(_) => return true,
                Holder::Block(id) => match self.ws.blocks.get(id) {
                    Some(p) if !p.in_trash => cur = &p.parent,
                    _ => return false,
                },
            }
        }
        false
    }

    fn live_sources(&self) -> Vec<String> {
        self.ws
            .data_sources
            .values()
            .filter(|d| !self.ws.ds_trashed(d) && self.ws.visible(&d.database_id))
            .map(|d| d.id.clone())
            .collect()
    }

    /// A readable view of a live data source that is not a fixture's.
    fn free_view(&self, rng: &mut SimRng) -> Option<&super::model::View> {
        let views: Vec<&super::model::View> = self
            .ws
            .views
            .values()
            .filter(|x| self.free(&x.id) && self.ws.readable_view(&x.id).is_some())
            .filter(|x| {
                x.data_source_id
                    .as_deref()
                    .and_then(|d| self.ws.data_sources.get(d))
                    .is_some_and(|d| !self.ws.ds_trashed(d))
            })
            .collect();
        rng.pick(&views).copied()
    }

    fn open_comment(&self, rng: &mut SimRng) -> Option<String> {
        let n = self.ws.comments.len();
        for _ in 0..TRIES {
            let c = self.ws.comments.values().nth(rng.index(n))?;
            if c.is_open() && self.ws.visible(&c.page_id) {
                return Some(c.id.clone());
            }
        }
        None
    }
}

/// Picks one valid random mutation (None when the chosen kind has no target).
pub(crate) fn pick(ws: &Workspace, rng: &mut SimRng, mix: &MutationMix) -> Option<Mutation> {
    let v = View { ws };
    let mut kinds = vec![
        "props",
        "props",
        "props",
        "rename",
        "edit",
        "edit",
        "append",
        "delete_block",
        "lock",
    ];
    if mix.comments {
        kinds.extend(["comment", "comment", "comment_change"]);
    }
    if mix.structure {
        kinds.extend([
            "create", "create", "move", "trash", "restore", "schema", "db", "view",
        ]);
    }
    if mix.revoke {
        kinds.extend(["revoke", "unrevoke"]);
    }
    let kind = *rng.pick(&kinds)?;
    of_kind(&v, rng, kind)
}

/// The kinds [`pick_kind`] knows, for weighted workloads (the load benchmark).
pub const KINDS: &[&str] = &[
    "props",
    "rename",
    "edit",
    "append",
    "delete_block",
    "lock",
    "comment",
    "comment_change",
    "comment_edit",
    "comment_delete",
    "create",
    "move",
    "trash",
    "restore",
    "schema",
    "add_property",
    "rename_property",
    "db",
    "create_database",
    "revoke",
    "unrevoke",
    "view",
    "view_create",
    "view_update",
    "view_delete",
];

/// One valid random mutation of `kind` (one of [`KINDS`]); None when it has no target.
pub fn pick_kind(ws: &Workspace, rng: &mut SimRng, kind: &str) -> Option<Mutation> {
    of_kind(&View { ws }, rng, kind)
}

fn of_kind(v: &View, rng: &mut SimRng, kind: &str) -> Option<Mutation> {
    let ws = v.ws;
    match kind {
        "props" => update_props(v, rng),
        "rename" => {
            let page_id = v.page(rng, |p| v.live(p) && v.free(&p.id))?;
            Some(Mutation::RenamePage {
                page_id,
                title: format!("Renamed page {}", rng.hex(4)),
            })
        }
        "edit" => {
            let block_id = v.text_block(rng, false)?;
            Some(Mutation::EditBlock {
                block_id,
                text: format!("Edited text {}", rng.hex(6)),
            })
        }
        "append" => {
            let parent_id = v.live_page(rng)?;
            let n = rng.range(1, 3);
            let texts = (0..n)
                .map(|i| format!("Appended line {i} ({})", rng.hex(4)))
                .collect();
            Some(Mutation::AppendBlocks { parent_id, texts })
        }
        "delete_block" => {
            let block_id = v.text_block(rng, true)?;
            Some(Mutation::DeleteBlock { block_id })
        }
        "lock" => {
            let page_id = v.live_page(rng)?;
            let locked = ws.pages.get(&page_id).is_some_and(|p| p.is_locked);
            Some(if locked {
                Mutation::UnlockPage { page_id }
            } else {
                Mutation::LockPage { page_id }
            })
        }
        "comment" => add_comment(v, rng),
        "comment_edit" => Some(Mutation::EditComment {
            comment_id: v.open_comment(rng)?,
            text: format!("Edited comment {}", rng.hex(4)),
        }),
        "comment_delete" => Some(Mutation::DeleteComment {
            comment_id: v.open_comment(rng)?,
        }),
        "add_property" => add_property(v, rng),
        "rename_property" => {
            let (ds, fields) = random_fields(v, rng)?;
            Some(Mutation::RenameProperty {
                data_source_id: ds,
                name: rng.pick(&fields)?.clone(),
                new_name: format!("{FIELD}{}", rng.hex(4)),
            })
        }
        "create_database" => create_database(v, rng),
        "comment_change" => {
            let comment_id = v.open_comment(rng)?;
            Some(match rng.index(3) {
                0 => Mutation::EditComment {
                    comment_id,
                    text: format!("Edited comment {}", rng.hex(4)),
                },
                1 => Mutation::DeleteComment { comment_id },
                _ => Mutation::ResolveComment { comment_id },
            })
        }
        "create" => create(v, rng),
        "move" => {
            let page_id = v.standalone(rng, true)?;
            let new_parent = match v.standalone(rng, false) {
                Some(t) if rng.chance(0.8) => ParentRef::Page(t),
                _ => ParentRef::Workspace,
            };
            Some(Mutation::MovePage {
                page_id,
                new_parent,
            })
        }
        "trash" => {
            let page_id = v.page(rng, |p| v.live(p) && v.free(&p.id))?;
            Some(Mutation::TrashPage { page_id })
        }
        "restore" => {
            let page_id = v.page(rng, |p| p.in_trash && v.free(&p.id))?;
            Some(Mutation::RestorePage { page_id })
        }
        "schema" => schema(v, rng),
        "db" => database(v, rng),
        "revoke" => {
            let page_id = v.standalone(rng, true)?;
            Some(Mutation::RevokeAccess { page_id })
        }
        "unrevoke" => {
            let page_id = v.page(rng, |p| p.revoked)?;
            Some(Mutation::RestoreAccess { page_id })
        }
        "view" => {
            let kind = *rng.pick(&["view_create", "view_update", "view_update", "view_delete"])?;
            of_kind(v, rng, kind)
        }
        "view_create" => {
            let sources = v.live_sources();
            let ds = ws.data_sources.get(rng.pick(&sources)?)?;
            Some(Mutation::CreateView {
                data_source_id: ds.id.clone(),
                name: format!("View {}", rng.hex(4)),
                view_type: rng.pick(super::mutate_views::VIEW_TYPES)?.to_string(),
                filter: super::mutate_views::random_filter(ws, ds, rng),
                sorts: super::mutate_views::random_sorts(ds, rng),
            })
        }
        "view_update" => {
            let view = v.free_view(rng)?;
            let ds = ws.data_sources.get(view.data_source_id.as_deref()?)?;
            Some(match rng.index(3) {
                0 => Mutation::UpdateView {
                    view_id: view.id.clone(),
                    name: Some(format!("Renamed view {}", rng.hex(4))),
                    filter: None,
                    sorts: None,
                },
                1 => Mutation::UpdateView {
                    view_id: view.id.clone(),
                    name: None,
                    filter: Some(super::mutate_views::random_filter(ws, ds, rng)),
                    sorts: None,
                },
                _ => Mutation::UpdateView {
                    view_id: view.id.clone(),
                    name: None,
                    filter: None,
                    sorts: Some(super::mutate_views::random_sorts(ds, rng)),
                },
            })
        }
        "view_delete" => Some(Mutation::DeleteView {
            view_id: v.free_view(rng)?.id.clone(),
        }),
        _ => None,
    }
}

fn update_props(v: &View, rng: &mut SimRng) -> Option<Mutation> {
    let page_id = v.page(rng, |p| v.live(p) && v.is_row(p))?;
    let page = v.ws.pages.get(&page_id)?;
    let ds = v.ws.row_source(page)?;
    let editable: Vec<_> = ds
        .properties
        .iter()
        .filter(|p| match p.kind {
            PropKind::Title => v.free(&page_id),
            PropKind::Relation { .. } => v.free(&page_id),
            PropKind::Number { .. }
            | PropKind::Checkbox
            | PropKind::Select { .. }
            | PropKind::Status { .. }
            | PropKind::RichText
            | PropKind::Date
            | PropKind::Url => true,
            _ => false,
        })
        .collect();
    let prop = rng.pick(&editable)?;
    let value = match &prop.kind {
        PropKind::Title => json!(format!("Row {}", rng.hex(4))),
        PropKind::Number { .. } => json!(rng.range(0, 100)),
        PropKind::Checkbox => json!(rng.chance(0.5)),
        PropKind::Select { options } | PropKind::Status { options, .. } => {
            json!(rng.pick(options).map(|o| o.name.clone()))
        }
        PropKind::RichText => json!(format!("Note {}", rng.hex(6))),
        PropKind::Date => json!(format!("2026-10-{:02}", rng.range(1, 28))),
        PropKind::Url => json!(format!("https://example.com/{}", rng.hex(5))),
        PropKind::Relation { data_source_id, .. } => {
            let targets: Vec<String> =
                v.ws.data_sources
                    .get(data_source_id)
                    .map(|d| {
                        d.rows
                            .iter()
                            .filter(|r| v.ws.pages.get(*r).is_some_and(|p| !p.in_trash))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
            json!(rng
                .pick(&targets)
                .map(|t| vec![t.clone()])
                .unwrap_or_default())
        }
        _ => return None,
    };
    let mut values = Map::new();
    values.insert(prop.name.clone(), value);
    Some(Mutation::UpdateProperties { page_id, values })
}

fn add_comment(v: &View, rng: &mut SimRng) -> Option<Mutation> {
    let on_block = rng.chance(0.3);
    let parent_id = if on_block {
        v.text_block(rng, false)?
    } else {
        v.live_page(rng)?
    };
    let discussions: Vec<String> =
        v.ws.comments
            .values()
            .filter(|c| c.is_open() && c.parent.id() == parent_id)
            .map(|c| c.discussion_id.clone())
            .collect();
    let discussion_id = if rng.chance(0.5) {
        rng.pick(&discussions).cloned()
    } else {
        None
    };
    Some(Mutation::AddComment {
        parent_id,
        discussion_id,
        text: format!("Comment {}", rng.hex(6)),
    })
}

fn create(v: &View, rng: &mut SimRng) -> Option<Mutation> {
    let title = format!("New page {}", rng.hex(4));
    let parent = if rng.chance(0.5) {
        ParentRef::DataSource(rng.pick(&v.live_sources())?.clone())
    } else if rng.chance(0.85) {
        ParentRef::Page(v.standalone(rng, false)?)
    } else {
        ParentRef::Workspace
    };
    Some(Mutation::CreatePage { parent, title })
}
