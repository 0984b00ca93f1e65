//! Reading the mirror for rendering: the metadata of every page, database, data source and
//! user (the `Snapshot`), and on demand one page's blocks and property values.
//!
//! Invariant: read-only — only `SELECT`s, on a connection the caller opened read-only and
//! holds a read transaction on, so one export sees one consistent state of the mirror
//! even while the daemon writes.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::ExportError;

/// Where a page or database sits, as the mirror's `parent_type`/`parent_id` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentRef {
    Workspace,
    Page(String),
    Block(String),
    DataSource(String),
    Database(String),
    /// A parent type this version does not know (rendered at the top level).
    Other,
}

impl ParentRef {
    fn from_columns(kind: &str, id: Option<String>) -> Self {
        match (kind, id) {
            ("workspace", _) => ParentRef::Workspace,
            ("page_id", Some(id)) => ParentRef::Page(id),
            ("block_id", Some(id)) => ParentRef::Block(id),
            ("data_source_id", Some(id)) => ParentRef::DataSource(id),
            ("database_id", Some(id)) => ParentRef::Database(id),
            _ => ParentRef::Other,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PageMeta {
    pub id: String,
    pub title: String,
    pub parent: ParentRef,
    pub data_source_id: Option<String>,
    pub url: Option<String>,
    pub created_time: String,
    pub last_edited_time: String,
    pub in_trash: bool,
}

#[derive(Debug, Clone)]
pub struct DatabaseMeta {
    pub id: String,
    pub title: String,
    pub parent: ParentRef,
    pub in_trash: bool,
    pub raw: Value,
}

#[derive(Debug, Clone)]
pub struct SourceMeta {
    pub id: String,
    pub database_id: Option<String>,
    pub title: String,
    pub in_trash: bool,
    pub raw: Value,
}

/// Everything but content: enough to lay out the tree and resolve every link.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub pages: BTreeMap<String, PageMeta>,
    pub databases: BTreeMap<String, DatabaseMeta>,
    pub sources: BTreeMap<String, SourceMeta>,
    /// User id → name.
    pub users: HashMap<String, String>,
    /// Block id → the page whose content it is, for blocks that parent a page or database.
    pub block_pages: HashMap<String, String>,
    /// Whether the mirror has the `files` table of archived attachments.
    pub has_files: bool,
}

fn sql(context: &'static str) -> impl Fn(rusqlite::Error) -> ExportError {
    move |source| ExportError::Sqlite { context, source }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl Snapshot {
    pub fn load(conn: &Connection) -> Result<Snapshot, ExportError> {
        let mut snap = Snapshot::default();
        let e = sql("read pages");
        let mut stmt = conn
            .prepare(
                "SELECT id, title, parent_type, parent_id, data_source_id, url, created_time, \
                 last_edited_time, in_trash FROM pages",
            )
            .map_err(&e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PageMeta {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    parent: ParentRef::from_columns(&r.get::<_, String>(2)?, r.get(3)?),
                    data_source_id: r.get(4)?,
                    url: r.get(5)?,
                    created_time: r.get(6)?,
                    last_edited_time: r.get(7)?,
                    in_trash: r.get::<_, i64>(8)? != 0,
                })
            })
            .map_err(&e)?;
        for page in rows {
            let page = page.map_err(&e)?;
            snap.pages.insert(page.id.clone(), page);
        }
        snap.load_databases(conn)?;
        snap.load_sources(conn)?;
        snap.load_users(conn)?;
        snap.load_block_parents(conn)?;
        snap.has_files = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'files'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(sql("look for the files table"))?
            > 0;
        Ok(snap)
    }

    fn load_databases(&mut self, conn: &Connection) -> Result<(), ExportError> {
        let e = sql("read databases");
        let mut stmt = conn
            .prepare("SELECT id, title, parent_type, parent_id, in_trash, raw FROM databases")
            .map_err(&e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DatabaseMeta {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    parent: ParentRef::from_columns(&r.get::<_, String>(2)?, r.get(3)?),
                    in_trash: r.get::<_, i64>(4)? != 0,
                    raw: json(&r.get::<_, String>(5)?),
                })
            })
            .map_err(&e)?;
        for db in rows {
            let db = db.map_err(&e)?;
            self.databases.insert(db.id.clone(), db);
        }
        Ok(())
    }

    fn load_sources(&mut self, conn: &Connection) -> Result<(), ExportError> {
        let e = sql("read data sources");
        let mut stmt = conn
            .prepare("SELECT id, database_id, title, in_trash, raw FROM data_sources")
            .map_err(&e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SourceMeta {
                    id: r.get(0)?,
                    database_id: r.get(1)?,
                    title: r.get(2)?,
                    in_trash: r.get::<_, i64>(3)? != 0,
                    raw: json(&r.get::<_, String>(4)?),
                })
            })
            .map_err(&e)?;
        for ds in rows {
            let ds = ds.map_err(&e)?;
            self.sources.insert(ds.id.clone(), ds);
        }
        Ok(())
    }

    fn load_users(&mut self, conn: &Connection) -> Result<(), ExportError> {
        let e = sql("read users");
        let mut stmt = conn
            .prepare("SELECT id, coalesce(name, '') FROM users")
            .map_err(&e)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(&e)?;
        for row in rows {
            let (id, name) = row.map_err(&e)?;
            self.users.insert(id, name);
        }
        Ok(())
    }

    /// The owning page of every block that parents a page or database.
    fn load_block_parents(&mut self, conn: &Connection) -> Result<(), ExportError> {
        let wanted: Vec<String> = self
            .pages
            .values()
            .map(|p| &p.parent)
            .chain(self.databases.values().map(|d| &d.parent))
            .filter_map(|p| match p {
                ParentRef::Block(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let e = sql("read block parents");
        let mut stmt = conn
            .prepare_cached("SELECT page_id FROM blocks WHERE id = ?1")
            .map_err(&e)?;
        for id in wanted {
            let page: Option<String> =
                stmt.query_row([&id], |r| r.get(0)).optional().map_err(&e)?;
            if let Some(page) = page {
                self.block_pages.insert(id, page);
            }
        }
        Ok(())
    }

    /// A user's name (`None` when the user is not in the mirror).
    pub fn user_name(&self, id: &str) -> Option<&str> {
        self.users
            .get(id)
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }

    /// The live data sources of a database, in id order.
    pub fn sources_of(&self, database_id: &str) -> Vec<&SourceMeta> {
        self.sources
            .values()
            .filter(|s| !s.in_trash && s.database_id.as_deref() == Some(database_id))
            .collect()
    }
}

/// One block of a page's tree.
#[derive(Debug, Clone)]
pub struct BlockRow {
    pub id: String,
    pub kind: String,
    pub raw: Value,
}

/// A page's content: children lists keyed by parent id (the page id for top-level blocks).
#[derive(Debug, Default)]
pub struct BlockTree {
    pub children: HashMap<String, Vec<BlockRow>>,
}

impl BlockTree {
    /// The live blocks of a page, ordered by position among their siblings.
    pub fn of_page(conn: &Connection, page_id: &str) -> Result<BlockTree, ExportError> {
        let e = sql("read blocks");
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, parent_id, type, raw FROM blocks \
                 WHERE page_id = ?1 AND in_trash = 0 ORDER BY parent_id, position",
            )
            .map_err(&e)?;
        let mut tree = BlockTree::default();
        let rows = stmt
            .query_map([page_id], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    BlockRow {
                        id: r.get(0)?,
                        kind: r.get(2)?,
                        raw: json(&r.get::<_, String>(3)?),
                    },
                ))
            })
            .map_err(&e)?;
        for row in rows {
            let (parent, block) = row.map_err(&e)?;
            tree.children.entry(parent).or_default().push(block);
        }
        Ok(tree)
    }

    /// The children of `id` (empty when it has none in the mirror).
    pub fn children(&self, id: &str) -> &[BlockRow] {
        self.children.get(id).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// The tree of the page that holds block `block_id` (for synced-block originals), or
/// `None` when the block is not in the mirror.
pub fn tree_holding(conn: &Connection, block_id: &str) -> Result<Option<BlockTree>, ExportError> {
    let page: Option<String> = conn
        .prepare_cached("SELECT page_id FROM blocks WHERE id = ?1 AND in_trash = 0")
        .and_then(|mut s| s.query_row([block_id], |r| r.get(0)).optional())
        .map_err(sql("find a synced block's original"))?;
    match page {
        Some(page) => BlockTree::of_page(conn, &page).map(Some),
        None => Ok(None),
    }
}

/// One stored property value of a page.
#[derive(Debug, Clone)]
pub struct PropertyValue {
    pub property_id: String,
    pub name: String,
    pub kind: String,
    /// The inner value (JSON) for the type; `Null` when empty.
    pub value: Value,
    pub text: String,
}

/// A page's property values by property id.
pub fn property_values(
    conn: &Connection,
    page_id: &str,
) -> Result<HashMap<String, PropertyValue>, ExportError> {
    let e = sql("read property values");
    let mut stmt = conn
        .prepare_cached(
            "SELECT property_id, name, type, value, coalesce(text, '') FROM property_values \
             WHERE page_id = ?1",
        )
        .map_err(&e)?;
    let rows = stmt
        .query_map(params![page_id], |r| {
            Ok(PropertyValue {
                property_id: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                value: r
                    .get::<_, Option<String>>(3)?
                    .map(|v| json(&v))
                    .unwrap_or(Value::Null),
                text: r.get(4)?,
            })
        })
        .map_err(&e)?;
    let mut out = HashMap::new();
    for row in rows {
        let v = row.map_err(&e)?;
        out.insert(v.property_id.clone(), v);
    }
    Ok(out)
}
