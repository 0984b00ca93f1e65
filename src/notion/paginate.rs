//! Cursor pagination exactly as Notion does it: `page_size` 100, `start_cursor` from the
//! previous `next_cursor` while `has_more` (query string for GET, JSON body for POST).
//!
//! Invariant: a paginator yields each page of a list once, in order, and stops at the
//! first page with `has_more: false`; `request_status: incomplete` (the 10,000-row cap of
//! a data source query) is reported, never silently treated as the end of the data.

use serde_json::{json, Value};

use super::client::Client;
use super::error::NotionError;

/// One page of a list answer.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub results: Vec<Value>,
    /// `request_status.type == "incomplete"`: the query hit Notion's row cap.
    pub incomplete: bool,
    /// The envelope without `results` (`property_item`, `type`, ...).
    pub envelope: Value,
}

enum Request {
    Get {
        path: String,
        query: Vec<(&'static str, String)>,
    },
    Post {
        path: String,
        body: Value,
        /// Query strings of one request each for the same page of results (several when a
        /// `filter_properties` list is split); properties of the answers are merged.
        queries: Vec<Vec<(&'static str, String)>>,
    },
}

/// Walks a paginated list one page at a time (memory stays at one page).
pub struct Paginator {
    client: Client,
    request: Request,
    cursor: Option<String>,
    finished: bool,
}

impl Paginator {
    /// A GET list (`/v1/blocks/{id}/children`, `/v1/comments`, `/v1/users`, property items).
    pub fn get(
        client: &Client,
        path: impl Into<String>,
        query: Vec<(&'static str, String)>,
    ) -> Self {
        Paginator {
            client: client.clone(),
            request: Request::Get {
                path: path.into(),
                query,
            },
            cursor: None,
            finished: false,
        }
    }

    /// A POST list (`/v1/search`, `/v1/data_sources/{id}/query`); `body` is the filter/sort.
    pub fn post(client: &Client, path: impl Into<String>, body: Value) -> Self {
        Self::post_split(client, path, body, Vec::new())
    }

    /// A POST list asking for `properties` (`filter_properties`, each a raw property id),
    /// split over several requests per page of results when the list is longer than the
    /// client's budget: each request names a share of them, and the answers' properties
    /// are merged row by row (a row missing from one answer stays without that share; the
    /// caller's completeness check catches it).
    pub fn post_properties(
        client: &Client,
        path: impl Into<String>,
        body: Value,
        properties: &[String],
    ) -> Self {
        let chunks = split_properties(properties, client.filter_properties_budget());
        Self::post_split(client, path, body, chunks)
    }

    fn post_split(
        client: &Client,
        path: impl Into<String>,
        body: Value,
        queries: Vec<Vec<(&'static str, String)>>,
    ) -> Self {
        Paginator {
            client: client.clone(),
            request: Request::Post {
                path: path.into(),
                body,
                queries,
            },
            cursor: None,
            finished: false,
        }
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<ListPage>, NotionError> {
        if self.finished {
            return Ok(None);
        }
        let answer = match &self.request {
            Request::Get { path, query } => {
                let mut query = query.clone();
                query.push(("page_size", "100".into()));
                if let Some(cursor) = &self.cursor {
                    query.push(("start_cursor", cursor.clone()));
                }
                self.client.get(path, &query).await?
            }
            Request::Post {
                path,
                body,
                queries,
            } => {
                let mut body = body.clone();
                if let Some(map) = body.as_object_mut() {
                    map.insert("page_size".into(), json!(100));
                    if let Some(cursor) = &self.cursor {
                        map.insert("start_cursor".into(), json!(cursor));
                    }
                }
                let (first, rest) = match queries.split_first() {
                    Some((first, rest)) => (first.as_slice(), rest),
                    None => (&[][..], &[][..]),
                };
                let mut answer = self.client.post_query(path, first, &body).await?;
                for query in rest {
                    let more = self.client.post_query(path, query, &body).await?;
                    merge_properties(&mut answer, &more);
                }
                answer
            }
        };
        let mut answer = answer;
        let results = match answer.get_mut("results").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(NotionError::Protocol(
                    "a list answer without a `results` array".into(),
                ))
            }
        };
        let has_more = answer
            .get("has_more")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let next = answer
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        let incomplete = answer
            .pointer("/request_status/type")
            .and_then(Value::as_str)
            == Some("incomplete");
        match (has_more, next) {
            (true, Some(cursor)) if Some(&cursor) != self.cursor.as_ref() => {
                self.cursor = Some(cursor)
            }
            (true, _) => {
                return Err(NotionError::Protocol(
                    "has_more without a new next_cursor".into(),
                ))
            }
            (false, _) => self.finished = true,
        }
        if let Some(map) = answer.as_object_mut() {
            map.remove("results");
        }
        Ok(Some(ListPage {
            results,
            incomplete,
            envelope: answer,
        }))
    }

    /// Every item of the list.
    pub async fn collect_all(mut self) -> Result<Vec<Value>, NotionError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page.results);
        }
        Ok(all)
    }
}

/// Splits `properties` into query strings whose `filter_properties` part stays within
/// `budget` bytes (URL-encoded); always at least one (possibly empty) query.
pub fn split_properties(properties: &[String], budget: usize) -> Vec<Vec<(&'static str, String)>> {
    let encoded_len = |s: &str| -> usize {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    1
                } else {
                    3
                }
            })
            .sum::<usize>()
            + "filter_properties=&".len()
    };
    let mut out: Vec<Vec<(&'static str, String)>> = Vec::new();
    let mut current: Vec<(&'static str, String)> = Vec::new();
    let mut used = 0;
    for p in properties {
        let n = encoded_len(p);
        if !current.is_empty() && used + n > budget {
            out.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(("filter_properties", p.clone()));
        used += n;
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

/// Adds the properties of `more`'s results to the same rows (by id) of `answer`.
fn merge_properties(answer: &mut Value, more: &Value) {
    let Some(extra) = more.get("results").and_then(Value::as_array) else {
        return;
    };
    let Some(rows) = answer.get_mut("results").and_then(Value::as_array_mut) else {
        return;
    };
    for row in rows.iter_mut() {
        let id = row.get("id").cloned();
        let Some(other) = extra.iter().find(|o| o.get("id") == id.as_ref()) else {
            continue;
        };
        let (Some(props), Some(add)) = (
            row.get_mut("properties").and_then(Value::as_object_mut),
            other.get("properties").and_then(Value::as_object),
        ) else {
            continue;
        };
        for (k, v) in add {
            props.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_property_lists_split_within_the_budget_and_merge_back() {
        let ids: Vec<String> = (0..10).map(|i| format!("p:{i}")).collect();
        // "filter_properties=&" (19) + "p%3A0" (5) = 24 bytes each.
        let chunks = split_properties(&ids, 50);
        assert_eq!(chunks.len(), 5);
        assert!(chunks.iter().all(|c| c.len() == 2));
        assert_eq!(split_properties(&ids, 10_000).len(), 1);
        assert_eq!(split_properties(&[], 10).len(), 1);
        let mut a = json!({"results": [{"id": "r", "properties": {"A": 1}}]});
        let b = json!({"results": [{"id": "r", "properties": {"B": 2}}, {"id": "x", "properties": {}}]});
        merge_properties(&mut a, &b);
        assert_eq!(a["results"][0]["properties"], json!({"A": 1, "B": 2}));
    }
}
