//! Notion's error answers (`{"object":"error",...}`) and the simulator's mutation error.
//!
//! Invariant: every non-2xx API answer is built from an [`ApiError`], so its body always has
//! exactly `object, status, code, message, request_id` [S1].

use serde_json::{json, Value};

/// An API error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// `Retry-After` seconds (429 / 529 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "validation_error", message)
    }

    pub fn invalid_json() -> Self {
        Self::new(400, "invalid_json", "Error parsing JSON body.")
    }

    pub fn invalid_url() -> Self {
        Self::new(400, "invalid_request_url", "Invalid request URL.")
    }

    pub fn missing_version() -> Self {
        Self::new(
            400,
            "missing_version",
            "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "unauthorized", "API token is invalid.")
    }

    /// 404 with Notion's wording; `what` is `page`, `block`, `database`, `data_source`,
    /// `comment` or `user`.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            404,
            "object_not_found",
            format!(
                "Could not find {what} with ID: {id}. Make sure the relevant pages and databases are shared with your integration."
            ),
        )
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                429,
                "rate_limited",
                "You have been rate limited. Please try again in a few minutes.",
            )
        }
    }

    /// The error Notion answers with for `status` (used by fault injection) [S1].
    pub fn for_status(status: u16, what: &str, id: &str, retry_after: u64) -> Self {
        match status {
            400 => Self::validation("Injected validation error."),
            401 => Self::unauthorized(),
            403 => Self::new(
                403,
                "restricted_resource",
                "API token does not have access to this resource.",
            ),
            404 => Self::not_found(what, id),
            409 => Self::new(
                409,
                "conflict_error",
                "Conflict occurred while saving. Please try again.",
            ),
            429 => Self::rate_limited(retry_after),
            502 => Self::new(
                502,
                "bad_gateway",
                "Notion encountered an issue while attempting to complete this request. Please try again.",
            ),
            503 => Self::new(
                503,
                "service_unavailable",
                "Notion is unavailable, please try again later.",
            ),
            504 => Self::new(
                504,
                "gateway_timeout",
                "Notion timed out while attempting to complete this request. Please try again later.",
            ),
            529 => ApiError {
                retry_after: Some(retry_after.max(1)),
                ..Self::new(
                    529,
                    "service_overload",
                    "Notion is experiencing high load. Please try again later.",
                )
            },
            _ => Self::new(
                if (500..600).contains(&status) { status } else { 500 },
                "internal_server_error",
                "Unexpected error occurred.",
            ),
        }
    }

    /// The JSON body with a request id.
    pub fn body(&self, request_id: &str) -> Value {
        json!({
            "object": "error",
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
        })
    }
}

/// A mutation that cannot be applied (bad target or value).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("no such object: {0}")]
    NotFound(String),
    #[error("invalid mutation: {0}")]
    Invalid(String),
}
