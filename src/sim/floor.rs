//! `Sim::floor()`: the fewest API requests a complete cold sync of the current workspace
//! needs, per endpoint.
//!
//! Invariant: the count only covers what a cold sync must see — visible (not revoked),
//! non-trashed objects — at 100 items per list page.

use std::collections::BTreeMap;

use super::model::Workspace;
use super::property_items::item_count_if_truncated;

/// Minimum request counts of a complete cold sync.
///
/// Counted per endpoint (a "live" object is visible and not trashed):
/// - `users.list`: ⌈users / 100⌉ (at least 1).
/// - `search`: ⌈(live pages incl. rows + live data sources) / 100⌉ (at least 1) — search is
///   the only way to discover standalone pages and data sources.
/// - `databases.retrieve`: 1 per live real database (the parent of each data source).
/// - `data_sources.retrieve`: 1 per live data source (its schema).
/// - `data_sources.query`: per live data source max(1, ⌈rows / 100⌉); when the rows exceed
///   the per-query cap (`max_query_rows`), the sync restarts with `created_time on_or_after`
///   the last row seen, so each further window re-reads that boundary row: windows hold
///   `cap`, then `cap − 1` new rows each, and every window costs ⌈window rows / 100⌉.
/// - `pages.property`: per truncated (page, property) — more than 25 relations or people,
///   or more than 25 mentions in title/rich_text — ⌈items / 100⌉ to complete it.
/// - `blocks.children`: per live page max(1, ⌈top-level blocks / 100⌉), plus per block with
///   children (not `child_page`/`child_database`, which are separate objects)
///   max(1, ⌈children / 100⌉).
/// - `views.list`: per database of a live data source max(1, ⌈views / 100⌉) — the full
///   sweep lists the views of every database it fetched;
/// - `views.retrieve`: 1 per readable view of those databases (the list gives references
///   only).
/// - `comments.list`: per live page max(1, ⌈page-level comments / 100⌉), plus per block of
///   its content (not `child_page`/`child_database`) max(1, ⌈block comments / 100⌉);
///   `total_without_block_comments` leaves the per-block part out.
///
/// Pages come with the query results (rows) and the search results (standalone pages), so
/// `pages.retrieve` is not needed at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Floor {
    pub by_endpoint: BTreeMap<String, u64>,
    pub total: u64,
    pub total_without_block_comments: u64,
}

fn pages(n: usize) -> u64 {
    n.div_ceil(100) as u64
}

fn at_least_one(n: usize) -> u64 {
    pages(n).max(1)
}

/// Query calls for a source of `rows` rows under a per-query cap.
pub(crate) fn query_calls(rows: usize, cap: usize) -> u64 {
    let cap = cap.max(2);
    if rows <= cap {
        return at_least_one(rows);
    }
    let mut calls = pages(cap);
    let mut left = rows - cap;
    while left > 0 {
        let fresh = left.min(cap - 1);
        calls += pages(fresh + 1);
        left -= fresh;
    }
    calls
}

/// Computes the floor for `ws`.
pub(crate) fn floor(ws: &Workspace, max_query_rows: usize) -> Floor {
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |ep: &str, n: u64| *by.entry(ep.to_string()).or_insert(0) += n;
    add("users.list", at_least_one(ws.users.len()));
    let live_pages: Vec<_> = ws
        .pages
        .values()
        .filter(|p| !p.in_trash && ws.visible(&p.id))
        .collect();
    let live_sources: Vec<_> = ws
        .data_sources
        .values()
        .filter(|d| !ws.ds_trashed(d) && ws.visible(&d.database_id))
        .collect();
    add(
        "search",
        at_least_one(live_pages.len() + live_sources.len()),
    );
    let dbs = ws
        .databases
        .values()
        .filter(|d| !d.in_trash && ws.visible(&d.id))
        .count();
    add("databases.retrieve", dbs as u64);
    add("data_sources.retrieve", live_sources.len() as u64);
    let view_dbs: std::collections::BTreeSet<&str> = live_sources
        .iter()
        .map(|d| d.database_id.as_str())
        .collect();
    for db in view_dbs {
        let views = ws.views_of_database(db).len();
        add("views.list", at_least_one(views));
        if views > 0 {
            add("views.retrieve", views as u64);
        }
    }
    for ds in &live_sources {
        let rows = ds
            .rows
            .iter()
            .filter_map(|r| ws.pages.get(r))
            .filter(|p| !p.in_trash && ws.visible(&p.id))
            .count();
        add("data_sources.query", query_calls(rows, max_query_rows));
    }
    let comments = ws.open_comments_by_holder();
    let count = |id: &str| comments.get(id).map_or(0, Vec::len);
    let mut block_comment_calls = 0;
    for p in &live_pages {
        let props: Vec<_> = match ws.row_source(p) {
            Some(ds) => ds.properties.iter().map(Some).collect(),
            None => vec![None],
        };
        for prop in props {
            if let Some(n) = item_count_if_truncated(ws, p, prop) {
                add("pages.property", pages(n));
            }
        }
        add(
            "blocks.children",
            at_least_one(ws.live_children(&p.id).len()),
        );
        add("comments.list", at_least_one(count(&p.id)));
        for b in ws.content_tree(&p.id) {
            if b.btype == "child_page" || b.btype == "child_database" {
                continue;
            }
            if ws.has_children(b) {
                add(
                    "blocks.children",
                    at_least_one(ws.live_children(&b.id).len()),
                );
            }
            let n = at_least_one(count(&b.id));
            block_comment_calls += n;
            add("comments.list", n);
        }
    }
    let total = by.values().sum();
    Floor {
        by_endpoint: by,
        total,
        total_without_block_comments: total - block_comment_calls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::generate::{Gen, GenConfig};
    use crate::sim::model::{Holder, Parent, PropKind};
    use crate::sim::richtext;
    use serde_json::Value;

    #[test]
    fn floor_of_a_tiny_workspace_matches_a_hand_count() {
        let mut g = Gen::new(
            GenConfig {
                pages: 0,
                ..GenConfig::small(1)
            },
            chrono::Utc::now(),
        );
        g.users(); // 5 persons + 2 bots
        let a = g.page(Parent::Workspace, richtext::plain("A"), Value::Null);
        let p1 = g.text_block(Holder::Page(a.clone()), "paragraph", richtext::plain("p1"));
        g.text_block(
            Holder::Block(p1.clone()),
            "paragraph",
            richtext::plain("p2"),
        );
        g.text_block(Holder::Page(a.clone()), "paragraph", richtext::plain("p3"));
        g.comment(Holder::Page(a.clone()), None, "page comment");
        g.comment(Holder::Block(p1), None, "block comment");
        let db = g.database(Parent::Page(a.clone()), "DB", true);
        let ds = g.data_source(&db, "DB", "Name");
        g.add_prop(
            &ds,
            "N",
            PropKind::Number {
                format: "number".into(),
            },
            None,
        );
        for i in 0..3 {
            g.page(
                Parent::DataSource(ds.clone()),
                richtext::plain(&format!("row {i}")),
                Value::Null,
            );
        }
        g.page(Parent::Page(a), richtext::plain("B"), Value::Null);
        let c = g.page(Parent::Workspace, richtext::plain("C"), Value::Null);
        if let Some(p) = g.ws.pages.get_mut(&c) {
            p.in_trash = true;
        }
        let f = floor(&g.ws, 10_000);
        let want: BTreeMap<String, u64> = [
            ("users.list", 1), // 7 users
            ("search", 1),     // A, B, 3 rows, 1 data source
            ("databases.retrieve", 1),
            ("data_sources.retrieve", 1),
            ("data_sources.query", 1), // 3 rows
            ("blocks.children", 6),    // 5 live pages + p1 (has a child)
            ("comments.list", 8),      // 5 pages + p1, p2, p3
            ("views.list", 1),         // DB (no views)
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(f.by_endpoint, want);
        assert_eq!(f.total, 20);
        assert_eq!(f.total_without_block_comments, 17);
    }

    #[test]
    fn query_windows_reread_the_boundary_row() {
        assert_eq!(query_calls(0, 10_000), 1);
        assert_eq!(query_calls(250, 10_000), 3);
        // cap 100: 100 rows, then windows of 99 new rows + the boundary row.
        assert_eq!(query_calls(100, 100), 1);
        assert_eq!(query_calls(101, 100), 2);
        assert_eq!(query_calls(298, 100), 3);
        assert_eq!(query_calls(299, 100), 4);
    }
}
