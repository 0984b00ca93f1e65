//! Typed configuration: defaults, then the TOML file, then environment variables, then flags
//! (docs/reference/config.md). Parsed once, validated, passed explicitly.
//!
//! Invariant: secrets live in [`Secret`], whose `Debug`/`Display` never print the value.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::mirror::checkpoint::CheckpointMode;

mod sources;
use sources::{default_config_path, default_db_path, read_file, read_token};
pub use sources::{
    Env, FileComments, FileConfig, FileHistory, FileHttp, FileSchedule, FileWebhooks, Overrides,
};

/// A secret string (API token, webhook verification token). Prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself. Call sites are the HTTP header, the HMAC key and `--show-token`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

pub const DEFAULT_API_URL: &str = "https://api.notion.com";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_INCREMENTAL: &str = "0 */5 * * * *";
pub const DEFAULT_PRESENCE: &str = "0 17 * * * *";
pub const DEFAULT_FULL: &str = "0 30 3 * * *";

/// The daemon's and the one-shot commands' settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--token-file`, else `NOTION_TOKEN`, else `$CREDENTIALS_DIRECTORY/notion-token`, else
    /// the config file's `token_file` (flags > environment > file, like every setting).
    pub token: Option<Secret>,
    /// Why the token could not be read (an unreadable or empty token file). Reported only
    /// by [`Config::require_token`], so `status` and `retry` work without the token.
    pub token_problem: Option<String>,
    pub api_url: String,
    /// The `Notion-Version` spoken (`--notion-version`, `NOTION_MIRROR_NOTION_VERSION`,
    /// `notion_version`): 2025-09-03, 2026-03-11 (default) or 2026-12-01.
    pub notion_version: crate::notion::NotionVersion,
    /// Bytes of `filter_properties` per request before a property list is split (not
    /// configurable by users: tests lower it to exercise the split).
    pub filter_properties_budget: usize,
    pub db_path: PathBuf,
    pub listen: SocketAddr,
    /// `NOTION_WEBHOOK_TOKEN`: the verification token captured elsewhere (overrides the
    /// stored one).
    pub webhook_token: Option<Secret>,
    pub webhooks_enabled: bool,
    pub incremental_cron: String,
    /// The presence sweep (absences, unverified trees): hourly by default.
    pub presence_cron: String,
    pub full_cron: String,
    /// Notion requests per second, on average (shared by every task).
    pub rate: f64,
    /// Requests allowed at once above the average.
    pub burst: f64,
    /// Queue workers.
    pub workers: usize,
    /// Notion requests in flight at once.
    pub max_in_flight: usize,
    /// Webhook signals wait this long so bursts for one object coalesce.
    pub debounce: Duration,
    /// A failing work item is parked after this many attempts.
    pub max_attempts: u32,
    /// The first retry of a failed work item waits about this long (then doubling, up to
    /// 30 minutes).
    pub retry_base: Duration,
    pub request_timeout: Duration,
    /// List comments per block too (inline discussions); `comments.scan_blocks`.
    pub scan_block_comments: bool,
    /// The full sweep re-lists every page's comments (comments do not move
    /// `last_edited_time`, so only a listing finds ones whose webhook was lost).
    pub full_sweep_comments: bool,
    /// Incremental sweeps look back this far before the watermark.
    pub overlap: Duration,
    /// A sweep's content check waits this long for a webhook event in flight to explain a
    /// change before it fetches the tree (`schedule.event_grace_secs`).
    pub event_grace: Duration,
    /// Graceful shutdown deadline.
    pub shutdown_timeout: Duration,
    /// Finished webhook events are kept this long (`webhooks.retention_days`).
    pub event_retention: Duration,
    /// What the HTTP server allows one client (`[http]` in the config file).
    pub http: HttpLimits,
    /// Who checkpoints the mirror's WAL (`checkpoint`, `NOTION_MIRROR_CHECKPOINT`):
    /// `auto` (Litestream when its metadata directory is beside the mirror), `daemon`,
    /// or `litestream` (docs/replication.md).
    pub checkpoint: CheckpointMode,
    /// Archiving Notion-hosted files (docs/files.md).
    pub files: crate::files::FilesConfig,
    /// Record the change feed (`changes`); `sync --no-history` turns it off for that run.
    pub history: bool,
    /// Changes older than this are pruned by the daily full sweep
    /// (`NOTION_MIRROR_HISTORY_DAYS`, `[history] days`); `None`: kept forever.
    pub history_retention: Option<Duration>,
    /// Outbound webhook destinations (`[[outbound]]`, docs/history.md).
    pub outbound: Vec<crate::outbound::Destination>,
}

/// The HTTP server's limits against slow or hostile clients (see docs/threat-model.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open connections at most (lowered to half the descriptor limit at start-up); over
    /// it the oldest connection not being answered is closed to make room.
    pub max_connections: usize,
    /// A request (headers and body) must arrive completely within this long of its first
    /// byte (of the connection being accepted, for the first request).
    pub request_deadline: Duration,
    /// A keep-alive connection without a new request is closed after this long.
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 512,
            request_deadline: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
        }
    }
}

/// Configuration problems, each one line a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("cannot read the Notion token file {path}: {source}")]
    ReadToken {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
    #[error(
        "no Notion token: set NOTION_TOKEN (an internal integration secret, `ntn_...`), \
         or use a systemd credential `notion-token`, or `token_file` in the config file"
    )]
    MissingToken,
    #[error("{0}")]
    TokenUnavailable(String),
    #[error("no data directory for the mirror: set NOTION_MIRROR_DB")]
    NoDataDir,
}

impl Config {
    /// Builds the configuration: defaults < file < environment < flags.
    pub fn load(over: &Overrides) -> Result<Config, ConfigError> {
        let file = match &over.config {
            Some(path) => read_file(path)?,
            None => match default_config_path().filter(|p| p.exists()) {
                Some(path) => read_file(&path)?,
                None => FileConfig::default(),
            },
        };
        Self::from_parts(file, over, &Env::from_process())
    }

    /// Like [`Config::load`] with an explicit environment (tests).
    pub fn from_parts(
        file: FileConfig,
        over: &Overrides,
        env: &Env,
    ) -> Result<Config, ConfigError> {
        let db_path = match over.db.clone().or(file.db) {
            Some(p) => p,
            None => default_db_path(env)?,
        };
        let listen_text = over
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError::Invalid {
            what: "listen address (NOTION_MIRROR_LISTEN / --listen)".into(),
            message: format!("`{listen_text}` is not host:port, e.g. 127.0.0.1:8787"),
        })?;
        let checkpoint_text = over.checkpoint.clone().or(file.checkpoint);
        let checkpoint = match checkpoint_text.as_deref() {
            None => CheckpointMode::default(),
            Some(text) => CheckpointMode::parse(text).ok_or_else(|| ConfigError::Invalid {
                what: "checkpoint (NOTION_MIRROR_CHECKPOINT / --checkpoint)".into(),
                message: format!("`{text}` is not one of auto, daemon, litestream"),
            })?,
        };
        let files = crate::files::FilesConfig::from_parts(
            &db_path,
            crate::files::FileSettings {
                enabled: file.files,
                dir: file.files_dir.clone(),
                max_mb: file.files_max_mb,
                max_total_mb: file.files_max_total_mb,
                external: file.files_external,
            },
            over,
        );
        let (token, token_problem) =
            match read_token(env, over.token_file.as_deref(), file.token_file.as_deref()) {
                Ok(token) => (token, None),
                Err(e) => (None, Some(e.to_string())),
            };
        let notion_version = notion_version(over.notion_version.clone().or(file.notion_version))?;
        let outbound = crate::outbound::destinations(file.outbound).map_err(|message| {
            ConfigError::Invalid {
                what: "[[outbound]] destination".into(),
                message,
            }
        })?;
        let history_days = over.history_days.or(file.history.days).filter(|d| *d > 0);
        let config = Config {
            token,
            token_problem,
            notion_version,
            filter_properties_budget: crate::notion::client::FILTER_PROPERTIES_BUDGET,
            api_url: over
                .api_url
                .clone()
                .or(file.api_url)
                .unwrap_or_else(|| DEFAULT_API_URL.to_string())
                .trim_end_matches('/')
                .to_string(),
            db_path,
            listen,
            webhook_token: env
                .webhook_token
                .clone()
                .or(file.webhooks.token)
                .filter(|t| !t.trim().is_empty())
                .map(|t| Secret::new(t.trim())),
            webhooks_enabled: !over.no_webhooks && file.webhooks.enabled.unwrap_or(true),
            incremental_cron: over
                .incremental
                .clone()
                .or(file.schedule.incremental)
                .unwrap_or_else(|| DEFAULT_INCREMENTAL.to_string()),
            presence_cron: over
                .presence
                .clone()
                .or(file.schedule.presence)
                .unwrap_or_else(|| DEFAULT_PRESENCE.to_string()),
            full_cron: over
                .full
                .clone()
                .or(file.schedule.full)
                .unwrap_or_else(|| DEFAULT_FULL.to_string()),
            rate: over.rate.or(file.rate).unwrap_or(3.0),
            burst: over.burst.or(file.burst).unwrap_or(3.0),
            workers: over.workers.or(file.workers).unwrap_or(4),
            max_in_flight: file.max_in_flight.unwrap_or(8),
            debounce: Duration::from_millis(over.debounce_ms.or(file.debounce_ms).unwrap_or(1000)),
            max_attempts: file.max_attempts.unwrap_or(8),
            retry_base: Duration::from_secs(file.retry_base_secs.unwrap_or(15).max(1)),
            request_timeout: Duration::from_secs(
                over.request_timeout_secs
                    .or(file.request_timeout_secs)
                    .unwrap_or(60),
            ),
            scan_block_comments: !over.no_block_comments
                && file.comments.scan_blocks.unwrap_or(true),
            full_sweep_comments: file.comments.full_sweep.unwrap_or(true),
            overlap: Duration::from_secs(file.schedule.overlap_secs.unwrap_or(120)),
            event_grace: Duration::from_secs(file.schedule.event_grace_secs.unwrap_or(20)),
            shutdown_timeout: Duration::from_secs(file.shutdown_timeout_secs.unwrap_or(2)),
            event_retention: Duration::from_secs(
                file.webhooks.retention_days.unwrap_or(30) * 86_400,
            ),
            http: http_limits(&file.http),
            checkpoint,
            files,
            history: !over.no_history,
            history_retention: history_days.map(|d| Duration::from_secs(d.saturating_mul(86_400))),
            outbound,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |what: &str, message: String| ConfigError::Invalid {
            what: what.into(),
            message,
        };
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 1000.0) {
            return Err(invalid(
                "rate (NOTION_MIRROR_RATE / --rate)",
                format!("{} is not in (0, 1000] requests/s", self.rate),
            ));
        }
        if !(self.burst.is_finite() && self.burst >= 1.0) {
            return Err(invalid(
                "burst",
                format!("{} must be at least 1", self.burst),
            ));
        }
        if self.workers == 0 || self.workers > 64 {
            return Err(invalid(
                "workers",
                format!("{} is not in 1..=64", self.workers),
            ));
        }
        if self.max_in_flight == 0 {
            return Err(invalid("max_in_flight", "must be at least 1".into()));
        }
        if self.max_attempts == 0 {
            return Err(invalid("max_attempts", "must be at least 1".into()));
        }
        if !(self.api_url.starts_with("http://") || self.api_url.starts_with("https://")) {
            return Err(invalid(
                "API URL (NOTION_API_URL / --api-url)",
                format!(
                    "`{}` must start with https:// (or http:// for a local simulator)",
                    self.api_url
                ),
            ));
        }
        if self.http.max_connections == 0 || self.http.request_deadline.is_zero() {
            return Err(invalid(
                "[http] limits",
                "max_connections and request_deadline_secs must be at least 1".into(),
            ));
        }
        validate_cron(
            "incremental schedule (NOTION_MIRROR_INCREMENTAL)",
            &self.incremental_cron,
        )?;
        validate_cron(
            "presence schedule (NOTION_MIRROR_PRESENCE)",
            &self.presence_cron,
        )?;
        validate_cron("full schedule (NOTION_MIRROR_FULL)", &self.full_cron)?;
        self.files.validate()?;
        Ok(())
    }

    /// The token, or the error that says how to provide one.
    pub fn require_token(&self) -> Result<&Secret, ConfigError> {
        if let Some(problem) = &self.token_problem {
            return Err(ConfigError::TokenUnavailable(problem.clone()));
        }
        self.token.as_ref().ok_or(ConfigError::MissingToken)
    }

    /// How the mirror's store runs (the checkpoint mode).
    pub fn store_options(&self) -> crate::mirror::StoreOptions {
        crate::mirror::StoreOptions {
            checkpoint: self.checkpoint,
            history: self.history,
            cause: None,
        }
    }

    /// The daemon's pid file: beside the mirror.
    pub fn pid_path(&self) -> PathBuf {
        let dir = self.db_path.parent().unwrap_or_else(|| Path::new("."));
        dir.join("notion-mirror.pid")
    }
}

/// The configured `Notion-Version`, or the default; an unknown one is a configuration error.
fn notion_version(text: Option<String>) -> Result<crate::notion::NotionVersion, ConfigError> {
    use crate::notion::NotionVersion;
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(NotionVersion::default());
    };
    NotionVersion::parse(&text).ok_or_else(|| ConfigError::Invalid {
        what: "Notion API version (NOTION_MIRROR_NOTION_VERSION / --notion-version)".into(),
        message: format!(
            "`{}` is not one of {}",
            text.trim(),
            NotionVersion::ALL.map(|v| v.as_str()).join(", ")
        ),
    })
}

fn http_limits(file: &FileHttp) -> HttpLimits {
    let default = HttpLimits::default();
    let secs = |v: Option<u64>, d: Duration| v.map(Duration::from_secs).unwrap_or(d);
    HttpLimits {
        max_connections: file.max_connections.unwrap_or(default.max_connections),
        request_deadline: secs(file.request_deadline_secs, default.request_deadline),
        idle_timeout: secs(file.idle_timeout_secs, default.idle_timeout),
    }
}

/// A cron expression with seconds, as tokio-cron-scheduler parses it.
pub fn validate_cron(what: &str, expr: &str) -> Result<(), ConfigError> {
    let fields = expr.split_whitespace().count();
    let parsed = tokio_cron_scheduler::Job::new_async(expr, |_, _| Box::pin(async {}));
    if fields < 6 || parsed.is_err() {
        return Err(ConfigError::Invalid {
            what: what.into(),
            message: format!(
                "`{expr}` is not a cron expression with seconds (6 fields: sec min hour day month weekday), e.g. `0 */5 * * * *`"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
