//! Authorization codes (RFC 6749 §4.1.2): 256-bit random, stored by hash in the KV store for
//! 60 s, redeemed once through an atomic take. A redeemed code leaves a marker so a replay can
//! revoke what the first redemption issued (RFC 6749 §4.1.2, RFC 9700 §4.5).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::authorize::AuthRequest;
use crate::clock::RandomExt;
use crate::crypto::sha256_hex;
use crate::pools::PoolRuntime;
use crate::sessions::Session;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::kv::{Taken, Writes};

pub const CODE_TTL: Duration = Duration::from_secs(60);

/// What a code is bound to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub sub: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// The SSO session the code was issued in (OIDC `sid`).
    #[serde(default)]
    pub sid: Option<String>,
}

/// What the first redemption issued, kept so a replay can revoke it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Redeemed {
    pub family_id: Option<String>,
    pub jti: String,
    pub exp: i64,
}

fn code_key(tenant: &PoolRuntime, code: &str) -> String {
    format!("{}:code:{}", tenant.pool.id, sha256_hex(code.as_bytes()))
}

fn used_key(tenant: &PoolRuntime, code: &str) -> String {
    format!(
        "{}:code-used:{}",
        tenant.pool.id,
        sha256_hex(code.as_bytes())
    )
}

/// Issues a code for a completed authorization request: its record is added to `writes`,
/// for the caller to store with its own in one round trip.
pub fn issue_into(
    app: &AppState,
    tenant: &PoolRuntime,
    req: &AuthRequest,
    s: &Session,
    writes: &mut Writes,
) -> Result<String, StoreError> {
    let code = app.random.token(32);
    let grant = CodeGrant {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scope(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        sub: s.sub.clone(),
        auth_time: s.auth_time,
        amr: s.amr.clone(),
        sid: Some(s.sid.clone()).filter(|sid| !sid.is_empty()),
    };
    let body = serde_json::to_vec(&grant).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    writes.put(code_key(tenant, &code), body, CODE_TTL);
    Ok(code)
}

/// Takes the code: `Ok(Ok(grant))` once, and in the same atomic step records `first` (what
/// this redemption will issue) for `ttl`, so a replay arriving while we are still signing can
/// already revoke it; afterwards `Ok(Err(first_redemption))` while that record lives.
pub async fn redeem(
    app: &AppState,
    tenant: &PoolRuntime,
    code: &str,
    first: &Redeemed,
    ttl: Duration,
) -> Result<Result<CodeGrant, Option<Redeemed>>, StoreError> {
    if code.len() > 256 {
        return Ok(Err(None));
    }
    let marker = serde_json::to_vec(first).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let (key, used) = (code_key(tenant, code), used_key(tenant, code));
    match app.kv.take_and_mark(&key, &used, &marker, ttl).await? {
        Taken::Value(raw) => Ok(serde_json::from_slice(&raw).map_err(|_| None)),
        Taken::Gone(used) => Ok(Err(used.and_then(|r| serde_json::from_slice(&r).ok()))),
    }
}

fn replayed_key(tenant: &PoolRuntime, code: &str) -> String {
    format!(
        "{}:code-replayed:{}",
        tenant.pool.id,
        sha256_hex(code.as_bytes())
    )
}

/// Notes that a redeemed code came back, for a first redemption still in progress.
pub async fn mark_replayed(
    app: &AppState,
    tenant: &PoolRuntime,
    code: &str,
) -> Result<(), StoreError> {
    app.kv
        .put(&replayed_key(tenant, code), b"1", CODE_TTL)
        .await
}

pub async fn was_replayed(
    app: &AppState,
    tenant: &PoolRuntime,
    code: &str,
) -> Result<bool, StoreError> {
    Ok(app.kv.get(&replayed_key(tenant, code)).await?.is_some())
}
