//! The workspace a mirror follows: named from the `GET /v1/users/me` call `run` and `sync`
//! make at start (the integration's bot carries `bot.workspace_name` and `bot.workspace_id`),
//! recorded in `settings`, shown by `status`.
//!
//! Invariants: costs no request of its own (it reads the start-up token check's answer);
//! `status` reads only what was recorded and never asks Notion; a token of another workspace
//! than the one recorded is logged as a warning, and the record follows the token.

use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;

use crate::mirror::{write, Store, StoreError};

/// Settings key of the workspace's name.
pub const NAME_KEY: &str = "workspace_name";
/// Settings key of the workspace's id.
pub const ID_KEY: &str = "workspace_id";

/// The workspace as users/me names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub name: String,
    /// `None` when Notion did not send one.
    pub id: Option<String>,
}

/// The workspace named by a users/me answer: the bot user's `bot.workspace_name` (see the
/// `users/me` samples: `{"type":"bot","bot":{"workspace_name":..,"workspace_id":..}}`).
/// `None` for any other shape (a person token, a bot without a workspace name).
pub fn from_me(me: &Value) -> Option<Workspace> {
    let bot = me.get("bot")?;
    let name = bot.get("workspace_name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    Some(Workspace {
        name: name.to_string(),
        id: bot
            .get("workspace_id")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The workspace recorded in the mirror, if any run or sync has named it yet.
pub fn recorded(conn: &Connection) -> Result<Option<Workspace>, StoreError> {
    let Some(name) = write::get_setting(conn, NAME_KEY)? else {
        return Ok(None);
    };
    Ok(Some(Workspace {
        name,
        id: write::get_setting(conn, ID_KEY)?,
    }))
}

/// Records the workspace a users/me answer names. Logs (and follows) a change of workspace:
/// a mirror given another workspace's token mixes two workspaces until resynced.
pub async fn record(store: &Store, me: &Value) {
    let Some(now) = from_me(me) else {
        tracing::debug!("users/me names no workspace; status will not show one");
        return;
    };
    let result = store
        .write(move |c| {
            let before = recorded(c)?;
            write::set_setting(c, NAME_KEY, &now.name)?;
            if let Some(id) = &now.id {
                write::set_setting(c, ID_KEY, id)?;
            }
            Ok((before, now))
        })
        .await;
    match result {
        Ok((Some(before), now))
            if before.id.is_some() && now.id.is_some() && before.id != now.id =>
        {
            tracing::warn!(
                was = %before.name,
                now = %now.name,
                "the token belongs to another workspace than the one this mirror followed: its pages are mirrored beside the old ones (use a mirror per workspace)"
            );
        }
        Ok((before, now)) => {
            if before.as_ref() != Some(&now) {
                tracing::info!(workspace = %now.name, "mirroring workspace");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot record the workspace's name"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bot_user_names_its_workspace() {
        let me = json!({
            "object": "user", "id": "7775f3a3-893f-43fa-b625-460c61094c78", "type": "bot",
            "bot": {
                "owner": { "type": "workspace", "workspace": true },
                "workspace_name": "notion-sdk-py",
                "workspace_id": "231674b6-2cc1-46bc-b742-c5c9fe4b9c73"
            }
        });
        assert_eq!(
            from_me(&me),
            Some(Workspace {
                name: "notion-sdk-py".into(),
                id: Some("231674b6-2cc1-46bc-b742-c5c9fe4b9c73".into()),
            })
        );
    }

    #[test]
    fn other_shapes_name_no_workspace() {
        assert_eq!(from_me(&json!({ "type": "bot", "bot": {} })), None);
        assert_eq!(
            from_me(&json!({ "type": "bot", "bot": { "workspace_name": "  " } })),
            None
        );
        assert_eq!(from_me(&json!({ "type": "person", "person": {} })), None);
        assert_eq!(
            from_me(&json!({ "bot": { "workspace_name": "Acme" } })),
            Some(Workspace {
                name: "Acme".into(),
                id: None
            })
        );
    }
}
