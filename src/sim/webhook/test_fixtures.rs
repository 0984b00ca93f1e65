//! Raw events for the sender's unit tests (aggregation and delivery share them).
//!
//! Invariant: test-only; every event is for the same page entity.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use crate::sim::events::RawEvent;

pub(super) const PAGE: &str = "153104cd-477e-809d-8dc4-ff2d96ae3090";

/// A raw page event at second `second` of a fixed minute, authored by `author`.
pub(super) fn raw(event_type: &str, second: u32, author: &str, data: Value) -> RawEvent {
    RawEvent {
        event_type: event_type.to_string(),
        entity_type: "page".to_string(),
        entity_id: PAGE.to_string(),
        data,
        at: Utc.with_ymd_and_hms(2024, 12, 5, 23, 55, second).unwrap(),
        authors: vec![(author.to_string(), "person".to_string())],
    }
}

/// A `data.parent` naming page `id`.
pub(super) fn parent(id: &str) -> Value {
    json!({ "id": id, "type": "page" })
}
