//! Token introspection (RFC 7662) and revocation (RFC 7009) of access tokens: revoked `jti`s
//! are kept in the KV store until the token would have expired anyway.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::client_auth::{AuthMethod, authenticate};
use super::error::OAuthError;
use super::params::Params;
use super::tokens::verify_access_token;
use crate::pools::PoolRuntime;
use crate::state::AppState;

fn revoked_key(pool: &str, jti: &str) -> String {
    format!("{pool}:revoked-at:{jti}")
}

/// The claims of a live access token of this pool: signed, unexpired, not revoked.
pub async fn active_access_token(
    st: &AppState,
    rt: &PoolRuntime,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, OAuthError> {
    let claims = verify_access_token(rt, token, now)?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if st
        .kv
        .get(&revoked_key(rt.pool.id.as_str(), jti))
        .await
        .map_err(OAuthError::server)?
        .is_some()
    {
        return Err(OAuthError::new(
            super::error::ErrorCode::InvalidToken,
            "the access token has been revoked",
        ));
    }
    Ok(claims)
}

fn confidential(
    rt: &PoolRuntime,
    authorization: Option<&[u8]>,
    params: &Params,
) -> Result<super::client_auth::AuthenticatedClient, OAuthError> {
    let client = authenticate(rt, authorization, params)?;
    if client.method == AuthMethod::None {
        return Err(OAuthError::invalid_client(
            "this endpoint needs client authentication",
        ));
    }
    Ok(client)
}

/// RFC 7662 §2: `{"active": false}` for anything not live in this pool.
pub async fn introspect(
    st: &AppState,
    rt: &PoolRuntime,
    authorization: Option<&[u8]>,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<Value, OAuthError> {
    confidential(rt, authorization, params)?;
    let token = params.require("token")?;
    match active_access_token(st, rt, token, now).await {
        Ok(claims) => {
            let mut out = json!({ "active": true, "token_type": "Bearer" });
            if let Some(obj) = out.as_object_mut() {
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
                        obj.insert(k.into(), v.clone());
                    }
                }
            }
            Ok(out)
        }
        Err(e) if e.code == super::error::ErrorCode::ServerError => Err(e),
        Err(_) => Ok(json!({ "active": false })),
    }
}

/// RFC 7009 §2: revokes an access token of the authenticated client. Unknown or foreign tokens
/// still get a success answer (§2.2), but another client's token is left alone.
pub async fn revoke(
    st: &AppState,
    rt: &PoolRuntime,
    authorization: Option<&[u8]>,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let client = authenticate(rt, authorization, params)?;
    let token = params.require("token")?;
    let Ok(claims) = verify_access_token(rt, token, now) else {
        return Ok(());
    };
    if claims.get("client_id").and_then(Value::as_str) != Some(client.client.client_id.as_str()) {
        return Ok(());
    }
    let (Some(jti), Some(exp)) = (
        claims.get("jti").and_then(Value::as_str),
        claims.get("exp").and_then(Value::as_i64),
    ) else {
        return Ok(());
    };
    let ttl = Duration::from_secs(u64::try_from(exp - now.timestamp()).unwrap_or(1).max(1));
    st.kv
        .put(&revoked_key(rt.pool.id.as_str(), jti), b"1", ttl)
        .await
        .map_err(OAuthError::server)
}
