//! Unit tests of the configuration: precedence (flags > environment > file > defaults),
//! validation messages, token sources, and that secrets never print.

use super::*;

fn env() -> Env {
    Env {
        notion_token: Some("ntn_env".into()),
        state_directory: Some(PathBuf::from("/var/lib/notion-mirror")),
        ..Env::default()
    }
}

#[test]
fn defaults_apply_and_secrets_do_not_print() {
    let c = Config::from_parts(FileConfig::default(), &Overrides::default(), &env()).unwrap();
    assert_eq!(c.api_url, DEFAULT_API_URL);
    assert_eq!(c.db_path, PathBuf::from("/var/lib/notion-mirror/mirror.db"));
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.rate, 3.0);
    assert!(c.webhooks_enabled && c.scan_block_comments);
    let printed = format!("{c:?}");
    assert!(!printed.contains("ntn_env"), "{printed}");
    assert_eq!(c.token.unwrap().expose(), "ntn_env");
}

#[test]
fn flags_beat_the_file() {
    let file: FileConfig = toml::from_str(
        "rate = 2.0\nlisten = \"0.0.0.0:9000\"\n[schedule]\nincremental = \"0 * * * * *\"\n[comments]\nscan_blocks = false\n",
    )
    .unwrap();
    let over = Overrides {
        rate: Some(5.0),
        ..Overrides::default()
    };
    let c = Config::from_parts(file, &over, &env()).unwrap();
    assert_eq!(c.rate, 5.0);
    assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(c.incremental_cron, "0 * * * * *");
    assert!(!c.scan_block_comments);
}

#[test]
fn bad_values_get_one_clear_line() {
    let bad_cron = Overrides {
        incremental: Some("*/5 * * * *".into()),
        ..Overrides::default()
    };
    let err = Config::from_parts(FileConfig::default(), &bad_cron, &env()).unwrap_err();
    assert!(err.to_string().contains("seconds"), "{err}");
    let bad_listen = Overrides {
        listen: Some("localhost".into()),
        ..Overrides::default()
    };
    let err = Config::from_parts(FileConfig::default(), &bad_listen, &env()).unwrap_err();
    assert!(err.to_string().contains("host:port"), "{err}");
    let unknown: Result<FileConfig, _> = toml::from_str("ratee = 3");
    assert!(unknown.is_err());
    let bad_mode = Overrides {
        checkpoint: Some("truncate".into()),
        ..Overrides::default()
    };
    let err = Config::from_parts(FileConfig::default(), &bad_mode, &env()).unwrap_err();
    assert!(
        err.to_string().contains("auto, daemon, litestream"),
        "{err}"
    );
}

#[test]
fn checkpoint_mode_comes_from_the_file_or_the_environment() {
    let c = Config::from_parts(FileConfig::default(), &Overrides::default(), &env()).unwrap();
    assert_eq!(c.checkpoint, CheckpointMode::Auto);
    let file: FileConfig = toml::from_str("checkpoint = \"litestream\"\n").unwrap();
    let c = Config::from_parts(file, &Overrides::default(), &env()).unwrap();
    assert_eq!(c.checkpoint, CheckpointMode::Litestream);
    let file: FileConfig = toml::from_str("checkpoint = \"litestream\"\n").unwrap();
    let over = Overrides {
        checkpoint: Some("daemon".into()),
        ..Overrides::default()
    };
    let c = Config::from_parts(file, &over, &env()).unwrap();
    assert_eq!(c.checkpoint, CheckpointMode::Daemon);
}

#[test]
fn missing_token_names_the_variable() {
    let c = Config::from_parts(
        FileConfig::default(),
        &Overrides::default(),
        &Env::default(),
    )
    .unwrap();
    let err = c.require_token().unwrap_err();
    assert!(err.to_string().contains("NOTION_TOKEN"));
}

#[test]
fn credential_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notion-token"), "ntn_cred\n").unwrap();
    let e = Env {
        credentials_directory: Some(dir.path().to_path_buf()),
        state_directory: Some(dir.path().to_path_buf()),
        ..Env::default()
    };
    let c = Config::from_parts(FileConfig::default(), &Overrides::default(), &e).unwrap();
    assert_eq!(c.token.unwrap().expose(), "ntn_cred");
}

#[test]
fn token_file_flag_beats_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("flag-token");
    let from_file = dir.path().join("file-token");
    std::fs::write(&flag, "ntn_flag\n").unwrap();
    std::fs::write(&from_file, "ntn_file\n").unwrap();
    let file = || FileConfig {
        token_file: Some(from_file.clone()),
        ..FileConfig::default()
    };
    let e = Env {
        notion_token: Some("ntn_env".into()),
        state_directory: Some(dir.path().to_path_buf()),
        ..Env::default()
    };
    let with_flag = Overrides {
        token_file: Some(flag.clone()),
        ..Overrides::default()
    };
    let token = |c: Config| c.require_token().unwrap().expose().to_string();
    assert_eq!(
        token(Config::from_parts(file(), &with_flag, &e).unwrap()),
        "ntn_flag"
    );
    let none = Overrides::default();
    assert_eq!(
        token(Config::from_parts(file(), &none, &e).unwrap()),
        "ntn_env"
    );
    let no_env = Env {
        notion_token: None,
        ..e
    };
    assert_eq!(
        token(Config::from_parts(file(), &none, &no_env).unwrap()),
        "ntn_file"
    );
}

#[test]
fn an_unreadable_token_file_fails_only_commands_that_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let over = Overrides {
        token_file: Some(dir.path().join("missing")),
        ..Overrides::default()
    };
    let e = Env {
        state_directory: Some(dir.path().to_path_buf()),
        ..Env::default()
    };
    let c = Config::from_parts(FileConfig::default(), &over, &e).unwrap();
    let err = c.require_token().unwrap_err().to_string();
    assert!(err.contains("cannot read the Notion token file"), "{err}");
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn history_retention_and_outbound_destinations_come_from_the_file_or_the_environment() {
    let c = Config::from_parts(FileConfig::default(), &Overrides::default(), &env()).unwrap();
    assert_eq!(c.history_retention, None);
    assert!(c.history && c.outbound.is_empty());
    let text = "[history]\ndays = 30\n[[outbound]]\nname = \"ops\"\nurl = \"https://hooks.example.com/x?token=t\"\nsecret = \"s3cret\"\nobjects = [\"page\"]\nkinds = [\"created\", \"trashed\"]\n";
    let c =
        Config::from_parts(toml::from_str(text).unwrap(), &Overrides::default(), &env()).unwrap();
    assert_eq!(c.history_retention, Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(c.outbound.len(), 1);
    assert_eq!(c.outbound[0].name, "ops");
    assert_eq!(c.outbound[0].kinds.as_ref().map(Vec::len), Some(2));
    assert!(!format!("{:?}", c.outbound[0]).contains("s3cret"));
    assert!(!format!("{:?}", c.outbound[0]).contains("token=t"));
    // NOTION_MIRROR_HISTORY_DAYS beats the file; 0 keeps everything; --no-history.
    let over = Overrides {
        history_days: Some(7),
        ..Overrides::default()
    };
    let c = Config::from_parts(toml::from_str(text).unwrap(), &over, &env()).unwrap();
    assert_eq!(c.history_retention, Some(Duration::from_secs(7 * 86_400)));
    let over = Overrides {
        history_days: Some(0),
        no_history: true,
        ..Overrides::default()
    };
    let c = Config::from_parts(toml::from_str(text).unwrap(), &over, &env()).unwrap();
    assert_eq!(c.history_retention, None);
    assert!(!c.history);
    // A destination without a secret is refused with one line naming it.
    let bad = "[[outbound]]\nname = \"ops\"\nurl = \"https://h.example.com/\"\nsecret = \"\"\n";
    let err = Config::from_parts(toml::from_str(bad).unwrap(), &Overrides::default(), &env())
        .unwrap_err();
    assert!(err.to_string().contains("ops: secret is empty"), "{err}");
}
