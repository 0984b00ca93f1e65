//! Workspace queries: object kinds, visibility (revocation), trash, children, content trees
//! and comments.
//!
//! Invariant: visibility is decided by walking the parent chain on every call, so revoking
//! or restoring one page takes effect for everything under it at once.

use std::collections::BTreeMap;

use super::model::{
    Block, Comment, DataSource, ObjKind, Page, Parent, PropSchema, User, Workspace,
};

/// Guards walks up the parent chain against cycles in a corrupted model.
const MAX_DEPTH: usize = 512;

impl Workspace {
    /// What kind of object an id names. A child_page/child_database block shares its id with
    /// the page/database, which wins.
    pub fn kind_of(&self, id: &str) -> Option<ObjKind> {
        if self.pages.contains_key(id) {
            Some(ObjKind::Page)
        } else if self.databases.contains_key(id) {
            Some(ObjKind::Database)
        } else if self.data_sources.contains_key(id) {
            Some(ObjKind::DataSource)
        } else if self.blocks.contains_key(id) {
            Some(ObjKind::Block)
        } else if self.comments.contains_key(id) {
            Some(ObjKind::Comment)
        } else if self.users.iter().any(|u| u.id == id) {
            Some(ObjKind::User)
        } else if self.views.contains_key(id) {
            Some(ObjKind::View)
        } else {
            None
        }
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The data source of a row, if the page is one.
    pub fn row_source(&self, page: &Page) -> Option<&DataSource> {
        match &page.parent {
            Parent::DataSource(ds) => self.data_sources.get(ds),
            _ => None,
        }
    }

    /// True when the page, database or block (by id) is visible to the integration: neither
    /// it nor any ancestor has had its access revoked.
    pub fn visible(&self, id: &str) -> bool {
        let mut cur: &str = id;
        for _ in 0..MAX_DEPTH {
            let next: &str = if let Some(p) = self.pages.get(cur) {
                if p.revoked {
                    return false;
                }
                match &p.parent {
                    Parent::Workspace | Parent::Agent(_) => return true,
                    Parent::Page(x) | Parent::Block(x) => x,
                    Parent::DataSource(ds) => match self.data_sources.get(ds) {
                        Some(d) => &d.database_id,
                        None => return false,
                    },
                }
            } else if let Some(d) = self.databases.get(cur) {
                if d.revoked {
                    return false;
                }
                match &d.parent {
                    Parent::Workspace | Parent::Agent(_) => return true,
                    Parent::Page(x) | Parent::Block(x) | Parent::DataSource(x) => x,
                }
            } else if let Some(ds) = self.data_sources.get(cur) {
                &ds.database_id
            } else if let Some(b) = self.blocks.get(cur) {
                &b.page_id
            } else if let Some(c) = self.comments.get(cur) {
                &c.page_id
            } else {
                return false;
            };
            cur = next;
        }
        false
    }

    /// A data source is trashed on its own or with its database.
    pub fn ds_trashed(&self, ds: &DataSource) -> bool {
        ds.in_trash
            || self
                .databases
                .get(&ds.database_id)
                .is_none_or(|db| db.in_trash)
    }

    /// Non-trashed children of a page or block, in order.
    pub fn live_children(&self, holder_id: &str) -> Vec<&Block> {
        let ids: &[String] = if let Some(p) = self.pages.get(holder_id) {
            &p.children
        } else if let Some(b) = self.blocks.get(holder_id) {
            if b.btype == "child_page" {
                // A child_page block's children are the page's content.
                return self
                    .pages
                    .get(holder_id)
                    .map(|p| self.blocks_in(&p.children))
                    .unwrap_or_default();
            }
            &b.children
        } else {
            return Vec::new();
        };
        self.blocks_in(ids)
    }

    fn blocks_in(&self, ids: &[String]) -> Vec<&Block> {
        ids.iter()
            .filter_map(|id| self.blocks.get(id))
            .filter(|b| !b.in_trash)
            .collect()
    }

    /// `has_children` as the API reports it: any live child (for child_page: the page has
    /// content; child_database: always false).
    pub fn has_children(&self, block: &Block) -> bool {
        match block.btype.as_str() {
            "child_page" => self
                .pages
                .get(&block.id)
                .is_some_and(|p| !self.blocks_in(&p.children).is_empty()),
            "child_database" => false,
            _ => !self.blocks_in(&block.children).is_empty(),
        }
    }

    /// The content tree of a page in pre-order: live blocks, not descending into child pages
    /// or child databases (those blocks themselves are included).
    pub fn content_tree(&self, page_id: &str) -> Vec<&Block> {
        let mut out = Vec::new();
        if let Some(p) = self.pages.get(page_id) {
            let mut stack: Vec<&Block> = self.blocks_in(&p.children);
            stack.reverse();
            while let Some(b) = stack.pop() {
                out.push(b);
                if b.btype == "child_page" || b.btype == "child_database" {
                    continue;
                }
                let mut kids = self.blocks_in(&b.children);
                kids.reverse();
                stack.extend(kids);
            }
        }
        out
    }

    /// Plain-text title of a page.
    pub fn page_title(&self, page_id: &str) -> String {
        self.pages
            .get(page_id)
            .map(|p| super::richtext::plain_text(&p.title))
            .unwrap_or_default()
    }

    /// Plain-text title of a database.
    pub fn database_title(&self, db_id: &str) -> String {
        self.databases
            .get(db_id)
            .map(|d| super::richtext::plain_text(&d.title))
            .unwrap_or_default()
    }

    /// Open comments whose parent is exactly this page or block, in creation order.
    pub fn open_comments_on(&self, holder_id: &str) -> Vec<&Comment> {
        let mut v: Vec<&Comment> = self
            .comments
            .values()
            .filter(|c| c.is_open() && c.parent.id() == holder_id)
            .collect();
        v.sort_by_key(|c| c.seq);
        v
    }

    /// Open comments grouped by their parent page/block id, each list in creation order.
    pub fn open_comments_by_holder(&self) -> BTreeMap<&str, Vec<&Comment>> {
        let mut m: BTreeMap<&str, Vec<&Comment>> = BTreeMap::new();
        for c in self.comments.values().filter(|c| c.is_open()) {
            m.entry(c.parent.id()).or_default().push(c);
        }
        for v in m.values_mut() {
            v.sort_by_key(|c| c.seq);
        }
        m
    }

    /// A schema property by raw id.
    pub fn prop<'a>(&'a self, ds: &'a DataSource, raw_id: &str) -> Option<&'a PropSchema> {
        ds.properties.iter().find(|p| p.id == raw_id)
    }

    /// The page that owns a holder (a page itself, or a block's page).
    pub fn owner_page(&self, holder_id: &str) -> Option<String> {
        if self.pages.contains_key(holder_id) {
            Some(holder_id.to_string())
        } else {
            self.blocks.get(holder_id).map(|b| b.page_id.clone())
        }
    }

    /// All descendants (pages, databases, data sources' rows, blocks) of a page, used by
    /// revocation and the search index. Includes the page itself.
    pub fn subtree_objects(&self, root: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_string()];
        while let Some(id) = stack.pop() {
            out.push(id.clone());
            if let Some(p) = self.pages.get(&id) {
                for b in &p.children {
                    stack.push(b.clone());
                }
            } else if let Some(d) = self.databases.get(&id) {
                for ds in &d.data_sources {
                    out.push(ds.clone());
                    if let Some(s) = self.data_sources.get(ds) {
                        stack.extend(s.rows.iter().cloned());
                    }
                }
            } else if let Some(b) = self.blocks.get(&id) {
                // A linked child_database block has no children; child_page blocks were
                // resolved to their page above (same id).
                stack.extend(b.children.iter().cloned());
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
