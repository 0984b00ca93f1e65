//! Typed Notion API errors; each variant says whether waiting can fix it.
//!
//! Invariant: messages never contain the token.

/// What a Notion call can end in, after the client's own retries.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NotionError {
    /// 401: the token is invalid or revoked. Fatal: nothing works until the operator acts.
    #[error("Notion rejected the token (401 unauthorized): {0}. Check NOTION_TOKEN or the credential file")]
    Unauthorized(String),
    /// 403 restricted_resource: the integration lacks a capability or access to this object.
    #[error("restricted (403): {0}")]
    Restricted(String),
    /// 404 object_not_found: deleted, or not shared with the integration (indistinguishable).
    #[error("not found (404): {0}")]
    NotFound(String),
    /// 400 validation_error and other client errors: the request itself is wrong.
    #[error("invalid request ({status} {code}): {message}")]
    Validation {
        status: u16,
        code: String,
        message: String,
    },
    /// Retries exhausted on 429/409/5xx/timeouts/resets. Requeue later.
    #[error("Notion unavailable after retries: {0}")]
    Transient(String),
    /// The API address cannot be reached at all (connection refused, DNS).
    #[error("cannot reach the Notion API at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// A 2xx answer that is not the JSON we expect.
    #[error("unexpected answer from Notion: {0}")]
    Protocol(String),
    /// The caller's shutdown token fired while the request waited.
    #[error("cancelled by shutdown")]
    Cancelled,
}

impl NotionError {
    /// True when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            NotionError::Transient(_) | NotionError::Unreachable { .. } | NotionError::Protocol(_)
        )
    }

    /// True for 404 and 403: the object is gone or out of reach (still to be confirmed with
    /// `GET /v1/users/me` before removing anything).
    pub fn is_gone(&self) -> bool {
        matches!(self, NotionError::NotFound(_) | NotionError::Restricted(_))
    }
}
