//! Where a [`Config`](super::Config) comes from: the TOML file's shape, the flags'
//! [`Overrides`], the environment ([`Env`]), the token's sources and the default paths.
//!
//! Invariant: reads only; every value is validated by `Config::from_parts`, and the token
//! is wrapped in a [`Secret`] as soon as it is read.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Secret};

/// The TOML file (`NOTION_MIRROR_CONFIG` / `--config`). Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub api_url: Option<String>,
    pub notion_version: Option<String>,
    pub db: Option<PathBuf>,
    pub listen: Option<String>,
    pub token_file: Option<PathBuf>,
    pub rate: Option<f64>,
    pub burst: Option<f64>,
    pub workers: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub debounce_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    pub retry_base_secs: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub shutdown_timeout_secs: Option<u64>,
    /// `auto`, `daemon` or `litestream`.
    pub checkpoint: Option<String>,
    #[serde(default)]
    pub webhooks: FileWebhooks,
    #[serde(default)]
    pub schedule: FileSchedule,
    #[serde(default)]
    pub comments: FileComments,
    #[serde(default)]
    pub http: FileHttp,
    /// Archive Notion-hosted files (default true).
    pub files: Option<bool>,
    pub files_dir: Option<PathBuf>,
    pub files_max_mb: Option<u64>,
    pub files_max_total_mb: Option<u64>,
    pub files_external: Option<bool>,
    #[serde(default)]
    pub history: FileHistory,
    /// `[[outbound]]` destinations of the change feed.
    #[serde(default)]
    pub outbound: Vec<crate::outbound::FileDestination>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHistory {
    /// Keep changes this many days (0 or absent: forever).
    pub days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHttp {
    pub max_connections: Option<usize>,
    pub request_deadline_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWebhooks {
    pub enabled: Option<bool>,
    pub token: Option<String>,
    pub retention_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSchedule {
    pub incremental: Option<String>,
    pub presence: Option<String>,
    pub full: Option<String>,
    pub overlap_secs: Option<u64>,
    pub event_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileComments {
    pub scan_blocks: Option<bool>,
    pub full_sweep: Option<bool>,
}

/// Values from flags or their environment variables (clap resolves flag > env).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub api_url: Option<String>,
    pub notion_version: Option<String>,
    pub db: Option<PathBuf>,
    pub listen: Option<String>,
    pub token_file: Option<PathBuf>,
    pub rate: Option<f64>,
    pub burst: Option<f64>,
    pub workers: Option<usize>,
    pub debounce_ms: Option<u64>,
    pub incremental: Option<String>,
    pub presence: Option<String>,
    pub full: Option<String>,
    pub no_webhooks: bool,
    pub no_block_comments: bool,
    pub request_timeout_secs: Option<u64>,
    pub checkpoint: Option<String>,
    pub no_files: bool,
    pub files_dir: Option<PathBuf>,
    pub files_max_mb: Option<u64>,
    pub files_max_total_mb: Option<u64>,
    /// `NOTION_MIRROR_HISTORY_DAYS` / `--history-days`.
    pub history_days: Option<u64>,
    /// `sync --no-history`.
    pub no_history: bool,
}

/// The environment variables read outside clap.
#[derive(Debug, Default, Clone)]
pub struct Env {
    pub notion_token: Option<String>,
    pub webhook_token: Option<String>,
    pub credentials_directory: Option<PathBuf>,
    pub state_directory: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Env {
            notion_token: var("NOTION_TOKEN"),
            webhook_token: var("NOTION_WEBHOOK_TOKEN"),
            credentials_directory: var("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            // systemd may pass several, colon-separated: the first is ours.
            state_directory: var("STATE_DIRECTORY")
                .and_then(|v| v.split(':').next().map(PathBuf::from)),
        }
    }
}

pub(super) fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        source: e,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        message: e.to_string().replace('\n', " "),
    })
}

pub(super) fn read_token(
    env: &Env,
    flag_file: Option<&Path>,
    config_file: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(path) = flag_file {
        return read_token_file(path).map(Some);
    }
    if let Some(token) = &env.notion_token {
        return Ok(Some(Secret::new(token.trim())));
    }
    let credential = env
        .credentials_directory
        .as_ref()
        .map(|d| d.join("notion-token"))
        .filter(|p| p.exists());
    match credential.as_deref().or(config_file) {
        Some(path) => read_token_file(path).map(Some),
        None => Ok(None),
    }
}

pub(super) fn read_token_file(path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ReadToken {
        path: path.display().to_string(),
        source: e,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ConfigError::Invalid {
            what: "token file".into(),
            message: format!("{} is empty", path.display()),
        });
    }
    Ok(Secret::new(token))
}

pub(super) fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "notion-mirror")
        .map(|d| d.config_dir().join("config.toml"))
}

pub(super) fn default_db_path(env: &Env) -> Result<PathBuf, ConfigError> {
    if let Some(state) = &env.state_directory {
        return Ok(state.join("mirror.db"));
    }
    directories::ProjectDirs::from("", "", "notion-mirror")
        .map(|d| d.data_dir().join("mirror.db"))
        .ok_or(ConfigError::NoDataDir)
}
