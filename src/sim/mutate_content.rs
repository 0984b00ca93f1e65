//! Block and comment mutations: edit, append, delete blocks; add, edit, delete, resolve
//! comments.
//!
//! Invariant: block changes bump the owning page (and a parent block whose children
//! changed) and emit `page.content_updated` with the touched block ids; comments bump
//! nothing (UNCONFIRMED, notion.md §7.13).

use serde_json::{json, Value};

use super::error::SimError;
use super::model::{Comment, Holder};
use super::mutate::Tx;
use super::richtext;

impl Tx<'_> {
    pub(crate) fn text_block_target(&self, raw: &str) -> Result<String, SimError> {
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

    pub(crate) fn edit_block(&mut self, raw: &str, text: &str) -> Result<(), SimError> {
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

    pub(crate) fn append_blocks(&mut self, raw: &str, texts: &[String]) -> Result<(), SimError> {
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

    pub(crate) fn delete_block(&mut self, raw: &str) -> Result<(), SimError> {
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

    pub(crate) fn comment_data(&self, c: &Comment) -> Value {
        let ty = match c.parent {
            Holder::Page(_) => "page",
            Holder::Block(_) => "block",
        };
        json!({ "page_id": c.page_id, "parent": { "id": c.parent.id(), "type": ty } })
    }

    pub(crate) fn add_comment(
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
        // Comments do not bump the page's last_edited_time (UNCONFIRMED [notion.md §7.13]).
        let data = self.comment_data(&c);
        self.ws.comments.insert(id.clone(), c);
        self.created.push(id.clone());
        self.event("comment.created", "comment", &id, data);
        Ok(())
    }

    /// Edit (`text` given), delete or resolve (`comment.updated` for resolve is
    /// UNCONFIRMED).
    pub(crate) fn comment_change(
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
}
