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
    /// A page a Custom Agent's workflow owns (`parent.type = "agent_id"`, changelog
    /// 2026-05-08); seen at the workspace level.
    Agent(String),
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
    /// A Custom Agent: a bot user with `agent_id` (changelog 2026-10-15).
    Agent {
        agent_id: String,
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
    /// An aggregation the API does not compute (`median`): page objects show the
    /// `unsupported` variant (changelog 2026-08-05).
    Median,
}

impl RollupFn {
    pub fn name(self) -> &'static str {
        match self {
            RollupFn::Count => "count",
            RollupFn::Sum => "sum",
            RollupFn::Max => "max",
            RollupFn::EarliestDate => "earliest_date",
            RollupFn::ShowOriginal => "show_original",
            RollupFn::Median => "median",
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
    /// A formula whose result type the API cannot express: the `unsupported` variant
    /// (changelog 2026-08-05).
    Unsupported,
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
            FormulaDef::Unsupported => Vec::new(),
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
    /// A property type newer than every version the mirror knows (stands for the next
    /// new type Notion ships): schema `{}`, value an object.
    Future,
}

/// The type name the simulator gives [`PropKind::Future`].
pub const FUTURE_PROPERTY_TYPE: &str = "future_property";

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
            PropKind::Future => FUTURE_PROPERTY_TYPE,
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
    /// View ids in tab order (deleted ones stay, flagged).
    pub views: Vec<String>,
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

/// A database view (Views API, changelog 2026-03-19): scoped to one data source (none for
/// a dashboard), with the filter and sorts its queries apply. `filter`/`sorts` are the JSON
/// the API shows (properties named by their encoded ids).
#[derive(Debug, Clone)]
pub struct View {
    pub id: String,
    pub seq: u64,
    pub database_id: String,
    /// `None` for dashboard views.
    pub data_source_id: Option<String>,
    pub name: String,
    /// table, board, calendar, timeline, gallery, list, form, chart, map, dashboard.
    pub vtype: String,
    pub filter: Value,
    pub sorts: Value,
    pub quick_filters: Value,
    pub configuration: Value,
    pub created_time: DateTime<Utc>,
    pub last_edited_time: DateTime<Utc>,
    pub created_by: String,
    pub last_edited_by: String,
    /// Deleted views answer 404 and leave every list.
    pub deleted: bool,
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
    View,
}

/// The whole simulated workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub workspace_id: String,
    pub workspace_name: String,
    pub bot_id: String,
    /// The person that authors mutations made through [`super::Sim::mutate`].
    pub author_id: String,
    /// When the workspace was generated.
    pub generated_at: DateTime<Utc>,
    pub users: Vec<User>,
    pub pages: BTreeMap<String, Page>,
    pub databases: BTreeMap<String, Database>,
    pub data_sources: BTreeMap<String, DataSource>,
    pub blocks: BTreeMap<String, Block>,
    pub comments: BTreeMap<String, Comment>,
    pub views: BTreeMap<String, View>,
    /// Notion-hosted files by id (their bytes are served by `files.rs`).
    pub files: BTreeMap<String, super::files::HostedFile>,
    /// Fixture objects that random mutations must not trash, move or revoke.
    pub protected: std::collections::BTreeSet<String>,
    pub(crate) seq: u64,
    pub(crate) rng: SimRng,
}

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
            views: BTreeMap::new(),
            files: BTreeMap::new(),
            protected: Default::default(),
            seq: 0,
            rng,
        }
    }

    /// Adds `page_id` to the rows of data source `ds_id`, numbering it when the source has
    /// a `unique_id` property (the counter only grows, as in Notion).
    pub(crate) fn attach_row(&mut self, ds_id: &str, page_id: &str) {
        let Some(ds) = self.data_sources.get_mut(ds_id) else {
            return;
        };
        ds.rows.push(page_id.to_string());
        let uid = ds
            .properties
            .iter()
            .find(|p| matches!(p.kind, PropKind::UniqueId { .. }))
            .map(|p| p.id.clone());
        if let Some(uid) = uid {
            ds.next_unique_id += 1;
            let n = ds.next_unique_id;
            if let Some(p) = self.pages.get_mut(page_id) {
                p.props.insert(uid, Val::UniqueId(n));
            }
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
}
