//! Client credentials grant (RFC 6749 §4.4): a confidential client gets an access token for
//! its own custom scopes; no ID token, no refresh token, `sub` is the client id.

use chrono::{DateTime, Utc};

use super::TokenResponse;
use crate::clients::custom_scopes;
use crate::clock::RandomExt;
use crate::model::GrantType;
use crate::oidc::client_auth::{AuthMethod, AuthenticatedClient};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::oidc::tokens::{AccessClaims, access_token};
use crate::pools::PoolRuntime;
use crate::state::AppState;

pub fn grant(
    app: &AppState,
    tenant: &PoolRuntime,
    auth: &AuthenticatedClient,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let client = &auth.client;
    if auth.method == AuthMethod::None
        || !client.grant_types.contains(&GrantType::ClientCredentials)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use client_credentials",
        ));
    }
    let allowed = custom_scopes(client);
    let scopes: Vec<&str> = match params.get("scope") {
        // Without a scope parameter the client gets every custom scope it is allowed (as Cognito does).
        None => allowed.clone(),
        Some(s) => {
            let requested: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
            if let Some(bad) = requested.iter().find(|r| !allowed.contains(r)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {bad:?} is not allowed for client_credentials"
                )));
            }
            requested
        }
    };
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the client has no custom scopes to grant",
        ));
    }
    let scope = scopes.join(" ");
    let ttl = super::issue::access_ttl(app, client);
    let jti = app.random.token(16);
    let token = access_token(
        tenant,
        &AccessClaims {
            sub: client.client_id.as_str(),
            client_id: client.client_id.as_str(),
            scope: &scope,
            jti: &jti,
            ttl_secs: ttl,
            auth_time: None,
            username: None,
            groups: &[],
            origin: None,
        },
        now,
    )?;
    Ok(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token: None,
        id_token: None,
        scope,
        issued_token_type: None,
    })
}
