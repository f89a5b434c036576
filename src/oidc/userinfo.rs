//! The UserInfo endpoint (OIDC Core §5.3): claims of the token's user for its scopes.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::claims;
use super::error::{ErrorCode, OAuthError};
use super::introspect::{active_access_token, enabled_user, signed_out};
use crate::pools::PoolRuntime;
use crate::state::AppState;

pub async fn userinfo(
    app: &AppState,
    tenant: &PoolRuntime,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, OAuthError> {
    let token_claims = active_access_token(app, tenant, token, now).await?;
    let scope = token_claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let scopes: Vec<&str> = scope.split(' ').collect();
    if !scopes.contains(&"openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token was not granted the openid scope",
        ));
    }
    let sub = token_claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let user = enabled_user(app, tenant, &sub).await?.ok_or_else(|| {
        OAuthError::invalid_token("the token's user no longer exists or is disabled")
    })?;
    if signed_out(&user, &token_claims) {
        return Err(OAuthError::invalid_token(
            "the access token was revoked by a global sign-out",
        ));
    }
    let client_id = token_claims
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let client = tenant
        .clients
        .get(client_id)
        .ok_or_else(|| OAuthError::invalid_token("the token's client no longer exists"))?;
    Ok(claims::for_scopes(&user, &scopes, &client.settings))
}
