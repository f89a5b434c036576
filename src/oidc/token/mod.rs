//! The token endpoint (RFC 6749 §3.2): authenticates the client and dispatches on `grant_type`.

pub mod authorization_code;
pub mod client_credentials;
pub mod direct;
pub mod exchange;
mod issue;
pub mod refresh;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::client_auth::authenticate;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use crate::model::pool::RateCategory;
use crate::pools::PoolRuntime;
use crate::state::AppState;

pub(crate) use issue::identities_claim;

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// RFC 8693 §2.2.1: the type of the token issued by an exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// Handles one token request for the pool `tenant`.
pub async fn exchange(
    app: &AppState,
    tenant: &PoolRuntime,
    authorization: Option<&[u8]>,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let limits = &tenant.pool.settings.rate_limits;
    let rated = crate::limits::rate(app, &tenant.pool.id, limits, RateCategory::Token).await?;
    if let Err(l) = rated {
        return Err(OAuthError::rate_limited(l.retry_after));
    }
    let grant_type = params.require("grant_type")?;
    let client = authenticate(tenant, authorization, params)?;
    let issued = match grant_type {
        "client_credentials" => client_credentials::grant(app, tenant, &client, params, now),
        "authorization_code" => authorization_code::grant(app, tenant, &client, params, now).await,
        "refresh_token" => refresh::grant(app, tenant, &client, params, now).await,
        exchange::GRANT => exchange::grant(app, tenant, &client, params, now).await,
        _ => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "unsupported grant_type",
        )),
    };
    if issued.is_ok() {
        app.metrics.token(grant_type);
    }
    issued
}
