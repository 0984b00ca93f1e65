//! Typed Notion calls: one method per endpoint the mirror uses.
//!
//! Invariant: ids passed in are lowercase dashed UUIDs; property ids are passed through
//! as the API gave them (already URL-encoded, never encoded twice).

use serde_json::Value;

use super::client::Client;
use super::error::NotionError;
use super::paginate::Paginator;

impl Client {
    /// `GET /v1/pages/{id}`.
    pub async fn retrieve_page(&self, id: &str) -> Result<Value, NotionError> {
        self.get(&format!("/v1/pages/{id}"), &[]).await
    }

    /// `GET /v1/databases/{id}` (the container: title, parent, `data_sources`).
    pub async fn retrieve_database(&self, id: &str) -> Result<Value, NotionError> {
        self.get(&format!("/v1/databases/{id}"), &[]).await
    }

    /// `GET /v1/data_sources/{id}` (with the property schema).
    pub async fn retrieve_data_source(&self, id: &str) -> Result<Value, NotionError> {
        self.get(&format!("/v1/data_sources/{id}"), &[]).await
    }

    /// `GET /v1/blocks/{id}`.
    pub async fn retrieve_block(&self, id: &str) -> Result<Value, NotionError> {
        self.get(&format!("/v1/blocks/{id}"), &[]).await
    }

    /// `GET /v1/comments/{id}`.
    pub async fn retrieve_comment(&self, id: &str) -> Result<Value, NotionError> {
        self.get(&format!("/v1/comments/{id}"), &[]).await
    }

    /// `GET /v1/users/me`: the integration's bot; proves the token still works.
    pub async fn users_me(&self) -> Result<Value, NotionError> {
        self.get("/v1/users/me", &[]).await
    }

    /// `GET /v1/views/{id}`: one database view.
    pub async fn retrieve_view(&self, id: &str) -> Result<Value, NotionError> {
        self.get(&format!("/v1/views/{id}"), &[]).await
    }

    /// `GET /v1/views?database_id={id}`, paginated: references to a database's views.
    pub fn list_views(&self, database_id: &str) -> Paginator {
        Paginator::get(
            self,
            "/v1/views",
            vec![("database_id", database_id.to_string())],
        )
    }

    /// `GET /v1/users`, paginated.
    pub fn list_users(&self) -> Paginator {
        Paginator::get(self, "/v1/users", Vec::new())
    }

    /// `GET /v1/blocks/{id}/children`, paginated (one level).
    pub fn block_children(&self, id: &str) -> Paginator {
        Paginator::get(self, format!("/v1/blocks/{id}/children"), Vec::new())
    }

    /// `GET /v1/comments?block_id={id}`: open comments of a page (page-level discussions
    /// only) or of a block.
    pub fn list_comments(&self, block_id: &str) -> Paginator {
        Paginator::get(
            self,
            "/v1/comments",
            vec![("block_id", block_id.to_string())],
        )
    }

    /// `GET /v1/pages/{page_id}/properties/{property_id}`, paginated for list types.
    pub fn property_items(&self, page_id: &str, property_id: &str) -> Paginator {
        Paginator::get(
            self,
            format!("/v1/pages/{page_id}/properties/{property_id}"),
            Vec::new(),
        )
    }

    /// `POST /v1/search` with `body` (filter, sort, query). On a version whose lists show
    /// only the title property unless asked (2026-12-01) it asks for `title`: the only
    /// property of standalone pages, which are all the mirror writes from search results
    /// (rows come from their data source's query).
    pub fn search(&self, body: Value) -> Paginator {
        if self.version().lists_title_only() {
            return Paginator::post_properties(self, "/v1/search", body, &["title".into()]);
        }
        Paginator::post(self, "/v1/search", body)
    }

    /// `POST /v1/data_sources/{id}/query` asking for `properties` (raw ids) with
    /// `filter_properties` — every property of the schema, on a version whose lists show
    /// only the title otherwise (2026-12-01) — split over several requests per page when
    /// the list is long.
    pub fn query_properties(
        &self,
        data_source_id: &str,
        body: Value,
        properties: &[String],
    ) -> Paginator {
        Paginator::post_properties(
            self,
            format!("/v1/data_sources/{data_source_id}/query"),
            body,
            properties,
        )
    }

    /// `POST /v1/data_sources/{id}/query` with `body` (filter, sorts).
    pub fn query(&self, data_source_id: &str, body: Value) -> Paginator {
        Paginator::post(
            self,
            format!("/v1/data_sources/{data_source_id}/query"),
            body,
        )
    }
}
