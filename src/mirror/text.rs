//! Plain-text rendering of API objects: rich text, titles, blocks, comments.
//!
//! Pure functions over `serde_json::Value`. Invariant: unknown or malformed shapes render as
//! the empty string, never an error (new block and property types keep appearing).

use serde_json::Value;

/// The plain text of a rich-text array: the concatenated `plain_text` of its items.
pub fn rich_text(items: &Value) -> String {
    let Some(items) = items.as_array() else {
        return String::new();
    };
    let mut out = String::new();
    for item in items {
        if let Some(s) = item.get("plain_text").and_then(Value::as_str) {
            out.push_str(s);
        } else if let Some(s) = item.pointer("/text/content").and_then(Value::as_str) {
            out.push_str(s);
        }
    }
    out
}

/// The title of a page: the plain text of its `title`-typed property.
pub fn page_title(page: &Value) -> String {
    let Some(props) = page.get("properties").and_then(Value::as_object) else {
        return String::new();
    };
    props
        .values()
        .find(|p| p.get("type").and_then(Value::as_str) == Some("title"))
        .and_then(|p| p.get("title"))
        .map(rich_text)
        .unwrap_or_default()
}

/// The title of a database or data source (its `title` rich-text array).
pub fn object_title(object: &Value) -> String {
    object.get("title").map(rich_text).unwrap_or_default()
}

/// The plain text of a block, by type. Table rows join their cells with a tab.
pub fn block(block: &Value) -> String {
    let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
    let Some(body) = block.get(kind) else {
        return String::new();
    };
    match kind {
        "child_page" | "child_database" => body
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        "equation" => body
            .get("expression")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        "table_row" => body
            .get("cells")
            .and_then(Value::as_array)
            .map(|cells| cells.iter().map(rich_text).collect::<Vec<_>>().join("\t"))
            .unwrap_or_default(),
        "bookmark" | "embed" | "link_preview" => {
            let url = body.get("url").and_then(Value::as_str).unwrap_or("");
            let caption = body.get("caption").map(rich_text).unwrap_or_default();
            join_nonempty(&[url, &caption])
        }
        // AI meeting notes (`transcription` before 2026-03-11): their title.
        "meeting_notes" | "transcription" => body.get("title").map(rich_text).unwrap_or_default(),
        "image" | "video" | "pdf" | "file" | "audio" => {
            let name = body.get("name").and_then(Value::as_str).unwrap_or("");
            let caption = body.get("caption").map(rich_text).unwrap_or_default();
            join_nonempty(&[name, &caption])
        }
        _ => {
            let text = body.get("rich_text").map(rich_text).unwrap_or_default();
            let caption = body.get("caption").map(rich_text).unwrap_or_default();
            join_nonempty(&[&text, &caption])
        }
    }
}

/// An icon as text, for every icon type (developers.notion.com reference "Emoji and
/// icon"): the emoji; `:name:` of a custom emoji; `name (color)` of a native icon
/// (`type: "icon"`, changelog 2026-03-25); the URL of an external or Notion-hosted image.
/// `None` for no icon and for a type this version does not know.
pub fn icon(icon: &Value) -> Option<String> {
    let kind = icon.get("type").and_then(Value::as_str)?;
    let body = icon.get(kind)?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    match kind {
        "emoji" => body.as_str().map(str::to_string),
        "custom_emoji" => s(body, "name").map(|n| format!(":{n}:")),
        "icon" => s(body, "name").map(|n| match s(body, "color") {
            Some(c) => format!("{n} ({c})"),
            None => n,
        }),
        "external" | "file" => s(body, "url"),
        _ => None,
    }
}

/// The plain text of a comment.
pub fn comment(comment: &Value) -> String {
    comment.get("rich_text").map(rich_text).unwrap_or_default()
}

fn join_nonempty(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt(s: &str) -> Value {
        json!({"type": "text", "text": {"content": s, "link": null}, "plain_text": s, "href": null})
    }

    #[test]
    fn rich_text_concatenates_plain_text() {
        assert_eq!(rich_text(&json!([rt("a "), rt("b")])), "a b");
        assert_eq!(rich_text(&json!(null)), "");
    }

    #[test]
    fn page_title_uses_the_title_typed_property() {
        let page = json!({"properties": {
            "Done": {"id": "a", "type": "checkbox", "checkbox": true},
            "Name": {"id": "title", "type": "title", "title": [rt("Ship it")]}
        }});
        assert_eq!(page_title(&page), "Ship it");
    }

    #[test]
    fn blocks_render_by_type() {
        let para = json!({"type": "paragraph", "paragraph": {"rich_text": [rt("hi")]}});
        assert_eq!(block(&para), "hi");
        let row = json!({"type": "table_row", "table_row": {"cells": [[rt("a")], [], [rt("c")]]}});
        assert_eq!(block(&row), "a\t\tc");
        let child = json!({"type": "child_page", "child_page": {"title": "Sub"}});
        assert_eq!(block(&child), "Sub");
        let eq = json!({"type": "equation", "equation": {"expression": "x^2"}});
        assert_eq!(block(&eq), "x^2");
        let unknown = json!({"type": "unsupported", "unsupported": {"block_type": "button"}});
        assert_eq!(block(&unknown), "");
        let code = json!({"type": "code", "code": {"rich_text": [rt("fn")], "caption": [rt("c")]}});
        assert_eq!(block(&code), "fn\nc");
        let h4 = json!({"type": "heading_4", "heading_4": {"rich_text": [rt("four")]}});
        assert_eq!(block(&h4), "four");
        let tab = json!({"type": "tab", "tab": {}});
        assert_eq!(block(&tab), "");
        for kind in ["meeting_notes", "transcription"] {
            let notes =
                json!({"type": kind, kind: {"title": [rt("Sync")], "status": "notes_ready"}});
            assert_eq!(block(&notes), "Sync");
        }
    }

    #[test]
    fn icons_of_every_type_render() {
        assert_eq!(
            icon(&json!({"type": "emoji", "emoji": "🚀"})).as_deref(),
            Some("🚀")
        );
        assert_eq!(
            icon(&json!({"type": "custom_emoji", "custom_emoji": {"id": "x", "name": "party", "url": "u"}})).as_deref(),
            Some(":party:")
        );
        assert_eq!(
            icon(&json!({"type": "icon", "icon": {"name": "rocket", "color": "blue"}})).as_deref(),
            Some("rocket (blue)")
        );
        assert_eq!(
            icon(&json!({"type": "external", "external": {"url": "https://e/x.svg"}})).as_deref(),
            Some("https://e/x.svg")
        );
        assert_eq!(
            icon(&json!({"type": "file", "file": {"url": "https://f", "expiry_time": "t"}}))
                .as_deref(),
            Some("https://f")
        );
        assert_eq!(
            icon(&json!({"type": "future_icon", "future_icon": {}})),
            None
        );
        assert_eq!(icon(&json!(null)), None);
    }
}
