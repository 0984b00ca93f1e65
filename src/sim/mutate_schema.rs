//! Schema, database, data-source and access mutations (the rest of `Tx`).
//!
//! Invariant: a schema change bumps the data source (never its rows) and emits one
//! `data_source.schema_updated` per data source whose schema JSON changed; a property other
//! properties depend on cannot be deleted.

use serde_json::{json, Value};

use super::error::SimError;
use super::model::{DataSource, Database, Holder, Parent, PropKind, PropSchema};
use super::mutate::{PropertyKind, Tx};
use super::richtext;
use super::util::encode_uri_component;

impl Tx<'_> {
    fn ds(&self, raw: &str) -> Result<String, SimError> {
        let id = Self::id(raw)?;
        if self.ws.data_sources.contains_key(&id) {
            Ok(id)
        } else {
            Err(SimError::NotFound(id))
        }
    }

    fn find_prop(&self, ds: &str, name: &str) -> Result<PropSchema, SimError> {
        self.ws
            .data_sources
            .get(ds)
            .and_then(|d| {
                d.properties
                    .iter()
                    .find(|p| p.name == name || encode_uri_component(&p.id) == name)
            })
            .cloned()
            .ok_or_else(|| SimError::Invalid(format!("no property named {name}")))
    }

    fn name_taken(&self, ds: &str, name: &str) -> bool {
        self.ws
            .data_sources
            .get(ds)
            .is_some_and(|d| d.properties.iter().any(|p| p.name == name))
    }

    /// Properties (anywhere) whose schema JSON shows `prop` of `ds`: formulas reading it,
    /// rollups over it or through it, and the dual partner of a relation.
    fn dependents(&self, ds: &str, prop: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for d in self.ws.data_sources.values() {
            for p in &d.properties {
                let hit = match &p.kind {
                    PropKind::Formula(f) => d.id == ds && f.inputs().contains(&prop),
                    PropKind::Relation {
                        data_source_id,
                        synced: Some(s),
                        ..
                    } => data_source_id == ds && s == prop,
                    PropKind::Rollup {
                        relation, target, ..
                    } => {
                        let through = d.id == ds && relation == prop;
                        let over = d
                            .properties
                            .iter()
                            .find(|r| &r.id == relation)
                            .is_some_and(|r| matches!(&r.kind, PropKind::Relation { data_source_id, .. } if data_source_id == ds))
                            && target == prop;
                        through || over
                    }
                    _ => false,
                };
                if hit && !(d.id == ds && p.id == prop) {
                    out.push((d.id.clone(), p.id.clone()));
                }
            }
        }
        out
    }

    fn schema_updated(&mut self, ds: &str, changes: Vec<Value>) {
        self.bump_ds(ds);
        let rows = self
            .ws
            .data_sources
            .get(ds)
            .map(|d| d.rows.clone())
            .unwrap_or_default();
        self.touched.extend(rows);
        let parent = self.ds_parent_data(ds);
        self.event(
            "data_source.schema_updated",
            "data_source",
            ds,
            json!({ "parent": parent, "updated_properties": changes }),
        );
    }

    /// Tells every data source whose schema JSON shows `prop` that it changed.
    fn notify_dependents(&mut self, ds: &str, prop: &str) {
        let deps = self.dependents(ds, prop);
        let mut by_ds: Vec<(String, Vec<Value>)> = Vec::new();
        for (d, p) in deps {
            let name = self
                .ws
                .data_sources
                .get(&d)
                .and_then(|x| x.properties.iter().find(|q| q.id == p))
                .map(|q| q.name.clone());
            let change =
                json!({ "id": encode_uri_component(&p), "name": name, "action": "updated" });
            match by_ds.iter_mut().find(|(x, _)| *x == d) {
                Some((_, v)) => v.push(change),
                None => by_ds.push((d, vec![change])),
            }
        }
        for (d, changes) in by_ds {
            if d != ds {
                self.schema_updated(&d, changes);
            }
        }
    }

    pub(crate) fn add_property(
        &mut self,
        raw: &str,
        name: &str,
        kind: PropertyKind,
    ) -> Result<(), SimError> {
        let ds = self.ds(raw)?;
        if name.is_empty() || self.name_taken(&ds, name) {
            return Err(SimError::Invalid(format!(
                "property name {name:?} is empty or taken"
            )));
        }
        let kind = match kind {
            PropertyKind::RichText => PropKind::RichText,
            PropertyKind::Number => PropKind::Number {
                format: "number".into(),
            },
            PropertyKind::Checkbox => PropKind::Checkbox,
            PropertyKind::Select | PropertyKind::MultiSelect => {
                let options = ["Low", "Medium", "High"]
                    .iter()
                    .zip(["green", "yellow", "red"])
                    .map(|(n, c)| super::model::SelectOption {
                        id: self.ws.rng.uuid(),
                        name: n.to_string(),
                        color: c.to_string(),
                    })
                    .collect();
                if kind == PropertyKind::Select {
                    PropKind::Select { options }
                } else {
                    PropKind::MultiSelect { options }
                }
            }
            PropertyKind::Date => PropKind::Date,
            PropertyKind::Url => PropKind::Url,
            PropertyKind::Email => PropKind::Email,
            PropertyKind::PhoneNumber => PropKind::PhoneNumber,
            PropertyKind::People => PropKind::People,
            PropertyKind::Files => PropKind::Files,
            PropertyKind::CreatedTime => PropKind::CreatedTime,
            PropertyKind::LastEditedTime => PropKind::LastEditedTime,
        };
        let id = loop {
            let cand = self.ws.rng.hex(4);
            let taken = self
                .ws
                .data_sources
                .get(&ds)
                .is_some_and(|d| d.properties.iter().any(|p| p.id == cand));
            if !taken {
                break cand;
            }
        };
        if let Some(d) = self.ws.data_sources.get_mut(&ds) {
            d.properties.push(PropSchema {
                id: id.clone(),
                name: name.to_string(),
                kind,
            });
        }
        self.schema_updated(
            &ds,
            vec![json!({ "id": encode_uri_component(&id), "name": name, "action": "created" })],
        );
        Ok(())
    }

    pub(crate) fn rename_property(
        &mut self,
        raw: &str,
        name: &str,
        new_name: &str,
    ) -> Result<(), SimError> {
        let ds = self.ds(raw)?;
        let prop = self.find_prop(&ds, name)?;
        if new_name.is_empty() || self.name_taken(&ds, new_name) {
            return Err(SimError::Invalid(format!(
                "property name {new_name:?} is empty or taken"
            )));
        }
        if let Some(p) = self
            .ws
            .data_sources
            .get_mut(&ds)
            .and_then(|d| d.properties.iter_mut().find(|p| p.id == prop.id))
        {
            p.name = new_name.to_string();
        }
        let mut changes = vec![
            json!({ "id": encode_uri_component(&prop.id), "name": new_name, "action": "updated" }),
        ];
        for (d, p) in self.dependents(&ds, &prop.id) {
            if d == ds {
                let n = self
                    .find_prop(&ds, &encode_uri_component(&p))
                    .map(|x| x.name)
                    .ok();
                changes.push(
                    json!({ "id": encode_uri_component(&p), "name": n, "action": "updated" }),
                );
            }
        }
        self.schema_updated(&ds, changes);
        self.notify_dependents(&ds, &prop.id);
        Ok(())
    }

    pub(crate) fn delete_property(&mut self, raw: &str, name: &str) -> Result<(), SimError> {
        let ds = self.ds(raw)?;
        let prop = self.find_prop(&ds, name)?;
        if matches!(prop.kind, PropKind::Title) {
            return Err(SimError::Invalid(
                "the title property cannot be deleted".into(),
            ));
        }
        if matches!(
            prop.kind,
            PropKind::Relation {
                synced: Some(_),
                ..
            }
        ) || !self.dependents(&ds, &prop.id).is_empty()
        {
            return Err(SimError::Invalid(format!(
                "property {name} is used by other properties"
            )));
        }
        if let Some(d) = self.ws.data_sources.get_mut(&ds) {
            d.properties.retain(|p| p.id != prop.id);
        }
        let rows = self
            .ws
            .data_sources
            .get(&ds)
            .map(|d| d.rows.clone())
            .unwrap_or_default();
        for r in rows {
            if let Some(p) = self.ws.pages.get_mut(&r) {
                p.props.remove(&prop.id);
            }
        }
        self.schema_updated(&ds, vec![json!({ "id": encode_uri_component(&prop.id), "name": prop.name, "action": "deleted" })]);
        Ok(())
    }

    pub(crate) fn create_database(
        &mut self,
        raw: &str,
        title: &str,
        sources: &[String],
    ) -> Result<(), SimError> {
        let page = Self::id(raw)?;
        if !self.ws.pages.contains_key(&page) {
            return Err(SimError::NotFound(page));
        }
        let id = self.ws.new_id();
        let seq = self.ws.next_seq();
        self.ws.databases.insert(
            id.clone(),
            Database {
                id: id.clone(),
                seq,
                created_time: self.now,
                last_edited_time: self.now,
                title: richtext::plain(title),
                description: Vec::new(),
                parent: Parent::Page(page.clone()),
                is_inline: false,
                in_trash: false,
                is_locked: false,
                revoked: false,
                icon: Value::Null,
                data_sources: Vec::new(),
                views: Vec::new(),
            },
        );
        self.created.push(id.clone());
        self.new_block(
            Holder::Page(page.clone()),
            "child_database",
            json!({}),
            Some(id.clone()),
        );
        self.bump_page(&page);
        self.content_updated(&page, std::slice::from_ref(&id));
        self.event(
            "database.created",
            "database",
            &id,
            json!({ "parent": { "id": page, "type": "page" } }),
        );
        let titles: Vec<String> = if sources.is_empty() {
            vec![title.to_string()]
        } else {
            sources.to_vec()
        };
        for t in &titles {
            self.create_data_source(&id, t)?;
        }
        Ok(())
    }

    pub(crate) fn create_data_source(
        &mut self,
        raw: &str,
        title: &str,
    ) -> Result<String, SimError> {
        let db = Self::id(raw)?;
        match self.ws.databases.get(&db) {
            Some(d) if !d.in_trash => {}
            Some(_) => return Err(SimError::Invalid(format!("database {db} is trashed"))),
            None => return Err(SimError::NotFound(db)),
        }
        let id = self.ws.new_id();
        let seq = self.ws.next_seq();
        self.ws.data_sources.insert(
            id.clone(),
            DataSource {
                id: id.clone(),
                seq,
                database_id: db.clone(),
                created_time: self.now,
                last_edited_time: self.now,
                created_by: self.author.clone(),
                last_edited_by: self.author.clone(),
                title: richtext::plain(title),
                description: Vec::new(),
                properties: vec![PropSchema {
                    id: "title".into(),
                    name: "Name".into(),
                    kind: PropKind::Title,
                }],
                rows: Vec::new(),
                in_trash: false,
                icon: Value::Null,
                next_unique_id: 0,
            },
        );
        if let Some(d) = self.ws.databases.get_mut(&db) {
            d.data_sources.push(id.clone());
        }
        self.created.push(id.clone());
        self.bump_db(&db);
        let parent = self.ds_parent_data(&id);
        self.event(
            "data_source.created",
            "data_source",
            &id,
            json!({ "parent": parent }),
        );
        self.default_view(&id);
        Ok(id)
    }

    pub(crate) fn set_database_trash(&mut self, raw: &str, trash: bool) -> Result<(), SimError> {
        let id = Self::id(raw)?;
        let parent = match self.ws.databases.get(&id) {
            Some(d) if d.in_trash != trash => d.parent.clone(),
            Some(_) => {
                return Err(SimError::Invalid(format!(
                    "database {id} is already in that state"
                )))
            }
            None => return Err(SimError::NotFound(id)),
        };
        if let Some(d) = self.ws.databases.get_mut(&id) {
            d.in_trash = trash;
        }
        self.bump_db(&id);
        let holder = self.ws.blocks.get_mut(&id).map(|b| {
            b.in_trash = trash;
            b.parent.clone()
        });
        if let Some(holder) = holder {
            let owner = self.ws.owner_page(holder.id()).unwrap_or_default();
            self.bump_page(&owner);
            self.content_updated(&owner, std::slice::from_ref(&id));
        }
        let pdata = self.parent_data(&parent);
        let ty = if trash {
            "database.deleted"
        } else {
            "database.undeleted"
        };
        self.event(ty, "database", &id, json!({ "parent": pdata }));
        Ok(())
    }

    pub(crate) fn trash_data_source(&mut self, raw: &str) -> Result<(), SimError> {
        let id = self.ds(raw)?;
        let db = match self.ws.data_sources.get_mut(&id) {
            Some(d) if !d.in_trash => {
                d.in_trash = true;
                d.database_id.clone()
            }
            _ => {
                return Err(SimError::Invalid(format!(
                    "data source {id} is already trashed"
                )))
            }
        };
        self.bump_ds(&id);
        self.bump_db(&db);
        let parent = self.ds_parent_data(&id);
        self.event(
            "data_source.deleted",
            "data_source",
            &id,
            json!({ "parent": parent }),
        );
        Ok(())
    }

    /// Revokes or restores the integration's access to a page (or database) and all under
    /// it. No events: Notion sends none for content that becomes invisible [S10].
    pub(crate) fn set_access(&mut self, raw: &str, revoke: bool) -> Result<(), SimError> {
        let id = Self::id(raw)?;
        if let Some(p) = self.ws.pages.get_mut(&id) {
            p.revoked = revoke;
        } else if let Some(d) = self.ws.databases.get_mut(&id) {
            d.revoked = revoke;
        } else {
            return Err(SimError::NotFound(id));
        }
        let all = self.ws.subtree_objects(&id);
        self.touched.extend(all);
        Ok(())
    }
}
