//! Authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636): single use through an
//! atomic take; a replayed code revokes what its first redemption issued.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::TokenResponse;
use super::issue::{Issued, UserGrant, access_ttl, load_user, new_family, user_tokens};
use crate::clock::RandomExt;
use crate::model::GrantType;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::code::{self, CodeGrant, Redeemed};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::oidc::{introspect, pkce};
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::clients::Client;
use crate::store::sql::refresh_tokens::{self, RefreshToken};

/// What a redemption will issue, decided before the take so that a replay can revoke it.
struct Planned {
    /// The access token's id.
    jti: String,
    /// The refresh family id and its absolute expiry.
    family: (String, DateTime<Utc>),
    /// When the access token expires (Unix seconds).
    access_exp: i64,
}

pub async fn grant(
    app: &AppState,
    tenant: &PoolRuntime,
    auth: &AuthenticatedClient,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let client = &auth.client;
    check_grant_allowed(client)?;
    let presented = params.require("code")?;
    // What this redemption will issue is decided before the take, and recorded right after
    // it: a replay arriving while we are still signing can already revoke it.
    let planned = Planned {
        jti: app.random.token(16),
        family: new_family(app, client, now),
        access_exp: now.timestamp() + access_ttl(app, client),
    };
    let grant = take_code(app, tenant, client, presented, &planned, now).await?;
    check_binding(&grant, client, params)?;
    let Planned { jti, family, .. } = planned;
    let issued = issue_tokens(app, tenant, client, &grant, jti, family.clone(), now).await?;
    if let Some(row) = issued.refresh {
        store_refresh_token(app, tenant, presented, row, family.0, now).await?;
    }
    Ok(issued.response)
}

/// Checks that `client` may use the authorization code grant.
fn check_grant_allowed(client: &Client) -> Result<(), OAuthError> {
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use authorization_code",
        ));
    }
    Ok(())
}

/// Takes the code atomically, recording in the same step what this redemption will issue;
/// a code taken before revokes what its first redemption issued, an unknown one is refused.
async fn take_code(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    presented: &str,
    planned: &Planned,
    now: DateTime<Utc>,
) -> Result<CodeGrant, OAuthError> {
    let marker = Redeemed {
        family_id: Some(planned.family.0.clone()),
        jti: planned.jti.clone(),
        exp: planned.access_exp,
    };
    // Kept for as long as the access token lives (the in-process store drops the oldest such
    // marks first when over its budget: replays of older codes are then refused without the
    // revocation; every code stays single-use).
    let ttl = Duration::from_secs(
        u64::try_from(planned.access_exp - now.timestamp())
            .unwrap_or(60)
            .max(60),
    );
    match code::redeem(app, tenant, presented, &marker, ttl).await? {
        Ok(g) => Ok(g),
        Err(Some(first)) => {
            revoke_first_redemption(app, tenant, client, presented, first, now).await?;
            Err(OAuthError::invalid_grant(
                "the authorization code has already been used",
            ))
        }
        Err(None) => Err(OAuthError::invalid_grant(
            "the authorization code is invalid or expired",
        )),
    }
}

/// A second redemption: someone else holds the code. Revokes what the first one bought.
async fn revoke_first_redemption(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    presented: &str,
    first: Redeemed,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    tracing::warn!(pool = %tenant.pool.id, client_id = %client.client_id, "authorization code replayed; revoking its tokens");
    introspect::deny_access_token(app, tenant, &first.jti, first.exp, now).await?;
    if let Some(family) = first.family_id {
        code::mark_replayed(app, tenant, presented).await?;
        let pool = tenant.pool.id.clone();
        app.sql
            .run(move |c| refresh_tokens::revoke_family(c, &pool, &family, now))
            .await?;
    }
    Ok(())
}

/// Checks that the code was issued to `client`, for this `redirect_uri`, then its PKCE.
fn check_binding(grant: &CodeGrant, client: &Client, params: &Params) -> Result<(), OAuthError> {
    if grant.client_id != client.client_id.as_str() {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if params.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    check_code_verifier(grant, params)
}

/// Checks `code_verifier` against the code's challenge; none may be sent without a challenge.
fn check_code_verifier(grant: &CodeGrant, params: &Params) -> Result<(), OAuthError> {
    match (&grant.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent for a code issued without PKCE",
        )),
        (None, None) => Ok(()),
    }
}

/// Issues the token set for the code's user, if they may still sign in.
async fn issue_tokens(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    grant: &CodeGrant,
    jti: String,
    family: (String, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<Issued, OAuthError> {
    let subject = load_user(app, tenant, &grant.sub).await?;
    user_tokens(
        app,
        tenant,
        UserGrant {
            user: &subject.user,
            groups: &subject.groups,
            roles: &subject.roles,
            identities: &subject.identities,
            client,
            scope: &grant.scope,
            refresh_scope: &grant.scope,
            jti,
            nonce: grant.nonce.as_deref(),
            auth_time: grant.auth_time,
            amr: &grant.amr,
            sid: grant.sid.as_deref(),
            family,
        },
        now,
    )
}

/// Stores the new refresh token, then revokes its family if the code was replayed meanwhile.
async fn store_refresh_token(
    app: &AppState,
    tenant: &PoolRuntime,
    presented: &str,
    row: RefreshToken,
    family_id: String,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let pool = tenant.pool.id.clone();
    app.sql
        .run(move |c| refresh_tokens::insert(c, &pool, &row))
        .await?;
    // A replay that came while we were issuing found no rows to revoke: do it now. This
    // redemption still answers (exactly one of two wins), with tokens already revoked.
    if code::was_replayed(app, tenant, presented).await? {
        let pool = tenant.pool.id.clone();
        app.sql
            .run(move |c| refresh_tokens::revoke_family(c, &pool, &family_id, now))
            .await?;
    }
    Ok(())
}
