//! Outbound webhooks: the change feed POSTed to destinations configured as `[[outbound]]`
//! (docs/history.md) — signed batches, in `seq` order, at least once per destination.
//!
//! Invariants: a destination's cursor lives in the mirror (`outbound` table) and moves
//! only after a 2xx answer for everything up to it (or over rows its filters skip), so a
//! restart or `kill -9` resumes where delivery stood and a receiver that dedupes on `seq`
//! sees every change exactly once; only changes already durable are sent; delivery has its
//! own HTTP client and its own backoff, never the Notion client, its rate limit or the
//! queue; secrets and URL paths (which often hold tokens) never reach logs, `status` or
//! metrics.
//!
//! Files: `batch` (which rows go in the next POST, and its body), `deliver` (the task per
//! destination), here (configuration and the `outbound` table).

pub mod batch;
pub mod deliver;

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::mirror::changes::{Kind, Object};
use crate::mirror::{now_iso, StoreError};

/// Longest wait between two attempts of a failing destination (by default).
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// One `[[outbound]]` table as written in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDestination {
    /// Where to POST (http or https).
    pub url: String,
    /// The HMAC key of `X-Notion-Mirror-Signature`.
    pub secret: String,
    /// A name for `status` and metrics (default: the URL's host and a hash of the URL).
    pub name: Option<String>,
    /// Only these objects (`page`, `block`, ...).
    pub objects: Option<Vec<String>>,
    /// Only these kinds (`created`, `updated`, ...).
    pub kinds: Option<Vec<String>>,
    /// Where a new destination starts: `all` (every change kept, the default) or `now`.
    pub start: Option<String>,
    /// Longest wait between attempts while it fails, in seconds (default 300).
    pub backoff_max_secs: Option<u64>,
}

/// A validated destination.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    pub name: String,
    /// The full URL (may hold a token in its path or query: never printed).
    pub url: String,
    pub secret: Secret,
    pub objects: Option<Vec<Object>>,
    pub kinds: Option<Vec<Kind>>,
    /// A destination new to the mirror starts after the newest change, not the oldest.
    pub start_now: bool,
    pub backoff_max: Duration,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("name", &self.name)
            .field("url", &origin(&self.url))
            .field("objects", &self.objects)
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

impl Destination {
    /// The feed filter of this destination.
    pub fn filter(&self) -> crate::history::Filter {
        crate::history::Filter {
            objects: self.objects.clone(),
            kinds: self.kinds.clone(),
            id: None,
        }
    }
}

/// `scheme://host[:port]` of a URL: what may be shown of it.
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials in the authority (`user:pass@host`) are not shown either.
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}")
}

/// Validates the `[[outbound]]` tables: URLs, secrets, filters, unique names.
pub fn destinations(file: Vec<FileDestination>) -> Result<Vec<Destination>, String> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, d) in file.into_iter().enumerate() {
        let which = d.name.clone().unwrap_or_else(|| format!("#{}", i + 1));
        if !(d.url.starts_with("https://") || d.url.starts_with("http://")) {
            return Err(format!(
                "{which}: url must start with https:// (or http://), got `{}`",
                origin(&d.url)
            ));
        }
        if d.secret.trim().is_empty() {
            return Err(format!("{which}: secret is empty (it signs every POST)"));
        }
        let objects = match d.objects {
            None => None,
            Some(list) => Some(parse_all(&list, Object::parse, "object", &which)?),
        };
        let kinds = match d.kinds {
            None => None,
            Some(list) => Some(parse_all(&list, Kind::parse, "kind", &which)?),
        };
        let start_now = match d.start.as_deref() {
            None | Some("all") => false,
            Some("now") => true,
            Some(other) => {
                return Err(format!(
                    "{which}: start must be `all` or `now`, got `{other}`"
                ))
            }
        };
        let name = d.name.unwrap_or_else(|| default_name(&d.url));
        if name.trim().is_empty() || !names.insert(name.clone()) {
            return Err(format!("{which}: name `{name}` is empty or used twice"));
        }
        out.push(Destination {
            name,
            url: d.url,
            secret: Secret::new(d.secret),
            objects,
            kinds,
            start_now,
            backoff_max: Duration::from_secs(
                d.backoff_max_secs
                    .unwrap_or(DEFAULT_BACKOFF_MAX.as_secs())
                    .max(1),
            ),
        });
    }
    Ok(out)
}

fn parse_all<T>(
    list: &[String],
    parse: fn(&str) -> Option<T>,
    what: &str,
    which: &str,
) -> Result<Vec<T>, String> {
    list.iter()
        .map(|s| parse(s).ok_or_else(|| format!("{which}: unknown {what} `{s}`")))
        .collect()
}

/// The host of the URL and 8 hex digits of its hash (URLs differing only in their path
/// or token get different names, without showing either).
fn default_name(url: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(url.as_bytes());
    let host = origin(url);
    let host = host.split("://").nth(1).unwrap_or(&host).to_string();
    format!("{host}-{}", &hex::encode(digest)[..8])
}

/// Records the configured destinations: new ones get their starting cursor, known ones
/// keep theirs; every destination not configured now is marked inactive (its cursor no
/// longer holds back pruning). Returns each destination's cursor.
pub fn register(conn: &Connection, dests: &[Destination]) -> Result<Vec<i64>, StoreError> {
    conn.execute("UPDATE outbound SET active = 0", [])?;
    let newest = crate::mirror::write::changes::last_seq(conn)?;
    let mut cursors = Vec::new();
    for d in dests {
        let start = if d.start_now { newest } else { 0 };
        conn.prepare_cached(
            "INSERT INTO outbound (destination, url, cursor, active, added_at)
             VALUES (?1, ?2, ?3, 1, ?4)
             ON CONFLICT (destination) DO UPDATE SET active = 1, url = excluded.url",
        )?
        .execute(params![d.name, origin(&d.url), start, now_iso()])?;
        let cursor: i64 = conn
            .prepare_cached("SELECT cursor FROM outbound WHERE destination = ?1")?
            .query_row([&d.name], |r| r.get(0))?;
        cursors.push(cursor);
    }
    Ok(cursors)
}

/// After a 2xx: the cursor moves to `cursor`, `delivered` grows.
pub fn delivered(
    conn: &Connection,
    name: &str,
    cursor: i64,
    changes: usize,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE outbound SET cursor = max(cursor, ?2), delivered = delivered + ?3,
             last_delivery_at = CASE WHEN ?3 > 0 THEN ?4 ELSE last_delivery_at END,
             failures = CASE WHEN ?3 > 0 THEN 0 ELSE failures END
         WHERE destination = ?1",
    )?
    .execute(params![name, cursor, changes as i64, now_iso()])?;
    Ok(())
}

/// After a failed attempt: the error and the count of failures in a row.
pub fn failed(conn: &Connection, name: &str, error: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE outbound SET failures = failures + 1, last_error = ?2, last_error_at = ?3
         WHERE destination = ?1",
    )?
    .execute(params![name, error, now_iso()])?;
    Ok(())
}

/// A destination as `status` and `/metrics` show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DestinationStatus {
    pub name: String,
    /// `scheme://host` only.
    pub url: String,
    pub cursor: i64,
    /// Changes after the cursor (filtered ones included until the cursor passes them).
    pub lag: i64,
    /// Age of the oldest change after the cursor, in seconds (0 when none).
    pub lag_seconds: f64,
    pub delivered: i64,
    pub last_delivery_at: Option<String>,
    /// Failed attempts since the last 2xx.
    pub failures: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// Every active destination's status.
pub fn status(conn: &Connection) -> Result<Vec<DestinationStatus>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT destination, url, cursor, delivered, last_delivery_at, failures, last_error,
                last_error_at,
                (SELECT count(*) FROM changes WHERE seq > o.cursor),
                (SELECT at FROM changes WHERE seq > o.cursor ORDER BY seq LIMIT 1)
         FROM outbound o WHERE active = 1 ORDER BY destination",
    )?;
    let rows = stmt.query_map([], |r| {
        let oldest: Option<String> = r.get(9)?;
        Ok(DestinationStatus {
            name: r.get(0)?,
            url: r.get(1)?,
            cursor: r.get(2)?,
            delivered: r.get(3)?,
            last_delivery_at: r.get(4)?,
            failures: r.get(5)?,
            last_error: r.get(6)?,
            last_error_at: r.get(7)?,
            lag: r.get(8)?,
            lag_seconds: oldest.as_deref().map(age_seconds).unwrap_or(0.0),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn age_seconds(iso: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(iso)
        .map(|t| {
            let ms = crate::queue::now_ms() - t.timestamp_millis();
            ms.max(0) as f64 / 1000.0
        })
        .unwrap_or(0.0)
}

/// A destination's cursor, if the mirror knows it.
pub fn cursor(conn: &Connection, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT cursor FROM outbound WHERE destination = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: &str) -> FileDestination {
        FileDestination {
            url: url.into(),
            secret: "s3cret".into(),
            ..FileDestination::default()
        }
    }

    #[test]
    fn destinations_are_validated_with_one_clear_line() {
        let ok = destinations(vec![file("https://hooks.example.com/T1/B2/token?x=1")]).unwrap();
        assert!(ok[0].name.starts_with("hooks.example.com-"));
        let printed = format!("{:?}", ok[0]);
        assert!(
            !printed.contains("token") && !printed.contains("s3cret"),
            "{printed}"
        );
        let bad = |d: FileDestination| destinations(vec![d]).unwrap_err();
        assert!(bad(file("ftp://x")).contains("https://"));
        assert!(bad(FileDestination {
            secret: " ".into(),
            ..file("https://x")
        })
        .contains("secret"));
        assert!(bad(FileDestination {
            objects: Some(vec!["pages".into()]),
            ..file("https://x")
        })
        .contains("unknown object `pages`"));
        assert!(bad(FileDestination {
            kinds: Some(vec!["edited".into()]),
            ..file("https://x")
        })
        .contains("unknown kind"));
        let twice = destinations(vec![file("https://x/a"), file("https://x/a")]).unwrap_err();
        assert!(twice.contains("used twice"), "{twice}");
    }

    #[test]
    fn origin_shows_neither_path_query_nor_credentials() {
        assert_eq!(
            origin("https://u:p@h.example:8443/a/b?t=1"),
            "https://h.example:8443"
        );
    }
}
