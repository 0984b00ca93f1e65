//! Raw change events: what a workspace mutation tells the webhook sender.
//!
//! Invariant: a `RawEvent` is emitted once per mutation effect, before aggregation; the
//! sender (see `webhook/`) aggregates, signs, delays, drops, duplicates and retries.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One change as it happened in the simulated workspace (pre-aggregation).
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    /// Notion event type, e.g. `page.properties_updated`.
    pub event_type: String,
    /// `page` | `block` | `database` | `data_source` | `comment`.
    pub entity_type: String,
    /// Lowercase dashed id of the entity.
    pub entity_id: String,
    /// The event's `data` object as Notion sends it (`parent`, `updated_blocks`,
    /// `updated_properties`, `page_id`, ...).
    pub data: Value,
    /// When the change happened (millisecond precision, not minute-rounded).
    pub at: DateTime<Utc>,
    /// Who made the change: `(user id, "person" | "bot" | "agent")`.
    pub authors: Vec<(String, String)>,
}
