//! The durable work queue: one row per object (`kind`, `id`) in the mirror database,
//! holding the union of reasons to refetch it, when it is due, and its retry state.
//!
//! Invariants:
//! - SQLite holds the work; in-memory channels only wake workers ([`wake`]). Losing a
//!   wake-up delays work, never loses it; a crash (`kill -9`) loses nothing committed.
//! - Coalescing: signals for one object merge into its row; the earliest due time and the
//!   most urgent priority win.
//! - One worker per object: a claimed row is `running`; a signal arriving meanwhile is kept
//!   in `next_reasons` and the object runs once more afterwards.
//! - Failures back off (the next attempt time is in the row, not in a sleeping task); after
//!   `max_attempts` the row is parked as `failed` with its error until `notion-mirror retry`
//!   (or a new signal for the object) puts it back.
//! - Webhook work is never starved by sweep work: a claim gives sweep rows at most
//!   `sweep_slots` of the pool.
//! - Every function in [`sql`] runs on the writer's connection (see `mirror::store`), so
//!   each read-modify-write is atomic.
//!
//! Files: this one (types and reasons), `sql.rs` (the statements), `wake.rs` (wake-ups).

mod sql;
#[cfg(test)]
mod tests;
mod wake;

pub use sql::*;
pub use wake::Wake;

/// Reasons to refetch an object (a bit set in `queue.reasons`).
pub mod reason {
    /// Refetch the object itself (page properties, database, data source, comment).
    pub const PROPERTIES: u32 = 1;
    /// Refetch a page's whole block tree (comments are [`COMMENTS`]).
    pub const CONTENT: u32 = 1 << 1;
    /// Refetch only the blocks listed in the row (`updated_blocks` of a webhook).
    pub const BLOCKS: u32 = 1 << 2;
    /// List a page's comments (page-level, and per block unless `comments.scan_blocks` is
    /// off).
    pub const COMMENTS: u32 = 1 << 3;
    /// Data source: retrieve the schema and rebuild its typed view (rows are re-queried
    /// when the schema change alters row values).
    pub const SCHEMA: u32 = 1 << 4;
    /// Data source: query rows edited since its watermark.
    pub const ROWS_SINCE: u32 = 1 << 5;
    /// Data source: query every row.
    pub const ROWS_ALL: u32 = 1 << 6;
    /// Confirm the object still exists with a direct GET (sweep found it absent).
    pub const VERIFY: u32 = 1 << 7;
    /// Trash state changed (deleted/undeleted events).
    pub const TRASH: u32 = 1 << 8;
    /// Database: refetch each of its data sources too.
    pub const DATA_SOURCES: u32 = 1 << 9;
    /// Page: refetch the whole tree only if, when the item runs, the page's
    /// `last_edited_time` is still newer than what its tree and webhook events explain
    /// (an incremental sweep's check; a webhook in flight usually explains it first).
    pub const CONTENT_IF_DUE: u32 = 1 << 10;
    /// It was just created: a page (`page.created`) has no comments to list yet; a
    /// database (`database.created`) has its views listed.
    pub const CREATED: u32 = 1 << 11;
    /// Page: `page.content_updated` without block ids: a title edit when the title
    /// changed, otherwise an unknown content change (whole tree).
    pub const TITLE_OR_CONTENT: u32 = 1 << 12;
    /// Data source: re-query its rows related to the pages in `blocks` (their rollups read
    /// a property of those pages that changed, which moves no timestamp and sends no
    /// event); with `blocks` emptied by overflow, every row.
    pub const ROLLUPS: u32 = 1 << 13;

    const NAMES: &[(u32, &str)] = &[
        (PROPERTIES, "properties"),
        (CONTENT, "content"),
        (BLOCKS, "blocks"),
        (COMMENTS, "comments"),
        (SCHEMA, "schema"),
        (ROWS_SINCE, "rows_since"),
        (ROWS_ALL, "rows_all"),
        (VERIFY, "verify"),
        (TRASH, "trash"),
        (DATA_SOURCES, "data_sources"),
        (CONTENT_IF_DUE, "content_if_due"),
        (CREATED, "created"),
        (TITLE_OR_CONTENT, "title_or_content"),
        (ROLLUPS, "rollups"),
    ];

    /// `"properties,content"` for logs and `status`.
    pub fn describe(bits: u32) -> String {
        NAMES
            .iter()
            .filter(|(bit, _)| bits & bit != 0)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// More block ids than this for one page and a full content refetch is cheaper.
const MAX_BLOCKS: usize = 32;

/// What kind of object a queue row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Page,
    Database,
    DataSource,
    Comment,
    /// The whole users list (id `*`).
    Users,
    /// A database view (Views API).
    View,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::Database => "database",
            Kind::DataSource => "data_source",
            Kind::Comment => "comment",
            Kind::Users => "users",
            Kind::View => "view",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "page" => Kind::Page,
            "database" => Kind::Database,
            "data_source" => Kind::DataSource,
            "comment" => Kind::Comment,
            "users" => Kind::Users,
            "view" => Kind::View,
            _ => return None,
        })
    }
}

/// Webhook work runs before sweep work.
pub const PRIORITY_WEBHOOK: i64 = 0;
pub const PRIORITY_SWEEP: i64 = 1;

/// The due time of sweep work enqueued at `now_ms`: the start of its minute. Items due at
/// the same time are claimed in id order, and ids are random UUIDs, so a sweep's work is
/// drawn as a random sample rather than in listing (creation) order. Listing order can
/// front-load the heavy pages (in the generated 2,000-page workspace the richest pages are
/// the oldest), and `sync`'s ETA from the completion rate then read 2-3x too long.
pub fn sweep_due_at(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(60_000)
}

/// A signal to refetch an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub kind: Kind,
    pub id: String,
    pub reasons: u32,
    /// Block ids to refetch (with [`reason::BLOCKS`]).
    pub blocks: Vec<String>,
    /// A routing hint (the page of a comment).
    pub hint: Option<String>,
    pub priority: i64,
    /// When the work becomes due (unix ms).
    pub due_at: i64,
    /// Sweep semantics: merge into pending work, but never make a run that already covers
    /// these reasons run once more, and never revive parked work (only a webhook or
    /// `notion-mirror retry` does that).
    pub if_idle: bool,
    /// The webhook event's `timestamp` (what a successful run explains).
    pub signalled_at: Option<String>,
    /// The sweep (`sync_runs.id`) this work belongs to.
    pub sweep_run: Option<i64>,
}

impl Signal {
    pub fn new(kind: Kind, id: impl Into<String>, reasons: u32, due_at: i64) -> Self {
        Signal {
            kind,
            id: id.into(),
            reasons,
            blocks: Vec::new(),
            hint: None,
            priority: PRIORITY_WEBHOOK,
            due_at,
            if_idle: false,
            signalled_at: None,
            sweep_run: None,
        }
    }
}

/// A claimed row, handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub kind: Kind,
    pub id: String,
    pub reasons: u32,
    pub blocks: Vec<String>,
    pub hint: Option<String>,
    pub priority: i64,
    /// Failed attempts so far (0 on the first run).
    pub attempts: u32,
    pub due_at: i64,
    pub claimed_at: i64,
    /// The newest webhook event timestamp merged into the row when it was claimed.
    pub signalled_at: Option<String>,
    /// The sweep whose work the row carried when it was claimed.
    pub sweep_run: Option<i64>,
}

impl WorkItem {
    /// Webhook-driven work (high priority), as opposed to a sweep's.
    pub fn from_webhook(&self) -> bool {
        self.priority == PRIORITY_WEBHOOK
    }
}

/// How a worker finished an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Try again at `at` (unix ms).
    RetryAt {
        at: i64,
        error: String,
    },
    /// Give up until an operator (or a new signal) requeues it.
    Park {
        error: String,
    },
}

/// Queue figures for metrics and `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Depth {
    pub pending: u64,
    pub running: u64,
    pub failed: u64,
    /// The due time of the oldest due pending item (unix ms).
    pub oldest_due: Option<i64>,
    /// Pending or running items at sweep priority.
    pub sweep_work: u64,
}

/// Unix ms now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Unix ms as the mirror's ISO-8601 text.
pub fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
