//! Logging setup: structured `tracing` to the journal under systemd, else to stderr.
//!
//! Invariant: set up once, before anything logs; no secret is ever a field value.

use std::io::IsTerminal;

use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` wins over `filter`.
pub fn init(filter: &str) {
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_string());
    // The scheduler logs every tick at INFO on its own.
    let directives = format!("{base},tokio_cron_scheduler=warn,hyper=warn,reqwest=warn");
    let env_filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            let _ = tracing_subscriber::registry()
                .with(env_filter)
                .with(journald)
                .try_init();
            return;
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
