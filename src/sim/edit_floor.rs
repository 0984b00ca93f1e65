//! The fewest requests one change needs before a mirror is exact again, from the raw events
//! the change emitted — the per-event floor of docs/freshness.md — for the load benchmark.
//!
//! Invariant: pure; counted on the workspace *after* the change. What a listing sweep
//! brings for free (a page's new `last_edited_time` after a block edit, a data source's
//! after a row came or went) is not counted; what no event announces (an unshare) is the
//! presence sweep's, not an edit's, and counts 0.
//!
//! Per raw event:
//! - `page.created`: the page (1) and its first children list (1).
//! - `page.properties_updated` / `moved` / `deleted` / `undeleted` / `locked` /
//!   `unlocked`: the page (1), plus property-item pages for its truncated properties, plus
//!   1 query per data source whose rows roll up a changed property of it (the rows
//!   related to it, ⌈rows / 100⌉).
//! - `page.content_updated` naming blocks: one children list per parent involved (the
//!   holder of each named block; a named block whose children changed is itself a
//!   holder); naming none (a title edit): the page (1).
//! - `data_source.content_updated`: 1 per named row that has no `page.*` event of its own
//!   in the same change (otherwise that event's work covers it).
//! - `data_source.created` / `undeleted` / `schema_updated`: the data source (1) and its
//!   rows (⌈rows / 100⌉, at least 1); `moved` / `deleted`: the data source (1).
//! - `database.*`: the database (1); `deleted` / `undeleted` also each of its data sources;
//!   `created` also its views' list (1: the mirror lists a new database's views, so a
//!   lost `view.created` of its default view does not wait for the daily sweep).
//! - `comment.*`: the comment (1).
//! - `view.*`: the view (1).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::events::RawEvent;
use super::floor::query_calls;
use super::model::{Holder, PropKind, Val, Workspace};
use super::property_items::item_count_if_truncated;
use super::util::percent_decode;

/// Requests by endpoint name (`pages.retrieve`, `blocks.children`, …).
pub type EndpointCounts = BTreeMap<String, u64>;

/// The floor of the change that emitted `events`, on the workspace after it.
pub fn edit_floor(ws: &Workspace, events: &[RawEvent]) -> EndpointCounts {
    let mut out = EndpointCounts::new();
    let mut add = |ep: &str, n: u64| *out.entry(ep.to_string()).or_insert(0) += n;
    let paged: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.entity_type == "page")
        .map(|e| e.entity_id.as_str())
        .collect();
    for e in events {
        let id = e.entity_id.as_str();
        match e.event_type.as_str() {
            "page.created" => {
                add("pages.retrieve", 1);
                add("blocks.children", 1);
            }
            "page.properties_updated"
            | "page.moved"
            | "page.deleted"
            | "page.undeleted"
            | "page.locked"
            | "page.unlocked" => {
                add("pages.retrieve", 1);
                add("pages.property", truncation_calls(ws, id));
                if e.event_type == "page.properties_updated" {
                    add("data_sources.query", rollup_queries(ws, id, &e.data));
                }
            }
            "page.content_updated" => {
                let named = named(&e.data);
                if named.is_empty() {
                    add("pages.retrieve", 1);
                } else {
                    let holders: BTreeSet<String> = named
                        .iter()
                        .map(|b| match ws.blocks.get(b).map(|b| &b.parent) {
                            Some(Holder::Page(p)) | Some(Holder::Block(p)) => p.clone(),
                            None => id.to_string(),
                        })
                        .collect();
                    add("blocks.children", holders.len() as u64);
                }
            }
            "data_source.content_updated" => {
                let alone = named(&e.data)
                    .iter()
                    .filter(|r| !paged.contains(r.as_str()))
                    .count();
                add("pages.retrieve", alone as u64);
            }
            "data_source.created" | "data_source.undeleted" | "data_source.schema_updated" => {
                add("data_sources.retrieve", 1);
                add("data_sources.query", query_calls(live_rows(ws, id), 10_000));
            }
            "data_source.moved" | "data_source.deleted" => add("data_sources.retrieve", 1),
            t if t.starts_with("database.") => {
                add("databases.retrieve", 1);
                if matches!(t, "database.deleted" | "database.undeleted") {
                    let n = ws.databases.get(id).map_or(0, |d| d.data_sources.len());
                    add("data_sources.retrieve", n as u64);
                }
                if t == "database.created" {
                    add("views.list", 1);
                }
            }
            t if t.starts_with("comment.") => add("comments.retrieve", 1),
            // The view itself (a deleted one answers 404 and leaves with a tombstone).
            t if t.starts_with("view.") => add("views.retrieve", 1),
            _ => {}
        }
    }
    out.retain(|_, n| *n > 0);
    out
}

fn named(data: &Value) -> Vec<String> {
    data.get("updated_blocks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|b| b.get("id").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn live_rows(ws: &Workspace, ds: &str) -> usize {
    ws.data_sources.get(ds).map_or(0, |d| {
        d.rows
            .iter()
            .filter_map(|r| ws.pages.get(r))
            .filter(|p| !p.in_trash && ws.visible(&p.id))
            .count()
    })
}

/// Property-item calls to complete the page's truncated properties.
fn truncation_calls(ws: &Workspace, page_id: &str) -> u64 {
    let Some(page) = ws.pages.get(page_id) else {
        return 0;
    };
    let props: Vec<_> = match ws.row_source(page) {
        Some(ds) => ds.properties.iter().map(Some).collect(),
        None => vec![None],
    };
    props
        .into_iter()
        .filter_map(|p| item_count_if_truncated(ws, page, p))
        .map(|n| n.div_ceil(100) as u64)
        .sum()
}

/// Queries for the live pages whose rollup reads a property of `page_id` this event
/// changed: one per data source holding any (⌈rows / 100⌉), not one GET per page.
fn rollup_queries(ws: &Workspace, page_id: &str, data: &Value) -> u64 {
    let Some(page) = ws.pages.get(page_id) else {
        return 0;
    };
    let Some(target_ds) = ws.row_source(page).map(|d| d.id.clone()) else {
        return 0;
    };
    let changed: BTreeSet<String> = data
        .get("updated_properties")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(percent_decode)
                .collect()
        })
        .unwrap_or_default();
    let mut dependents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ds in ws.data_sources.values() {
        for prop in &ds.properties {
            let PropKind::Rollup {
                relation, target, ..
            } = &prop.kind
            else {
                continue;
            };
            let points_here = ds.properties.iter().any(|r| {
                &r.id == relation
                    && matches!(&r.kind, PropKind::Relation { data_source_id, .. } if *data_source_id == target_ds)
            });
            if !points_here || !changed.contains(target) {
                continue;
            }
            for row in &ds.rows {
                let Some(p) = ws.pages.get(row) else {
                    continue;
                };
                let related = matches!(p.props.get(relation), Some(Val::Relation(ids)) if ids.iter().any(|x| x == page_id));
                if related && !p.in_trash && ws.visible(&p.id) && p.id != page_id {
                    dependents
                        .entry(ds.id.as_str())
                        .or_default()
                        .insert(p.id.as_str());
                }
            }
        }
    }
    dependents
        .values()
        .map(|rows| rows.len().div_ceil(100) as u64)
        .sum()
}
