//! Rich-text item constructors in Notion's response shape (text, links, mentions) [S5 §5.8].
//!
//! Invariant: every item carries `type`, `annotations`, `plain_text` and `href`, exactly the
//! keys of the recorded responses.

use serde_json::{json, Value};

/// Default annotations (all false, colour `default`).
pub fn annotations(bold: bool, italic: bool, code: bool) -> Value {
    json!({
        "bold": bold, "italic": italic, "strikethrough": false,
        "underline": false, "code": code, "color": "default"
    })
}

/// A plain text item.
pub fn text(content: &str) -> Value {
    styled(content, false, false, None)
}

/// A text item with bold/italic annotations and an optional link.
pub fn styled(content: &str, bold: bool, italic: bool, link: Option<&str>) -> Value {
    let link_v = match link {
        Some(url) => json!({ "url": url }),
        None => Value::Null,
    };
    json!({
        "type": "text",
        "text": { "content": content, "link": link_v },
        "annotations": annotations(bold, italic, false),
        "plain_text": content,
        "href": link.map(Value::from).unwrap_or(Value::Null),
    })
}

/// A one-item rich-text array, or an empty array for an empty string.
pub fn plain(content: &str) -> Vec<Value> {
    if content.is_empty() {
        Vec::new()
    } else {
        vec![text(content)]
    }
}

/// A user mention; `user` is the full user object as the API renders it.
pub fn user_mention(user: Value, name: &str) -> Value {
    json!({
        "type": "mention",
        "mention": { "type": "user", "user": user },
        "annotations": annotations(false, false, false),
        "plain_text": format!("@{name}"),
        "href": Value::Null,
    })
}

/// A page mention. The `plain_text` is the title at the time the mention was written (the
/// simulator does not re-resolve mentions on read — see `mod.rs`).
pub fn page_mention(page_id: &str, title: &str) -> Value {
    let hex: String = page_id.chars().filter(|c| *c != '-').collect();
    json!({
        "type": "mention",
        "mention": { "type": "page", "page": { "id": page_id } },
        "annotations": annotations(false, false, false),
        "plain_text": if title.is_empty() { "Untitled" } else { title },
        "href": format!("https://www.notion.so/{hex}"),
    })
}

/// A date mention.
pub fn date_mention(start: &str) -> Value {
    json!({
        "type": "mention",
        "mention": { "type": "date", "date": { "start": start, "end": null, "time_zone": null } },
        "annotations": annotations(false, false, false),
        "plain_text": start,
        "href": Value::Null,
    })
}

/// A text item with any annotations: `marks` names the ones set (`bold`, `italic`,
/// `strikethrough`, `underline`, `code`), `color` is Notion's colour name.
pub fn marked(content: &str, marks: &[&str], color: &str, link: Option<&str>) -> Value {
    let mut item = styled(content, false, false, link);
    for mark in marks {
        item["annotations"][*mark] = json!(true);
    }
    item["annotations"]["color"] = json!(color);
    item
}

/// A date mention with an end (`plain_text` as Notion shows a range).
pub fn date_range_mention(start: &str, end: &str) -> Value {
    let mut item = date_mention(start);
    item["mention"]["date"]["end"] = json!(end);
    item["plain_text"] = json!(format!("{start} → {end}"));
    item
}

/// A database mention (it names the database, not a data source [notion.md §4.3]).
pub fn database_mention(database_id: &str, title: &str) -> Value {
    let hex: String = database_id.chars().filter(|c| *c != '-').collect();
    json!({
        "type": "mention",
        "mention": { "type": "database", "database": { "id": database_id } },
        "annotations": annotations(false, false, false),
        "plain_text": title,
        "href": format!("https://www.notion.so/{hex}"),
    })
}

/// A link preview mention (a pasted URL Notion unfurls).
pub fn link_preview_mention(url: &str) -> Value {
    json!({
        "type": "mention",
        "mention": { "type": "link_preview", "link_preview": { "url": url } },
        "annotations": annotations(false, false, false),
        "plain_text": url,
        "href": url,
    })
}

/// A link mention (a URL shown as a titled chip).
pub fn link_mention(url: &str, title: &str) -> Value {
    json!({
        "type": "mention",
        "mention": { "type": "link_mention", "link_mention": { "href": url, "title": title } },
        "annotations": annotations(false, false, false),
        "plain_text": url,
        "href": url,
    })
}

/// A template mention: `template_mention_date` (`today`, `now`) or `template_mention_user`
/// (`me`), shown as `@Today` / `@Now` / `@Me`.
pub fn template_mention(kind: &str, value: &str) -> Value {
    let mut label = value.to_string();
    if let Some(first) = label.get(..1) {
        label = format!("{}{}", first.to_uppercase(), &label[1..]);
    }
    json!({
        "type": "mention",
        "mention": { "type": "template_mention", "template_mention": { "type": kind, kind: value } },
        "annotations": annotations(false, false, false),
        "plain_text": format!("@{label}"),
        "href": Value::Null,
    })
}

/// A custom emoji mention (`:name:`).
pub fn custom_emoji_mention(id: &str, name: &str, url: &str) -> Value {
    json!({
        "type": "mention",
        "mention": { "type": "custom_emoji", "custom_emoji": { "id": id, "name": name, "url": url } },
        "annotations": annotations(false, false, false),
        "plain_text": format!(":{name}:"),
        "href": Value::Null,
    })
}

/// An inline equation item.
pub fn equation(expression: &str) -> Value {
    json!({
        "type": "equation",
        "equation": { "expression": expression },
        "annotations": annotations(false, false, false),
        "plain_text": expression,
        "href": Value::Null,
    })
}

/// The concatenated `plain_text` of a rich-text array.
pub fn plain_text(items: &[Value]) -> String {
    items
        .iter()
        .filter_map(|i| i.get("plain_text").and_then(Value::as_str))
        .collect()
}

/// True for a `type: "mention"` item.
pub fn is_mention(item: &Value) -> bool {
    item.get("type").and_then(Value::as_str) == Some("mention")
}

/// Notion's 25-reference rule for rich text in page objects: the array is cut before the
/// 26th mention item [S11].
pub fn truncate_mentions(items: &[Value]) -> Vec<Value> {
    let mut mentions = 0;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if is_mention(item) {
            mentions += 1;
            if mentions > 25 {
                break;
            }
        }
        out.push(item.clone());
    }
    out
}

/// Number of mention items.
pub fn mention_count(items: &[Value]) -> usize {
    items.iter().filter(|i| is_mention(i)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_cuts_before_the_26th_mention() {
        let mut items = Vec::new();
        for i in 0..30 {
            items.push(page_mention("be633bf1-dfa0-436d-b259-571129a590e5", "P"));
            items.push(text(&format!(" {i} ")));
        }
        let cut = truncate_mentions(&items);
        assert_eq!(mention_count(&cut), 25);
        assert_eq!(cut.len(), 50);
        assert!(!is_mention(&cut[49]));
    }
}
