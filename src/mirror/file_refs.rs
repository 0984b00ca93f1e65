//! File references in API objects, found by pure functions of their JSON: a page's `files`
//! properties, icon and cover; the file of an `image`/`file`/`pdf`/`video`/`audio` block;
//! the icon and cover of a database or data source (docs/files.md).
//!
//! Invariant: a file's key is its URL without the query string and fragment, so Notion
//! re-signing a hosted URL (a new query string and `expiry_time` on every read) never
//! changes a key; [`unsigned`] is the same rule for whole objects, used wherever two
//! renderings of one object are compared.

use serde_json::{Map, Value};

/// Block types whose content is one file.
pub const BLOCK_TYPES: &[&str] = &["image", "file", "pdf", "video", "audio"];

/// What kind of object holds a reference (`file_refs.object`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Holder {
    Page,
    Block,
    Database,
    DataSource,
}

impl Holder {
    pub const ALL: [Holder; 4] = [
        Holder::Page,
        Holder::Block,
        Holder::Database,
        Holder::DataSource,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Holder::Page => "page",
            Holder::Block => "block",
            Holder::Database => "database",
            Holder::DataSource => "data_source",
        }
    }

    pub fn parse(s: &str) -> Option<Holder> {
        Holder::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// The mirror table holding objects of this kind.
    pub fn table(self) -> &'static str {
        match self {
            Holder::Page => "pages",
            Holder::Block => "blocks",
            Holder::Database => "databases",
            Holder::DataSource => "data_sources",
        }
    }
}

/// One file shown by an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// The URL without its query string (`files.key`).
    pub key: String,
    /// `property:<property id>`, `block`, `icon` or `cover`.
    pub location: String,
    /// The URL as the object shows it (signed, for hosted files).
    pub url: String,
    /// The name Notion shows (`files` values and file blocks carry one).
    pub name: Option<String>,
    /// `type: external` (a link), as opposed to a Notion-hosted `type: file`.
    pub external: bool,
    /// When a hosted URL stops working.
    pub expiry_time: Option<String>,
}

/// Every file `raw` (an object of kind `holder`) shows, in document order; the same key
/// may appear in several locations (and twice in one `files` value).
pub fn refs(holder: Holder, raw: &Value) -> Vec<FileRef> {
    let mut out = Vec::new();
    match holder {
        Holder::Page => {
            if let Some(props) = raw.get("properties").and_then(Value::as_object) {
                for prop in props.values() {
                    if prop.get("type").and_then(Value::as_str) != Some("files") {
                        continue;
                    }
                    let id = prop.get("id").and_then(Value::as_str).unwrap_or_default();
                    let location = format!("property:{id}");
                    for file in prop
                        .get("files")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        out.extend(file_object(file, &location));
                    }
                }
            }
            icon_and_cover(raw, &mut out);
        }
        Holder::Block => {
            let kind = raw.get("type").and_then(Value::as_str).unwrap_or_default();
            if BLOCK_TYPES.contains(&kind) {
                if let Some(inner) = raw.get(kind) {
                    out.extend(file_object(inner, "block"));
                }
            }
        }
        Holder::Database | Holder::DataSource => icon_and_cover(raw, &mut out),
    }
    out
}

fn icon_and_cover(raw: &Value, out: &mut Vec<FileRef>) {
    for location in ["icon", "cover"] {
        if let Some(v) = raw.get(location) {
            out.extend(file_object(v, location));
        }
    }
}

/// A Notion file object (`{type: "file", file: {url, expiry_time}}` or `{type: "external",
/// external: {url}}`, with an optional `name`). Anything else (emoji, `file_upload` ids,
/// custom emoji) is not a file the mirror archives.
fn file_object(v: &Value, location: &str) -> Option<FileRef> {
    let kind = v.get("type").and_then(Value::as_str)?;
    let external = match kind {
        "file" => false,
        "external" => true,
        _ => return None,
    };
    let inner = v.get(kind)?;
    let url = inner.get("url").and_then(Value::as_str)?;
    if url.is_empty() {
        return None;
    }
    // A hosted URL's query string is its signature; an external URL's is part of what it
    // names (`…/img?id=5`), so only the fragment goes.
    let key = if external {
        url.split('#').next().unwrap_or(url)
    } else {
        key_of(url)
    };
    Some(FileRef {
        key: key.to_string(),
        location: location.to_string(),
        url: url.to_string(),
        name: v
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        external,
        expiry_time: inner
            .get("expiry_time")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// A hosted file's URL without its query string and fragment: stable across re-signing.
pub fn key_of(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The name to show for a file: Notion's, else the last segment of its URL, decoded.
pub fn display_name(name: Option<&str>, key: &str) -> String {
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        return n.to_string();
    }
    let last = key.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let decoded = super::read::percent_decode(last);
    if decoded.is_empty() {
        "file".to_string()
    } else {
        decoded
    }
}

/// `v` with every hosted file's signature removed: `{type: "file", file: {url, expiry_time}}`
/// becomes `{type: "file", file: {url: <key>}}`. Two renderings of one object that differ
/// only by re-signing are equal after this.
pub fn unsigned(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            let hosted = m.get("type").and_then(Value::as_str) == Some("file");
            for (k, x) in m {
                let url = x.get("url").and_then(Value::as_str);
                match (hosted && k == "file", url) {
                    (true, Some(url)) => {
                        let mut inner = Map::new();
                        inner.insert("url".into(), Value::String(key_of(url).to_string()));
                        out.insert(k.clone(), Value::Object(inner));
                    }
                    _ => {
                        out.insert(k.clone(), unsigned(x));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(unsigned).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hosted(path: &str, sig: &str) -> Value {
        json!({ "type": "file", "file": {
            "url": format!("https://prod-files-secure.s3.us-west-2.amazonaws.com{path}?X-Amz-Signature={sig}"),
            "expiry_time": "2026-01-01T01:00:00.000Z" } })
    }

    #[test]
    fn every_location_of_a_page_is_found() {
        let mut file = hosted("/w/f1/spec%20sheet.pdf", "a");
        file["name"] = json!("spec sheet.pdf");
        let page = json!({
            "object": "page",
            "icon": hosted("/w/i/icon.png", "b"),
            "cover": { "type": "external", "external": { "url": "https://example.com/c.jpg" } },
            "properties": {
                "Attachments": { "id": "a%3Bb", "type": "files", "files": [file, { "name": "Mock", "type": "external", "external": { "url": "https://example.com/m.png" } }] },
                "Name": { "id": "title", "type": "title", "title": [] }
            }
        });
        let found = refs(Holder::Page, &page);
        let summary: Vec<(&str, &str, bool)> = found
            .iter()
            .map(|r| (r.location.as_str(), r.key.as_str(), r.external))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "property:a%3Bb",
                    "https://prod-files-secure.s3.us-west-2.amazonaws.com/w/f1/spec%20sheet.pdf",
                    false
                ),
                ("property:a%3Bb", "https://example.com/m.png", true),
                (
                    "icon",
                    "https://prod-files-secure.s3.us-west-2.amazonaws.com/w/i/icon.png",
                    false
                ),
                ("cover", "https://example.com/c.jpg", true),
            ]
        );
        assert_eq!(found[0].name.as_deref(), Some("spec sheet.pdf"));
        assert_eq!(
            found[0].expiry_time.as_deref(),
            Some("2026-01-01T01:00:00.000Z")
        );
        assert_eq!(display_name(None, &found[0].key), "spec sheet.pdf");
    }

    #[test]
    fn media_blocks_hold_one_file_and_other_blocks_none() {
        let mut inner = hosted("/w/b/photo.jpg", "x");
        inner["caption"] = json!([]);
        let image = json!({ "object": "block", "type": "image", "image": inner });
        assert_eq!(refs(Holder::Block, &image).len(), 1);
        assert_eq!(refs(Holder::Block, &image)[0].location, "block");
        let callout =
            json!({ "type": "callout", "callout": { "icon": hosted("/w/c/i.png", "y") } });
        assert!(refs(Holder::Block, &callout).is_empty());
        let emoji = json!({ "icon": { "type": "emoji", "emoji": "💡" }, "cover": null });
        assert!(refs(Holder::Database, &emoji).is_empty());
        let upload = json!({ "icon": { "type": "file_upload", "file_upload": { "id": "x" } } });
        assert!(refs(Holder::DataSource, &upload).is_empty());
    }

    #[test]
    fn re_signing_changes_neither_keys_nor_the_unsigned_form() {
        let a = json!({ "id": "p", "cover": hosted("/w/c/a.png", "one") });
        let mut b = json!({ "id": "p", "cover": hosted("/w/c/a.png", "two") });
        b["cover"]["file"]["expiry_time"] = json!("2026-01-01T02:00:00.000Z");
        assert_ne!(a, b);
        assert_eq!(unsigned(&a), unsigned(&b));
        assert_eq!(refs(Holder::Page, &a)[0].key, refs(Holder::Page, &b)[0].key);
        let c = json!({ "id": "p", "cover": hosted("/w/c/other.png", "one") });
        assert_ne!(unsigned(&a), unsigned(&c), "another file is a change");
        let external =
            json!({ "type": "external", "external": { "url": "https://e.com/x?v=1#top" } });
        assert_eq!(
            unsigned(&external),
            external,
            "external URLs are kept whole"
        );
        let page = json!({ "cover": external });
        assert_eq!(refs(Holder::Page, &page)[0].key, "https://e.com/x?v=1");
    }
}
