//! Token introspection (RFC 7662) and revocation (RFC 7009). Access tokens are JWTs: a revoked
//! one's `jti` stays in the KV store until it would have expired anyway. Refresh tokens are
//! rows: revoking one revokes its family.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::client_auth::{AuthMethod, AuthenticatedClient, authenticate};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::tokens::verify_access_token;
use crate::crypto::sha256_hex;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::refresh_tokens::{self, RefreshToken};
use crate::store::sql::users::{self, User};

fn revoked_key(tenant: &PoolRuntime, jti: &str) -> String {
    format!("{}:revoked-at:{jti}", tenant.pool.id)
}

fn origin_key(tenant: &PoolRuntime, origin: &str) -> String {
    format!("{}:revoked-origin:{origin}", tenant.pool.id)
}

/// Revokes a refresh family and denies every access token issued in it (their `origin_jti`)
/// for as long as any of them can live.
pub async fn revoke_family(
    app: &AppState,
    tenant: &PoolRuntime,
    family: &str,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let (pool, f) = (tenant.pool.id.clone(), family.to_string());
    let (a, key) = (app.for_background(), origin_key(tenant, family));
    let ttl = Duration::from_secs(app.config.max_token_lifetime_secs.max(1));
    // Both or neither, even if the request is dropped between them.
    let work = async move {
        a.sql
            .run(move |c| refresh_tokens::revoke_family(c, &pool, &f, now))
            .await?;
        Ok(a.kv.put(&key, b"1", ttl).await?)
    };
    app.background
        .finish("revoking a refresh family", work)
        .await
}

/// Denies an access token by `jti` until its `exp`.
pub async fn deny_access_token(
    app: &AppState,
    tenant: &PoolRuntime,
    jti: &str,
    exp: i64,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let ttl = Duration::from_secs(u64::try_from(exp - now.timestamp()).unwrap_or(1).max(1));
    Ok(app.kv.put(&revoked_key(tenant, jti), b"1", ttl).await?)
}

/// The claims of a live access token of this pool: signed, unexpired, not revoked.
pub async fn active_access_token(
    app: &AppState,
    tenant: &PoolRuntime,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, OAuthError> {
    let claims = verify_access_token(tenant, token, now)?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // The token's own revocation and its sign-in's, in one round trip.
    let mut keys = vec![revoked_key(tenant, jti)];
    if let Some(origin) = claims.get("origin_jti").and_then(Value::as_str) {
        keys.push(origin_key(tenant, origin));
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    if app.kv.get_many(&refs).await?.iter().any(Option::is_some) {
        return Err(OAuthError::invalid_token(
            "the access token has been revoked",
        ));
    }
    Ok(claims)
}

/// Was the access token with these claims issued before its user's last global sign-out?
pub fn signed_out(user: &User, claims: &Map<String, Value>) -> bool {
    user.signed_out_since(claims.get("iat").and_then(Value::as_i64).unwrap_or(0))
}

/// The enabled user `sub` of this pool, as userinfo and introspection see it: remembered by
/// the pool's runtime until a write to its users.
pub async fn enabled_user(
    app: &AppState,
    tenant: &PoolRuntime,
    sub: &str,
) -> Result<Option<Arc<User>>, OAuthError> {
    let load = users::find_enabled(&app.sql, &tenant.pool.id, sub);
    Ok(tenant.enabled_user(sub, load).await?)
}

async fn refresh_row(
    app: &AppState,
    tenant: &PoolRuntime,
    token: &str,
) -> Result<Option<RefreshToken>, OAuthError> {
    if token.len() > 256 {
        return Ok(None);
    }
    let (pool, hash) = (tenant.pool.id.clone(), sha256_hex(token.as_bytes()));
    Ok(app
        .sql
        .run(move |c| refresh_tokens::find(c, &pool, &hash))
        .await?)
}

fn confidential(
    tenant: &PoolRuntime,
    authorization: Option<&[u8]>,
    params: &Params,
) -> Result<AuthenticatedClient, OAuthError> {
    let client = authenticate(tenant, authorization, params)?;
    if client.method == AuthMethod::None {
        return Err(OAuthError::invalid_client(
            "this endpoint needs client authentication",
        ));
    }
    Ok(client)
}

/// RFC 7662 §2: `{"active": false}` for anything not live in this pool.
pub async fn introspect(
    app: &AppState,
    tenant: &PoolRuntime,
    authorization: Option<&[u8]>,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<Value, OAuthError> {
    let caller = confidential(tenant, authorization, params)?;
    let token = params.require("token")?;
    let inactive = || Ok(json!({ "active": false }));
    match active_access_token(app, tenant, token, now).await {
        Ok(claims) => {
            let client_id = claims
                .get("client_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let sub = claims.get("sub").and_then(Value::as_str);
            // RFC 7662 §4: a client learns only about its own tokens, unless it is one of
            // the pool's resource servers. The answer agrees with userinfo: the token's
            // client and user (if any) must still exist, the user enabled.
            if !visible_to(&caller, client_id) || !tenant.clients.contains_key(client_id) {
                return inactive();
            }
            if let Some(sub) = sub.filter(|s| *s != client_id)
                && enabled_user(app, tenant, sub)
                    .await?
                    .is_none_or(|u| signed_out(&u, &claims))
            {
                return inactive();
            }
            let mut out = Map::new();
            out.insert("active".into(), json!(true));
            out.insert("token_type".into(), json!("Bearer"));
            for k in [
                "scope",
                "client_id",
                "username",
                "exp",
                "iat",
                "sub",
                "aud",
                "iss",
                "jti",
                "token_use",
                "auth_time",
            ] {
                if let Some(v) = claims.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            return Ok(Value::Object(out));
        }
        Err(e) if e.code == ErrorCode::ServerError => return Err(e),
        Err(_) => {}
    }
    let Some(r) = refresh_row(app, tenant, token).await? else {
        return inactive();
    };
    let live = r.revoked_at.is_none() && r.used_at.is_none() && r.expires_at > now;
    // Another client's refresh token is never shown, resource server or not.
    let own = r.client_id == caller.client.client_id.as_str()
        && tenant.clients.contains_key(r.client_id.as_str());
    if !live || !own || enabled_user(app, tenant, &r.sub).await?.is_none() {
        return inactive();
    }
    // RFC 7662 §2.2: token_type is an RFC 6749 §7.1 access token type; a refresh token has
    // none, so the member is left out.
    Ok(json!({
        "active": true,
        "scope": r.scope,
        "client_id": r.client_id,
        "sub": r.sub,
        "exp": r.expires_at.timestamp(),
        "iat": r.issued_at.timestamp(),
        "iss": tenant.issuer,
    }))
}

/// May `caller` learn about a token issued to `client_id`?
fn visible_to(caller: &AuthenticatedClient, client_id: &str) -> bool {
    caller.client.settings.introspect_any || caller.client.client_id.as_str() == client_id
}

/// RFC 7009 §2: revokes a token of the authenticated client. Unknown tokens and other
/// clients' tokens get the same success answer (§2.2) and are left alone.
pub async fn revoke(
    app: &AppState,
    tenant: &PoolRuntime,
    authorization: Option<&[u8]>,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let client = authenticate(tenant, authorization, params)?;
    let own = client.client.client_id.as_str();
    let token = params.require("token")?;
    if let Ok(claims) = verify_access_token(tenant, token, now) {
        let (jti, exp) = (
            claims.get("jti").and_then(Value::as_str),
            claims.get("exp").and_then(Value::as_i64),
        );
        if let (Some(jti), Some(exp), true) = (
            jti,
            exp,
            claims.get("client_id").and_then(Value::as_str) == Some(own),
        ) {
            deny_access_token(app, tenant, jti, exp, now).await?;
        }
        return Ok(());
    }
    if let Some(r) = refresh_row(app, tenant, token)
        .await?
        .filter(|r| r.client_id == own)
    {
        // RFC 7009 §2.1: the access tokens issued from it go too.
        revoke_family(app, tenant, &r.family_id, now).await?;
    }
    Ok(())
}
