//! Proof that the token still works before anything is removed: `GET /v1/users/me`,
//! remembered for a minute so a burst of 404s costs one extra call, not one each.
//!
//! Invariant: a removal decided on a 404/403 always follows a successful users/me call made
//! within the last minute.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::notion::{Client, NotionError};

const VALID_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct TokenCheck {
    confirmed_at: Mutex<Option<Instant>>,
}

impl TokenCheck {
    /// Ok when the token is known good; otherwise the users/me error.
    pub async fn confirm(&self, client: &Client) -> Result<(), NotionError> {
        let fresh = self
            .confirmed_at
            .lock()
            .ok()
            .and_then(|t| *t)
            .is_some_and(|t| t.elapsed() < VALID_FOR);
        if fresh {
            return Ok(());
        }
        client.users_me().await?;
        if let Ok(mut t) = self.confirmed_at.lock() {
            *t = Some(Instant::now());
        }
        Ok(())
    }
}
