//! `notion-mirror changes`: print the change feed — JSON lines (one change each), or one
//! human line per change on a terminal — and with `--follow` keep printing as changes are
//! written, like `journalctl -f`.
//!
//! Invariants: read-only (safe while the daemon runs); every row after the starting seq is
//! considered exactly once, in seq order; a closed pipe (`| head`) or the stop signal ends
//! the command cleanly.

use std::io::{ErrorKind, Write};
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{human, last_seq, rows_after, Filter};
use crate::mirror::{open, StoreError};

/// How often `--follow` looks for new rows.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Rows read at a time.
const PAGE: usize = 500;

/// What to print.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Print changes after this seq (default: from the first; with `--follow`, only new
    /// ones).
    pub since: Option<i64>,
    pub follow: bool,
    pub filter: Filter,
    /// JSON lines (otherwise one human line per change).
    pub json: bool,
}

/// Why printing stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// Everything asked for was printed (or `stop` fired while following).
    Done,
    /// The reader went away (EPIPE).
    ClosedPipe,
}

/// Prints the feed of the mirror at `path` to `out` until done, `stop`, or a closed pipe.
pub async fn run(
    path: &Path,
    options: &Options,
    out: &mut dyn Write,
    stop: &CancellationToken,
) -> Result<End, StoreError> {
    let conn = open::open_read_only(path)?;
    let mut cursor = match (options.since, options.follow) {
        (Some(seq), _) => seq,
        (None, true) => last_seq(&conn)?,
        (None, false) => 0,
    };
    loop {
        let rows = rows_after(&conn, cursor, i64::MAX, PAGE)?;
        let full = rows.len() == PAGE;
        for row in rows {
            cursor = row.seq;
            if !options.filter.matches(&row) {
                continue;
            }
            let line = if options.json {
                row.to_json().to_string()
            } else {
                human::line(&conn, &row)
            };
            if let Err(e) = writeln!(out, "{line}") {
                return pipe_end(e);
            }
        }
        if full {
            continue;
        }
        if let Err(e) = out.flush() {
            return pipe_end(e);
        }
        if !options.follow {
            return Ok(End::Done);
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = stop.cancelled() => return Ok(End::Done),
        }
    }
}

fn pipe_end(e: std::io::Error) -> Result<End, StoreError> {
    if e.kind() == ErrorKind::BrokenPipe {
        return Ok(End::ClosedPipe);
    }
    Err(StoreError::Io {
        path: "standard output".into(),
        what: "cannot print the change feed",
        source: e,
    })
}
