//! The simulated workspace state: users, pages, databases, data sources, blocks, comments.
//!
//! Invariant: ids are lowercase dashed UUIDs; every object has a unique, creation-ordered
//! `seq`; a `child_page`/`child_database` block has the id of the page/database it stands
//! for; deleting never removes an object from the maps (trash and revocation are flags).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::util::SimRng;

/// Where a page or database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    Workspace,
    Page(String),
    /// Only pages (rows) have a data-source parent.
    DataSource(String),
    Block(String),
}

/// Where a block or comment lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Page(String),
    Block(String),
}

impl Holder {
    pub fn id(&self) -> &str {
        match self {
            Holder::Page(id) | Holder::Block(id) => id,
        }
    }
}

#[derive(Debug, Clone)]
pub enum UserKind {
    Person {
        email: String,
    },
    /// `own` marks the integration's bot (full `bot` object in `/users/me`).
    Bot {
        own: bool,
    },
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub avatar_url: Option<String>,
    pub kind: UserKind,
}

#[derive(Debug, Clone)]
pub struct SelectOption {
    pub id: String,
    pub name: String,
    pub color: String,
}

#[derive(Debug, Clone)]
pub struct StatusGroup {
    pub id: String,
    pub name: String,
    pub color: String,
    pub option_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupFn {
    Count,
    Sum,
    Max,
    EarliestDate,
    ShowOriginal,
}

impl RollupFn {
    pub fn name(self) -> &'static str {
        match self {
            RollupFn::Count => "count",
            RollupFn::Sum => "sum",
            RollupFn::Max => "max",
            RollupFn::EarliestDate => "earliest_date",
            RollupFn::ShowOriginal => "show_original",
        }
    }
}

/// The formulas the simulator can evaluate (one per result type, plus a relation count
/// that shows the 25-reference cap). Fields are raw property ids of the same data source.
#[derive(Debug, Clone)]
pub enum FormulaDef {
    /// number: `prop(number) * factor`.
    NumberTimes { prop: String, factor: f64 },
    /// string: `prop(title) + " (" + prop(status/select) + ")"`.
    TitleWithOption { title: String, option: String },
    /// boolean: `prop(status/select) == value`.
    OptionIs { prop: String, value: String },
    /// date: `dateAdd(prop(date), days, "days")`.
    DateAddDays { prop: String, days: i64 },
    /// number: `prop(relation).length()` — evaluated over at most 25 references [S11].
    RelationCount { prop: String },
}

impl FormulaDef {
    /// The property ids the formula reads.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            FormulaDef::NumberTimes { prop, .. }
            | FormulaDef::OptionIs { prop, .. }
            | FormulaDef::DateAddDays { prop, .. }
            | FormulaDef::RelationCount { prop } => vec![prop],
            FormulaDef::TitleWithOption { title, option } => vec![title, option],
        }
    }
}

#[derive(Debug, Clone)]
pub enum PropKind {
    Title,
    RichText,
    Number {
        format: String,
    },
    Select {
        options: Vec<SelectOption>,
    },
    MultiSelect {
        options: Vec<SelectOption>,
    },
    Status {
        options: Vec<SelectOption>,
        groups: Vec<StatusGroup>,
    },
    Date,
    People,
    Files,
    Checkbox,
    Url,
    Email,
    PhoneNumber,
    Formula(FormulaDef),
    Relation {
        data_source_id: String,
        database_id: String,
        /// The raw id of the paired property on the target (dual_property), if any.
        synced: Option<String>,
    },
    Rollup {
        relation: String,
        target: String,
        function: RollupFn,
    },
    CreatedTime,
    CreatedBy,
    LastEditedTime,
    LastEditedBy,
    UniqueId {
        prefix: Option<String>,
    },
    Verification,
    Button,
}

impl PropKind {
    /// The API's `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            PropKind::Title => "title",
            PropKind::RichText => "rich_text",
            PropKind::Number { .. } => "number",
            PropKind::Select { .. } => "select",
            PropKind::MultiSelect { .. } => "multi_select",
            PropKind::Status { .. } => "status",
            PropKind::Date => "date",
            PropKind::People => "people",
            PropKind::Files => "files",
            PropKind::Checkbox => "checkbox",
            PropKind::Url => "url",
            PropKind::Email => "email",
            PropKind::PhoneNumber => "phone_number",
            PropKind::Formula(_) => "formula",
            PropKind::Relation { .. } => "relation",
            PropKind::Rollup { .. } => "rollup",
            PropKind::CreatedTime => "created_time",
            PropKind::CreatedBy => "created_by",
            PropKind::LastEditedTime => "last_edited_time",
            PropKind::LastEditedBy => "last_edited_by",
            PropKind::UniqueId { .. } => "unique_id",
            PropKind::Verification => "verification",
            PropKind::Button => "button",
        }
    }

    pub fn options(&self) -> &[SelectOption] {
        match self {
            PropKind::Select { options }
            | PropKind::MultiSelect { options }
            | PropKind::Status { options, .. } => options,
            _ => &[],
        }
    }
}

/// One property of a data source schema. `id` is the raw (decoded) id; the API shows it
/// URL-encoded.
#[derive(Debug, Clone)]
pub struct PropSchema {
    pub id: String,
    pub name: String,
    pub kind: PropKind,
}

/// A stored property value of a row (computed types are not stored).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    RichText(Vec<Value>),
    Number(Option<f64>),
    /// Option id.
    Select(Option<String>),
    MultiSelect(Vec<String>),
    Status(Option<String>),
    /// `{start, end, time_zone}` or None.
    Date(Option<Value>),
    /// User ids.
    People(Vec<String>),
    Files(Vec<Value>),
    Checkbox(bool),
    Text(Option<String>),
    /// Page ids, in relation order.
    Relation(Vec<String>),
    UniqueId(u64),
    Verification(Value),
}

#[derive(Debug, Clone)]
pub struct Page {
    pub id: String,
    pub seq: u64,
    pub created_time: DateTime<Utc>,
    pub last_edited_time: DateTime<Utc>,
    pub created_by: String,
    pub last_edited_by: String,
    pub parent: Parent,
    /// The title rich text (for rows: the value of the title property).
    pub title: Vec<Value>,
    /// Stored row values by raw property id (empty for non-row pages).
    pub props: BTreeMap<String, Val>,
    pub icon: Value,
    pub cover: Value,
    pub in_trash: bool,
    pub is_locked: bool,
    /// Access revoked on this page (hides it and everything under it).
    pub revoked: bool,
    /// Top-level content block ids, in order (trashed ones stay, flagged).
    pub children: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Database {
    pub id: String,
    pub seq: u64,
    pub created_time: DateTime<Utc>,
    pub last_edited_time: DateTime<Utc>,
    pub title: Vec<Value>,
    pub description: Vec<Value>,
    /// Workspace, Page or Block.
    pub parent: Parent,
    pub is_inline: bool,
    pub in_trash: bool,
    pub is_locked: bool,
    pub revoked: bool,
    pub icon: Value,
    pub data_sources: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DataSource {
    pub id: String,
    pub seq: u64,
    pub database_id: String,
    pub created_time: DateTime<Utc>,
    pub last_edited_time: DateTime<Utc>,
    pub created_by: String,
    pub last_edited_by: String,
    pub title: Vec<Value>,
    pub description: Vec<Value>,
    pub properties: Vec<PropSchema>,
    /// Row page ids in creation order.
    pub rows: Vec<String>,
    /// Own trash flag (effective trash also follows the database).
    pub in_trash: bool,
    pub icon: Value,
    pub next_unique_id: u64,
}

#[derive(Debug, Clone)]
pub struct Block {
    pub id: String,
    pub seq: u64,
    /// The page whose content this block is.
    pub page_id: String,
    pub parent: Holder,
    pub created_time: DateTime<Utc>,
    pub last_edited_time: DateTime<Utc>,
    pub created_by: String,
    pub last_edited_by: String,
    pub btype: String,
    /// The type-specific object (ignored for child_page / real child_database blocks,
    /// whose titles follow the page/database).
    pub data: Value,
    pub children: Vec<String>,
    pub in_trash: bool,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: String,
    pub seq: u64,
    pub parent: Holder,
    /// The page the comment belongs to (for a block comment: the block's page).
    pub page_id: String,
    pub discussion_id: String,
    pub created_time: DateTime<Utc>,
    pub last_edited_time: DateTime<Utc>,
    pub created_by: String,
    pub rich_text: Vec<Value>,
    pub resolved: bool,
    pub deleted: bool,
}

impl Comment {
    pub fn is_open(&self) -> bool {
        !self.resolved && !self.deleted
    }
}

/// Any object the API can name by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjKind {
    Page,
    Database,
    DataSource,
    Block,
    Comment,
    User,
}

/// The whole simulated workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub workspace_id: String,
    pub workspace_name: String,
    pub bot_id: String,
    /// The person that authors mutations made through [`super::Sim::mutate`].
    pub author_id: String,
    /// When the workspace was generated (file expiries are derived from it).
    pub generated_at: DateTime<Utc>,
    pub users: Vec<User>,
    pub pages: BTreeMap<String, Page>,
    pub databases: BTreeMap<String, Database>,
    pub data_sources: BTreeMap<String, DataSource>,
    pub blocks: BTreeMap<String, Block>,
    pub comments: BTreeMap<String, Comment>,
    /// Fixture objects that random mutations must not trash, move or revoke.
    pub protected: std::collections::BTreeSet<String>,
    pub(crate) seq: u64,
    pub(crate) rng: SimRng,
}

/// Guards walks up the parent chain against cycles in a corrupted model.
const MAX_DEPTH: usize = 512;

impl Workspace {
    pub(crate) fn new(seed: u64, now: DateTime<Utc>) -> Self {
        let mut rng = SimRng::new(seed);
        let workspace_id = rng.uuid();
        Workspace {
            workspace_id,
            workspace_name: "Acme Sim".to_string(),
            bot_id: String::new(),
            author_id: String::new(),
            generated_at: now,
            users: Vec::new(),
            pages: BTreeMap::new(),
            databases: BTreeMap::new(),
            data_sources: BTreeMap::new(),
            blocks: BTreeMap::new(),
            comments: BTreeMap::new(),
            protected: Default::default(),
            seq: 0,
            rng,
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) fn new_id(&mut self) -> String {
        loop {
            let id = self.rng.uuid();
            if self.kind_of(&id).is_none() {
                return id;
            }
        }
    }

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
        let mut cur = id.to_string();
        for _ in 0..MAX_DEPTH {
            let next = if let Some(p) = self.pages.get(&cur) {
                if p.revoked {
                    return false;
                }
                match &p.parent {
                    Parent::Workspace => return true,
                    Parent::Page(x) | Parent::Block(x) => x.clone(),
                    Parent::DataSource(ds) => match self.data_sources.get(ds) {
                        Some(d) => d.database_id.clone(),
                        None => return false,
                    },
                }
            } else if let Some(d) = self.databases.get(&cur) {
                if d.revoked {
                    return false;
                }
                match &d.parent {
                    Parent::Workspace => return true,
                    Parent::Page(x) | Parent::Block(x) | Parent::DataSource(x) => x.clone(),
                }
            } else if let Some(ds) = self.data_sources.get(&cur) {
                ds.database_id.clone()
            } else if let Some(b) = self.blocks.get(&cur) {
                b.page_id.clone()
            } else if let Some(c) = self.comments.get(&cur) {
                c.page_id.clone()
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
