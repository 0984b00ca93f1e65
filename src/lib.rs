//! notion-mirror keeps a local SQLite mirror of everything a Notion integration can see.
//!
//! Notion webhooks are only signals ("object X changed"); the daemon refetches the current
//! state through the REST API and writes it to SQLite. A reconciliation poller catches what
//! the signals missed. Read the modules in data-flow order:
//!
//! 1. [`webhook`] — ingress: verify the signature, store the event durably, enqueue work.
//! 2. [`queue`] — the durable, coalescing work queue (one row per object, in SQLite).
//! 3. [`notion`] — the only door to the Notion API: client, shared rate limit, retries, pagination.
//! 4. [`fetch`] — turns "refetch object X" into API calls and mirror writes.
//! 5. [`mirror`] — the SQLite store: schema, the one writer, typed views, text extraction.
//! 6. [`reconcile`] — incremental and full sweeps, watermarks, confirmed deletions.
//! 7. [`files`] — archived files: downloaded before their signed URLs expire, stored by hash.
//! 8. [`daemon`] — wiring: tasks, shutdown, signals, systemd notification.
//!
//! Around them: [`config`] (typed configuration), [`cli`] (the command line), [`status`]
//! (with the [`workspace`] users/me names at start),
//! [`resume`] (start-up after a gap or on a restored copy), [`backup`] (`notion-mirror
//! backup`), [`eta`] (time left of long syncs),
//! [`export`] (`cat` and `export`: the mirror as Markdown, offline), [`demo`], [`metrics`],
//! and [`sim`], a faithful fake Notion used by the demo and the tests.

pub mod backup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod eta;
pub mod export;
pub mod fetch;
pub mod files;
pub mod history;
pub mod ids;
pub mod logging;
pub mod metrics;
pub mod mirror;
pub mod notion;
pub mod outbound;
pub mod pidfile;
pub mod queue;
pub mod reconcile;
pub mod resume;
pub mod sim;
pub mod status;
pub mod sync;
#[cfg(test)]
mod tidy;
pub mod verify;
pub mod webhook;
pub mod worker;
pub mod workspace;
