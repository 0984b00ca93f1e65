//! `Sim::expected()`: what an exact, complete mirror of the current workspace holds.
//!
//! Invariant: every `raw` is the JSON the API serves for that object (without `request_id`),
//! with truncated relation/people/title/rich_text arrays completed; revoked objects are
//! absent; blocks and comments of trashed pages are not expected (a cold sync cannot see
//! them: search and queries never return trashed pages).

use super::{Expected, ExpectedBlock, ExpectedComment, ExpectedObject};
use std::collections::BTreeMap;

use crate::sim::model::{Comment, Holder, Workspace};
use crate::sim::properties::Mode;
use crate::sim::render::{
    block_json, comment_json, data_source_json, database_json, page_json, user_json,
};
use crate::sim::version::{adapt_object, NotionVersion};

/// Builds the expected mirror content of a mirror speaking `version`.
pub(crate) fn expected(ws: &Workspace, version: NotionVersion) -> Expected {
    let mut out = expected_canonical(ws);
    let objects = out
        .pages
        .values_mut()
        .chain(out.databases.values_mut())
        .chain(out.data_sources.values_mut());
    for o in objects {
        adapt_object(&mut o.raw, version);
    }
    for b in out.blocks.values_mut() {
        adapt_object(&mut b.raw, version);
    }
    out
}

fn expected_canonical(ws: &Workspace) -> Expected {
    let mut out = Expected::default();
    for u in &ws.users {
        out.users.insert(u.id.clone(), user_json(ws, &u.id));
    }
    for p in ws.pages.values().filter(|p| ws.visible(&p.id)) {
        out.pages.insert(
            p.id.clone(),
            ExpectedObject {
                raw: page_json(ws, p, Mode::Completed),
                in_trash: p.in_trash,
            },
        );
    }
    for db in ws.databases.values().filter(|d| ws.visible(&d.id)) {
        out.databases.insert(
            db.id.clone(),
            ExpectedObject {
                raw: database_json(ws, db),
                in_trash: db.in_trash,
            },
        );
    }
    for ds in ws
        .data_sources
        .values()
        .filter(|d| ws.visible(&d.database_id))
    {
        out.data_sources.insert(
            ds.id.clone(),
            ExpectedObject {
                raw: data_source_json(ws, ds),
                in_trash: ws.ds_trashed(ds),
            },
        );
    }
    for v in ws.views.values() {
        let Some(view) = ws.readable_view(&v.id) else {
            continue;
        };
        let listed = ws.databases.get(&view.database_id).is_some_and(|db| {
            !db.in_trash
                && db
                    .data_sources
                    .iter()
                    .filter_map(|d| ws.data_sources.get(d))
                    .any(|d| !ws.ds_trashed(d))
        });
        out.views.insert(
            v.id.clone(),
            ExpectedObject {
                raw: crate::sim::views::view_json(view),
                in_trash: !listed,
            },
        );
    }
    let comments = ws.open_comments_by_holder();
    for p in ws
        .pages
        .values()
        .filter(|p| !p.in_trash && ws.visible(&p.id))
    {
        walk(ws, &comments, &p.id, &p.id, &mut out);
        for c in comments.get(p.id.as_str()).into_iter().flatten() {
            out.comments.insert(
                c.id.clone(),
                ExpectedComment {
                    page_id: p.id.clone(),
                    on_block: false,
                    raw: comment_json(ws, c),
                },
            );
        }
    }
    out
}

/// Adds the live children of `holder` (recursively, not into child pages/databases).
fn walk(
    ws: &Workspace,
    comments: &BTreeMap<&str, Vec<&Comment>>,
    page_id: &str,
    holder: &str,
    out: &mut Expected,
) {
    for (i, b) in ws.live_children(holder).into_iter().enumerate() {
        out.blocks.insert(
            b.id.clone(),
            ExpectedBlock {
                page_id: page_id.to_string(),
                parent_id: holder.to_string(),
                position: i as i64,
                raw: block_json(ws, b),
            },
        );
        if b.btype == "child_page" || b.btype == "child_database" {
            continue;
        }
        for c in comments.get(b.id.as_str()).into_iter().flatten() {
            if matches!(c.parent, Holder::Block(_)) {
                out.comments.insert(
                    c.id.clone(),
                    ExpectedComment {
                        page_id: page_id.to_string(),
                        on_block: true,
                        raw: comment_json(ws, c),
                    },
                );
            }
        }
        walk(ws, comments, page_id, &b.id, out);
    }
}
