//! What a complete, exact mirror of the simulated workspace must hold.
//!
//! Invariant: `raw` values are byte-for-byte the JSON objects the API serves (as parsed
//! `serde_json::Value`), with the page-property completion the mirror contract requires
//! (relation, people, title and rich_text arrays complete; `relation.has_more` false), and
//! without `request_id`.

/// Computing the expectation from the workspace (`Sim::expected()`).
pub mod build;

use std::collections::BTreeMap;

use serde_json::Value;

/// A page, database or data source.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedObject {
    pub raw: Value,
    /// Trashed objects are invisible to search and query, so a mirror that never saw them
    /// alive cannot know them; comparisons treat them as optional (but exact if present).
    pub in_trash: bool,
}

/// One block in the content tree of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedBlock {
    /// The page whose content this block is (child pages own their own blocks).
    pub page_id: String,
    /// The page or block whose children list contains this block.
    pub parent_id: String,
    /// 0-based position among its siblings, in children-list order.
    pub position: i64,
    pub raw: Value,
}

/// One open (unresolved) comment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedComment {
    /// The page the comment belongs to (for a block comment: the block's page).
    pub page_id: String,
    /// True when the comment's parent is a block (listed only by a per-block comment list).
    pub on_block: bool,
    pub raw: Value,
}

/// The expected mirror content, keyed by lowercase dashed id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    pub users: BTreeMap<String, Value>,
    pub pages: BTreeMap<String, ExpectedObject>,
    pub databases: BTreeMap<String, ExpectedObject>,
    pub data_sources: BTreeMap<String, ExpectedObject>,
    pub blocks: BTreeMap<String, ExpectedBlock>,
    pub comments: BTreeMap<String, ExpectedComment>,
    /// Views (`in_trash`: optional — their database is trashed or has no live data source,
    /// so no sweep lists it).
    pub views: BTreeMap<String, ExpectedObject>,
}
