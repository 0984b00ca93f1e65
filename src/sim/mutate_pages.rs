//! Page mutations: create, rename, move, trash/restore, lock/unlock.
//!
//! Invariant: a page's own trash/restore/move bumps it; its parent page (or data source) is
//! bumped and told through `page.content_updated` (or `data_source.content_updated`).

use serde_json::{json, Value};

use super::error::SimError;
use super::model::{Holder, Page, Parent};
use super::mutate::{ParentRef, Tx};
use super::richtext;

impl Tx<'_> {
    pub(crate) fn create_page(&mut self, parent: &ParentRef, title: &str) -> Result<(), SimError> {
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
                self.ws.attach_row(&ds, &id);
                self.source_content_updated(&ds, &id);
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn page(&self, raw: &str) -> Result<String, SimError> {
        let id = Self::id(raw)?;
        if self.ws.pages.contains_key(&id) {
            Ok(id)
        } else {
            Err(SimError::NotFound(id))
        }
    }

    pub(crate) fn rename_page(&mut self, raw: &str, title: &str) -> Result<(), SimError> {
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

    /// True when `candidate` is `page` or lies under it.
    pub(crate) fn is_within(&self, candidate: &str, page: &str) -> bool {
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

    pub(crate) fn move_page(&mut self, raw: &str, to: &ParentRef) -> Result<(), SimError> {
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

    pub(crate) fn set_page_trash(&mut self, raw: &str, trash: bool) -> Result<(), SimError> {
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

    pub(crate) fn set_lock(&mut self, raw: &str, lock: bool) -> Result<(), SimError> {
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
}
