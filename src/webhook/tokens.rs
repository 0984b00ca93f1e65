//! The webhook verification token: the *active* one that signatures are checked with, and
//! a *pending* one that arrived while a token was active (docs/reference/http.md).
//!
//! Invariants: Notion sends the token unsigned, so anyone who can reach `/webhook` can send
//! one; therefore a token arriving while one is active never replaces it, and the *first*
//! pending token is kept with when and from where it came — later different tokens never
//! replace it either, they are only counted (with the time and peer of the last one). Only
//! the operator moves a pending token to active (`status --accept-pending-token`) or
//! discards it (`status --clear-pending-token`); `status` shows enough to decide which.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::mirror::{write, Store, StoreError};
use crate::queue;

pub const ACTIVE_TOKEN_KEY: &str = "webhook.verification_token";
pub const PENDING_TOKEN_KEY: &str = "webhook.pending_token";
/// When and from where the pending token came (JSON [`Arrival`]).
pub const PENDING_FROM_KEY: &str = "webhook.pending_token_from";
/// Different tokens that arrived while one was pending (JSON [`Ignored`]).
pub const IGNORED_KEY: &str = "webhook.pending_tokens_ignored";

/// When and from where a token arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub received_at: String,
    /// The peer address (and the `X-Forwarded-For` a proxy added, if any).
    pub peer: String,
}

/// Different tokens that arrived while one was already pending: counted, not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    pub count: u64,
    pub last: Arrival,
}

/// How a received verification token was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// No token was known: this one is now active (trust on first use).
    Activated,
    /// The active token was sent again.
    Same,
    /// A different token while one is active, and none pending: kept as pending.
    Pending,
    /// The pending token was sent again (Notion's "Resend token"): nothing changes.
    PendingAgain,
    /// Yet another token while one is pending: counted, not kept.
    Ignored,
}

/// The verification token used to check signatures.
pub struct Tokens {
    active: RwLock<Option<Secret>>,
    from_env: bool,
    reloaded: RwLock<Option<Instant>>,
}

impl Tokens {
    /// The active token: `NOTION_WEBHOOK_TOKEN` if set, else the stored one.
    pub async fn load(store: &Store, from_env: Option<Secret>) -> Result<Tokens, StoreError> {
        let stored = match &from_env {
            Some(_) => None,
            None => {
                store
                    .read(|c| write::get_setting(c, ACTIVE_TOKEN_KEY))
                    .await?
            }
        };
        Ok(Tokens {
            from_env: from_env.is_some(),
            active: RwLock::new(from_env.or(stored.map(Secret::new))),
            reloaded: RwLock::new(None),
        })
    }

    pub fn active(&self) -> Option<Secret> {
        self.active.read().ok().and_then(|t| t.clone())
    }

    /// Re-reads the stored token (after `status --accept-pending-token`), at most every 2 s.
    pub async fn reload(&self, store: &Store) -> bool {
        if self.from_env {
            return false;
        }
        let recent = self
            .reloaded
            .read()
            .ok()
            .and_then(|r| *r)
            .is_some_and(|t| t.elapsed() < Duration::from_secs(2));
        if recent {
            return false;
        }
        if let Ok(mut r) = self.reloaded.write() {
            *r = Some(Instant::now());
        }
        let Ok(stored) = store
            .read(|c| write::get_setting(c, ACTIVE_TOKEN_KEY))
            .await
        else {
            return false;
        };
        let stored = stored.map(Secret::new);
        let changed = stored != self.active();
        if changed {
            if let Ok(mut a) = self.active.write() {
                *a = stored;
            }
        }
        changed
    }

    /// Handles `{"verification_token": …}` from `peer`.
    pub async fn offer(
        &self,
        store: &Store,
        token: String,
        peer: String,
    ) -> Result<Offer, StoreError> {
        let current = self.active();
        if current.as_ref().map(Secret::expose) == Some(token.as_str()) {
            return Ok(Offer::Same);
        }
        let arrival = Arrival {
            received_at: queue::iso_ms(queue::now_ms()),
            peer,
        };
        if current.is_some() {
            return store
                .write(move |c| offer_pending(c, &token, &arrival))
                .await;
        }
        let stored = token.clone();
        store
            .write(move |c| write::set_setting(c, ACTIVE_TOKEN_KEY, &stored))
            .await?;
        if let Ok(mut a) = self.active.write() {
            *a = Some(Secret::new(token));
        }
        Ok(Offer::Activated)
    }
}

/// A token while one is active: the first becomes pending, later ones are only counted.
fn offer_pending(conn: &Connection, token: &str, arrival: &Arrival) -> Result<Offer, StoreError> {
    match write::get_setting(conn, PENDING_TOKEN_KEY)? {
        None => {
            write::set_setting(conn, PENDING_TOKEN_KEY, token)?;
            write::set_setting(conn, PENDING_FROM_KEY, &to_json(arrival))?;
            Ok(Offer::Pending)
        }
        Some(pending) if pending == token => Ok(Offer::PendingAgain),
        Some(_) => {
            let count = ignored(conn)?.map_or(0, |i| i.count);
            let next = Ignored {
                count: count.saturating_add(1),
                last: arrival.clone(),
            };
            write::set_setting(conn, IGNORED_KEY, &to_json(&next))?;
            Ok(Offer::Ignored)
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: for<'de> Deserialize<'de>>(text: Option<String>) -> Option<T> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// The pending token, when and from where it came, if one waits.
pub fn pending(conn: &Connection) -> Result<Option<(String, Option<Arrival>)>, StoreError> {
    let Some(token) = write::get_setting(conn, PENDING_TOKEN_KEY)? else {
        return Ok(None);
    };
    let from = from_json(write::get_setting(conn, PENDING_FROM_KEY)?);
    Ok(Some((token, from)))
}

/// The tokens counted (not kept) while one was pending.
pub fn ignored(conn: &Connection) -> Result<Option<Ignored>, StoreError> {
    Ok(from_json(write::get_setting(conn, IGNORED_KEY)?))
}

/// `status --accept-pending-token`: the pending token becomes the active one.
pub fn accept_pending(conn: &Connection) -> Result<bool, StoreError> {
    let Some(pending) = write::get_setting(conn, PENDING_TOKEN_KEY)? else {
        return Ok(false);
    };
    write::set_setting(conn, ACTIVE_TOKEN_KEY, &pending)?;
    clear_pending(conn)?;
    Ok(true)
}

/// `status --clear-pending-token`: forget the pending token (and the count of ignored
/// ones), so the next token that arrives is kept instead.
pub fn clear_pending(conn: &Connection) -> Result<bool, StoreError> {
    let had = write::get_setting(conn, PENDING_TOKEN_KEY)?.is_some();
    for key in [PENDING_TOKEN_KEY, PENDING_FROM_KEY, IGNORED_KEY] {
        write::delete_setting(conn, key)?;
    }
    Ok(had)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_pending_token_stays_and_later_ones_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        let tokens = Tokens::load(&store, None).await.unwrap();
        let offer = |t: &str, peer: &str| tokens.offer(&store, t.into(), peer.into());
        assert_eq!(offer("secret_a", "p1").await.unwrap(), Offer::Activated);
        assert_eq!(offer("secret_a", "p1").await.unwrap(), Offer::Same);
        assert_eq!(offer("secret_b", "p2").await.unwrap(), Offer::Pending);
        assert_eq!(offer("secret_b", "p9").await.unwrap(), Offer::PendingAgain);
        assert_eq!(offer("secret_c", "p3").await.unwrap(), Offer::Ignored);
        assert_eq!(offer("secret_d", "p4").await.unwrap(), Offer::Ignored);
        let (token, from, ignored) = store
            .read(|c| {
                let (t, f) = pending(c)?.unwrap();
                Ok((t, f, ignored(c)?))
            })
            .await
            .unwrap();
        assert_eq!(token, "secret_b");
        assert_eq!(from.unwrap().peer, "p2");
        let ignored = ignored.unwrap();
        assert_eq!((ignored.count, ignored.last.peer.as_str()), (2, "p4"));
        assert_eq!(tokens.active().unwrap().expose(), "secret_a");
        assert!(store.write(accept_pending).await.unwrap());
        let left = store
            .read(|c| Ok((pending(c)?, crate::webhook::tokens::ignored(c)?)))
            .await
            .unwrap();
        assert_eq!(left, (None, None));
    }
}
