//! Tokens for a sign-in made without a browser (the Cognito API's `InitiateAuth` and its
//! challenges): the token set the code grant issues, in a new refresh family, with no SSO
//! session behind it.

use chrono::{DateTime, Utc};

use super::TokenResponse;
use super::issue::{UserGrant, load_user, new_family, user_tokens};
use crate::clock::RandomExt;
use crate::oidc::error::OAuthError;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::clients::Client;
use crate::store::sql::refresh_tokens;

/// Issues tokens to `client` for the user `sub`, who just proved `amr`.
pub async fn issue(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    sub: &str,
    scope: &str,
    amr: &[String],
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let subject = load_user(app, tenant, sub).await?;
    // The API's clients expect a refresh token whenever they may refresh (Cognito always
    // returns one): the family is granted offline access.
    let refresh_scope = if client.settings.allows_flow("ALLOW_REFRESH_TOKEN_AUTH") {
        format!("{scope} offline_access")
    } else {
        scope.to_string()
    };
    let issued = user_tokens(
        app,
        tenant,
        UserGrant {
            user: &subject.user,
            groups: &subject.groups,
            roles: &subject.roles,
            identities: &subject.identities,
            client,
            scope,
            refresh_scope: &refresh_scope,
            jti: app.random.token(16),
            nonce: None,
            auth_time: now.timestamp(),
            amr,
            sid: None,
            family: new_family(app, client, now),
        },
        now,
    )?;
    if let Some(row) = issued.refresh {
        let pool = tenant.pool.id.clone();
        app.sql
            .run(move |c| refresh_tokens::insert(c, &pool, &row))
            .await?;
    }
    app.metrics.token("cognito_api");
    Ok(issued.response)
}
