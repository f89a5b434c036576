//! Refresh token grant (RFC 6749 §6) with rotation on every use and reuse detection
//! (RFC 9700 §4.14): a rotated token that comes back revokes its whole family.

use chrono::{DateTime, Utc};

use super::TokenResponse;
use super::issue::{Issued, UserGrant, load_user, user_tokens};
use crate::clock::RandomExt;
use crate::crypto::sha256_hex;
use crate::model::GrantType;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::clients::Client;
use crate::store::sql::refresh_tokens::{self, RefreshToken};

pub async fn grant(
    app: &AppState,
    tenant: &PoolRuntime,
    auth: &AuthenticatedClient,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let token = params.require("refresh_token")?;
    redeem(app, tenant, &auth.client, token, params.get("scope"), now).await
}

/// Rotates `token` of `client` into a new token set (`scope` may narrow the granted one):
/// the grant above, and the Cognito API's `REFRESH_TOKEN_AUTH`.
pub async fn redeem(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    token: &str,
    scope: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    check_grant_allowed(client)?;
    let hash = sha256_hex(token.as_bytes());
    let presented = find_live_token(app, tenant, client, &hash, now).await?;
    let scope = narrowed_scope(&presented, scope)?;
    let issued = issue_tokens(app, tenant, client, &presented, &scope, now).await?;
    if !rotate(app, tenant, hash, presented.family_id, issued.refresh, now).await? {
        tracing::warn!(pool = %tenant.pool.id, client_id = %client.client_id, "refresh token reused; family revoked");
        return Err(OAuthError::invalid_grant(
            "the refresh token has already been used",
        ));
    }
    Ok(issued.response)
}

/// The `sub` of the user a live refresh token of `client` was issued to, without using it
/// (the Cognito API checks `SECRET_HASH` against that user before the rotation).
pub async fn owner(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, OAuthError> {
    let hash = sha256_hex(token.as_bytes());
    match find_live_token(app, tenant, client, &hash, now).await {
        Ok(t) => Ok(Some(t.sub)),
        Err(e) if e.code == ErrorCode::InvalidGrant => Ok(None),
        Err(e) => Err(e),
    }
}

/// Checks that `client` may use the refresh token grant.
fn check_grant_allowed(client: &Client) -> Result<(), OAuthError> {
    if !client.grant_types.contains(&GrantType::RefreshToken) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use refresh_token",
        ));
    }
    Ok(())
}

/// Checks that the token with this hash exists, belongs to `client`, and is neither revoked
/// nor expired.
async fn find_live_token(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<RefreshToken, OAuthError> {
    let (pool, h) = (tenant.pool.id.clone(), hash.to_string());
    let found = app
        .sql
        .run(move |c| refresh_tokens::find(c, &pool, &h))
        .await?;
    let presented = found
        .filter(|t| t.client_id == client.client_id.as_str())
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
    if presented.revoked_at.is_some() || presented.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the refresh token is revoked or expired",
        ));
    }
    Ok(presented)
}

/// Checks that a requested `scope` only narrows the granted one; returns the scope to issue.
fn narrowed_scope(presented: &RefreshToken, asked: Option<&str>) -> Result<String, OAuthError> {
    let granted: Vec<&str> = presented.scope.split(' ').collect();
    match asked {
        None => Ok(presented.scope.clone()),
        Some(s) => {
            let asked: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
            if asked.is_empty() || asked.iter().any(|a| !granted.contains(a)) {
                return Err(OAuthError::invalid_scope(
                    "a refresh may only narrow the granted scope",
                ));
            }
            Ok(asked.join(" "))
        }
    }
}

/// Issues the token set for the token's user, if they may still sign in, in the same family.
async fn issue_tokens(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    presented: &RefreshToken,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<Issued, OAuthError> {
    let subject = load_user(app, tenant, &presented.sub).await?;
    user_tokens(
        app,
        tenant,
        UserGrant {
            user: &subject.user,
            groups: &subject.groups,
            roles: &subject.roles,
            identities: &subject.identities,
            client,
            scope,
            refresh_scope: &presented.scope,
            jti: app.random.token(16),
            nonce: None,
            auth_time: presented.auth_time,
            amr: &presented.amr,
            sid: presented.sid.as_deref(),
            family: (presented.family_id.clone(), presented.expires_at),
        },
        now,
    )
}

/// Marks the presented token used and stores its successor, at once. False when it was used
/// before outside the grace window: a reuse, and the whole family is revoked.
async fn rotate(
    app: &AppState,
    tenant: &PoolRuntime,
    hash: String,
    family: String,
    next: Option<RefreshToken>,
    now: DateTime<Utc>,
) -> Result<bool, OAuthError> {
    let pool = tenant.pool.id.clone();
    let grace =
        chrono::TimeDelta::seconds(i64::try_from(app.config.refresh_reuse_grace_secs).unwrap_or(0));
    let (p, h, n) = (pool.clone(), hash.clone(), next.clone());
    let done = app
        .sql
        .run(move |c| match &n {
            Some(row) => refresh_tokens::rotate(c, &p, &h, row, now),
            None => refresh_tokens::mark_used(c, &p, &h, now),
        })
        .await?;
    if done {
        return Ok(true);
    }
    // Used before (or revoked or expired since it was read). Within the grace window that is
    // a concurrent duplicate (two tabs); otherwise someone holds a copy: kill the family.
    let rotated = app
        .sql
        .transaction(move |c| {
            let again = refresh_tokens::find(c, &pool, &hash)?;
            let duplicate = grace > chrono::TimeDelta::zero()
                && again.is_some_and(|t| {
                    t.revoked_at.is_none() && t.used_at.is_some_and(|u| now - u <= grace)
                });
            if !duplicate {
                refresh_tokens::revoke_family(c, &pool, &family, now)?;
                return Ok(false);
            }
            if let Some(row) = &next {
                refresh_tokens::insert(c, &pool, row)?;
            }
            Ok(true)
        })
        .await?;
    Ok(rotated)
}
