//! The command line (docs/reference/cli.md): subcommands, their flags, and the environment
//! variables each flag falls back to. Flags > environment > config file > defaults.
//!
//! Invariant: no secret is accepted as a flag (flags show up in `ps`); tokens come from
//! the environment, a systemd credential or a file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// Keeps a local SQLite mirror of a Notion workspace, driven by webhooks and a
/// reconciliation poller.
#[derive(Debug, Parser)]
#[command(name = "notion-mirror", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (e.g. `info`, `debug`, `notion_mirror=debug`); RUST_LOG also works.
    #[arg(long, global = true, env = "NOTION_MIRROR_LOG", default_value = "info")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

/// Secrets and systemd variables, which are read from the environment only.
const ENV_HELP: &str = "Environment (secrets are never flags):
  NOTION_TOKEN              the integration's secret (ntn_…); required
  $CREDENTIALS_DIRECTORY/notion-token
                            used instead under systemd (LoadCredential=notion-token:…)
  NOTION_WEBHOOK_TOKEN      the webhook verification token, when captured elsewhere
  STATE_DIRECTORY           under systemd the mirror defaults to $STATE_DIRECTORY/mirror.db
  RUST_LOG                  log filter, overrides --log

Config file keys (TOML, lower precedence than flags and environment) are listed in docs/reference/config.md.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: webhook server, queue workers, reconciliation sweeps.
    ///
    /// Needs NOTION_TOKEN (or a systemd credential `notion-token`). Three schedules keep
    /// the mirror exact between webhooks: the incremental sweep (every 5 minutes; 1 +
    /// data sources requests when nothing changed), the presence sweep (hourly; about
    /// pages/100 + rows/100 requests: notices unshared and deleted objects) and the full
    /// sweep (daily; also re-lists every page's comments). SIGHUP (or `notion-mirror
    /// resync`) refetches everything regardless of timestamps — the cost of a cold sync —
    /// and heals a mirror edited by hand; webhook work keeps priority meanwhile.
    /// SIGTERM/SIGINT stop within seconds: unfinished work stays queued. Notifies systemd
    /// when run as Type=notify. With an empty mirror it starts with a full sweep.
    #[command(after_long_help = ENV_HELP)]
    Run(RunArgs),
    /// Run one full sync in the foreground, then exit (0 when the mirror is complete).
    ///
    /// Re-running is incremental: unchanged pages keep their content without refetching.
    /// Ctrl-C stops cleanly; the next run resumes.
    #[command(after_long_help = ENV_HELP)]
    Sync(SyncArgs),
    /// Ask the running daemon for a full resync (like `kill -HUP` / `systemctl reload`).
    ///
    /// The daemon refetches every object and its content regardless of timestamps (the
    /// cost of a cold sync: about an hour for 2,000 pages at 3 requests/s), so the mirror
    /// equals Notion afterwards even where rows were deleted or edited by hand. The mirror
    /// stays readable and webhook work keeps priority meanwhile.
    Resync(DbArgs),
    /// Show what is in the mirror: counts, sweeps, queue, parked failures, webhooks.
    ///
    /// Read-only; safe while the daemon runs.
    Status(StatusArgs),
    /// Requeue work items parked as failed (see `status`).
    Retry(DbArgs),
    /// Write a consistent copy of the mirror, safe while the daemon runs.
    ///
    /// Uses SQLite's online backup API (one read transaction: the daemon keeps writing
    /// meanwhile), checks the copy (`PRAGMA quick_check`), writes it 0600 under a temporary
    /// name beside DEST, fsyncs and renames it. DEST is a file (replaced atomically) or a
    /// directory (gets `mirror-<UTC time>.db[.gz]`). To restore: stop the daemon, put the
    /// copy in place as `mirror.db` (gunzip first), remove any old `mirror.db-wal` and
    /// `mirror.db-shm`, start it: it resumes (docs/replication.md).
    Backup(BackupArgs),
    /// Print a page (or a database's index) of the mirror as Markdown, with no request to
    /// Notion.
    ///
    /// PAGE is an id (dashed or not), a Notion URL, or a title (exact, else
    /// case-insensitive). A title shared by several pages exits 2 and lists them. Links to
    /// other pages point at their Notion URLs. Rendering rules: docs/markdown.md.
    Cat(CatArgs),
    /// Write the mirror as a tree of Markdown files, with a CSV per data source, with no
    /// request to Notion.
    ///
    /// One `.md` per page at `<title-slug>-<8 hex of id>.md`, child pages in a folder of the
    /// same name; a database is an index `.md` with a table of its rows plus one `.csv` per
    /// data source. Incremental: a second run rewrites only files whose content changed,
    /// removes the files of pages that left the mirror, and prints what it wrote (state in
    /// DIR/.notion-mirror-export.json). Each file is written atomically (temporary file +
    /// rename). Layout and rules: docs/markdown.md.
    Export(ExportArgs),
    /// Print the change feed: every change the mirror wrote, oldest first.
    ///
    /// One JSON object per line (seq, at, object, id, page_id, kind, fields, before,
    /// after, edited_time, edited_by, cause), or one readable line per change on a
    /// terminal. With --follow, keeps printing changes as the daemon writes them (like
    /// `journalctl -f`; Ctrl-C stops). Read-only; safe while the daemon runs. The feed's
    /// contract: docs/history.md.
    Changes(ChangesArgs),
    /// Watch the mirror follow a simulated workspace: starts the built-in Notion
    /// simulator, runs the daemon against it with webhooks wired, makes scripted edits and
    /// shows each one arriving in SQLite. No Notion account, no network.
    Demo(DemoArgs),
    /// Serve a simulated Notion API (and optionally send it webhooks) for experiments.
    Sim(crate::sim::cli::SimArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the generated workspace
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the daemon and the simulator running after the script (Ctrl-C stops them)
    #[arg(long)]
    pub keep: bool,
    /// Put the mirror in this directory [default: a temporary directory, removed after]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Settings shared by the commands that talk to Notion.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// TOML config file [default: ~/.config/notion-mirror/config.toml if it exists]
    #[arg(long, env = "NOTION_MIRROR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The mirror file [default: $STATE_DIRECTORY/mirror.db under systemd, else
    /// ~/.local/share/notion-mirror/mirror.db]
    #[arg(long, env = "NOTION_MIRROR_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Notion API base URL [default: https://api.notion.com]
    #[arg(long, env = "NOTION_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Notion-Version to speak: 2025-09-03, 2026-03-11 or 2026-12-01 [default: 2026-03-11]
    #[arg(long, env = "NOTION_MIRROR_NOTION_VERSION", value_name = "VERSION")]
    pub notion_version: Option<String>,
    /// Notion requests per second, on average, for the whole process [default: 3]
    #[arg(long, env = "NOTION_MIRROR_RATE", value_name = "N")]
    pub rate: Option<f64>,
    /// Read the Notion token from this file (instead of NOTION_TOKEN)
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Queue workers (objects fetched at once) [default: 4]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// List only page-level comments, not each block's (one request per block saved;
    /// inline discussions are then not mirrored)
    #[arg(long)]
    pub no_block_comments: bool,
    /// Per-request timeout in seconds [default: 60]
    #[arg(long, value_name = "SECS")]
    pub request_timeout: Option<u64>,
    /// Who checkpoints the WAL: auto (Litestream when its metadata directory is beside
    /// the mirror, else the daemon), daemon, or litestream [default: auto]
    #[arg(long, env = "NOTION_MIRROR_CHECKPOINT", value_name = "MODE")]
    pub checkpoint: Option<String>,
    /// Do not archive Notion-hosted files (their URLs expire an hour after each read)
    #[arg(long)]
    pub no_files: bool,
    /// Where archived files live [default: `files/` beside the mirror]
    #[arg(long, env = "NOTION_MIRROR_FILES", value_name = "DIR")]
    pub files_dir: Option<PathBuf>,
    /// Larger files are recorded as too_large and not downloaded [default: 100]
    #[arg(long, env = "NOTION_MIRROR_FILES_MAX_MB", value_name = "MB")]
    pub files_max_mb: Option<u64>,
    /// Archive at most this many MB in all; further files wait [default: no cap]
    #[arg(long, env = "NOTION_MIRROR_FILES_MAX_TOTAL_MB", value_name = "MB")]
    pub files_max_total_mb: Option<u64>,
    /// Keep the change feed this many days: older changes are pruned by the daily full
    /// sweep (once every outbound destination has them) [default: forever]
    #[arg(long, env = "NOTION_MIRROR_HISTORY_DAYS", value_name = "DAYS")]
    pub history_days: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address for /webhook, /healthz and /metrics [default: 127.0.0.1:8787]
    #[arg(long, env = "NOTION_MIRROR_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Polling only: no /webhook endpoint; incremental sweeps keep the mirror current
    #[arg(long)]
    pub no_webhooks: bool,
    /// Incremental sweep schedule, cron with seconds [default: "0 */5 * * * *"]
    #[arg(long, env = "NOTION_MIRROR_INCREMENTAL", value_name = "CRON")]
    pub incremental: Option<String>,
    /// Presence sweep schedule (absences, unverified trees), cron with seconds
    /// [default: "0 17 * * * *", hourly]
    #[arg(long, env = "NOTION_MIRROR_PRESENCE", value_name = "CRON")]
    pub presence: Option<String>,
    /// Full sweep schedule, cron with seconds [default: "0 30 3 * * *"]
    #[arg(long, env = "NOTION_MIRROR_FULL", value_name = "CRON")]
    pub full: Option<String>,
    /// Webhook signals for one object wait this long to coalesce [default: 1000]
    #[arg(long, value_name = "MS")]
    pub debounce_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// No progress bar, even on a terminal
    #[arg(long)]
    pub quiet: bool,
    /// Refetch everything regardless of timestamps (heals a mirror edited by hand; costs
    /// as much as a cold sync), instead of only what changed
    #[arg(long)]
    pub resync: bool,
    /// Record no change feed for this sync (no `created` rows for a cold sync; what it
    /// changes is not in `changes`)
    #[arg(long)]
    pub no_history: bool,
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only changes after this seq [default: from the first; with --follow, only new ones]
    #[arg(long, value_name = "SEQ")]
    pub since: Option<i64>,
    /// Keep printing changes as they are written (Ctrl-C stops)
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only this kind of object: page, database, data_source, block, comment, user, view
    #[arg(long, value_name = "OBJECT")]
    pub object: Option<String>,
    /// Only changes of this object, or of what belongs to this page (its blocks and
    /// comments)
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// JSON lines even on a terminal
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// TOML config file
    #[arg(long, env = "NOTION_MIRROR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The mirror file (the daemon's pid file sits beside it)
    #[arg(long, env = "NOTION_MIRROR_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Where the copy goes: a file, or a directory for a time-stamped file
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
    /// gzip the copy (mirrors compress about 4:1; `gunzip` restores it)
    #[arg(long)]
    pub compress: bool,
}

#[derive(Debug, Args)]
pub struct CatArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The page: an id, a Notion URL, or a unique title
    #[arg(value_name = "PAGE")]
    pub page: String,
    /// Leave out the YAML front matter (id, url, title, times, row properties)
    #[arg(long)]
    pub no_front_matter: bool,
    /// Inline child pages and child databases this many levels deep instead of linking
    /// to them
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub depth: usize,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The export directory (created if missing; only files this command wrote are ever
    /// removed from it)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Export only this page or database and what is under it (id, URL or title)
    #[arg(long, value_name = "PAGE")]
    pub root: Option<String>,
    /// Write nothing; exit 1 when DIR is stale (the mirror changed since the last export)
    #[arg(long)]
    pub check: bool,
    /// Print only the summary line, not every file written or removed
    #[arg(long)]
    pub quiet: bool,
    /// Where archived attachments live [default: `files/` beside the mirror]; stored
    /// attachments are copied beside their pages, others keep their URL
    #[arg(long, env = "NOTION_MIRROR_FILES", value_name = "DIR")]
    pub files_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
    /// Print the stored webhook verification token (for Notion's Verify dialog)
    #[arg(long)]
    pub show_token: bool,
    /// Make the pending verification token the active one (after re-creating the
    /// subscription)
    #[arg(long)]
    pub accept_pending_token: bool,
    /// Print the pending verification token (to check it in Notion's Verify dialog before
    /// accepting it)
    #[arg(long, conflicts_with_all = ["show_token", "accept_pending_token"])]
    pub show_pending_token: bool,
    /// Discard the pending verification token (the next one that arrives is kept instead)
    #[arg(long, conflicts_with = "accept_pending_token")]
    pub clear_pending_token: bool,
}

impl CommonArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            db: self.db.clone(),
            api_url: self.api_url.clone(),
            notion_version: self.notion_version.clone(),
            rate: self.rate,
            token_file: self.token_file.clone(),
            workers: self.workers,
            no_block_comments: self.no_block_comments,
            request_timeout_secs: self.request_timeout,
            checkpoint: self.checkpoint.clone(),
            no_files: self.no_files,
            files_dir: self.files_dir.clone(),
            files_max_mb: self.files_max_mb,
            files_max_total_mb: self.files_max_total_mb,
            history_days: self.history_days,
            ..Overrides::default()
        }
    }
}

impl SyncArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            no_history: self.no_history,
            ..self.common.overrides()
        }
    }
}

impl RunArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            no_webhooks: self.no_webhooks,
            incremental: self.incremental.clone(),
            presence: self.presence.clone(),
            full: self.full.clone(),
            debounce_ms: self.debounce_ms,
            ..self.common.overrides()
        }
    }
}

impl DbArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            db: self.db.clone(),
            ..Overrides::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
