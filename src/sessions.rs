//! SSO sessions in the KV store (the cookie holds only a random id; KV holds its SHA-256) and
//! "end every session of a user". Below both the accounts service and the hosted journey.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::RandomExt;
use crate::crypto::sha256_hex;
use crate::ids::PoolId;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::users;

/// How long an SSO session lives without a new sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// An SSO session: who signed in, when, and how (RFC 8176 `amr`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub sub: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// The user's session generation when it started (see [`end_all`]); set by [`start`].
    #[serde(default)]
    pub generation: String,
}

impl Session {
    pub fn new(sub: &str, auth_time: i64, amr: Vec<String>) -> Self {
        Self {
            sub: sub.to_string(),
            auth_time,
            amr,
            generation: String::new(),
        }
    }
}

fn session_key(pool: &PoolId, id: &str) -> String {
    format!("{pool}:sess:{}", sha256_hex(id.as_bytes()))
}

/// A cookie value worth looking up: present and of a sane length.
fn cookie_id(cookie: Option<&str>) -> Option<&str> {
    cookie.filter(|c| !c.is_empty() && c.len() <= 128)
}

/// Starts a session in the user's current generation and returns the cookie value.
pub async fn start(app: &AppState, pool: &PoolId, s: &Session) -> Result<String, StoreError> {
    let id = app.random.token(32);
    let current = app.kv.get(&epoch_key(pool, &s.sub)).await?;
    let s = Session {
        generation: String::from_utf8(current.unwrap_or_default()).unwrap_or_default(),
        ..s.clone()
    };
    let body = serde_json::to_vec(&s).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    app.kv
        .put(&session_key(pool, &id), &body, SESSION_TTL)
        .await?;
    Ok(id)
}

/// The stored session behind a cookie value, if any (whether its user may still use it is
/// [`live`]'s question).
pub async fn find(
    app: &AppState,
    pool: &PoolId,
    cookie: Option<&str>,
) -> Result<Option<Session>, StoreError> {
    let Some(id) = cookie_id(cookie) else {
        return Ok(None);
    };
    let raw = app.kv.get(&session_key(pool, id)).await?;
    Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
}

/// Ends the session behind a cookie value.
pub async fn end(app: &AppState, pool: &PoolId, cookie: Option<&str>) -> Result<(), StoreError> {
    match cookie_id(cookie) {
        Some(id) => app.kv.delete(&session_key(pool, id)).await,
        None => Ok(()),
    }
}

/// The browser's usable session: one whose user is gone, disabled, or had every session
/// ended since it started is ended now and not returned.
pub async fn live(
    app: &AppState,
    pool: &PoolId,
    cookie: Option<&str>,
) -> Result<Option<Session>, StoreError> {
    let Some(s) = find(app, pool, cookie).await? else {
        return Ok(None);
    };
    let enabled = users::find_enabled(&app.sql, pool, &s.sub).await?.is_some();
    if enabled && !is_ended(app, pool, &s).await? {
        Ok(Some(s))
    } else {
        end(app, pool, cookie).await?;
        Ok(None)
    }
}

fn epoch_key(pool: &PoolId, sub: &str) -> String {
    format!("{pool}:sess-epoch:{sub}")
}

/// Ends every SSO session of `sub` started so far (password reset or change, disable): the
/// user gets a new session generation, and a session of an older one is ended at its next use
/// (sessions are not indexed by user). Exact, unlike a time mark: a session started in the
/// same second (or millisecond) before is ended, one started after is not. The generation
/// outlives every session it ends (both last [`SESSION_TTL`]).
pub async fn end_all(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    _now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let generation = app.random.token(16);
    app.kv
        .put(&epoch_key(pool, sub), generation.as_bytes(), SESSION_TTL)
        .await
}

/// Was `s` started before its user's sessions were last ended?
pub async fn is_ended(app: &AppState, pool: &PoolId, s: &Session) -> Result<bool, StoreError> {
    let current = app.kv.get(&epoch_key(pool, &s.sub)).await?;
    Ok(current.is_some_and(|g| g != s.generation.as_bytes()))
}
