//! The only door to the Notion API (file downloads go to the file host, see `files`): the
//! REST client (`client`), the shared rate limit (`limiter`), retry timing (`backoff`),
//! cursor pagination (`paginate`), typed calls (`api`), errors (`error`) and the API
//! versions spoken (`version`).
//!
//! Invariant: every Notion request of the process goes through one [`Client`] (clones share
//! its limiter, so the whole process stays within one rate budget).

pub mod api;
pub mod backoff;
pub mod client;
pub mod error;
pub mod limiter;
pub mod paginate;
pub mod version;

pub use client::{Client, ClientConfig};
pub use error::NotionError;
pub use limiter::Priority;
pub use paginate::{ListPage, Paginator};
pub use version::NotionVersion;
