//! Webhook ingress: the HTTP server (`server`), signature checks (`signature`), event
//! parsing and mapping to work (`events`), and durable ingest with the verification-token
//! state (`ingest`).
//!
//! Invariant: everything here treats request bodies as untrusted input: verified, bounded,
//! parsed defensively, and only ids and event types steer work.

pub mod events;
pub mod ingest;
pub mod server;
pub mod signature;
