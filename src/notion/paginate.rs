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
        Paginator {
            client: client.clone(),
            request: Request::Post {
                path: path.into(),
                body,
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
            Request::Post { path, body } => {
                let mut body = body.clone();
                if let Some(map) = body.as_object_mut() {
                    map.insert("page_size".into(), json!(100));
                    if let Some(cursor) = &self.cursor {
                        map.insert("start_cursor".into(), json!(cursor));
                    }
                }
                self.client.post(path, &body).await?
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
