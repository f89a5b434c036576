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
use crate::store::kv::Writes;
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
    /// The public session id (OIDC `sid` in ID and logout tokens); set by [`start`]. Not the
    /// cookie value, which stays a secret of the browser.
    #[serde(default)]
    pub sid: String,
}

/// What the `sid` index keeps: whose session it is, where it is, and which clients with a
/// back-channel logout URI received tokens in it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SidEntry {
    sub: String,
    key: String,
    clients: Vec<String>,
}

/// A session that was just ended, for back-channel logout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub sub: String,
    pub sid: String,
    /// Clients to tell (those recorded by [`joined`]).
    pub clients: Vec<String>,
}

impl Session {
    pub fn new(sub: &str, auth_time: i64, amr: Vec<String>) -> Self {
        Self {
            sub: sub.to_string(),
            auth_time,
            amr,
            generation: String::new(),
            sid: String::new(),
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

fn sid_key(pool: &PoolId, sid: &str) -> String {
    format!("{pool}:sid:{sid}")
}

fn to_bytes(v: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Starts a session in the user's current generation with a new `sid`; returns the cookie
/// value and the session as stored.
pub async fn start(
    app: &AppState,
    pool: &PoolId,
    s: &Session,
) -> Result<(String, Session), StoreError> {
    let current = app.kv.get(&generation_key(pool, &s.sub)).await?;
    let mut writes = Writes::default();
    let started = open(app, pool, s, current, &mut writes)?;
    app.kv.write(writes).await?;
    Ok(started)
}

/// Opens a session as [`start`] does, for a caller that read `sub`'s session generation
/// (at [`generation_key`]) itself and stores the session's records (added to `writes`)
/// together with its own, in one round trip.
pub fn open(
    app: &AppState,
    pool: &PoolId,
    s: &Session,
    generation: Option<Vec<u8>>,
    writes: &mut Writes,
) -> Result<(String, Session), StoreError> {
    let id = app.random.token(32);
    let s = Session {
        generation: String::from_utf8(generation.unwrap_or_default()).unwrap_or_default(),
        sid: app.random.token(16),
        ..s.clone()
    };
    let key = session_key(pool, &id);
    let entry = SidEntry {
        sub: s.sub.clone(),
        key: key.clone(),
        clients: Vec::new(),
    };
    // Both may be evicted by the in-process store, oldest written first: the session is
    // written before its `sid` entry (which `joined` only ever moves later), so it never
    // outlives the entry that lets a logout by `sid` end it.
    writes.put_evictable(key, to_bytes(&s)?, SESSION_TTL);
    writes.put_evictable(sid_key(pool, &s.sid), to_bytes(&entry)?, SESSION_TTL);
    Ok((id, s))
}

/// Records that `client_id` received tokens in session `sid`, so its back-channel logout
/// URI is told when the session ends.
pub async fn joined(
    app: &AppState,
    pool: &PoolId,
    sid: &str,
    client_id: &str,
) -> Result<(), StoreError> {
    let key = sid_key(pool, sid);
    let Some(raw) = app.kv.get(&key).await? else {
        return Ok(());
    };
    let mut entry: SidEntry = serde_json::from_slice(&raw).unwrap_or_default();
    if entry.key.is_empty() || entry.clients.iter().any(|c| c == client_id) {
        return Ok(());
    }
    entry.clients.push(client_id.to_string());
    app.kv
        .put_evictable(&key, &to_bytes(&entry)?, SESSION_TTL)
        .await
}

/// Ends the session whose `sid` is given (wherever its browser is); what ended, if any.
pub async fn end_sid(
    app: &AppState,
    pool: &PoolId,
    sid: &str,
) -> Result<Option<Ended>, StoreError> {
    if sid.is_empty() || sid.len() > 64 {
        return Ok(None);
    }
    let key = sid_key(pool, sid);
    let Some(raw) = app.kv.get(&key).await? else {
        return Ok(None);
    };
    let Ok(entry) = serde_json::from_slice::<SidEntry>(&raw) else {
        app.kv.delete(&key).await?;
        return Ok(None);
    };
    let live = app.kv.get(&entry.key).await?.is_some();
    // The index and its session go together: a session whose index went first could no
    // longer be ended by its `sid`.
    app.kv.release_and_delete(&[], &[&key, &entry.key]).await?;
    if !live {
        return Ok(None);
    }
    Ok(Some(Ended {
        sub: entry.sub,
        sid: sid.to_string(),
        clients: entry.clients,
    }))
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

/// Ends the session behind a cookie value; what ended, if any.
pub async fn end(
    app: &AppState,
    pool: &PoolId,
    cookie: Option<&str>,
) -> Result<Option<Ended>, StoreError> {
    let Some(s) = find(app, pool, cookie).await? else {
        return Ok(None);
    };
    if !s.sid.is_empty()
        && let Some(ended) = end_sid(app, pool, &s.sid).await?
    {
        return Ok(Some(ended));
    }
    if let Some(id) = cookie_id(cookie) {
        app.kv.delete(&session_key(pool, id)).await?;
    }
    Ok(Some(Ended {
        sub: s.sub,
        sid: s.sid,
        clients: Vec::new(),
    }))
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

/// The KV key of `sub`'s session generation (see [`end_all`]).
pub fn generation_key(pool: &PoolId, sub: &str) -> String {
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
        .put(
            &generation_key(pool, sub),
            generation.as_bytes(),
            SESSION_TTL,
        )
        .await
}

/// Was `s` started before its user's sessions were last ended?
pub async fn is_ended(app: &AppState, pool: &PoolId, s: &Session) -> Result<bool, StoreError> {
    let current = app.kv.get(&generation_key(pool, &s.sub)).await?;
    Ok(current.is_some_and(|g| g != s.generation.as_bytes()))
}
