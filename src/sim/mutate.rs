//! Workspace mutations (`Mutation`), their timestamp effects and the raw webhook events they
//! emit; page, block and comment operations live here, schema/database/access ones in
//! `mutate_schema.rs`.
//!
//! Invariant: a mutation either fails without changing anything (validation happens before
//! the first write) or applies completely; mutations stamp the real current time.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::SimError;
use super::events::RawEvent;
use super::model::{Block, Comment, Holder, Page, Parent, PropKind, Val, Workspace};
use super::richtext;
use super::util::encode_uri_component;

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
    /// array of ids for relation/people; `null` clears).
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

/// Applies `m` at `now`, authored by `author`.
pub(crate) fn apply(
    ws: &mut Workspace,
    m: &Mutation,
    now: DateTime<Utc>,
    author: &str,
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
    tx.finish()
}

impl Tx<'_> {
    fn run(&mut self, m: &Mutation) -> Result<(), SimError> {
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
        }
    }

    /// Drops events the integration cannot see [S10] and widens `touched` to relation
    /// neighbours (their rollups and formulas read the touched rows).
    fn finish(mut self) -> Result<Applied, SimError> {
        let events: Vec<RawEvent> = std::mem::take(&mut self.events)
            .into_iter()
            .filter(|e| {
                let id = if e.entity_type == "comment" {
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
        for id in &self.touched {
            touched.extend(self.neighbours(id));
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
    fn neighbours(&self, id: &str) -> Vec<String> {
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

    pub fn id(raw: &str) -> Result<String, SimError> {
        crate::ids::normalize(raw).ok_or_else(|| SimError::NotFound(raw.to_string()))
    }

    pub fn event(&mut self, ty: &str, entity_type: &str, entity_id: &str, data: Value) {
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
    pub fn parent_data(&self, parent: &Parent) -> Value {
        match parent {
            Parent::Workspace => json!({ "id": self.ws.workspace_id, "type": "space" }),
            Parent::Page(id) => json!({ "id": id, "type": "page" }),
            Parent::Block(id) => json!({ "id": id, "type": "block" }),
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

    pub fn page_parent_data(&self, page_id: &str) -> Value {
        self.ws
            .pages
            .get(page_id)
            .map(|p| self.parent_data(&p.parent.clone()))
            .unwrap_or(Value::Null)
    }

    pub fn bump_page(&mut self, id: &str) {
        if let Some(p) = self.ws.pages.get_mut(id) {
            p.last_edited_time = self.now;
            p.last_edited_by = self.author.clone();
        }
        self.touched.insert(id.to_string());
    }

    fn bump_block(&mut self, id: &str) {
        if let Some(b) = self.ws.blocks.get_mut(id) {
            b.last_edited_time = self.now;
            b.last_edited_by = self.author.clone();
        }
    }

    pub fn bump_ds(&mut self, id: &str) {
        if let Some(d) = self.ws.data_sources.get_mut(id) {
            d.last_edited_time = self.now;
            d.last_edited_by = self.author.clone();
        }
        self.touched.insert(id.to_string());
    }

    pub fn bump_db(&mut self, id: &str) {
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
    pub fn content_updated(&mut self, page_id: &str, blocks: &[String]) {
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
    fn source_content_updated(&mut self, ds: &str, row: &str) {
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
    pub fn ds_parent_data(&self, ds: &str) -> Value {
        let db = self
            .ws
            .data_sources
            .get(ds)
            .map(|d| d.database_id.clone())
            .unwrap_or_default();
        json!({ "id": db, "type": "database" })
    }

    pub fn new_block(
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

    pub fn push_child(&mut self, holder: &Holder, id: &str) {
        let list = match holder {
            Holder::Page(p) => self.ws.pages.get_mut(p).map(|p| &mut p.children),
            Holder::Block(b) => self.ws.blocks.get_mut(b).map(|b| &mut b.children),
        };
        if let Some(list) = list {
            list.push(id.to_string());
        }
    }

    fn remove_child(&mut self, holder: &Holder, id: &str) {
        let list = match holder {
            Holder::Page(p) => self.ws.pages.get_mut(p).map(|p| &mut p.children),
            Holder::Block(b) => self.ws.blocks.get_mut(b).map(|b| &mut b.children),
        };
        if let Some(list) = list {
            list.retain(|x| x != id);
        }
    }

    fn create_page(&mut self, parent: &ParentRef, title: &str) -> Result<(), SimError> {
        let parent = match parent {
            ParentRef::Workspace => Parent::Workspace,
            ParentRef::Page(p) => {
                let p = Self::id(p)?;
                if !self.ws.pages.contains_key(&p) {
                    return Err(SimError::NotFound(p));
                }
                Parent::Page(p)
            }
            ParentRef::DataSource(d) => {
                let d = Self::id(d)?;
                match self.ws.data_sources.get(&d) {
                    Some(ds) if !self.ws.ds_trashed(ds) => Parent::DataSource(d),
                    Some(_) => {
                        return Err(SimError::Invalid(format!("data source {d} is trashed")))
                    }
                    None => return Err(SimError::NotFound(d)),
                }
            }
        };
        let id = self.ws.new_id();
        let seq = self.ws.next_seq();
        self.ws.pages.insert(
            id.clone(),
            Page {
                id: id.clone(),
                seq,
                created_time: self.now,
                last_edited_time: self.now,
                created_by: self.author.clone(),
                last_edited_by: self.author.clone(),
                parent: parent.clone(),
                title: richtext::plain(title),
                props: Default::default(),
                icon: Value::Null,
                cover: Value::Null,
                in_trash: false,
                is_locked: false,
                revoked: false,
                children: Vec::new(),
            },
        );
        self.created.push(id.clone());
        self.touched.insert(id.clone());
        let pdata = self.parent_data(&parent);
        self.event("page.created", "page", &id, json!({ "parent": pdata }));
        match parent {
            Parent::Page(p) => {
                self.new_block(
                    Holder::Page(p.clone()),
                    "child_page",
                    json!({}),
                    Some(id.clone()),
                );
                self.bump_page(&p);
                self.content_updated(&p, std::slice::from_ref(&id));
            }
            Parent::DataSource(ds) => {
                self.attach_row(&ds, &id);
                self.source_content_updated(&ds, &id);
            }
            _ => {}
        }
        Ok(())
    }

    fn attach_row(&mut self, ds_id: &str, page_id: &str) {
        let Some(ds) = self.ws.data_sources.get_mut(ds_id) else {
            return;
        };
        ds.rows.push(page_id.to_string());
        let uid = ds
            .properties
            .iter()
            .find(|p| matches!(p.kind, PropKind::UniqueId { .. }))
            .map(|p| p.id.clone());
        let n = uid.as_ref().map(|_| {
            ds.next_unique_id += 1;
            ds.next_unique_id
        });
        if let (Some(uid), Some(n), Some(p)) = (uid, n, self.ws.pages.get_mut(page_id)) {
            p.props.insert(uid, Val::UniqueId(n));
        }
    }

    fn page(&self, raw: &str) -> Result<String, SimError> {
        let id = Self::id(raw)?;
        if self.ws.pages.contains_key(&id) {
            Ok(id)
        } else {
            Err(SimError::NotFound(id))
        }
    }

    fn rename_page(&mut self, raw: &str, title: &str) -> Result<(), SimError> {
        let id = self.page(raw)?;
        let is_row = matches!(
            self.ws.pages.get(&id).map(|p| &p.parent),
            Some(Parent::DataSource(_))
        );
        if let Some(p) = self.ws.pages.get_mut(&id) {
            p.title = richtext::plain(title);
        }
        self.bump_page(&id);
        let parent = self.page_parent_data(&id);
        if is_row {
            self.event(
                "page.properties_updated",
                "page",
                &id,
                json!({ "parent": parent, "updated_properties": ["title"] }),
            );
        } else {
            // Title edits of a page arrive as page.content_updated [S9 example].
            self.event(
                "page.content_updated",
                "page",
                &id,
                json!({ "parent": parent, "updated_blocks": [] }),
            );
        }
        Ok(())
    }

    fn text_block_target(&self, raw: &str) -> Result<String, SimError> {
        let id = Self::id(raw)?;
        let b = self
            .ws
            .blocks
            .get(&id)
            .ok_or_else(|| SimError::NotFound(id.clone()))?;
        if b.in_trash {
            return Err(SimError::Invalid(format!("block {id} is deleted")));
        }
        if matches!(b.btype.as_str(), "child_page" | "child_database") {
            return Err(SimError::Invalid(format!(
                "block {id} is a {}; edit the page/database instead",
                b.btype
            )));
        }
        Ok(id)
    }

    fn edit_block(&mut self, raw: &str, text: &str) -> Result<(), SimError> {
        let id = self.text_block_target(raw)?;
        let Some(b) = self.ws.blocks.get_mut(&id) else {
            return Err(SimError::NotFound(id));
        };
        if b.data.get("rich_text").is_some() {
            b.data["rich_text"] = json!(richtext::plain(text));
        } else if b.btype == "table_row" {
            if let Some(first) = b
                .data
                .get_mut("cells")
                .and_then(Value::as_array_mut)
                .and_then(|c| c.first_mut())
            {
                *first = json!(richtext::plain(text));
            }
        } else {
            return Err(SimError::Invalid(format!(
                "block {id} ({}) has no text",
                b.btype
            )));
        }
        let page = b.page_id.clone();
        self.bump_block(&id);
        self.bump_page(&page);
        self.content_updated(&page, std::slice::from_ref(&id));
        Ok(())
    }

    fn append_blocks(&mut self, raw: &str, texts: &[String]) -> Result<(), SimError> {
        let id = Self::id(raw)?;
        let holder = if self.ws.pages.contains_key(&id) {
            Holder::Page(id.clone())
        } else {
            let b = self
                .ws
                .blocks
                .get(&id)
                .ok_or_else(|| SimError::NotFound(id.clone()))?;
            let nestable = matches!(
                b.btype.as_str(),
                "paragraph"
                    | "bulleted_list_item"
                    | "numbered_list_item"
                    | "to_do"
                    | "toggle"
                    | "quote"
                    | "callout"
                    | "column"
                    | "synced_block"
            ) || b.data.get("is_toggleable") == Some(&json!(true));
            if b.in_trash || !nestable {
                return Err(SimError::Invalid(format!(
                    "block {id} ({}) cannot take children",
                    b.btype
                )));
            }
            Holder::Block(id.clone())
        };
        if texts.is_empty() {
            return Err(SimError::Invalid("nothing to append".into()));
        }
        let mut updated = Vec::new();
        for t in texts {
            let data = json!({ "rich_text": richtext::plain(t), "icon": null, "color": "default" });
            let b = self.new_block(holder.clone(), "paragraph", data, None);
            self.created.push(b.clone());
            updated.push(b);
        }
        if let Holder::Block(b) = &holder {
            self.bump_block(b);
            updated.push(b.clone());
        }
        let page = self.ws.owner_page(&id).unwrap_or_default();
        self.bump_page(&page);
        self.content_updated(&page, &updated);
        Ok(())
    }

    fn delete_block(&mut self, raw: &str) -> Result<(), SimError> {
        let id = self.text_block_target(raw)?;
        let (page, parent) = match self.ws.blocks.get_mut(&id) {
            Some(b) => {
                b.in_trash = true;
                (b.page_id.clone(), b.parent.clone())
            }
            None => return Err(SimError::NotFound(id)),
        };
        self.bump_block(&id);
        let mut updated = vec![id];
        if let Holder::Block(p) = parent {
            self.bump_block(&p);
            updated.push(p);
        }
        self.bump_page(&page);
        self.content_updated(&page, &updated);
        Ok(())
    }

    /// True when `candidate` is `page` or lies under it.
    fn is_within(&self, candidate: &str, page: &str) -> bool {
        let mut cur = candidate.to_string();
        for _ in 0..512 {
            if cur == page {
                return true;
            }
            cur = match self.ws.pages.get(&cur).map(|p| &p.parent) {
                Some(Parent::Page(x)) => x.clone(),
                Some(Parent::Block(b)) => match self.ws.blocks.get(b) {
                    Some(b) => b.page_id.clone(),
                    None => return false,
                },
                Some(Parent::DataSource(ds)) => {
                    let db = self.ws.data_sources.get(ds).map(|d| d.database_id.clone());
                    match db
                        .and_then(|d| self.ws.databases.get(&d))
                        .map(|d| &d.parent)
                    {
                        Some(Parent::Page(x)) => x.clone(),
                        _ => return false,
                    }
                }
                _ => return false,
            };
        }
        false
    }

    fn move_page(&mut self, raw: &str, to: &ParentRef) -> Result<(), SimError> {
        let id = self.page(raw)?;
        let old = self
            .ws
            .pages
            .get(&id)
            .map(|p| (p.parent.clone(), p.in_trash));
        let Some((old, trashed)) = old else {
            return Err(SimError::NotFound(id));
        };
        if trashed || matches!(old, Parent::DataSource(_)) {
            return Err(SimError::Invalid(format!(
                "page {id} is trashed or a data source row"
            )));
        }
        let new = match to {
            ParentRef::Workspace => Parent::Workspace,
            ParentRef::Page(p) => {
                let p = self.page(p)?;
                if self.is_within(&p, &id) {
                    return Err(SimError::Invalid("cannot move a page under itself".into()));
                }
                Parent::Page(p)
            }
            ParentRef::DataSource(_) => {
                return Err(SimError::Invalid(
                    "moving pages into data sources is not simulated".into(),
                ))
            }
        };
        if new == old {
            return Err(SimError::Invalid("page is already there".into()));
        }
        if let Some(holder) = self.ws.blocks.get(&id).map(|b| b.parent.clone()) {
            self.remove_child(&holder, &id);
            let owner = self.ws.owner_page(holder.id()).unwrap_or_default();
            self.ws.blocks.remove(&id);
            if let Holder::Block(b) = &holder {
                self.bump_block(b);
            }
            self.bump_page(&owner);
            self.content_updated(&owner, std::slice::from_ref(&id));
        }
        if let Some(p) = self.ws.pages.get_mut(&id) {
            p.parent = new.clone();
        }
        if let Parent::Page(p) = &new {
            self.new_block(
                Holder::Page(p.clone()),
                "child_page",
                json!({}),
                Some(id.clone()),
            );
            self.bump_page(p);
            self.content_updated(p, std::slice::from_ref(&id));
        }
        self.bump_page(&id);
        let pdata = self.parent_data(&new);
        self.event("page.moved", "page", &id, json!({ "parent": pdata }));
        Ok(())
    }

    fn set_page_trash(&mut self, raw: &str, trash: bool) -> Result<(), SimError> {
        let id = self.page(raw)?;
        let (parent, was) = match self.ws.pages.get(&id) {
            Some(p) => (p.parent.clone(), p.in_trash),
            None => return Err(SimError::NotFound(id)),
        };
        if was == trash {
            return Err(SimError::Invalid(format!(
                "page {id} is already {}",
                if trash { "trashed" } else { "live" }
            )));
        }
        if let Some(p) = self.ws.pages.get_mut(&id) {
            p.in_trash = trash;
        }
        self.bump_page(&id);
        let holder = self.ws.blocks.get_mut(&id).map(|b| {
            b.in_trash = trash;
            b.parent.clone()
        });
        if let Some(holder) = holder {
            self.bump_block(&id);
            if let Holder::Block(b) = &holder {
                self.bump_block(b);
            }
            let owner = self.ws.owner_page(holder.id()).unwrap_or_default();
            self.bump_page(&owner);
            self.content_updated(&owner, std::slice::from_ref(&id));
        }
        if let Parent::DataSource(ds) = &parent {
            self.source_content_updated(ds, &id);
        }
        let pdata = self.parent_data(&parent);
        let ty = if trash {
            "page.deleted"
        } else {
            "page.undeleted"
        };
        self.event(ty, "page", &id, json!({ "parent": pdata }));
        Ok(())
    }

    fn set_lock(&mut self, raw: &str, lock: bool) -> Result<(), SimError> {
        let id = self.page(raw)?;
        if let Some(p) = self.ws.pages.get_mut(&id) {
            p.is_locked = lock;
        }
        // Locking does not move last_edited_time (spec decision, UNCONFIRMED).
        self.touched.insert(id.clone());
        let pdata = self.page_parent_data(&id);
        self.event(
            if lock { "page.locked" } else { "page.unlocked" },
            "page",
            &id,
            json!({ "parent": pdata }),
        );
        Ok(())
    }

    fn comment_data(&self, c: &Comment) -> Value {
        let ty = match c.parent {
            Holder::Page(_) => "page",
            Holder::Block(_) => "block",
        };
        json!({ "page_id": c.page_id, "parent": { "id": c.parent.id(), "type": ty } })
    }

    fn add_comment(
        &mut self,
        raw: &str,
        discussion: Option<&str>,
        text: &str,
    ) -> Result<(), SimError> {
        let target = Self::id(raw)?;
        let holder = if self.ws.pages.contains_key(&target) {
            Holder::Page(target.clone())
        } else if self.ws.blocks.contains_key(&target) {
            Holder::Block(target.clone())
        } else {
            return Err(SimError::NotFound(target));
        };
        let discussion_id = match discussion {
            Some(d) => {
                let d = Self::id(d)?;
                let known = self
                    .ws
                    .comments
                    .values()
                    .any(|c| c.discussion_id == d && c.parent == holder);
                if !known {
                    return Err(SimError::NotFound(d));
                }
                d
            }
            None => self.ws.new_id(),
        };
        let id = self.ws.new_id();
        let seq = self.ws.next_seq();
        let page_id = self.ws.owner_page(&target).unwrap_or_default();
        let c = Comment {
            id: id.clone(),
            seq,
            parent: holder,
            page_id,
            discussion_id,
            created_time: self.now,
            last_edited_time: self.now,
            created_by: self.author.clone(),
            rich_text: richtext::plain(text),
            resolved: false,
            deleted: false,
        };
        // Comments do not bump the page's last_edited_time (UNCONFIRMED [facts §7.13]).
        let data = self.comment_data(&c);
        self.ws.comments.insert(id.clone(), c);
        self.created.push(id.clone());
        self.event("comment.created", "comment", &id, data);
        Ok(())
    }

    /// Edit (`text` given), delete or resolve (`comment.updated` for resolve is
    /// UNCONFIRMED).
    fn comment_change(
        &mut self,
        raw: &str,
        text: Option<&String>,
        ty: &str,
    ) -> Result<(), SimError> {
        let id = Self::id(raw)?;
        let now = self.now;
        let c = match self.ws.comments.get_mut(&id) {
            Some(c) if c.is_open() => c,
            Some(_) => {
                return Err(SimError::Invalid(format!(
                    "comment {id} is resolved or deleted"
                )))
            }
            None => return Err(SimError::NotFound(id)),
        };
        match (text, ty) {
            (Some(t), _) => {
                c.rich_text = richtext::plain(t);
                c.last_edited_time = now;
            }
            (None, "comment.deleted") => c.deleted = true,
            (None, _) => c.resolved = true,
        }
        let c = c.clone();
        let data = self.comment_data(&c);
        self.event(ty, "comment", &id, data);
        Ok(())
    }

    /// Converts a simple mutation value to a stored value for `kind`.
    pub fn convert(&self, kind: &PropKind, v: &Value) -> Result<Val, SimError> {
        let bad = || {
            SimError::Invalid(format!(
                "value {v} does not fit a {} property",
                kind.type_name()
            ))
        };
        let opt = |name: &str| {
            kind.options()
                .iter()
                .find(|o| o.name == name)
                .map(|o| o.id.clone())
        };
        Ok(match kind {
            PropKind::RichText => Val::RichText(richtext::plain(v.as_str().unwrap_or_default())),
            PropKind::Number { .. } => Val::Number(if v.is_null() {
                None
            } else {
                Some(v.as_f64().ok_or_else(bad)?)
            }),
            PropKind::Select { .. } | PropKind::Status { .. } => {
                let id = match v.as_str() {
                    None if v.is_null() => None,
                    None => return Err(bad()),
                    Some(n) => Some(
                        opt(n).ok_or_else(|| SimError::Invalid(format!("no option named {n}")))?,
                    ),
                };
                if matches!(kind, PropKind::Select { .. }) {
                    Val::Select(id)
                } else {
                    Val::Status(id)
                }
            }
            PropKind::MultiSelect { .. } => {
                let names = v.as_array().ok_or_else(bad)?;
                let ids = names
                    .iter()
                    .map(|n| {
                        n.as_str()
                            .and_then(opt)
                            .ok_or_else(|| SimError::Invalid(format!("no option named {n}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Val::MultiSelect(ids)
            }
            PropKind::Date => match v.as_str() {
                None if v.is_null() => Val::Date(None),
                Some(s) if super::query::parse_instant(s).is_some() => {
                    Val::Date(Some(json!({ "start": s, "end": null, "time_zone": null })))
                }
                _ => return Err(bad()),
            },
            PropKind::People => {
                let ids = self.id_list(v)?;
                if let Some(x) = ids.iter().find(|id| self.ws.user(id).is_none()) {
                    return Err(SimError::NotFound(x.clone()));
                }
                Val::People(ids)
            }
            PropKind::Checkbox => Val::Checkbox(v.as_bool().ok_or_else(bad)?),
            PropKind::Url | PropKind::Email | PropKind::PhoneNumber => Val::Text(if v.is_null() {
                None
            } else {
                Some(v.as_str().ok_or_else(bad)?.to_string())
            }),
            PropKind::Relation { data_source_id, .. } => {
                let ids = self.id_list(v)?;
                let rows = self
                    .ws
                    .data_sources
                    .get(data_source_id)
                    .map(|d| d.rows.clone())
                    .unwrap_or_default();
                if let Some(x) = ids.iter().find(|id| !rows.contains(id)) {
                    return Err(SimError::Invalid(format!(
                        "{x} is not a row of the related data source"
                    )));
                }
                Val::Relation(ids)
            }
            other => {
                return Err(SimError::Invalid(format!(
                    "{} properties are read-only",
                    other.type_name()
                )))
            }
        })
    }

    fn id_list(&self, v: &Value) -> Result<Vec<String>, SimError> {
        let arr = v
            .as_array()
            .ok_or_else(|| SimError::Invalid(format!("expected an array of ids, got {v}")))?;
        let mut out: Vec<String> = Vec::new();
        for x in arr {
            let id = Self::id(x.as_str().unwrap_or_default())?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn update_properties(
        &mut self,
        raw: &str,
        values: &Map<String, Value>,
    ) -> Result<(), SimError> {
        let id = self.page(raw)?;
        let ds = match self.ws.pages.get(&id).map(|p| p.parent.clone()) {
            Some(Parent::DataSource(ds)) => Some(ds),
            _ => None,
        };
        let Some(ds_id) = ds else {
            // A non-row page has only its title.
            return match values.get("title").and_then(Value::as_str) {
                Some(t) if values.len() == 1 => self.rename_page(&id, t),
                _ => Err(SimError::Invalid(
                    "a non-row page only has a `title` property".into(),
                )),
            };
        };
        let schema = self
            .ws
            .data_sources
            .get(&ds_id)
            .map(|d| d.properties.clone())
            .unwrap_or_default();
        // Validate everything before writing anything.
        let mut planned: Vec<(String, PropKind, Option<Val>, Option<String>)> = Vec::new();
        for (name, v) in values {
            let prop = schema
                .iter()
                .find(|p| &p.name == name || encode_uri_component(&p.id) == *name)
                .ok_or_else(|| SimError::Invalid(format!("no property named {name}")))?;
            if let PropKind::Title = prop.kind {
                let t = v
                    .as_str()
                    .ok_or_else(|| SimError::Invalid("title must be a string".into()))?;
                planned.push((
                    prop.id.clone(),
                    prop.kind.clone(),
                    None,
                    Some(t.to_string()),
                ));
            } else {
                let val = self.convert(&prop.kind, v)?;
                planned.push((prop.id.clone(), prop.kind.clone(), Some(val), None));
            }
        }
        let mut updated = Vec::new();
        for (prop_id, kind, val, title) in planned {
            if let Some(t) = title {
                if let Some(p) = self.ws.pages.get_mut(&id) {
                    p.title = richtext::plain(&t);
                }
            }
            if let Some(val) = val {
                if let (
                    PropKind::Relation {
                        synced: Some(other),
                        ..
                    },
                    Val::Relation(new),
                ) = (&kind, &val)
                {
                    self.sync_dual(&id, &prop_id, other, new);
                }
                if let Some(p) = self.ws.pages.get_mut(&id) {
                    p.props.insert(prop_id.clone(), val);
                }
            }
            updated.push(encode_uri_component(&prop_id));
        }
        self.bump_page(&id);
        let parent = self.page_parent_data(&id);
        self.event(
            "page.properties_updated",
            "page",
            &id,
            json!({ "parent": parent, "updated_properties": updated }),
        );
        Ok(())
    }

    /// Keeps the other side of a dual relation in step; the partner pages are edited too
    /// (their `last_edited_time` moves and they get `page.properties_updated` — UNCONFIRMED).
    fn sync_dual(&mut self, page: &str, prop: &str, other_prop: &str, new: &[String]) {
        let old = match self.ws.pages.get(page).and_then(|p| p.props.get(prop)) {
            Some(Val::Relation(v)) => v.clone(),
            _ => Vec::new(),
        };
        let added: Vec<String> = new.iter().filter(|x| !old.contains(x)).cloned().collect();
        let removed: Vec<String> = old.iter().filter(|x| !new.contains(x)).cloned().collect();
        for (target, add) in added
            .iter()
            .map(|t| (t, true))
            .chain(removed.iter().map(|t| (t, false)))
        {
            let Some(tp) = self.ws.pages.get_mut(target) else {
                continue;
            };
            let list = tp
                .props
                .entry(other_prop.to_string())
                .or_insert_with(|| Val::Relation(Vec::new()));
            if let Val::Relation(v) = list {
                v.retain(|x| x != page);
                if add {
                    v.push(page.to_string());
                }
            }
            self.bump_page(target);
            let parent = self.page_parent_data(target);
            let enc = encode_uri_component(other_prop);
            self.event(
                "page.properties_updated",
                "page",
                target,
                json!({ "parent": parent, "updated_properties": [enc] }),
            );
        }
    }
}
