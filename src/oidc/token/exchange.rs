//! RFC 8693 token exchange into an identity pool: a client of this pool trades a token from a
//! provider the identity pool trusts (an ID token or JWT; a social access token with
//! `subject_issuer`) for the identity token of its identity (`audience` = identity pool id).
//! The identity pool decides who may ask: it must list this pool and client among its
//! `CognitoIdentityProviders` (the lesson of Dex's GHSA-7qjx-gp9h-65qj: a client must not
//! exchange into targets nobody allowed it).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::TokenResponse;
use crate::identity::identities::{strip_scheme, trusts};
use crate::identity::{self, IdentityError};
use crate::model::client::GrantType;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::state::AppState;

pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

fn target(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, d)
}

fn invalid_grant(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, d)
}

/// The `iss` of a JWT, read without verifying it (only to know whose keys verify it).
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

/// The provider key of the subject token.
fn provider_key(params: &Params, token: &str) -> Result<String, OAuthError> {
    match params.require("subject_token_type")? {
        ID_TOKEN | JWT => unverified_issuer(token)
            .map(|iss| strip_scheme(&iss).to_string())
            .ok_or_else(|| invalid_grant("subject_token is not a JWT with an issuer")),
        ACCESS_TOKEN => params
            .get("subject_issuer")
            .map(str::to_string)
            .ok_or_else(|| {
                OAuthError::invalid_request(
                    "an access_token subject needs subject_issuer (its provider, e.g. graph.facebook.com)",
                )
            }),
        _ => Err(OAuthError::invalid_request(
            "subject_token_type must be an id_token, jwt or access_token token type",
        )),
    }
}

/// Checks what the request asks for before any token is looked at.
fn check_request(client: &AuthenticatedClient, params: &Params) -> Result<(), OAuthError> {
    if !client
        .client
        .grant_types
        .contains(&GrantType::TokenExchange)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use token exchange",
        ));
    }
    if params.get("actor_token").is_some() || params.get("actor_token_type").is_some() {
        return Err(OAuthError::invalid_request(
            "actor_token (delegation) is not supported",
        ));
    }
    if params.get("resource").is_some() {
        return Err(target(
            "name the identity pool as audience; resource is not supported",
        ));
    }
    match params.get("requested_token_type") {
        None | Some(ID_TOKEN) | Some(JWT) => Ok(()),
        Some(_) => Err(OAuthError::invalid_request(
            "requested_token_type must be the id_token (or jwt) token type",
        )),
    }
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`.
pub async fn grant(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &AuthenticatedClient,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    check_request(client, params)?;
    let subject = params.require("subject_token")?;
    let audience = params.require("audience")?;
    let key = provider_key(params, subject)?;
    let pool = match identity::find(app, audience).await {
        Ok(p) => p,
        Err(IdentityError::NotFound(_)) => return Err(target("no identity pool has that id")),
        Err(e) => return Err(mapped(e)),
    };
    let me = strip_scheme(&tenant.issuer);
    let allowed = pool
        .settings
        .user_pools
        .iter()
        .any(|p| p.provider_name == me && p.client_id == client.client.client_id.as_str());
    if !allowed {
        return Err(target("the identity pool does not trust this client"));
    }
    if !trusts(&pool, &key) {
        return Err(target(
            "the identity pool does not take tokens from the subject token's issuer",
        ));
    }
    let issued = identity::flows::exchange(app, &pool, &key, subject, now)
        .await
        .map_err(mapped)?;
    let exp = issued
        .claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or(now.timestamp());
    tracing::info!(identity_pool = %pool.id, identity = %issued.identity_id, client_id = %client.client.client_id, "token exchanged for an identity token");
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "N_A",
        expires_in: exp - now.timestamp(),
        refresh_token: None,
        id_token: None,
        scope: String::new(),
        issued_token_type: Some(ID_TOKEN),
    })
}

/// The identity service's refusals as RFC 8693 errors.
fn mapped(e: IdentityError) -> OAuthError {
    match e {
        IdentityError::NotAuthorized(m) | IdentityError::Conflict(m) => invalid_grant(m),
        IdentityError::Invalid(m) | IdentityError::Configuration(m) => target(m),
        IdentityError::NotFound(_) | IdentityError::NoIdentity(_) => {
            target("no identity pool has that id")
        }
        IdentityError::External(m) => OAuthError::new(ErrorCode::TemporarilyUnavailable, m),
        IdentityError::Upstream(m) => OAuthError::server(m),
        IdentityError::Store(s) => OAuthError::server(s),
    }
}
