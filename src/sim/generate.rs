//! The seeded workspace generator: configuration, building primitives and random filler.
//!
//! Invariant: the same `GenConfig` produces the same ids, titles, structure and values
//! (timestamps are relative to the start time); every generated timestamp lies between 30
//! days and 10 minutes before the start, and creation order equals `seq` order.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::model::{
    Block, Comment, DataSource, Database, Holder, Page, Parent, PropKind, PropSchema, SelectOption,
    User, UserKind, Workspace,
};
use super::richtext;
use super::util::SimRng;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    pub seed: u64,
    /// Target total page count (standalone pages + data source rows).
    pub pages: usize,
    /// Mean top-level blocks per standalone page (rows get fewer).
    pub blocks_per_page: usize,
    /// Block nesting depth cap for random content (the fixtures reach depth 4 once).
    pub max_depth: usize,
    /// Mean page-level comments per page.
    pub comments_per_page: f64,
    /// The >250-row source, the >100-child parent, the >100-comment page, ≥30 users.
    pub heavy_edge_cases: bool,
    /// The Markdown showcase subtree (`fixtures_showcase.rs`): every block type and
    /// annotation, for the export's golden files. Off by default, so other workspaces keep
    /// their ids.
    pub showcase: bool,
    /// What Notion shipped in 2026 (`fixtures_2026.rs`): views, new block and icon types,
    /// a Custom Agent. On by default; off for the showcase, so the export's golden files
    /// keep their content.
    pub api_2026: bool,
}

impl GenConfig {
    /// ~80 pages with every edge case except the heavy ones; for tests and the demo.
    pub fn small(seed: u64) -> Self {
        GenConfig {
            seed,
            pages: 80,
            blocks_per_page: 6,
            max_depth: 4,
            comments_per_page: 0.6,
            heavy_edge_cases: false,
            showcase: false,
            api_2026: true,
        }
    }

    /// The fixed workspace only (the fixtures, no random padding pages) plus the Markdown
    /// showcase: what `tests/export.rs` renders into its golden files.
    pub fn showcase(seed: u64) -> Self {
        GenConfig {
            pages: 0,
            showcase: true,
            api_2026: false,
            ..GenConfig::small(seed)
        }
    }

    /// `small` plus the heavy edge cases (~400 pages); for sync tests.
    pub fn edge(seed: u64) -> Self {
        GenConfig {
            pages: 400,
            heavy_edge_cases: true,
            ..GenConfig::small(seed)
        }
    }

    /// Benchmark sizes (heavy edge cases on).
    pub fn with_pages(seed: u64, pages: usize) -> Self {
        GenConfig {
            pages,
            ..GenConfig::edge(seed)
        }
    }
}

pub(crate) const PERSONS: &[(&str, &str)] = &[
    ("Ada Lovelace", "ada@acme.test"),
    ("Grace Hopper", "grace@acme.test"),
    ("Zoë Dupré", "zoe@acme.test"),
    ("Linus O'Brien", "linus@acme.test"),
    ("Mina Park", "mina@acme.test"),
];

const COLORS: &[&str] = &[
    "default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red",
];
const NOUNS: &[&str] = &[
    "pipeline",
    "dashboard",
    "onboarding",
    "invoice",
    "search",
    "billing",
    "sync",
    "export",
    "mobile",
    "API",
    "cache",
    "roadmap",
    "budget",
    "release",
    "backup",
    "migration",
];
const VERBS: &[&str] = &[
    "Fix", "Design", "Review", "Ship", "Document", "Refactor", "Test", "Plan", "Measure",
    "Automate",
];
const SENTENCES: &[&str] = &[
    "We agreed to revisit this after the next release.",
    "Numbers look good; latency is down by a third.",
    "Open question: who owns the rollout plan?",
    "Customer feedback was mostly positive — a few \"edge\" cases remain.",
    "Next step: write the migration guide and share it.",
    "Let's keep the scope small and iterate.",
    "Blocked on the vendor's answer (expected Friday).",
    "Don't forget the accessibility review.",
];

/// The generator's working state.
pub(crate) struct Gen {
    pub ws: Workspace,
    pub rng: SimRng,
    pub cfg: GenConfig,
    clock: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    step_ms: i64,
    pub persons: Vec<String>,
}

/// Generates a workspace for `cfg`, with `now` as "the present".
pub fn generate(cfg: &GenConfig, now: DateTime<Utc>) -> Workspace {
    let mut g = Gen::new(cfg.clone(), now);
    g.users();
    let fixed = super::fixtures::build(&mut g);
    g.fill(fixed);
    super::fixtures_files::attach(&mut g);
    g.finish();
    if g.cfg.api_2026 {
        super::fixtures_2026::build(&mut g);
    }
    g.ws
}

impl Gen {
    pub(crate) fn new(cfg: GenConfig, now: DateTime<Utc>) -> Self {
        let start = now - Duration::days(30);
        let end = now - Duration::minutes(10);
        let estimate = (cfg.pages.max(80) * (cfg.blocks_per_page / 2 + 3) + 2000) as i64;
        let step_ms = ((end - start).num_milliseconds() / estimate).max(1);
        Gen {
            ws: Workspace::new(cfg.seed, now),
            rng: SimRng::new(cfg.seed.wrapping_mul(31).wrapping_add(17)),
            cfg,
            clock: start,
            end,
            step_ms,
            persons: Vec::new(),
        }
    }

    /// Advances the generation clock and returns it (never past 10 minutes ago).
    pub fn tick(&mut self) -> DateTime<Utc> {
        let jitter = (self.rng.f64() * 2.0 * self.step_ms as f64) as i64;
        self.clock = (self.clock + Duration::milliseconds(jitter)).min(self.end);
        self.clock
    }

    pub fn person(&mut self) -> String {
        let i = self.rng.index(self.persons.len().min(PERSONS.len()));
        self.persons.get(i).cloned().unwrap_or_default()
    }

    pub(crate) fn users(&mut self) {
        let extra = if self.cfg.heavy_edge_cases { 30 } else { 0 };
        for (i, (name, email)) in PERSONS.iter().enumerate() {
            let id = self.ws.new_id();
            let avatar = (i % 2 == 0).then(|| {
                format!(
                    "https://s3-us-west-2.amazonaws.com/public.notion-static.com/{}/avatar.png",
                    self.rng.uuid()
                )
            });
            self.push_user(
                &id,
                name,
                avatar,
                UserKind::Person {
                    email: email.to_string(),
                },
            );
        }
        for i in 0..extra {
            let id = self.ws.new_id();
            let name = format!("Team Member {:02}", i + 1);
            let email = format!("member{:02}@acme.test", i + 1);
            self.push_user(&id, &name, None, UserKind::Person { email });
        }
        let bot = self.ws.new_id();
        self.push_user(&bot, "Mirror Sim", None, UserKind::Bot { own: true });
        self.ws.bot_id = bot;
        let other = self.ws.new_id();
        self.push_user(&other, "Zapier", None, UserKind::Bot { own: false });
        self.ws.author_id = self.persons.first().cloned().unwrap_or_default();
    }

    fn push_user(&mut self, id: &str, name: &str, avatar: Option<String>, kind: UserKind) {
        if matches!(kind, UserKind::Person { .. }) {
            self.persons.push(id.to_string());
        }
        self.ws.users.push(User {
            id: id.to_string(),
            name: name.to_string(),
            avatar_url: avatar,
            kind,
        });
    }

    /// A page; under a page or block it also gets its `child_page` block.
    pub fn page(&mut self, parent: Parent, title: Vec<Value>, icon: Value) -> String {
        let id = self.ws.new_id();
        let t = self.tick();
        let by = self.person();
        let seq = self.ws.next_seq();
        let page = Page {
            id: id.clone(),
            seq,
            created_time: t,
            last_edited_time: t,
            created_by: by.clone(),
            last_edited_by: by,
            parent: parent.clone(),
            title,
            props: Default::default(),
            icon,
            cover: Value::Null,
            in_trash: false,
            is_locked: false,
            revoked: false,
            children: Vec::new(),
        };
        self.ws.pages.insert(id.clone(), page);
        match parent {
            Parent::Page(p) => self.stand_in_block(&id, Holder::Page(p), "child_page"),
            Parent::Block(b) => self.stand_in_block(&id, Holder::Block(b), "child_page"),
            Parent::DataSource(ds) => self.ws.attach_row(&ds, &id),
            Parent::Workspace | Parent::Agent(_) => {}
        }
        id
    }

    /// The `child_page`/`child_database` block standing for an object in its parent's
    /// content (same id as the object).
    pub fn stand_in_block(&mut self, id: &str, holder: Holder, btype: &str) {
        let t = self.tick();
        let by = self.person();
        let page_id = self.ws.owner_page(holder.id()).unwrap_or_default();
        let seq = self.ws.next_seq();
        let block = Block {
            id: id.to_string(),
            seq,
            page_id,
            parent: holder.clone(),
            created_time: t,
            last_edited_time: t,
            created_by: by.clone(),
            last_edited_by: by,
            btype: btype.to_string(),
            data: json!({}),
            children: Vec::new(),
            in_trash: false,
        };
        self.ws.blocks.insert(id.to_string(), block);
        self.push_child(&holder, id);
    }

    fn push_child(&mut self, holder: &Holder, id: &str) {
        match holder {
            Holder::Page(p) => {
                if let Some(p) = self.ws.pages.get_mut(p) {
                    p.children.push(id.to_string());
                }
            }
            Holder::Block(b) => {
                if let Some(b) = self.ws.blocks.get_mut(b) {
                    b.children.push(id.to_string());
                }
            }
        }
    }

    /// A content block appended to a page or block.
    pub fn block(&mut self, holder: Holder, btype: &str, data: Value) -> String {
        let id = self.ws.new_id();
        let t = self.tick();
        let by = self.person();
        let page_id = self.ws.owner_page(holder.id()).unwrap_or_default();
        let seq = self.ws.next_seq();
        self.ws.blocks.insert(
            id.clone(),
            Block {
                id: id.clone(),
                seq,
                page_id,
                parent: holder.clone(),
                created_time: t,
                last_edited_time: t,
                created_by: by.clone(),
                last_edited_by: by,
                btype: btype.to_string(),
                data,
                children: Vec::new(),
                in_trash: false,
            },
        );
        self.push_child(&holder, &id);
        id
    }

    /// A text block (`paragraph`, `heading_1`, list items, `quote`, `toggle`, …).
    pub fn text_block(&mut self, holder: Holder, btype: &str, rich: Vec<Value>) -> String {
        let data = match btype {
            "paragraph" => json!({ "rich_text": rich, "icon": null, "color": "default" }),
            "heading_1" | "heading_2" | "heading_3" => {
                json!({ "rich_text": rich, "is_toggleable": false, "color": "default" })
            }
            "to_do" => json!({ "rich_text": rich, "checked": false, "color": "default" }),
            _ => json!({ "rich_text": rich, "color": "default" }),
        };
        self.block(holder, btype, data)
    }

    /// A database (and its `child_database` block when under a page or block).
    pub fn database(&mut self, parent: Parent, title: &str, inline: bool) -> String {
        let id = self.ws.new_id();
        let t = self.tick();
        let seq = self.ws.next_seq();
        self.ws.databases.insert(
            id.clone(),
            Database {
                id: id.clone(),
                seq,
                created_time: t,
                last_edited_time: t,
                title: richtext::plain(title),
                description: Vec::new(),
                parent: parent.clone(),
                is_inline: inline,
                in_trash: false,
                is_locked: false,
                revoked: false,
                icon: Value::Null,
                data_sources: Vec::new(),
                views: Vec::new(),
            },
        );
        match parent {
            Parent::Page(p) => self.stand_in_block(&id, Holder::Page(p), "child_database"),
            Parent::Block(b) => self.stand_in_block(&id, Holder::Block(b), "child_database"),
            _ => {}
        }
        id
    }

    /// A data source of `db` with only its title property (`title_name`).
    pub fn data_source(&mut self, db: &str, title: &str, title_name: &str) -> String {
        let id = self.ws.new_id();
        let t = self.tick();
        let by = self.person();
        let seq = self.ws.next_seq();
        self.ws.data_sources.insert(
            id.clone(),
            DataSource {
                id: id.clone(),
                seq,
                database_id: db.to_string(),
                created_time: t,
                last_edited_time: t,
                created_by: by.clone(),
                last_edited_by: by,
                title: richtext::plain(title),
                description: Vec::new(),
                properties: vec![PropSchema {
                    id: "title".into(),
                    name: title_name.into(),
                    kind: PropKind::Title,
                }],
                rows: Vec::new(),
                in_trash: false,
                icon: Value::Null,
                next_unique_id: 0,
            },
        );
        if let Some(d) = self.ws.databases.get_mut(db) {
            d.data_sources.push(id.clone());
        }
        id
    }

    /// Adds a property with a fresh random id (or `fixed_id`); returns the raw id.
    pub fn add_prop(
        &mut self,
        ds: &str,
        name: &str,
        kind: PropKind,
        fixed_id: Option<&str>,
    ) -> String {
        let used: BTreeSet<String> = self
            .ws
            .data_sources
            .get(ds)
            .map(|d| d.properties.iter().map(|p| p.id.clone()).collect())
            .unwrap_or_default();
        let id = match fixed_id {
            Some(f) => f.to_string(),
            None => loop {
                let cand = prop_id(&mut self.rng);
                if !used.contains(&cand) && cand != "title" {
                    break cand;
                }
            },
        };
        if let Some(d) = self.ws.data_sources.get_mut(ds) {
            d.properties.push(PropSchema {
                id: id.clone(),
                name: name.into(),
                kind,
            });
        }
        id
    }

    /// Select options with fresh ids.
    pub fn options(&mut self, names: &[&str]) -> Vec<SelectOption> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| SelectOption {
                id: self.rng.uuid(),
                name: n.to_string(),
                color: COLORS[(i * 3 + 1) % COLORS.len()].to_string(),
            })
            .collect()
    }

    /// A comment; starts a new discussion unless `discussion` is given.
    pub fn comment(
        &mut self,
        holder: Holder,
        discussion: Option<String>,
        text: &str,
    ) -> (String, String) {
        let id = self.ws.new_id();
        let discussion_id = discussion.unwrap_or_else(|| self.rng.uuid());
        let t = self.tick();
        let by = self.person();
        let page_id = self.ws.owner_page(holder.id()).unwrap_or_default();
        let seq = self.ws.next_seq();
        self.ws.comments.insert(
            id.clone(),
            Comment {
                id: id.clone(),
                seq,
                parent: holder,
                page_id,
                discussion_id: discussion_id.clone(),
                created_time: t,
                last_edited_time: t,
                created_by: by,
                rich_text: richtext::plain(text),
                resolved: false,
                deleted: false,
            },
        );
        (id, discussion_id)
    }

    pub fn sentence(&mut self) -> String {
        self.rng
            .pick(SENTENCES)
            .copied()
            .unwrap_or_default()
            .to_string()
    }

    pub fn task_title(&mut self) -> String {
        let v = self.rng.pick(VERBS).copied().unwrap_or("Plan");
        let n = self.rng.pick(NOUNS).copied().unwrap_or("sync");
        format!("{v} the {n}")
    }
}

/// A 4-character property id in Notion's alphabet (URL-encoded when shown).
fn prop_id(rng: &mut SimRng) -> String {
    const ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:;<=>?@[]^_`{|}~";
    (0..4)
        .map(|_| ALPHABET[rng.index(ALPHABET.len())] as char)
        .collect()
}
