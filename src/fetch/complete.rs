//! Completing page properties the API truncated (the 25-reference rule, notion.md §4.2):
//! `relation` with `has_more: true`, `people` with 25 or more entries, `title` and
//! `rich_text` with 25 or more mentions. Only those call the property-item endpoint.
//!
//! Invariant: after completion the page's raw JSON holds each list complete and
//! `relation.has_more` is false; properties that were not truncated cost no request.

use serde_json::Value;

use crate::notion::{Client, NotionError};

/// The 25-reference limit of page objects.
const REFERENCE_LIMIT: usize = 25;

/// `(property name, property id, type)` of every property that may be truncated.
pub fn truncated(page: &Value) -> Vec<(String, String, String)> {
    let Some(props) = page.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .filter_map(|(name, prop)| {
            let kind = prop.get("type").and_then(Value::as_str)?;
            let items = prop.get(kind).and_then(Value::as_array);
            let cut = match kind {
                "relation" => prop
                    .get("has_more")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                "people" => items.is_some_and(|a| a.len() >= REFERENCE_LIMIT),
                "title" | "rich_text" => items.is_some_and(|a| {
                    a.iter()
                        .filter(|t| t.get("type").and_then(Value::as_str) == Some("mention"))
                        .count()
                        >= REFERENCE_LIMIT
                }),
                _ => false,
            };
            let id = prop.get("id").and_then(Value::as_str)?;
            cut.then(|| (name.clone(), id.to_string(), kind.to_string()))
        })
        .collect()
}

/// Fetches the complete value of every truncated property and patches `page` in place.
/// `known` is the mirror's completed copy of the same page version (same
/// `last_edited_time`): a truncated list whose visible part matches it is taken from there
/// instead of being fetched again.
pub async fn complete_page(
    client: &Client,
    page: &mut Value,
    known: Option<&Value>,
) -> Result<(), NotionError> {
    let cuts = truncated(page);
    if cuts.is_empty() {
        return Ok(());
    }
    let Some(page_id) = page.get("id").and_then(Value::as_str).map(str::to_string) else {
        return Ok(());
    };
    for (name, property_id, kind) in cuts {
        let pointer = format!("/properties/{}", escape_pointer(&name));
        let reused = known
            .and_then(|k| k.pointer(&format!("{pointer}/{kind}")))
            .and_then(Value::as_array)
            .filter(|full| {
                let visible = page
                    .pointer(&format!("{pointer}/{kind}"))
                    .and_then(Value::as_array);
                visible.is_some_and(|v| full.len() >= v.len() && full[..v.len()] == v[..])
            })
            .cloned();
        let values = match reused {
            Some(values) => values,
            None => {
                let items = client
                    .property_items(&page_id, &property_id)
                    .collect_all()
                    .await?;
                items
                    .into_iter()
                    .filter_map(|mut item| item.get_mut(&kind).map(Value::take))
                    .collect()
            }
        };
        if let Some(map) = page.pointer_mut(&pointer).and_then(Value::as_object_mut) {
            map.insert(kind.clone(), Value::Array(values));
            if kind == "relation" {
                map.insert("has_more".into(), Value::Bool(false));
            }
        }
    }
    Ok(())
}

/// JSON-pointer escaping of one path segment (`~` → `~0`, `/` → `~1`).
fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_truncated_properties_are_listed() {
        let mention = json!({"type": "mention", "mention": {"type": "page", "page": {"id": "x"}}, "plain_text": "x"});
        let many_mentions: Vec<Value> = (0..25).map(|_| mention.clone()).collect();
        let people: Vec<Value> = (0..25)
            .map(|i| json!({"object": "user", "id": format!("u{i}")}))
            .collect();
        let page = json!({"id": "p", "properties": {
            "Rel": {"id": "r%3A", "type": "relation", "relation": [{"id": "a"}], "has_more": true},
            "Rel2": {"id": "r2", "type": "relation", "relation": [{"id": "a"}], "has_more": false},
            "Who": {"id": "w", "type": "people", "people": people},
            "Few": {"id": "f", "type": "people", "people": [{"object": "user", "id": "u"}]},
            "Notes/x": {"id": "n", "type": "rich_text", "rich_text": many_mentions},
            "N": {"id": "num", "type": "number", "number": 3}
        }});
        let mut names: Vec<String> = truncated(&page).into_iter().map(|(n, _, _)| n).collect();
        names.sort();
        assert_eq!(names, vec!["Notes/x", "Rel", "Who"]);
        assert_eq!(escape_pointer("Notes/x~"), "Notes~1x~0");
    }
}
