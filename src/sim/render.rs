//! Workspace objects → Notion API JSON (2025-09-03 shapes, key order as recorded).
//!
//! Invariant: rendering is a pure function of the workspace; the same object renders the
//! same bytes on every call. Hosted files render as `sim-hosted:` markers, which the HTTP
//! layer signs anew for every answer (`files.rs`), as Notion re-signs file URLs per read.

use serde_json::{json, Map, Value};

use super::model::{
    Block, Comment, DataSource, Database, Holder, Page, Parent, UserKind, Workspace,
};
use super::properties::{page_properties, schema_json, Mode};
use super::richtext;
use super::util::{fmt_minute, object_url, page_url};

/// A user as the users endpoints and people values show it.
pub fn user_json(ws: &Workspace, id: &str) -> Value {
    let Some(u) = ws.user(id) else {
        return json!({ "object": "user", "id": id });
    };
    let mut m = Map::new();
    m.insert("object".into(), json!("user"));
    m.insert("id".into(), json!(u.id));
    // A person who never set a name shows `null` (`name` may be null; upgrade guide
    // 2026-12-01 "Person names").
    let name = (!u.name.is_empty()).then_some(u.name.as_str());
    m.insert("name".into(), json!(name));
    m.insert("avatar_url".into(), json!(u.avatar_url));
    match &u.kind {
        UserKind::Person { email } => {
            m.insert("type".into(), json!("person"));
            m.insert("person".into(), json!({ "email": email }));
        }
        UserKind::Bot { own: true } => {
            m.insert("type".into(), json!("bot"));
            m.insert("bot".into(), own_bot(ws));
        }
        UserKind::Bot { own: false } => {
            // Other integrations' bots show an empty `bot` object [ultimate users list].
            m.insert("type".into(), json!("bot"));
            m.insert("bot".into(), json!({}));
        }
        UserKind::Agent { agent_id } => {
            // "a bot user object gives agent_id and id" (changelog 2026-10-15).
            m.insert("type".into(), json!("bot"));
            m.insert("bot".into(), json!({}));
            m.insert("agent_id".into(), json!(agent_id));
        }
    }
    Value::Object(m)
}

fn own_bot(ws: &Workspace) -> Value {
    json!({
        "owner": { "type": "workspace", "workspace": true },
        "workspace_name": ws.workspace_name,
        "workspace_id": ws.workspace_id,
        "workspace_limits": { "max_file_upload_size_in_bytes": 5_242_880 },
    })
}

/// `{"object":"user","id"}` as in `created_by` / `last_edited_by`.
pub fn partial_user(id: &str) -> Value {
    json!({ "object": "user", "id": id })
}

/// The `parent` object of a page or database [S17].
pub fn parent_json(ws: &Workspace, parent: &Parent) -> Value {
    match parent {
        Parent::Workspace => json!({ "type": "workspace", "workspace": true }),
        Parent::Page(id) => json!({ "type": "page_id", "page_id": id }),
        Parent::Block(id) => json!({ "type": "block_id", "block_id": id }),
        Parent::Agent(id) => json!({ "type": "agent_id", "agent_id": id }),
        Parent::DataSource(ds) => {
            let db = ws
                .data_sources
                .get(ds)
                .map(|d| d.database_id.clone())
                .unwrap_or_default();
            json!({ "type": "data_source_id", "data_source_id": ds, "database_id": db })
        }
    }
}

fn holder_json(h: &Holder) -> Value {
    match h {
        Holder::Page(id) => json!({ "type": "page_id", "page_id": id }),
        Holder::Block(id) => json!({ "type": "block_id", "block_id": id }),
    }
}

/// A page object.
pub fn page_json(ws: &Workspace, page: &Page, mode: Mode) -> Value {
    let title = richtext::plain_text(&page.title);
    let mut m = Map::new();
    m.insert("object".into(), json!("page"));
    m.insert("id".into(), json!(page.id));
    m.insert("created_time".into(), json!(fmt_minute(page.created_time)));
    m.insert(
        "last_edited_time".into(),
        json!(fmt_minute(page.last_edited_time)),
    );
    m.insert("created_by".into(), partial_user(&page.created_by));
    m.insert("last_edited_by".into(), partial_user(&page.last_edited_by));
    m.insert("cover".into(), page.cover.clone());
    m.insert("icon".into(), page.icon.clone());
    m.insert("parent".into(), parent_json(ws, &page.parent));
    m.insert("in_trash".into(), json!(page.in_trash));
    m.insert("is_archived".into(), json!(false));
    m.insert("is_locked".into(), json!(page.is_locked));
    m.insert(
        "properties".into(),
        Value::Object(page_properties(ws, page, mode)),
    );
    m.insert("url".into(), json!(page_url(&title, &page.id)));
    m.insert("public_url".into(), Value::Null);
    m.insert("archived".into(), json!(page.in_trash));
    Value::Object(m)
}

/// A database object: the container only, no schema [S7].
pub fn database_json(ws: &Workspace, db: &Database) -> Value {
    let sources: Vec<Value> = db
        .data_sources
        .iter()
        .filter_map(|id| ws.data_sources.get(id))
        .filter(|ds| !ds.in_trash)
        .map(|ds| json!({ "id": ds.id, "name": richtext::plain_text(&ds.title) }))
        .collect();
    let mut m = Map::new();
    m.insert("object".into(), json!("database"));
    m.insert("id".into(), json!(db.id));
    m.insert("title".into(), Value::Array(db.title.clone()));
    m.insert("description".into(), Value::Array(db.description.clone()));
    m.insert("parent".into(), parent_json(ws, &db.parent));
    m.insert("is_inline".into(), json!(db.is_inline));
    m.insert("in_trash".into(), json!(db.in_trash));
    m.insert("is_locked".into(), json!(db.is_locked));
    m.insert("created_time".into(), json!(fmt_minute(db.created_time)));
    m.insert(
        "last_edited_time".into(),
        json!(fmt_minute(db.last_edited_time)),
    );
    m.insert("data_sources".into(), Value::Array(sources));
    m.insert("icon".into(), db.icon.clone());
    m.insert("cover".into(), Value::Null);
    m.insert("url".into(), json!(object_url(&db.id)));
    m.insert("public_url".into(), Value::Null);
    m.insert("archived".into(), json!(db.in_trash));
    Value::Object(m)
}

/// A data source object, with its schema.
pub fn data_source_json(ws: &Workspace, ds: &DataSource) -> Value {
    let trashed = ws.ds_trashed(ds);
    let db_parent = ws
        .databases
        .get(&ds.database_id)
        .map(|db| parent_json(ws, &db.parent))
        .unwrap_or(Value::Null);
    let is_inline = ws
        .databases
        .get(&ds.database_id)
        .is_some_and(|db| db.is_inline);
    let mut props = Map::new();
    for p in &ds.properties {
        props.insert(p.name.clone(), schema_json(ws, ds, p));
    }
    let mut m = Map::new();
    m.insert("object".into(), json!("data_source"));
    m.insert("id".into(), json!(ds.id));
    m.insert("cover".into(), Value::Null);
    m.insert("icon".into(), ds.icon.clone());
    m.insert("created_time".into(), json!(fmt_minute(ds.created_time)));
    m.insert("created_by".into(), partial_user(&ds.created_by));
    m.insert("last_edited_by".into(), partial_user(&ds.last_edited_by));
    m.insert(
        "last_edited_time".into(),
        json!(fmt_minute(ds.last_edited_time)),
    );
    m.insert("title".into(), Value::Array(ds.title.clone()));
    m.insert("description".into(), Value::Array(ds.description.clone()));
    m.insert("is_inline".into(), json!(is_inline));
    m.insert("properties".into(), Value::Object(props));
    m.insert(
        "parent".into(),
        json!({ "type": "database_id", "database_id": ds.database_id }),
    );
    m.insert("database_parent".into(), db_parent);
    m.insert("url".into(), json!(object_url(&ds.database_id)));
    m.insert("public_url".into(), Value::Null);
    m.insert("in_trash".into(), json!(trashed));
    m.insert("archived".into(), json!(trashed));
    Value::Object(m)
}

/// A block object as children lists and `GET /blocks/{id}` show it.
pub fn block_json(ws: &Workspace, b: &Block) -> Value {
    let data = match b.btype.as_str() {
        "child_page" => json!({ "title": ws.page_title(&b.id) }),
        "child_database" if ws.databases.contains_key(&b.id) => {
            json!({ "title": ws.database_title(&b.id) })
        }
        _ => b.data.clone(),
    };
    block_shape(
        &b.id,
        holder_json(&b.parent),
        (b.created_time, b.last_edited_time),
        (&b.created_by, &b.last_edited_by),
        ws.has_children(b),
        b.in_trash,
        &b.btype,
        data,
    )
}

#[allow(clippy::too_many_arguments)]
fn block_shape(
    id: &str,
    parent: Value,
    times: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    by: (&str, &str),
    has_children: bool,
    in_trash: bool,
    btype: &str,
    data: Value,
) -> Value {
    let mut m = Map::new();
    m.insert("object".into(), json!("block"));
    m.insert("id".into(), json!(id));
    m.insert("parent".into(), parent);
    m.insert("created_time".into(), json!(fmt_minute(times.0)));
    m.insert("last_edited_time".into(), json!(fmt_minute(times.1)));
    m.insert("created_by".into(), partial_user(by.0));
    m.insert("last_edited_by".into(), partial_user(by.1));
    m.insert("has_children".into(), json!(has_children));
    m.insert("in_trash".into(), json!(in_trash));
    m.insert("type".into(), json!(btype));
    m.insert(btype.to_string(), data);
    m.insert("archived".into(), json!(in_trash));
    Value::Object(m)
}

/// `GET /blocks/{page id}` for a page that has no child_page block in a parent's content
/// (workspace-level pages and rows): the page seen as a `child_page` block [S14].
pub fn page_as_block(ws: &Workspace, page: &Page) -> Value {
    let has_children = !ws.live_children(&page.id).is_empty();
    block_shape(
        &page.id,
        parent_json(ws, &page.parent),
        (page.created_time, page.last_edited_time),
        (&page.created_by, &page.last_edited_by),
        has_children,
        page.in_trash,
        "child_page",
        json!({ "title": richtext::plain_text(&page.title) }),
    )
}

/// `GET /blocks/{database id}` for a database without a child_database block.
pub fn database_as_block(ws: &Workspace, db: &Database) -> Value {
    let by = db
        .data_sources
        .first()
        .and_then(|d| ws.data_sources.get(d))
        .map(|d| d.created_by.clone())
        .unwrap_or_else(|| ws.bot_id.clone());
    block_shape(
        &db.id,
        parent_json(ws, &db.parent),
        (db.created_time, db.last_edited_time),
        (&by, &by),
        false,
        db.in_trash,
        "child_database",
        json!({ "title": richtext::plain_text(&db.title) }),
    )
}

/// A comment object [S15].
pub fn comment_json(ws: &Workspace, c: &Comment) -> Value {
    let author = ws.user(&c.created_by);
    let (kind, name) = match author {
        Some(u) if matches!(u.kind, UserKind::Bot { .. }) => ("integration", u.name.clone()),
        Some(u) => ("user", u.name.clone()),
        None => ("user", String::new()),
    };
    let parent = match &c.parent {
        Holder::Page(id) => json!({ "type": "page_id", "page_id": id }),
        Holder::Block(id) => json!({ "type": "block_id", "block_id": id }),
    };
    let mut m = Map::new();
    m.insert("object".into(), json!("comment"));
    m.insert("id".into(), json!(c.id));
    m.insert("parent".into(), parent);
    m.insert("discussion_id".into(), json!(c.discussion_id));
    m.insert("created_time".into(), json!(fmt_minute(c.created_time)));
    m.insert(
        "last_edited_time".into(),
        json!(fmt_minute(c.last_edited_time)),
    );
    m.insert("created_by".into(), partial_user(&c.created_by));
    m.insert("rich_text".into(), Value::Array(c.rich_text.clone()));
    m.insert(
        "display_name".into(),
        json!({ "type": kind, "resolved_name": name }),
    );
    m.insert("attachments".into(), json!([]));
    Value::Object(m)
}

/// Adds `request_id` to a single-object or list answer.
pub fn with_request_id(mut v: Value, request_id: &str) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("request_id".into(), json!(request_id));
    }
    v
}
