//! Webhook ingress: the HTTP server (`server`), its endpoints (`handlers`), connection
//! admission and deadlines (`conn`), process limits it is sized by (`limits`), signature
//! checks (`signature`), event parsing and mapping to work (`events`), durable ingest
//! (`ingest`) and the verification-token state (`tokens`).
//!
//! Invariant: everything here treats request bodies as untrusted input: verified, bounded,
//! parsed defensively, and only ids and event types steer work. Clients are untrusted too:
//! no connection outlives its deadlines and connections never exhaust the process's file
//! descriptors.

pub mod conn;
pub mod events;
pub mod handlers;
pub mod ingest;
pub mod limits;
pub mod server;
pub mod signature;
pub mod tokens;
