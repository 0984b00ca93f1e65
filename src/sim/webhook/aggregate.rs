//! Pure per-entity aggregation: the rules that turn one entity's window of raw events into the
//! deliveries Notion would send [S9].
//!
//! Invariant: pure and deterministic (no I/O, no clock, no randomness); output order is
//! lifecycle event first, then one merged event per update type in first-seen order, then
//! unaggregated events in arrival order.

use serde_json::Value;

use super::super::events::RawEvent;

/// True for event types Notion aggregates per entity [S9]: `page.*`, `database.*` and
/// `data_source.*` lifecycle, move and update events. False for `comment.*`,
/// `page.locked` / `page.unlocked` and event types this simulator does not know.
pub fn is_aggregated(event_type: &str) -> bool {
    Kind::of(event_type).is_some()
}

/// Aggregates the raw events of ONE entity's window (in arrival order) into the deliveries
/// Notion would send. Pure; the rules are in the [`webhook`](super) module docs and [S9].
/// Events that are not aggregated ([`is_aggregated`]) pass through one by one.
pub fn aggregate(bucket: &[RawEvent]) -> Vec<RawEvent> {
    let mut lifecycle = Vec::new();
    let mut updates = Vec::new();
    let mut passed = Vec::new();
    for event in bucket {
        match Kind::of(&event.event_type) {
            Some(kind) if kind.is_lifecycle() => lifecycle.push((kind, event)),
            Some(kind) => updates.push((kind, event)),
            None => passed.push(event.clone()),
        }
    }
    let mut out = match (lifecycle.first(), lifecycle.last()) {
        (Some(first), Some(last)) => match (first.0.state_before(), last.0.state_after()) {
            // Born in this window and alive at its end: one `created` says it all.
            (Life::Absent, Life::Live) => vec![created_absorbing(&lifecycle, &updates)],
            // Born and trashed in the window: the receiver never needs to know.
            (Life::Absent, _) => Vec::new(),
            // Deleted then undeleted (or the reverse): the pair cancels out.
            (before, after) if before == after => merge_updates(&updates),
            _ => {
                let all: Vec<&RawEvent> = lifecycle.iter().map(|(_, e)| *e).collect();
                let mut out = vec![combined(last.1, &all)];
                out.extend(merge_updates(&updates));
                out
            }
        },
        _ => merge_updates(&updates),
    };
    out.extend(passed);
    out
}

/// The aggregation-relevant part of an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Created,
    Deleted,
    Undeleted,
    Moved,
    PropertiesUpdated,
    ContentUpdated,
    SchemaUpdated,
}

/// Whether an entity exists, as the receiver would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Absent,
    Live,
    Trashed,
}

impl Kind {
    fn of(event_type: &str) -> Option<Kind> {
        let (object, action) = event_type.split_once('.')?;
        if !matches!(object, "page" | "database" | "data_source") {
            return None;
        }
        Some(match action {
            "created" => Kind::Created,
            "deleted" => Kind::Deleted,
            "undeleted" => Kind::Undeleted,
            "moved" => Kind::Moved,
            "properties_updated" => Kind::PropertiesUpdated,
            "content_updated" => Kind::ContentUpdated,
            "schema_updated" => Kind::SchemaUpdated,
            _ => return None,
        })
    }

    fn is_lifecycle(self) -> bool {
        matches!(self, Kind::Created | Kind::Deleted | Kind::Undeleted)
    }

    fn state_before(self) -> Life {
        match self {
            Kind::Created => Life::Absent,
            Kind::Undeleted => Life::Trashed,
            _ => Life::Live,
        }
    }

    fn state_after(self) -> Life {
        match self {
            Kind::Deleted => Life::Trashed,
            _ => Life::Live,
        }
    }
}

/// The first `*.created`, with the parent of the last `*.moved`, stamped with every event.
fn created_absorbing(lifecycle: &[(Kind, &RawEvent)], updates: &[(Kind, &RawEvent)]) -> RawEvent {
    let all: Vec<&RawEvent> = lifecycle.iter().chain(updates).map(|(_, e)| *e).collect();
    let base = lifecycle
        .iter()
        .find(|(kind, _)| *kind == Kind::Created)
        .map_or(all[0], |(_, e)| *e);
    let mut out = combined(base, &all);
    let last_parent = updates
        .iter()
        .rev()
        .find(|(kind, _)| *kind == Kind::Moved)
        .and_then(|(_, e)| e.data.get("parent"));
    if let (Some(parent), Some(data)) = (last_parent, out.data.as_object_mut()) {
        data.insert("parent".to_string(), parent.clone());
    }
    out
}

/// One delivery per update type (first-seen order), each with merged `data`.
fn merge_updates(updates: &[(Kind, &RawEvent)]) -> Vec<RawEvent> {
    let mut groups: Vec<(Kind, Vec<&RawEvent>)> = Vec::new();
    for (kind, event) in updates {
        match groups
            .iter_mut()
            .find(|(_, g)| g[0].event_type == event.event_type)
        {
            Some((_, group)) => group.push(event),
            None => groups.push((*kind, vec![event])),
        }
    }
    groups
        .into_iter()
        .map(|(kind, group)| {
            let data = group[1..].iter().fold(group[0].data.clone(), |acc, e| {
                merge_data(kind, &acc, &e.data)
            });
            RawEvent {
                data,
                ..combined(group[0], &group)
            }
        })
        .collect()
}

/// `next`'s data (latest parent wins) with the update list merged per [S9] semantics.
fn merge_data(kind: Kind, acc: &Value, next: &Value) -> Value {
    let (key, by_id, latest_wins) = match kind {
        Kind::PropertiesUpdated => ("updated_properties", false, false),
        Kind::ContentUpdated => ("updated_blocks", true, false),
        Kind::SchemaUpdated => ("updated_properties", true, true),
        _ => return next.clone(),
    };
    let mut merged: Vec<Value> = Vec::new();
    let items = [acc, next]
        .into_iter()
        .filter_map(|d| d.get(key).and_then(Value::as_array))
        .flatten();
    for item in items {
        let same = |seen: &Value| match (by_id, seen.get("id"), item.get("id")) {
            (true, Some(a), Some(b)) => a == b,
            _ => seen == item,
        };
        match merged.iter().position(same) {
            Some(i) if latest_wins => merged[i] = item.clone(),
            Some(_) => {}
            None => merged.push(item.clone()),
        }
    }
    let mut out = next.clone();
    if let Some(obj) = out.as_object_mut() {
        obj.insert(key.to_string(), Value::Array(merged));
    }
    out
}

/// `base` with the latest `at` and the union of authors (deduped by id) of `all`.
fn combined(base: &RawEvent, all: &[&RawEvent]) -> RawEvent {
    let mut out = base.clone();
    out.at = all.iter().map(|e| e.at).max().unwrap_or(base.at);
    out.authors = dedupe_authors(all.iter().flat_map(|e| e.authors.iter()));
    out
}

fn dedupe_authors<'a>(
    authors: impl Iterator<Item = &'a (String, String)>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for author in authors {
        if !out.iter().any(|(id, _)| *id == author.0) {
            out.push(author.clone());
        }
    }
    out
}

/// The aggregation rules, one window at a time; the HTTP behaviour is in `tests/sim_webhook.rs`.
#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    use crate::sim::webhook::test_fixtures::{parent, raw};

    fn types(events: &[RawEvent]) -> Vec<&str> {
        events.iter().map(|e| e.event_type.as_str()).collect()
    }

    #[test]
    fn property_edits_merge_into_one_union_in_first_seen_order() {
        let edits = [vec!["a", "b"], vec!["c", "a"], vec!["b", "d"]];
        let bucket: Vec<RawEvent> = (edits.iter().enumerate())
            .map(|(i, props)| {
                let data = json!({ "parent": parent("p1"), "updated_properties": props });
                raw(
                    "page.properties_updated",
                    i as u32,
                    &format!("u{}", i % 2),
                    data,
                )
            })
            .collect();
        let out = aggregate(&bucket);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].data["updated_properties"],
            json!(["a", "b", "c", "d"])
        );
        assert_eq!(out[0].at, bucket[2].at, "timestamp is the latest raw `at`");
        let authors: Vec<&str> = out[0].authors.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(authors, ["u0", "u1"]);
    }

    #[test]
    fn content_updates_union_blocks_and_schema_updates_keep_latest_action() {
        let block = |id: &str| json!({ "id": id, "type": "block" });
        let bucket = [
            raw(
                "page.content_updated",
                1,
                "u",
                json!({ "updated_blocks": [block("x")] }),
            ),
            raw(
                "page.content_updated",
                2,
                "u",
                json!({ "updated_blocks": [block("y"), block("x")] }),
            ),
        ];
        let out = aggregate(&bucket);
        assert_eq!(
            out[0].data["updated_blocks"],
            json!([block("x"), block("y")])
        );

        let prop = |id: &str, action: &str| json!({ "id": id, "name": id, "action": action });
        let schema = |props: Vec<Value>| json!({ "updated_properties": props });
        let bucket = [
            raw(
                "data_source.schema_updated",
                1,
                "u",
                schema(vec![prop("k", "created"), prop("w", "updated")]),
            ),
            raw(
                "data_source.schema_updated",
                2,
                "u",
                schema(vec![prop("k", "deleted")]),
            ),
        ];
        let out = aggregate(&bucket);
        let expected = json!([prop("k", "deleted"), prop("w", "updated")]);
        assert_eq!(out[0].data["updated_properties"], expected);
    }

    #[test]
    fn created_absorbs_updates_and_moves_and_takes_the_last_parent() {
        let bucket = [
            raw("page.created", 1, "u1", json!({ "parent": parent("p1") })),
            raw(
                "page.properties_updated",
                2,
                "u2",
                json!({ "updated_properties": ["a"] }),
            ),
            raw("page.moved", 3, "u1", json!({ "parent": parent("p2") })),
            raw(
                "page.content_updated",
                4,
                "u3",
                json!({ "updated_blocks": [] }),
            ),
        ];
        let out = aggregate(&bucket);
        assert_eq!(types(&out), ["page.created"]);
        assert_eq!(out[0].data, json!({ "parent": parent("p2") }));
        assert_eq!(out[0].at, bucket[3].at);
        assert_eq!(out[0].authors.len(), 3);
    }

    #[test]
    fn create_then_delete_collapses_to_nothing() {
        let bucket = [
            raw("page.created", 1, "u", json!({ "parent": parent("p1") })),
            raw(
                "page.properties_updated",
                2,
                "u",
                json!({ "updated_properties": ["a"] }),
            ),
            raw("page.deleted", 3, "u", json!({ "parent": parent("p1") })),
        ];
        assert!(aggregate(&bucket).is_empty());
    }

    #[test]
    fn delete_then_undelete_cancels_but_keeps_other_updates() {
        let bucket = [
            raw("page.deleted", 1, "u", json!({ "parent": parent("p1") })),
            raw("page.undeleted", 2, "u", json!({ "parent": parent("p1") })),
            raw(
                "page.properties_updated",
                3,
                "u",
                json!({ "updated_properties": ["a"] }),
            ),
        ];
        assert_eq!(types(&aggregate(&bucket)), ["page.properties_updated"]);
        let bucket = [
            raw("page.undeleted", 1, "u", json!({ "parent": parent("p1") })),
            raw("page.deleted", 2, "u", json!({ "parent": parent("p1") })),
        ];
        assert!(aggregate(&bucket).is_empty());
        let bucket = [
            raw("page.deleted", 1, "u1", json!({ "parent": parent("p1") })),
            raw("page.undeleted", 2, "u2", json!({ "parent": parent("p1") })),
            raw("page.deleted", 3, "u3", json!({ "parent": parent("p1") })),
        ];
        let out = aggregate(&bucket);
        assert_eq!(types(&out), ["page.deleted"]);
        assert_eq!((out[0].at, out[0].authors.len()), (bucket[2].at, 3));
    }

    #[test]
    fn repeated_moves_become_one_with_the_last_parent() {
        let bucket = [
            raw("page.moved", 1, "u", json!({ "parent": parent("p1") })),
            raw("page.moved", 2, "u", json!({ "parent": parent("p2") })),
            raw("page.moved", 3, "u", json!({ "parent": parent("p3") })),
        ];
        let out = aggregate(&bucket);
        assert_eq!(types(&out), ["page.moved"]);
        assert_eq!(out[0].data["parent"], parent("p3"));
    }

    #[test]
    fn comments_locks_and_unknown_types_are_not_aggregated() {
        for t in [
            "comment.created",
            "comment.deleted",
            "page.locked",
            "page.unlocked",
            "view.updated",
        ] {
            assert!(!is_aggregated(t), "{t}");
        }
        for t in [
            "page.created",
            "database.moved",
            "data_source.schema_updated",
            "page.undeleted",
        ] {
            assert!(is_aggregated(t), "{t}");
        }
        let bucket = [
            raw("comment.created", 1, "u", json!({})),
            raw("comment.created", 2, "u", json!({})),
        ];
        assert_eq!(aggregate(&bucket).len(), 2);
    }
}
