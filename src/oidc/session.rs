//! Browser-side state in the KV store: the SSO session (cookie holds only a random id; KV
//! holds its SHA-256) and the login transaction that parks an authorization request while
//! the user signs in or consents.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::authorize::AuthRequest;
use crate::clock::RandomExt;
use crate::crypto::sha256_hex;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::StoreError;

/// How long an SSO session lives without a new sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a user has to finish signing in.
pub const LOGIN_TX_TTL: Duration = Duration::from_secs(15 * 60);

/// An SSO session: who signed in, when, and how (RFC 8176 `amr`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub sub: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
}

fn session_key(rt: &PoolRuntime, id: &str) -> String {
    format!("{}:sess:{}", rt.pool.id, sha256_hex(id.as_bytes()))
}

/// Starts a session and returns the cookie value.
pub async fn start(st: &AppState, rt: &PoolRuntime, s: &Session) -> Result<String, StoreError> {
    let id = st.random.token(32);
    let body = serde_json::to_vec(s).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    st.kv.put(&session_key(rt, &id), &body, SESSION_TTL).await?;
    Ok(id)
}

/// The live session behind a cookie value, if any.
pub async fn find(
    st: &AppState,
    rt: &PoolRuntime,
    cookie: Option<&str>,
) -> Result<Option<Session>, StoreError> {
    let Some(id) = cookie.filter(|c| !c.is_empty() && c.len() <= 128) else {
        return Ok(None);
    };
    let raw = st.kv.get(&session_key(rt, id)).await?;
    Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
}

pub async fn end(st: &AppState, rt: &PoolRuntime, cookie: Option<&str>) -> Result<(), StoreError> {
    match cookie.filter(|c| !c.is_empty() && c.len() <= 128) {
        Some(id) => st.kv.delete(&session_key(rt, id)).await,
        None => Ok(()),
    }
}

/// The steps a login transaction moves through. Later steps (MFA challenge, upstream IdP
/// round trip, forced password change) are new variants, not a new flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Waiting for identifier and password.
    NeedPassword,
    /// Forgot password: waiting for the emailed code and a new password.
    NeedResetCode { identifier: String },
    /// Signed up; waiting for the emailed code.
    NeedConfirmation { sub: String, email: String },
    /// The password was right but is temporary (FORCE_CHANGE_PASSWORD): a new one is due.
    NeedNewPassword { sub: String },
    /// The password was right; waiting for a TOTP or recovery code. `identifier` is what the
    /// user typed (failures count toward its lockout).
    NeedMfa { sub: String, identifier: String },
    /// The password was right, MFA is required and the user has none: enrollment first.
    NeedMfaSetup { sub: String, identifier: String },
    /// Enrolled during sign-in; the recovery codes were shown, waiting for "continue".
    MfaEnrolled { sub: String },
    /// Signed in; waiting for the user to allow or deny the client.
    NeedConsent { session: Session },
}

/// A parked authorization request and where the user is in signing in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginTx {
    pub id: String,
    /// Must come back in the form.
    pub csrf: String,
    /// SHA-256 of the binding cookie of the browser that started it.
    pub browser: String,
    /// The parked authorization request; `None` when signing in to the account page.
    pub request: Option<AuthRequest>,
    pub step: Step,
    pub created_at: i64,
}

fn tx_key(rt: &PoolRuntime, id: &str) -> String {
    format!("{}:ltx:{}", rt.pool.id, sha256_hex(id.as_bytes()))
}

pub async fn begin_tx(
    st: &AppState,
    rt: &PoolRuntime,
    request: Option<AuthRequest>,
    step: Step,
    browser: String,
    now: DateTime<Utc>,
) -> Result<LoginTx, StoreError> {
    let tx = LoginTx {
        id: st.random.token(24),
        csrf: st.random.token(24),
        browser,
        request,
        step,
        created_at: now.timestamp(),
    };
    save_tx(st, rt, &tx).await?;
    Ok(tx)
}

pub async fn save_tx(st: &AppState, rt: &PoolRuntime, tx: &LoginTx) -> Result<(), StoreError> {
    let body = serde_json::to_vec(tx).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    st.kv.put(&tx_key(rt, &tx.id), &body, LOGIN_TX_TTL).await
}

pub async fn find_tx(
    st: &AppState,
    rt: &PoolRuntime,
    id: &str,
) -> Result<Option<LoginTx>, StoreError> {
    if id.is_empty() || id.len() > 128 {
        return Ok(None);
    }
    let raw = st.kv.get(&tx_key(rt, id)).await?;
    Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
}

/// Ends a transaction; of two concurrent finishers only one gets it.
pub async fn take_tx(
    st: &AppState,
    rt: &PoolRuntime,
    id: &str,
) -> Result<Option<LoginTx>, StoreError> {
    let raw = st.kv.take(&tx_key(rt, id)).await?;
    Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
}

fn epoch_key(pool: &crate::ids::PoolId, sub: &str) -> String {
    format!("{pool}:sess-epoch:{sub}")
}

/// Ends every SSO session of `sub` started before `now` (password reset or change, disable):
/// sessions are not indexed by user, so each is checked against this mark at its next use.
pub async fn end_all(
    st: &AppState,
    pool: &crate::ids::PoolId,
    sub: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    st.kv
        .put(
            &epoch_key(pool, sub),
            now.timestamp().to_string().as_bytes(),
            SESSION_TTL,
        )
        .await
}

/// Was `s` started before its user's sessions were ended?
pub async fn is_ended(
    st: &AppState,
    pool: &crate::ids::PoolId,
    s: &Session,
) -> Result<bool, StoreError> {
    let mark = st.kv.get(&epoch_key(pool, &s.sub)).await?;
    let mark: Option<i64> = mark.and_then(|m| std::str::from_utf8(&m).ok()?.parse().ok());
    Ok(mark.is_some_and(|m| s.auth_time < m))
}
