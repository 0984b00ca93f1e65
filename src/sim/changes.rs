//! What the change feed must record for the simulator's edits (tests of docs/history.md).
//!
//! Two views, so that neither is checked only against itself:
//! - [`between`]: the exact changes a mirror that was exact before an edit records when it
//!   becomes exact again — the expected mirrors before and after, compared object by
//!   object with the feed's own rendering (`mirror::changes`);
//! - [`of_mutation`]: what the mutation itself says must be there (the page renamed has a
//!   title change to the new title, the block deleted is removed, ...), from the mutation
//!   alone.
//!
//! Invariant: pure; blocks and comments follow the feed's rules — those of a page that is
//! removed or trashed are not recorded (they leave, or stay, with their page), nor are the
//! blocks standing for child pages and databases.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::expected::{Expected, ExpectedBlock};
use super::mutate::{Mutation, MutationOutcome, ParentRef};
use crate::mirror::changes::{self, blocks, render, Change, Kind, Object, State};
use crate::mirror::text;

/// The changes an exact mirror records going from `before` to `after`, in no particular
/// order (compare as sets).
pub fn between(before: &Expected, after: &Expected) -> Vec<Change> {
    let mut out = Vec::new();
    let objects = |e: &Expected, o: Object| -> BTreeMap<String, Value> {
        match o {
            Object::Page => raws(&e.pages),
            Object::Database => raws(&e.databases),
            Object::DataSource => raws(&e.data_sources),
            Object::View => raws(&e.views),
            Object::User => e.users.clone(),
            Object::Comment => e
                .comments
                .iter()
                .filter(|(_, c)| content_counts(before, after, &c.page_id))
                .map(|(id, c)| (id.clone(), c.raw.clone()))
                .collect(),
            Object::Block => BTreeMap::new(),
        }
    };
    for object in [
        Object::User,
        Object::Database,
        Object::DataSource,
        Object::Page,
        Object::Comment,
        Object::View,
    ] {
        let (old, new) = (objects(before, object), objects(after, object));
        let ids: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for id in ids {
            let o = old.get(id).map(|raw| render::of(object, raw));
            let n = new.get(id).map(|raw| render::of(object, raw));
            let page_id = match object {
                Object::Page => Some(id.clone()),
                Object::Comment => before
                    .comments
                    .get(id)
                    .or(after.comments.get(id))
                    .map(|c| c.page_id.clone()),
                _ => None,
            };
            push(&mut out, object, id, page_id, o.as_ref(), n.as_ref());
        }
    }
    block_changes(before, after, &mut out);
    out
}

fn raws(objects: &BTreeMap<String, super::expected::ExpectedObject>) -> BTreeMap<String, Value> {
    objects
        .iter()
        .map(|(id, o)| (id.clone(), o.raw.clone()))
        .collect()
}

/// Whether a block or comment of `page_id` is recorded: its page is live on both sides, or
/// new and live (a page that comes back brings its content).
fn content_counts(before: &Expected, after: &Expected, page_id: &str) -> bool {
    let live = |e: &Expected| e.pages.get(page_id).map(|p| !p.in_trash);
    matches!(
        (live(before), live(after)),
        (Some(true), Some(true)) | (None, Some(true))
    )
}

fn push(
    out: &mut Vec<Change>,
    object: Object,
    id: &str,
    page_id: Option<String>,
    old: Option<&State>,
    new: Option<&State>,
) {
    let d = changes::diff(old, new);
    if let Some(kind) = d.kind {
        out.push(Change {
            object,
            id: id.to_string(),
            page_id,
            kind,
            fields: d.fields,
            before: d.before,
            after: d.after,
            edited_time: None,
            edited_by: None,
        });
    }
}

fn recorded_blocks<'a>(
    e: &'a Expected,
    before: &Expected,
    after: &Expected,
) -> BTreeMap<&'a str, &'a ExpectedBlock> {
    e.blocks
        .iter()
        .filter(|(_, b)| {
            let kind = b.raw.get("type").and_then(Value::as_str).unwrap_or("");
            !render::is_stand_in(kind) && content_counts(before, after, &b.page_id)
        })
        .map(|(id, b)| (id.as_str(), b))
        .collect()
}

fn block_changes(before: &Expected, after: &Expected, out: &mut Vec<Change>) {
    let old = recorded_blocks(before, before, after);
    let new = recorded_blocks(after, before, after);
    let placements: Vec<blocks::Placement> = new
        .iter()
        .filter_map(|(id, n)| {
            let o = old.get(id)?;
            Some(blocks::Placement {
                id,
                old_parent: &o.parent_id,
                old_position: o.position,
                new_parent: &n.parent_id,
                new_position: n.position,
            })
        })
        .collect();
    let reordered = blocks::reordered(&placements);
    let ids: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    for id in ids {
        let (o, n) = (old.get(id), new.get(id));
        let state = |b: &ExpectedBlock, position: i64| {
            render::block(&b.raw, &b.parent_id, position, &text::block(&b.raw))
        };
        let os = o.map(|b| state(b, b.position));
        let ns = n.map(|b| {
            let position = match o {
                Some(o) if o.parent_id == b.parent_id && !reordered.contains(id) => o.position,
                _ => b.position,
            };
            state(b, position)
        });
        let page_id = n.or(o).map(|b| b.page_id.clone());
        push(out, Object::Block, id, page_id, os.as_ref(), ns.as_ref());
    }
}

/// What a mutation says must be in the feed: the object, the kind of change, and a field
/// with the value it must have after (`None`: any value), or before for removals.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub object: Object,
    pub id: String,
    pub kind: Kind,
    pub field: Option<(String, Option<Value>)>,
}

impl Expectation {
    fn new(object: Object, id: &str, kind: Kind) -> Self {
        Expectation {
            object,
            id: crate::ids::normalize_or_keep(id),
            kind,
            field: None,
        }
    }

    fn with(mut self, field: &str, value: Option<Value>) -> Self {
        self.field = Some((field.to_string(), value));
        self
    }

    /// Whether `change` shows this.
    pub fn met_by(&self, change: &Change) -> bool {
        if change.object != self.object || change.id != self.id || change.kind != self.kind {
            return false;
        }
        let Some((field, value)) = &self.field else {
            return true;
        };
        if !change.fields.iter().any(|f| f == field) {
            return false;
        }
        let side = if self.kind == Kind::Removed {
            &change.before
        } else {
            &change.after
        };
        value.as_ref().is_none_or(|v| side.get(field) == Some(v))
    }
}

/// The name of the title property of page `id` in `e`.
fn title_property(e: &Expected, id: &str) -> Option<String> {
    let props = e.pages.get(id)?.raw.get("properties")?.as_object()?;
    props
        .iter()
        .find(|(_, p)| p.get("type").and_then(Value::as_str) == Some("title"))
        .map(|(name, _)| name.clone())
}

/// What `m` (which created `outcome.created_ids`) says must be recorded, given the
/// expected mirrors around it. Values are the typed-view rendering of what the mutation
/// set (a checkbox `true` is 1).
pub fn of_mutation(
    m: &Mutation,
    outcome: &MutationOutcome,
    before: &Expected,
    after: &Expected,
) -> Vec<Expectation> {
    use Expectation as E;
    use Mutation as M;
    let created = |object: Object| -> Vec<Expectation> {
        outcome
            .created_ids
            .iter()
            .filter(|id| match object {
                Object::Block => after.blocks.contains_key(*id),
                Object::Comment => after.comments.contains_key(*id),
                Object::Page => after.pages.contains_key(*id),
                Object::Database => after.databases.contains_key(*id),
                Object::DataSource => after.data_sources.contains_key(*id),
                Object::View => after.views.contains_key(*id),
                Object::User => false,
            })
            .map(|id| E::new(object, id, Kind::Created))
            .collect()
    };
    match m {
        M::CreatePage { title, .. } => created(Object::Page)
            .into_iter()
            .map(|e| {
                let field = title_property(after, &e.id).unwrap_or_else(|| "title".into());
                e.with(&field, Some(json!(title)))
            })
            .collect(),
        M::UpdateProperties { page_id, values } => values
            .iter()
            .filter(|(name, _)| property(before, page_id, name) != property(after, page_id, name))
            .map(|(name, v)| {
                let value = match v {
                    Value::Bool(b) => json!(i64::from(*b)),
                    Value::Array(_) => property(after, page_id, name).unwrap_or(Value::Null),
                    other => other.clone(),
                };
                E::new(Object::Page, page_id, Kind::Updated).with(name, Some(value))
            })
            .collect(),
        M::RenamePage { page_id, title } => {
            let field = title_property(after, page_id).unwrap_or_else(|| "title".into());
            vec![E::new(Object::Page, page_id, Kind::Updated).with(&field, Some(json!(title)))]
        }
        M::EditBlock { block_id, .. } => {
            vec![E::new(Object::Block, block_id, Kind::Updated).with("text", None)]
        }
        M::AppendBlocks { texts, .. } => created(Object::Block)
            .into_iter()
            .zip(texts)
            .map(|(e, t)| e.with("text", Some(json!(t))))
            .collect(),
        M::DeleteBlock { block_id } => vec![E::new(Object::Block, block_id, Kind::Removed)],
        M::MovePage {
            page_id,
            new_parent,
        } => {
            let parent = match new_parent {
                ParentRef::Workspace => json!("workspace"),
                ParentRef::Page(p) | ParentRef::DataSource(p) => {
                    json!(crate::ids::normalize_or_keep(p))
                }
            };
            vec![E::new(Object::Page, page_id, Kind::Moved).with("parent", Some(parent))]
        }
        M::TrashPage { page_id } => {
            vec![E::new(Object::Page, page_id, Kind::Trashed).with("in_trash", Some(json!(1)))]
        }
        M::RestorePage { page_id } => {
            vec![E::new(Object::Page, page_id, Kind::Restored).with("in_trash", Some(json!(0)))]
        }
        M::LockPage { page_id } => {
            vec![E::new(Object::Page, page_id, Kind::Updated).with("is_locked", Some(json!(1)))]
        }
        M::UnlockPage { page_id } => {
            vec![E::new(Object::Page, page_id, Kind::Updated).with("is_locked", Some(json!(0)))]
        }
        M::AddComment { text, .. } => created(Object::Comment)
            .into_iter()
            .map(|e| e.with("text", Some(json!(text))))
            .collect(),
        M::EditComment { comment_id, text } => {
            vec![E::new(Object::Comment, comment_id, Kind::Updated).with("text", Some(json!(text)))]
        }
        M::DeleteComment { comment_id } | M::ResolveComment { comment_id } => {
            vec![E::new(Object::Comment, comment_id, Kind::Removed)]
        }
        M::AddProperty { data_source_id, .. }
        | M::RenameProperty { data_source_id, .. }
        | M::DeleteProperty { data_source_id, .. } => {
            vec![E::new(Object::DataSource, data_source_id, Kind::Updated).with("schema", None)]
        }
        M::CreateDatabase { .. } => {
            let mut out = created(Object::Database);
            out.extend(created(Object::DataSource));
            out
        }
        M::TrashDatabase { database_id } => {
            vec![E::new(Object::Database, database_id, Kind::Trashed)]
        }
        M::RestoreDatabase { database_id } => {
            vec![E::new(Object::Database, database_id, Kind::Restored)]
        }
        M::CreateDataSource { .. } => created(Object::DataSource),
        M::TrashDataSource { data_source_id } => {
            vec![E::new(Object::DataSource, data_source_id, Kind::Trashed)]
        }
        M::RevokeAccess { page_id } => vec![E::new(Object::Page, page_id, Kind::Removed)],
        M::RestoreAccess { page_id } => vec![E::new(Object::Page, page_id, Kind::Created)],
        M::CreateView { name, .. } => created(Object::View)
            .into_iter()
            .map(|e| e.with("name", Some(json!(name))))
            .collect(),
        M::UpdateView { view_id, name, .. } => {
            let e = E::new(Object::View, view_id, Kind::Updated);
            vec![match name {
                Some(n) => e.with("name", Some(json!(n))),
                None => e,
            }]
        }
        M::DeleteView { view_id } => vec![E::new(Object::View, view_id, Kind::Removed)],
    }
}

/// The typed-view value of page `id`'s property `name` in `e`.
fn property(e: &Expected, id: &str, name: &str) -> Option<Value> {
    let page = e.pages.get(&crate::ids::normalize_or_keep(id))?;
    render::page(&page.raw)
        .props
        .into_values()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}
