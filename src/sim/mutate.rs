//! Workspace mutations (`Mutation`), the transaction (`Tx`) that applies them, and the raw
//! webhook events they emit. Operations live in `mutate_pages.rs`, `mutate_values.rs`,
//! `mutate_content.rs` and `mutate_schema.rs`.
//!
//! Invariant: a mutation either fails without changing anything (validation happens before
//! the first write) or applies completely; mutations stamp the real current time.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::SimError;
use super::events::RawEvent;
use super::model::{Block, Holder, Parent, Val, Workspace};

/// Where a new or moved page goes: `{"page": id}`, `{"data_source": id}` or `"workspace"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentRef {
    Workspace,
    Page(String),
    DataSource(String),
}

/// Property types `AddProperty` can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyKind {
    RichText,
    Number,
    Checkbox,
    Select,
    MultiSelect,
    Date,
    Url,
    Email,
    PhoneNumber,
    People,
    Files,
    CreatedTime,
    LastEditedTime,
}

/// One change to the simulated workspace (JSON: `{"op": "snake_case_name", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Mutation {
    CreatePage {
        parent: ParentRef,
        title: String,
    },
    /// `values`: property name → simple value (string for title/rich_text/select/status/
    /// url/email/phone, number, bool, array of names for multi_select, ISO date string,
    /// array of ids for relation/people, array of new files for files — see
    /// `files::files_value`; `null` clears).
    UpdateProperties {
        page_id: String,
        values: Map<String, Value>,
    },
    RenamePage {
        page_id: String,
        title: String,
    },
    EditBlock {
        block_id: String,
        text: String,
    },
    AppendBlocks {
        parent_id: String,
        texts: Vec<String>,
    },
    DeleteBlock {
        block_id: String,
    },
    MovePage {
        page_id: String,
        new_parent: ParentRef,
    },
    TrashPage {
        page_id: String,
    },
    RestorePage {
        page_id: String,
    },
    LockPage {
        page_id: String,
    },
    UnlockPage {
        page_id: String,
    },
    AddComment {
        parent_id: String,
        #[serde(default)]
        discussion_id: Option<String>,
        text: String,
    },
    EditComment {
        comment_id: String,
        text: String,
    },
    DeleteComment {
        comment_id: String,
    },
    ResolveComment {
        comment_id: String,
    },
    AddProperty {
        data_source_id: String,
        name: String,
        kind: PropertyKind,
    },
    RenameProperty {
        data_source_id: String,
        name: String,
        new_name: String,
    },
    DeleteProperty {
        data_source_id: String,
        name: String,
    },
    CreateDatabase {
        parent_page_id: String,
        title: String,
        #[serde(default)]
        data_source_titles: Vec<String>,
    },
    TrashDatabase {
        database_id: String,
    },
    RestoreDatabase {
        database_id: String,
    },
    CreateDataSource {
        database_id: String,
        title: String,
    },
    TrashDataSource {
        data_source_id: String,
    },
    /// Unshares a page (or database) and everything under it: 404 everywhere, no events.
    RevokeAccess {
        page_id: String,
    },
    RestoreAccess {
        page_id: String,
    },
    /// A view of a data source (`view.created`); `filter`/`sorts` as the API takes them.
    CreateView {
        data_source_id: String,
        name: String,
        view_type: String,
        #[serde(default)]
        filter: Value,
        #[serde(default)]
        sorts: Value,
    },
    /// Renames a view and/or replaces its filter or sorts (`view.updated`).
    UpdateView {
        view_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Absent: unchanged; `null`: cleared.
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        filter: Option<Value>,
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        sorts: Option<Value>,
    },
    DeleteView {
        view_id: String,
    },
}

/// A field that is present (even as `null`) is `Some`; only an absent one is `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// What a successful mutation created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationOutcome {
    pub created_ids: Vec<String>,
}

/// The effects of one applied mutation.
pub(crate) struct Applied {
    pub outcome: MutationOutcome,
    pub events: Vec<RawEvent>,
    /// Pages and data sources whose JSON may have changed (for the search index).
    pub touched: Vec<String>,
}

/// A mutation in progress.
pub(crate) struct Tx<'a> {
    pub ws: &'a mut Workspace,
    pub now: DateTime<Utc>,
    pub author: String,
    pub events: Vec<RawEvent>,
    pub touched: BTreeSet<String>,
    pub created: Vec<String>,
}

/// Applies `m` at `now`, authored by `author`. `widen` adds relation neighbours to
/// `touched` (only needed when a lagging search snapshot must be kept up to date).
pub(crate) fn apply(
    ws: &mut Workspace,
    m: &Mutation,
    now: DateTime<Utc>,
    author: &str,
    widen: bool,
) -> Result<Applied, SimError> {
    let mut tx = Tx {
        ws,
        now,
        author: author.to_string(),
        events: Vec::new(),
        touched: BTreeSet::new(),
        created: Vec::new(),
    };
    tx.run(m)?;
    tx.finish(widen)
}

impl Tx<'_> {
    pub(crate) fn run(&mut self, m: &Mutation) -> Result<(), SimError> {
        use Mutation as M;
        match m {
            M::CreatePage { parent, title } => self.create_page(parent, title),
            M::UpdateProperties { page_id, values } => self.update_properties(page_id, values),
            M::RenamePage { page_id, title } => self.rename_page(page_id, title),
            M::EditBlock { block_id, text } => self.edit_block(block_id, text),
            M::AppendBlocks { parent_id, texts } => self.append_blocks(parent_id, texts),
            M::DeleteBlock { block_id } => self.delete_block(block_id),
            M::MovePage {
                page_id,
                new_parent,
            } => self.move_page(page_id, new_parent),
            M::TrashPage { page_id } => self.set_page_trash(page_id, true),
            M::RestorePage { page_id } => self.set_page_trash(page_id, false),
            M::LockPage { page_id } => self.set_lock(page_id, true),
            M::UnlockPage { page_id } => self.set_lock(page_id, false),
            M::AddComment {
                parent_id,
                discussion_id,
                text,
            } => self.add_comment(parent_id, discussion_id.as_deref(), text),
            M::EditComment { comment_id, text } => {
                self.comment_change(comment_id, Some(text), "comment.updated")
            }
            M::DeleteComment { comment_id } => {
                self.comment_change(comment_id, None, "comment.deleted")
            }
            M::ResolveComment { comment_id } => {
                self.comment_change(comment_id, None, "comment.updated")
            }
            M::AddProperty {
                data_source_id,
                name,
                kind,
            } => self.add_property(data_source_id, name, *kind),
            M::RenameProperty {
                data_source_id,
                name,
                new_name,
            } => self.rename_property(data_source_id, name, new_name),
            M::DeleteProperty {
                data_source_id,
                name,
            } => self.delete_property(data_source_id, name),
            M::CreateDatabase {
                parent_page_id,
                title,
                data_source_titles,
            } => self.create_database(parent_page_id, title, data_source_titles),
            M::TrashDatabase { database_id } => self.set_database_trash(database_id, true),
            M::RestoreDatabase { database_id } => self.set_database_trash(database_id, false),
            M::CreateDataSource { database_id, title } => {
                self.create_data_source(database_id, title).map(|_| ())
            }
            M::TrashDataSource { data_source_id } => self.trash_data_source(data_source_id),
            M::RevokeAccess { page_id } => self.set_access(page_id, true),
            M::RestoreAccess { page_id } => self.set_access(page_id, false),
            M::CreateView {
                data_source_id,
                name,
                view_type,
                filter,
                sorts,
            } => self.create_view(data_source_id, name, view_type, filter, sorts),
            M::UpdateView {
                view_id,
                name,
                filter,
                sorts,
            } => self.update_view(view_id, name.as_deref(), filter.as_ref(), sorts.as_ref()),
            M::DeleteView { view_id } => self.delete_view(view_id),
        }
    }

    /// Drops events the integration cannot see [S10] and widens `touched` to relation
    /// neighbours (their rollups and formulas read the touched rows).
    pub(crate) fn finish(mut self, widen: bool) -> Result<Applied, SimError> {
        let events: Vec<RawEvent> = std::mem::take(&mut self.events)
            .into_iter()
            .filter(|e| {
                let id = if e.entity_type == "view" {
                    e.data
                        .pointer("/parent/id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                } else if e.entity_type == "comment" {
                    e.data
                        .get("page_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                } else {
                    e.entity_id.clone()
                };
                self.ws.visible(&id)
            })
            .collect();
        let mut touched: BTreeSet<String> = self.touched.clone();
        if widen {
            for id in &self.touched {
                touched.extend(self.neighbours(id));
            }
        }
        Ok(Applied {
            outcome: MutationOutcome {
                created_ids: self.created,
            },
            events,
            touched: touched.into_iter().collect(),
        })
    }

    /// Pages related to `id` in either direction.
    pub(crate) fn neighbours(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = self.ws.pages.get(id) {
            for v in p.props.values() {
                if let Val::Relation(ids) = v {
                    out.extend(ids.iter().cloned());
                }
            }
        }
        for p in self.ws.pages.values() {
            if p.props
                .values()
                .any(|v| matches!(v, Val::Relation(ids) if ids.iter().any(|x| x == id)))
            {
                out.push(p.id.clone());
            }
        }
        out
    }

    pub(crate) fn id(raw: &str) -> Result<String, SimError> {
        crate::ids::normalize(raw).ok_or_else(|| SimError::NotFound(raw.to_string()))
    }

    pub(crate) fn event(&mut self, ty: &str, entity_type: &str, entity_id: &str, data: Value) {
        self.events.push(RawEvent {
            event_type: ty.to_string(),
            entity_type: entity_type.to_string(),
            entity_id: entity_id.to_string(),
            data,
            at: self.now,
            authors: vec![(self.author.clone(), "person".to_string())],
        });
    }

    /// `data.parent` of an object with this parent [S9].
    pub(crate) fn parent_data(&self, parent: &Parent) -> Value {
        match parent {
            Parent::Workspace => json!({ "id": self.ws.workspace_id, "type": "space" }),
            Parent::Page(id) => json!({ "id": id, "type": "page" }),
            Parent::Block(id) => json!({ "id": id, "type": "block" }),
            Parent::Agent(id) => json!({ "id": id, "type": "agent" }),
            Parent::DataSource(ds) => {
                let db = self
                    .ws
                    .data_sources
                    .get(ds)
                    .map(|d| d.database_id.clone())
                    .unwrap_or_default();
                json!({ "id": db, "type": "database", "data_source_id": ds })
            }
        }
    }

    pub(crate) fn page_parent_data(&self, page_id: &str) -> Value {
        self.ws
            .pages
            .get(page_id)
            .map(|p| self.parent_data(&p.parent.clone()))
            .unwrap_or(Value::Null)
    }

    pub(crate) fn bump_page(&mut self, id: &str) {
        if let Some(p) = self.ws.pages.get_mut(id) {
            p.last_edited_time = self.now;
            p.last_edited_by = self.author.clone();
        }
        self.touched.insert(id.to_string());
    }

    pub(crate) fn bump_block(&mut self, id: &str) {
        if let Some(b) = self.ws.blocks.get_mut(id) {
            b.last_edited_time = self.now;
            b.last_edited_by = self.author.clone();
        }
    }

    pub(crate) fn bump_ds(&mut self, id: &str) {
        if let Some(d) = self.ws.data_sources.get_mut(id) {
            d.last_edited_time = self.now;
            d.last_edited_by = self.author.clone();
        }
        self.touched.insert(id.to_string());
    }

    pub(crate) fn bump_db(&mut self, id: &str) {
        if let Some(d) = self.ws.databases.get_mut(id) {
            d.last_edited_time = self.now;
        }
        let sources = self
            .ws
            .databases
            .get(id)
            .map(|d| d.data_sources.clone())
            .unwrap_or_default();
        self.touched.extend(sources);
    }

    /// `page.content_updated` on `page_id` for `blocks` (UNCONFIRMED aggregation aside, one
    /// raw event per effect [S9]).
    pub(crate) fn content_updated(&mut self, page_id: &str, blocks: &[String]) {
        let updated: Vec<Value> = blocks
            .iter()
            .map(|b| json!({ "id": b, "type": "block" }))
            .collect();
        let parent = self.page_parent_data(page_id);
        self.event(
            "page.content_updated",
            "page",
            page_id,
            json!({ "parent": parent, "updated_blocks": updated }),
        );
    }

    /// The row's data source changed content: bump it (row create/trash/restore) and emit
    /// `data_source.content_updated`.
    pub(crate) fn source_content_updated(&mut self, ds: &str, row: &str) {
        self.bump_ds(ds);
        let parent = self.ds_parent_data(ds);
        self.event(
            "data_source.content_updated",
            "data_source",
            ds,
            json!({ "parent": parent, "updated_blocks": [{ "id": row, "type": "block" }] }),
        );
    }

    /// `data.parent` of data-source events: the database (the docs' samples disagree
    /// between `page` and `database`; the simulator uses the data model's parent).
    pub(crate) fn ds_parent_data(&self, ds: &str) -> Value {
        let db = self
            .ws
            .data_sources
            .get(ds)
            .map(|d| d.database_id.clone())
            .unwrap_or_default();
        json!({ "id": db, "type": "database" })
    }

    pub(crate) fn new_block(
        &mut self,
        holder: Holder,
        btype: &str,
        data: Value,
        id: Option<String>,
    ) -> String {
        let id = id.unwrap_or_else(|| self.ws.new_id());
        let seq = self.ws.next_seq();
        let page_id = self.ws.owner_page(holder.id()).unwrap_or_default();
        self.ws.blocks.insert(
            id.clone(),
            Block {
                id: id.clone(),
                seq,
                page_id,
                parent: holder.clone(),
                created_time: self.now,
                last_edited_time: self.now,
                created_by: self.author.clone(),
                last_edited_by: self.author.clone(),
                btype: btype.to_string(),
                data,
                children: Vec::new(),
                in_trash: false,
            },
        );
        self.push_child(&holder, &id);
        id
    }

    pub(crate) fn push_child(&mut self, holder: &Holder, id: &str) {
        let list = match holder {
            Holder::Page(p) => self.ws.pages.get_mut(p).map(|p| &mut p.children),
            Holder::Block(b) => self.ws.blocks.get_mut(b).map(|b| &mut b.children),
        };
        if let Some(list) = list {
            list.push(id.to_string());
        }
    }

    pub(crate) fn remove_child(&mut self, holder: &Holder, id: &str) {
        let list = match holder {
            Holder::Page(p) => self.ws.pages.get_mut(p).map(|p| &mut p.children),
            Holder::Block(b) => self.ws.blocks.get_mut(b).map(|b| &mut b.children),
        };
        if let Some(list) = list {
            list.retain(|x| x != id);
        }
    }
}
