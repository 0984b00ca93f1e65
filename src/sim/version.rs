//! What each `Notion-Version` changes in the answers (the simulator renders one canonical
//! shape, then adapts it per request):
//! - `archived` exists only on 2025-09-03; 2026-03-11 removed it from pages, databases,
//!   data sources and blocks (changelog 2026-03-11; upgrade guide 2026-03-11);
//! - the AI meeting-notes block is `transcription` on 2025-09-03 and `meeting_notes` from
//!   2026-03-11 (same payload, renamed);
//! - 2026-12-01: pages in Search and Query-a-data-source results carry only the title
//!   property unless `filter_properties` names others (upgrade guide 2026-12-01, "Page
//!   properties in lists"); `id`, `url` and `last_edited_time` are unchanged.
//!
//! Invariant: pure; the canonical shape is the newest (`meeting_notes`, with `archived`
//! present), and adaptation only removes or renames keys.

use serde_json::{Map, Value};

pub use crate::notion::NotionVersion;

/// Adapts one API object (page, database, data source, block, ...) to `version`.
pub fn adapt_object(value: &mut Value, version: NotionVersion) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    let kind = map
        .get("object")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if matches!(kind.as_str(), "page" | "database" | "data_source" | "block")
        && !version.has_archived()
    {
        map.remove("archived");
    }
    if kind == "block" {
        rename_meeting_notes(map, version);
    }
}

/// Adapts a whole answer: the object itself, or each item of a list's `results`.
pub fn adapt_answer(value: &mut Value, version: NotionVersion) {
    if let Some(items) = value.get_mut("results").and_then(Value::as_array_mut) {
        for item in items {
            adapt_object(item, version);
        }
    } else {
        adapt_object(value, version);
    }
}

fn rename_meeting_notes(map: &mut Map<String, Value>, version: NotionVersion) {
    let wanted = version.meeting_notes_type();
    let other = if wanted == "meeting_notes" {
        "transcription"
    } else {
        "meeting_notes"
    };
    if map.get("type").and_then(Value::as_str) != Some(other) {
        return;
    }
    // Rebuild to keep the key order of a native answer (`type` then the type's key).
    let old = std::mem::take(map);
    for (k, v) in old {
        match k.as_str() {
            "type" => {
                map.insert(k, Value::from(wanted));
            }
            key if key == other => {
                map.insert(wanted.to_string(), v);
            }
            _ => {
                map.insert(k, v);
            }
        }
    }
}

/// Keeps only the title property of a page (what 2026-12-01 lists show without
/// `filter_properties`).
pub fn title_only(page: &mut Value) {
    if let Some(props) = page.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|_, p| p.get("type").and_then(Value::as_str) == Some("title"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn archived_goes_and_meeting_notes_are_renamed_per_version() {
        let block = json!({"object": "block", "id": "b", "type": "meeting_notes",
            "meeting_notes": {"title": []}, "in_trash": false, "archived": false});
        let mut old = block.clone();
        adapt_object(&mut old, NotionVersion::V2025_09_03);
        assert_eq!(old["type"], "transcription");
        assert!(old.get("transcription").is_some() && old.get("meeting_notes").is_none());
        assert_eq!(old["archived"], false);
        let mut new = block.clone();
        adapt_object(&mut new, NotionVersion::V2026_03_11);
        assert_eq!(new["type"], "meeting_notes");
        assert!(new.get("archived").is_none());
        let mut list = json!({"object": "list", "results": [{"object": "page", "archived": true}]});
        adapt_answer(&mut list, NotionVersion::V2026_12_01);
        assert!(list["results"][0].get("archived").is_none());
        let mut page = json!({"properties": {"Name": {"type": "title"}, "N": {"type": "number"}}});
        title_only(&mut page);
        assert_eq!(page["properties"].as_object().map(|m| m.len()), Some(1));
    }
}
