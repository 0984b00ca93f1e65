//! The one-shot commands behind `main`: `sync`, `resync`, `status`, `retry`, `backup`,
//! `cat`, `export`, and the one-line error descriptions users see.
//!
//! Invariant: each command reports one clear line on failure and maps its outcome to an
//! exit status; none of them panics on bad input.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::cli::{BackupArgs, CatArgs, ChangesArgs, DbArgs, ExportArgs, StatusArgs, SyncArgs};
use crate::config::Config;
use crate::pidfile::{self, Daemon};
use crate::sync::{self, SyncEnd};
use crate::{queue, status};

/// The error chain on one line.
pub fn describe(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// `notion-mirror sync`.
pub async fn sync(args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.overrides())?;
    config.require_token()?;
    let interrupt = CancellationToken::new();
    let on_ctrl_c = interrupt.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: finishing what is in flight (Ctrl-C again to stop at once)");
            on_ctrl_c.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let kind = if args.resync {
        crate::reconcile::SweepKind::Resync
    } else {
        crate::reconcile::SweepKind::Full
    };
    match sync::run_kind(&config, kind, interrupt, !args.quiet).await? {
        SyncEnd::Complete(f) => {
            println!(
                "synced {}: {} requests, {} objects written, {} removed",
                config.db_path.display(),
                f.requests,
                f.report.written,
                f.report.removed
            );
            Ok(ExitCode::SUCCESS)
        }
        SyncEnd::Interrupted => {
            eprintln!("interrupted: everything fetched so far is kept; run `notion-mirror sync` again to resume");
            Ok(ExitCode::from(130))
        }
        SyncEnd::Incomplete { figures, parked } => {
            eprintln!(
                "sync finished with {parked} object(s) that could not be fetched ({} requests, {} written); see `notion-mirror status`, then `notion-mirror retry` and sync again",
                figures.requests, figures.report.written
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn db_path(args: &DbArgs) -> anyhow::Result<std::path::PathBuf> {
    Ok(Config::load(&args.overrides())?.db_path)
}

/// `notion-mirror status`.
pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let path = db_path(&args.db)?;
    if args.accept_pending_token {
        let conn = crate::mirror::open::open_read_write(&path)?;
        if crate::webhook::tokens::accept_pending(&conn)? {
            println!("the pending verification token is now active (the daemon picks it up with the next signed event)");
        } else {
            println!("no pending verification token");
        }
    }
    if args.clear_pending_token {
        let conn = crate::mirror::open::open_read_write(&path)?;
        if crate::webhook::tokens::clear_pending(&conn)? {
            println!(
                "the pending verification token is discarded; the next one that arrives is kept"
            );
        } else {
            println!("no pending verification token");
        }
    }
    if args.show_pending_token {
        match status::pending_token(&path)? {
            Some(token) => println!("{token}"),
            None => anyhow::bail!("no pending verification token"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.show_token {
        match status::stored_token(&path)? {
            Some(token) => println!("{token}"),
            None => anyhow::bail!(
                "no verification token stored yet: create the webhook subscription in Notion so it POSTs the token to /webhook"
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    // `status` has no --rate flag: the environment, else the config file, else 3.
    let rate = std::env::var("NOTION_MIRROR_RATE")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(Config::load(&args.db.overrides())?.rate);
    let s = status::gather_with(&path, rate)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).context("cannot render JSON")?
        );
    } else {
        print!("{}", status::render(&s));
    }
    Ok(ExitCode::SUCCESS)
}

/// `notion-mirror changes`: exit 0 when done, on Ctrl-C and when the reader goes away.
pub async fn changes(args: &ChangesArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let path = db_path(&args.db)?;
    let objects = match &args.object {
        None => None,
        Some(o) => match crate::mirror::changes::Object::parse(o) {
            Some(o) => Some(vec![o]),
            None => {
                return Err(crate::config::ConfigError::Invalid {
                    what: "--object".into(),
                    message: format!(
                    "`{o}` is not one of page, database, data_source, block, comment, user, view"
                ),
                }
                .into())
            }
        },
    };
    let id =
        match &args.id {
            None => None,
            Some(id) => Some(crate::ids::normalize(id).ok_or_else(|| {
                crate::config::ConfigError::Invalid {
                    what: "--id".into(),
                    message: format!("`{id}` is not a Notion id"),
                }
            })?),
        };
    let stdout = std::io::stdout();
    let options = crate::history::command::Options {
        since: args.since,
        follow: args.follow,
        filter: crate::history::Filter {
            objects,
            kinds: None,
            id,
        },
        json: args.json || !stdout.is_terminal(),
    };
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let mut out = stdout.lock();
    crate::history::command::run(&path, &options, &mut out, &stop).await?;
    Ok(ExitCode::SUCCESS)
}

/// `notion-mirror retry`.
pub fn retry(args: &DbArgs) -> anyhow::Result<ExitCode> {
    let path = db_path(args)?;
    if !path.exists() {
        anyhow::bail!("no mirror at {}", path.display());
    }
    let conn = crate::mirror::open::open_read_write(&path)?;
    let n = queue::retry_parked(&conn, queue::now_ms())?;
    println!("requeued {n} parked item(s); a running daemon picks them up within a second");
    Ok(ExitCode::SUCCESS)
}

/// `notion-mirror backup`.
pub fn backup(args: &BackupArgs) -> anyhow::Result<ExitCode> {
    let path = db_path(&args.db)?;
    let r = crate::backup::backup(&path, &args.dest, args.compress)?;
    const MIB: f64 = 1024.0 * 1024.0;
    let size = if args.compress {
        format!(
            "{:.1} MiB gzipped ({:.1} MiB uncompressed)",
            r.bytes as f64 / MIB,
            r.db_bytes as f64 / MIB
        )
    } else {
        format!("{:.1} MiB", r.bytes as f64 / MIB)
    };
    println!(
        "backed up {} to {}: {size}, schema v{}, in {:.2} s",
        path.display(),
        r.dest.display(),
        r.schema_version,
        r.elapsed.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `notion-mirror cat`: exit 2 (listing the candidates) when the title is ambiguous.
pub fn cat(args: &CatArgs) -> anyhow::Result<ExitCode> {
    let path = db_path(&args.db)?;
    let conn = crate::mirror::open::open_read_only(&path)?;
    let options = crate::export::PageOptions {
        front_matter: !args.no_front_matter,
        depth: args.depth,
    };
    match crate::export::cat(&conn, &args.page, options) {
        Ok(markdown) => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out
                .write_all(markdown.as_bytes())
                .and_then(|()| out.flush());
            Ok(ExitCode::SUCCESS)
        }
        Err(crate::export::ExportError::Ambiguous { query, candidates }) => {
            eprintln!(
                "notion-mirror: \"{query}\" names {} pages or databases; name one by id:",
                candidates.len()
            );
            for c in candidates {
                eprintln!("  {}  {} \"{}\" in {}", c.id, c.kind, c.title, c.location);
            }
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

/// `notion-mirror export`: exit 1 with `--check` when the directory is stale.
pub fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let path = db_path(&args.db)?;
    let options = crate::export::ExportOptions {
        root: args.root.clone(),
        check: args.check,
        files_dir: args.files_dir.clone(),
    };
    let started = std::time::Instant::now();
    let report = match crate::export::export_mirror(&path, &args.dir, &options) {
        Ok(r) => r,
        Err(crate::export::ExportError::Ambiguous { query, candidates }) => {
            eprintln!(
                "notion-mirror: --root \"{query}\" names {} pages or databases; name one by id:",
                candidates.len()
            );
            for c in candidates {
                eprintln!("  {}  {} \"{}\" in {}", c.id, c.kind, c.title, c.location);
            }
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let o = &report.outcome;
    if !args.quiet {
        let (wrote, removed) = if args.check {
            ("stale", "stale (would be removed)")
        } else {
            ("wrote", "removed")
        };
        for p in &o.written {
            println!("{wrote} {p}");
        }
        for p in &o.removed {
            println!("{removed} {p}");
        }
    }
    for p in &o.refused {
        eprintln!("notion-mirror: ignored an unsafe path in the export state file: {p:?}");
    }
    let what = format!(
        "{} pages, {} databases, {} data sources, {} attachments",
        report.pages, report.databases, report.data_sources, report.attachments
    );
    if args.check {
        if o.is_stale() {
            println!(
                "{} is stale: {} file(s) to write, {} to remove ({what})",
                args.dir.display(),
                o.written.len(),
                o.removed.len()
            );
            return Ok(ExitCode::from(1));
        }
        println!("{} is up to date ({what})", args.dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "exported {} to {} in {:.2} s: {} written, {} removed, {} unchanged ({what})",
        path.display(),
        args.dir.display(),
        started.elapsed().as_secs_f64(),
        o.written.len(),
        o.removed.len(),
        o.unchanged
    );
    Ok(ExitCode::SUCCESS)
}

/// `notion-mirror resync`: SIGHUP to the daemon named by the pid file beside the mirror,
/// else `systemctl reload notion-mirror` when that unit is active.
pub fn resync(args: &DbArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.overrides())?;
    let pid_path = config.pid_path();
    let not_running = match pidfile::running(&pid_path) {
        Daemon::Invalid(why) => anyhow::bail!("{why}"),
        Daemon::NotRunning(why) => why,
        Daemon::Running(pid) => {
            return signal_daemon(pid, &pid_path);
        }
    };
    if systemd_unit_active() {
        let status = std::process::Command::new("systemctl")
            .args(["reload", "notion-mirror.service"])
            .status()
            .context("cannot run systemctl")?;
        if status.success() {
            println!("ran `systemctl reload notion-mirror.service`: a full resync starts now");
            return Ok(ExitCode::SUCCESS);
        }
        anyhow::bail!("`systemctl reload notion-mirror.service` failed ({status})");
    }
    anyhow::bail!(
        "no running notion-mirror daemon found: {not_running} (is `notion-mirror run` using the same --db / NOTION_MIRROR_DB?) and the notion-mirror systemd unit is not active"
    )
}

/// SIGHUP to a pid that `pidfile::running` vouched for (above 1, a live notion-mirror
/// holding the pid file).
fn signal_daemon(pid: i32, pid_path: &Path) -> anyhow::Result<ExitCode> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .with_context(|| format!("cannot signal pid {pid}"))?;
    println!(
        "sent SIGHUP to notion-mirror (pid {pid}, from {}): a full resync starts now",
        pid_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn systemd_unit_active() -> bool {
    std::process::Command::new("systemctl")
        .args(["is-active", "--quiet", "notion-mirror.service"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
