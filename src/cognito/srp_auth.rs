//! `USER_SRP_AUTH` and its `PASSWORD_VERIFIER` challenge, as Amplify and the AWS SDKs run
//! them. The challenge state (the server's secret `b`, `A`, `B`, the verifier) stays in the KV
//! store under the hash of `SECRET_BLOCK`, a random opaque value used once. An unknown user,
//! or one without a verifier yet, gets a challenge that looks the same (salt and verifier
//! derived from the name with the master key) and fails at the proof like a wrong password.
//! Every proof counts toward the same lockout as a password.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::signin::{after_password, param, within_rate};
use super::wire::check_secret_hash;
use super::{ApiError, Ctx};
use crate::accounts::normalize_identifier;
use crate::accounts::signin::Throttle;
use crate::audit;
use crate::crypto::srp::{self, hex, unhex};
use crate::crypto::{ct_eq, sha256_hex};
use crate::model::SignInIdentifier;
use crate::model::pool::RateCategory;
use crate::pools::PoolRuntime;
use crate::store::sql::clients::Client;
use crate::store::sql::users;

/// How long the challenge waits for its answer.
const CHALLENGE_TTL: Duration = Duration::from_secs(180);

#[derive(Serialize, Deserialize)]
struct Pending {
    client_id: String,
    /// `None`: a decoy challenge (no such user, or no verifier yet).
    sub: Option<String>,
    /// What the client typed (the lockout's key).
    typed: String,
    user_id: String,
    a: String,
    b: String,
    big_b: String,
    verifier: String,
}

fn key(tenant: &PoolRuntime, secret_block: &str) -> String {
    format!(
        "{}:srp:{}",
        tenant.pool.id,
        sha256_hex(secret_block.as_bytes())
    )
}

/// `InitiateAuth` with `USER_SRP_AUTH`: the `PASSWORD_VERIFIER` challenge.
pub async fn start(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    client: &Client,
    p: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    if !tenant.pool.settings.srp {
        return Err(ApiError::invalid_parameter(
            "USER_SRP_AUTH is switched off in this user pool; use USER_PASSWORD_AUTH",
        ));
    }
    let typed = param(p, "USERNAME")?;
    check_secret_hash(
        ctx.app,
        client,
        typed,
        p.get("SECRET_HASH").map(String::as_str),
    )?;
    let a =
        srp::parse_a(param(p, "SRP_A")?).map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    within_rate(ctx, tenant, RateCategory::SignIn).await?;
    let norm = normalize_identifier(typed);
    let (pool, n, mode) = (
        tenant.pool.id.clone(),
        norm.clone(),
        tenant.pool.settings.sign_in_identifier,
    );
    let user = if norm.is_empty() || norm.chars().count() > 256 {
        None
    } else {
        ctx.app
            .sql
            .run(move |c| users::find_for_sign_in(c, &pool, &n, mode))
            .await?
    };
    let real = user.and_then(|u| {
        let (salt, v) = srp::parse_stored(u.srp_verifier.as_deref()?)?;
        Some((u.sub.to_string(), u.username.clone(), salt, v))
    });
    let (sub, user_id, salt, verifier) = match real {
        Some((sub, name, salt, v)) => (Some(sub), name, salt, v),
        None => {
            let (salt, v, id) = decoy(ctx, tenant, &norm)?;
            // Where usernames are subs (email as username), a real answer names a UUID.
            let id = if mode == SignInIdentifier::Email {
                id
            } else {
                typed.to_string()
            };
            (None, id, salt, v)
        }
    };
    let mut b = [0u8; 32];
    ctx.app.random.fill(&mut b);
    let big_b = srp::public_b(&verifier, &b).map_err(ApiError::internal)?;
    let mut block = [0u8; 48];
    ctx.app.random.fill(&mut block);
    let secret_block = STANDARD.encode(block);
    let pending = Pending {
        client_id: client.client_id.to_string(),
        sub,
        typed: typed.to_string(),
        user_id: user_id.clone(),
        a: hex(&a),
        b: hex(&b),
        big_b: hex(&big_b),
        verifier: hex(&verifier),
    };
    let bytes = serde_json::to_vec(&pending).map_err(ApiError::internal)?;
    ctx.app
        .kv
        .put(&key(tenant, &secret_block), &bytes, CHALLENGE_TTL)
        .await?;
    Ok(json!({
        "ChallengeName": "PASSWORD_VERIFIER",
        "ChallengeParameters": {
            "SALT": hex(&salt),
            "SRP_B": hex(&big_b),
            "SECRET_BLOCK": secret_block,
            "USER_ID_FOR_SRP": user_id,
            "USERNAME": user_id,
        },
    }))
}

/// A stable salt, verifier and UUID-shaped user id for a name that has no verifier (the same
/// on every try, so the challenge does not tell a missing user from a real one).
fn decoy(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    norm: &str,
) -> Result<(Vec<u8>, Vec<u8>, String), ApiError> {
    let mac = ctx
        .app
        .master_key
        .mac(&format!("srp-decoy/{}", tenant.pool.id), norm.as_bytes());
    let salt = unhex(mac.get(..32).unwrap_or_default()).unwrap_or_default();
    let v = srp::verifier("decoy", norm, &mac, &salt).map_err(ApiError::internal)?;
    let mut id = [0u8; 16];
    let bytes = unhex(mac.get(32..64).unwrap_or_default()).unwrap_or_default();
    for (d, b) in id.iter_mut().zip(bytes) {
        *d = b;
    }
    let id = uuid::Builder::from_random_bytes(id).into_uuid().to_string();
    Ok((salt, v, id))
}

/// `RespondToAuthChallenge` with `PASSWORD_VERIFIER`.
pub async fn verify(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    client: &Client,
    p: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let block = param(p, "PASSWORD_CLAIM_SECRET_BLOCK")?;
    let signature = param(p, "PASSWORD_CLAIM_SIGNATURE")?;
    let timestamp = param(p, "TIMESTAMP")?;
    let username = param(p, "USERNAME")?;
    check_secret_hash(
        ctx.app,
        client,
        username,
        p.get("SECRET_HASH").map(String::as_str),
    )?;
    if srp::parse_timestamp(timestamp).is_none() {
        return Err(ApiError::invalid_parameter(
            "TIMESTAMP must read like 'Tue Feb 4 08:03:02 UTC 2025'",
        ));
    }
    let expired = || ApiError::not_authorized("Invalid session for the user, session is expired.");
    if block.len() > 512 {
        return Err(expired());
    }
    let taken = ctx.app.kv.take(&key(tenant, block)).await?;
    let pending: Pending = taken
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|p: &Pending| p.client_id == client.client_id.as_str())
        .ok_or_else(expired)?;
    let throttle = Throttle::new(&tenant.pool.id, &pending.typed, ctx.ip);
    let Some(reserved) = throttle.reserve(ctx.app).await? else {
        return Err(ApiError::not_authorized("Password attempts exceeded"));
    };
    let proven = proof_holds(tenant, &pending, block, signature, timestamp)?;
    match (&pending.sub, proven) {
        (Some(sub), true) => {
            throttle.succeeded(ctx.app, reserved).await?;
            let user = crate::accounts::find(ctx.app, &tenant.pool.id, sub).await?;
            if !user.enabled {
                return Err(ApiError::not_authorized("User is disabled."));
            }
            let actx = audit::Context {
                sub: Some(sub),
                ip: ctx.ip,
                detail: "SRP",
                ..Default::default()
            };
            audit::record(ctx.app, &tenant.pool.id, audit::Kind::SignIn, actx, ctx.now).await;
            after_password(ctx, tenant, client, user, vec!["pwd".to_string()]).await
        }
        _ => {
            let actx = audit::Context {
                sub: pending.sub.as_deref(),
                ip: ctx.ip,
                detail: "wrong SRP proof or account state",
                ..Default::default()
            };
            audit::record(
                ctx.app,
                &tenant.pool.id,
                audit::Kind::SignInFailed,
                actx,
                ctx.now,
            )
            .await;
            throttle.failed(ctx.app, reserved, ctx.ip, ctx.now).await?;
            Err(ApiError::not_authorized("Incorrect username or password."))
        }
    }
}

/// Does `signature` prove knowledge of the password behind the pending verifier?
fn proof_holds(
    tenant: &PoolRuntime,
    pending: &Pending,
    block: &str,
    signature: &str,
    timestamp: &str,
) -> Result<bool, ApiError> {
    let (Some(a), Some(b), Some(big_b), Some(v)) = (
        unhex(&pending.a),
        unhex(&pending.b),
        unhex(&pending.big_b),
        unhex(&pending.verifier),
    ) else {
        return Err(ApiError::internal(
            "a corrupt SRP challenge in the KV store",
        ));
    };
    let Ok(block_bytes) = STANDARD.decode(block) else {
        return Ok(false);
    };
    let Ok(presented) = STANDARD.decode(signature) else {
        return Ok(false);
    };
    let key = srp::session_key(&a, &big_b, &b, &v).map_err(ApiError::internal)?;
    let expected = srp::claim_signature(
        &key,
        srp::pool_name(tenant.pool.id.as_str()),
        &pending.user_id,
        &block_bytes,
        timestamp,
    );
    Ok(ct_eq(&expected, &presented))
}
