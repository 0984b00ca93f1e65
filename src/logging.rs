//! Logging setup: structured `tracing` to the journal under systemd, else to stderr.
//!
//! Invariant: set up once, before anything logs; no secret is ever a field value.

use std::io::IsTerminal;

use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// The filter from `RUST_LOG` (which wins) or `filter`, with the noisy crates quietened.
fn env_filter(filter: &str) -> EnvFilter {
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_string());
    // The scheduler logs every tick at INFO on its own.
    let directives = format!("{base},tokio_cron_scheduler=warn,hyper=warn,reqwest=warn");
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber. `RUST_LOG` wins over `filter`.
pub fn init(filter: &str) {
    let env_filter = env_filter(filter);
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

/// Installs the subscriber of `notion-mirror demo`: everything `filter` lets through goes
/// to the file at `path` (the daemon's and the simulator's logs), and only warnings and
/// errors reach stderr, so the terminal shows the demo's own story. Falls back to
/// [`init`] when the file cannot be created.
pub fn init_to_file(filter: &str, path: &std::path::Path) {
    let file = match std::fs::File::create(path) {
        Ok(file) => file,
        Err(e) => {
            init(filter);
            tracing::warn!(path = %path.display(), error = %e, "cannot create the log file: logging to stderr");
            return;
        }
    };
    let to_file = tracing_subscriber::fmt::layer()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_target(false)
        .with_filter(env_filter(filter));
    let to_terminal = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(tracing_subscriber::filter::LevelFilter::WARN);
    let _ = tracing_subscriber::registry()
        .with(to_file)
        .with(to_terminal)
        .try_init();
}
