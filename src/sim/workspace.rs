//! Read helpers on [`Workspace`] for tests, the demo and benchmarks.
//!
//! Invariant: helpers only read; ids come back in canonical form and in creation order
//! unless stated otherwise.

use serde_json::Value;

use super::model::{Parent, Workspace};
use super::properties::Mode;
use super::render::{block_json, page_json};
use super::richtext::plain_text;
use super::util::encode_uri_component;

impl Workspace {
    /// The first page (by creation) whose plain-text title is exactly `title`, preferring
    /// live pages over trashed ones.
    pub fn find_page_by_title(&self, title: &str) -> Option<String> {
        let mut hits: Vec<_> = self
            .pages
            .values()
            .filter(|p| plain_text(&p.title) == title)
            .collect();
        hits.sort_by_key(|p| (p.in_trash, p.seq));
        hits.first().map(|p| p.id.clone())
    }

    /// The first data source whose plain-text title is exactly `title`.
    pub fn find_data_source_by_title(&self, title: &str) -> Option<String> {
        let mut hits: Vec<_> = self
            .data_sources
            .values()
            .filter(|d| plain_text(&d.title) == title)
            .collect();
        hits.sort_by_key(|d| d.seq);
        hits.first().map(|d| d.id.clone())
    }

    /// All data sources, in creation order.
    pub fn data_source_ids(&self) -> Vec<String> {
        let mut v: Vec<_> = self.data_sources.values().collect();
        v.sort_by_key(|d| d.seq);
        v.into_iter().map(|d| d.id.clone()).collect()
    }

    /// All databases (real ones), in creation order.
    pub fn database_ids(&self) -> Vec<String> {
        let mut v: Vec<_> = self.databases.values().collect();
        v.sort_by_key(|d| d.seq);
        v.into_iter().map(|d| d.id.clone()).collect()
    }

    /// The database of a data source.
    pub fn database_of(&self, ds_id: &str) -> Option<String> {
        self.data_sources.get(ds_id).map(|d| d.database_id.clone())
    }

    /// Non-trashed rows of a data source, in creation order.
    pub fn rows_of(&self, ds_id: &str) -> Vec<String> {
        self.data_sources
            .get(ds_id)
            .map(|d| {
                d.rows
                    .iter()
                    .filter(|r| self.pages.get(*r).is_some_and(|p| !p.in_trash))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Non-trashed pages that are not data source rows, in creation order.
    pub fn standalone_page_ids(&self) -> Vec<String> {
        let mut v: Vec<_> = self
            .pages
            .values()
            .filter(|p| !p.in_trash && !matches!(p.parent, Parent::DataSource(_)))
            .collect();
        v.sort_by_key(|p| p.seq);
        v.into_iter().map(|p| p.id.clone()).collect()
    }

    /// A page's content tree in pre-order (live blocks; child page/database blocks are
    /// included but not descended into).
    pub fn blocks_of_page(&self, page_id: &str) -> Vec<String> {
        self.content_tree(page_id)
            .into_iter()
            .map(|b| b.id.clone())
            .collect()
    }

    /// The block deepest in a page's content tree (first one found at the greatest depth).
    pub fn deepest_block(&self, page_id: &str) -> Option<String> {
        let depth = |id: &str| {
            let mut d = 0;
            let mut cur = id.to_string();
            while let Some(b) = self.blocks.get(&cur) {
                d += 1;
                cur = b.parent.id().to_string();
                if d > 512 {
                    break;
                }
            }
            d
        };
        let mut best: Option<(usize, String)> = None;
        for b in self.content_tree(page_id) {
            let d = depth(&b.id);
            if best.as_ref().is_none_or(|(bd, _)| d > *bd) {
                best = Some((d, b.id.clone()));
            }
        }
        best.map(|(_, id)| id)
    }

    /// Nesting depth of a block (top-level content = 1).
    pub fn block_depth(&self, block_id: &str) -> usize {
        let mut d = 0;
        let mut cur = block_id.to_string();
        while let Some(b) = self.blocks.get(&cur) {
            d += 1;
            cur = b.parent.id().to_string();
            if d > 512 {
                break;
            }
        }
        d
    }

    /// A property's id as the API shows it (URL-encoded), by name.
    pub fn property_id(&self, ds_id: &str, name: &str) -> Option<String> {
        self.data_sources
            .get(ds_id)?
            .properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| encode_uri_component(&p.id))
    }

    /// Open page-level comments of a page, in order.
    pub fn comments_of_page(&self, page_id: &str) -> Vec<String> {
        self.open_comments_on(page_id)
            .into_iter()
            .map(|c| c.id.clone())
            .collect()
    }

    /// Open comments on one block, in order.
    pub fn comments_of_block(&self, block_id: &str) -> Vec<String> {
        self.comments_of_page(block_id)
    }

    /// All users in list order (persons first, then bots).
    pub fn user_ids(&self) -> Vec<String> {
        self.users.iter().map(|u| u.id.clone()).collect()
    }

    /// The integration's bot user.
    pub fn bot_id(&self) -> String {
        self.bot_id.clone()
    }

    /// Plain-text title of a page, database or data source.
    pub fn title_of(&self, id: &str) -> Option<String> {
        if let Some(p) = self.pages.get(id) {
            return Some(plain_text(&p.title));
        }
        if let Some(d) = self.databases.get(id) {
            return Some(plain_text(&d.title));
        }
        self.data_sources.get(id).map(|d| plain_text(&d.title))
    }

    /// A page as `GET /v1/pages/{id}` would answer (without `request_id`), ignoring access.
    pub fn page_api_json(&self, page_id: &str) -> Option<Value> {
        self.pages
            .get(page_id)
            .map(|p| page_json(self, p, Mode::Truncated))
    }

    /// A block as `GET /v1/blocks/{id}` would answer (without `request_id`).
    pub fn block_api_json(&self, block_id: &str) -> Option<Value> {
        self.blocks.get(block_id).map(|b| block_json(self, b))
    }
}
