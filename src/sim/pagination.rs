//! Cursor pagination exactly like Notion's [S4]: `page_size` 1..=100 (default 100), opaque
//! `start_cursor`/`next_cursor`, `has_more`, and the optional per-query row cap.
//!
//! Invariant: a cursor is the sort key of the next item (not an offset), so walking a list
//! that changes between calls never skips or repeats items that did not change.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::ApiError;

/// One component of a sort key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyPart {
    I(i64),
    S(String),
}

/// A list position: components compared in order, each ascending or descending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey(pub Vec<(KeyPart, bool)>);

impl SortKey {
    /// An ascending single-integer key (creation order, index).
    pub fn seq(n: u64) -> Self {
        SortKey(vec![(KeyPart::I(n as i64), false)])
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        for ((a, desc), (b, _)) in self.0.iter().zip(other.0.iter()) {
            let o = if *desc { b.cmp(a) } else { a.cmp(b) };
            if o != Ordering::Equal {
                return o;
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct PageReq {
    pub page_size: usize,
    pub start_cursor: Option<String>,
}

fn check_size(n: i64) -> Result<usize, ApiError> {
    if !(1..=100).contains(&n) {
        return Err(ApiError::validation(format!(
            "body failed validation: body.page_size should be ≤ `100` and ≥ `1`, instead was `{n}`."
        )));
    }
    Ok(n as usize)
}

/// `page_size` / `start_cursor` from a GET query string.
pub fn from_query(query: &[(String, String)]) -> Result<PageReq, ApiError> {
    let mut req = PageReq {
        page_size: 100,
        start_cursor: None,
    };
    for (k, v) in query {
        match k.as_str() {
            "page_size" => {
                let n: i64 = v.trim().parse().map_err(|_| {
                    ApiError::validation(format!(
                        "query failed validation: query.page_size should be a number, instead was `\"{v}\"`."
                    ))
                })?;
                req.page_size = check_size(n)?;
            }
            "start_cursor" if !v.is_empty() => req.start_cursor = Some(v.clone()),
            _ => {}
        }
    }
    Ok(req)
}

/// `page_size` / `start_cursor` from a POST JSON body.
pub fn from_body(body: &Map<String, Value>) -> Result<PageReq, ApiError> {
    let mut req = PageReq {
        page_size: 100,
        start_cursor: None,
    };
    match body.get("page_size") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let n = v.as_i64().ok_or_else(|| {
                ApiError::validation(format!(
                    "body failed validation: body.page_size should be a number, instead was `{v}`."
                ))
            })?;
            req.page_size = check_size(n)?;
        }
    }
    match body.get("start_cursor") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => req.start_cursor = Some(s.clone()),
        Some(v) => {
            return Err(ApiError::validation(format!(
                "body failed validation: body.start_cursor should be a string, instead was `{v}`."
            )))
        }
    }
    Ok(req)
}

fn checksum(s: &str) -> u32 {
    // FNV-1a: detects tampering and truncation, not an authentication code.
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// An opaque cursor for `key` in the list identified by `tag`.
pub fn encode_cursor(tag: &str, key: &SortKey) -> String {
    let payload = json!({ "t": tag, "k": key }).to_string();
    format!(
        "{}{:08x}",
        hex::encode(payload.as_bytes()),
        checksum(&payload)
    )
}

fn bad_cursor() -> ApiError {
    ApiError::validation("The start_cursor provided is invalid.")
}

/// Decodes a cursor; malformed, tampered, or belonging to another list → 400.
pub fn decode_cursor(tag: &str, cursor: &str) -> Result<SortKey, ApiError> {
    if cursor.len() < 10 || !cursor.is_ascii() {
        return Err(bad_cursor());
    }
    let (body, sum) = cursor.split_at(cursor.len() - 8);
    let bytes = hex::decode(body).map_err(|_| bad_cursor())?;
    let payload = String::from_utf8(bytes).map_err(|_| bad_cursor())?;
    if format!("{:08x}", checksum(&payload)) != sum {
        return Err(bad_cursor());
    }
    let v: Value = serde_json::from_str(&payload).map_err(|_| bad_cursor())?;
    if v.get("t").and_then(Value::as_str) != Some(tag) {
        return Err(bad_cursor());
    }
    serde_json::from_value(v.get("k").cloned().unwrap_or(Value::Null)).map_err(|_| bad_cursor())
}

/// One page of a list.
#[derive(Debug)]
pub struct Window<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
    /// True when this page reached the row cap of a list longer than the cap.
    pub incomplete: bool,
}

/// Cuts one page out of `items` (sorted ascending by key). `cap` limits how many items of
/// the whole list can ever be returned (the 10,000-row query cap) [S19].
pub fn paginate<T>(
    tag: &str,
    mut items: Vec<(SortKey, T)>,
    req: &PageReq,
    cap: Option<usize>,
) -> Result<Window<T>, ApiError> {
    let start = match &req.start_cursor {
        Some(c) => {
            let key = decode_cursor(tag, c)?;
            items.partition_point(|(k, _)| *k < key)
        }
        None => 0,
    };
    let total = items.len();
    let limit = cap.map_or(total, |c| c.min(total));
    let end = (start + req.page_size).min(limit).max(start.min(limit));
    let capped = limit < total && end >= limit;
    let has_more = !capped && end < total;
    let next_cursor = if has_more {
        items.get(end).map(|(k, _)| encode_cursor(tag, k))
    } else {
        None
    };
    let page: Vec<T> = if start >= limit {
        Vec::new()
    } else {
        items.drain(start..end).map(|(_, t)| t).collect()
    };
    Ok(Window {
        items: page,
        next_cursor,
        has_more,
        incomplete: capped,
    })
}

/// The list envelope: `{"object":"list","results","next_cursor","has_more","type","<type>":{}}`.
pub fn envelope(
    results: Vec<Value>,
    next_cursor: Option<String>,
    has_more: bool,
    ty: &str,
) -> Value {
    let mut m = Map::new();
    m.insert("object".into(), json!("list"));
    m.insert("results".into(), Value::Array(results));
    m.insert(
        "next_cursor".into(),
        next_cursor.map(Value::from).unwrap_or(Value::Null),
    );
    m.insert("has_more".into(), json!(has_more));
    m.insert("type".into(), json!(ty));
    m.insert(ty.to_string(), json!({}));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: u64) -> Vec<(SortKey, u64)> {
        (0..n).map(|i| (SortKey::seq(i * 2), i)).collect()
    }

    fn walk(n: u64, size: usize, cap: Option<usize>) -> (Vec<u64>, bool) {
        let mut req = PageReq {
            page_size: size,
            start_cursor: None,
        };
        let mut out = Vec::new();
        for _ in 0..1000 {
            let w = paginate("t", items(n), &req, cap).expect("page");
            out.extend(w.items);
            if !w.has_more {
                return (out, w.incomplete);
            }
            req.start_cursor = w.next_cursor;
        }
        panic!("did not terminate");
    }

    #[test]
    fn walks_every_item_once() {
        let (all, inc) = walk(250, 100, None);
        assert_eq!(all, (0..250).collect::<Vec<_>>());
        assert!(!inc);
        let (all, _) = walk(0, 100, None);
        assert!(all.is_empty());
    }

    #[test]
    fn cap_stops_with_incomplete() {
        let (all, inc) = walk(250, 100, Some(150));
        assert_eq!(all.len(), 150);
        assert!(inc);
        let (all, inc) = walk(150, 100, Some(150));
        assert_eq!(all.len(), 150);
        assert!(!inc);
    }

    #[test]
    fn cursor_survives_removal_of_the_next_item() {
        let req = PageReq {
            page_size: 2,
            start_cursor: None,
        };
        let w = paginate("t", items(5), &req, None).expect("page");
        let mut rest = items(5);
        rest.remove(2); // the item the cursor points at disappears
        let req = PageReq {
            page_size: 10,
            start_cursor: w.next_cursor,
        };
        let w = paginate("t", rest, &req, None).expect("page");
        assert_eq!(w.items, vec![3, 4]);
    }

    #[test]
    fn bad_cursors_are_rejected() {
        let c = encode_cursor("a", &SortKey::seq(3));
        assert!(decode_cursor("a", &c).is_ok());
        assert!(decode_cursor("b", &c).is_err());
        assert!(decode_cursor("a", "garbage").is_err());
        let mut tampered = c.clone();
        tampered.replace_range(0..2, "00");
        assert!(decode_cursor("a", &tampered).is_err());
    }

    #[test]
    fn descending_keys_sort_in_reverse() {
        let a = SortKey(vec![(KeyPart::I(1), true)]);
        let b = SortKey(vec![(KeyPart::I(2), true)]);
        assert!(b < a);
    }
}
