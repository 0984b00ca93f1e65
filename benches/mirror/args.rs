//! Command-line flags of the bench: `--quick`, `--seed N`, `--json PATH`, `--only GROUP`,
//! `--litestream` (the load group replicates with the real Litestream) and `--checkpoint
//! MODE` (the load daemon's `NOTION_MIRROR_CHECKPOINT`) and `--keep` (the working directory
//! — mirrors, logs — is kept and its path printed, for a post-mortem).
//! Invariant: the only code that reads the command line; `GROUPS` is the one list of group
//! names, which also fixes the order of the table.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};

/// The figure groups, in table order (`--only` takes one of them).
pub(crate) const GROUPS: &[&str] = &[
    "cold",
    "eta",
    "wall",
    "idle",
    "edits",
    "coalescing",
    "latency",
    "memory",
    "ingest",
    "backup",
    "history",
    "load",
    "hostile",
    "files",
];

/// Groups that bring their own workspace and simulator (no cold-synced mirror needed).
pub(crate) const OWN_WORKSPACE: &[&str] = &["wall", "hostile", "load", "files"];

#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) quick: bool,
    pub(crate) seed: u64,
    pub(crate) json: Option<PathBuf>,
    pub(crate) only: Option<String>,
    /// The load group runs Litestream beside the daemon (found at
    /// `$NOTION_MIRROR_LITESTREAM` or on `PATH`).
    pub(crate) litestream: bool,
    /// `NOTION_MIRROR_CHECKPOINT` for the load group's daemon (default: its own default).
    pub(crate) checkpoint: Option<String>,
    /// Keep the working directory (its mirrors' `changes` feed tells who wrote what).
    pub(crate) keep: bool,
}

/// Parses `std::env::args()`; unknown flags (cargo passes `--bench`) are ignored.
pub(crate) fn parse_args() -> Result<Args> {
    let mut args = Args {
        quick: false,
        seed: 1,
        json: None,
        only: None,
        litestream: false,
        checkpoint: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| anyhow!("{what} needs a value"))
        };
        match name.as_str() {
            "--quick" => args.quick = true,
            "--seed" => {
                let v = value("--seed")?;
                args.seed = v
                    .parse()
                    .map_err(|_| anyhow!("--seed `{v}` is not a number"))?;
            }
            "--json" => args.json = Some(PathBuf::from(value("--json")?)),
            "--litestream" => args.litestream = true,
            "--keep" => args.keep = true,
            "--checkpoint" => {
                let v = value("--checkpoint")?;
                if notion_mirror::mirror::checkpoint::CheckpointMode::parse(&v).is_none() {
                    bail!("--checkpoint `{v}`: auto, daemon or litestream");
                }
                args.checkpoint = Some(v);
            }
            "--only" => {
                let v = value("--only")?;
                if !GROUPS.contains(&v.as_str()) {
                    bail!("--only `{v}`: groups are {}", GROUPS.join(", "));
                }
                args.only = Some(v);
            }
            // cargo passes `--bench`; anything else unknown is ignored too.
            _ => {}
        }
    }
    Ok(args)
}
