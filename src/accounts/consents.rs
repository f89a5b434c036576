//! The applications a user allowed (remembered consents): listed on the account page and by
//! `tessera user consents`, and taken back, which also revokes that application's refresh
//! tokens for the user (as Keycloak's "revoke grant" and Hydra's consent revocation do).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AccountError;
use crate::audit;
use crate::ids::PoolId;
use crate::state::AppState;
use crate::store::sql::{consents as rows, refresh_tokens};

/// One application the user allowed.
#[derive(Debug, Clone, Serialize)]
pub struct Granted {
    pub client_id: String,
    /// `None` when the client has been deleted since.
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// What `sub` allowed, by client id.
pub async fn list(app: &AppState, pool: &PoolId, sub: &str) -> Result<Vec<Granted>, AccountError> {
    let (p, s) = (pool.clone(), sub.to_string());
    let found = app.sql.run(move |c| rows::list(c, &p, &s)).await?;
    let tenant = app.pools.get(pool.as_str());
    Ok(found
        .into_iter()
        .map(|c| Granted {
            client_name: tenant
                .as_ref()
                .and_then(|t| t.clients.get(&c.client_id))
                .map(|cl| cl.name.clone()),
            client_id: c.client_id,
            scopes: c.scopes,
            granted_at: c.updated_at,
        })
        .collect())
}

/// Takes back what `sub` allowed `client_id` and revokes the refresh tokens it holds for them;
/// the next sign-in to that application asks again. Whether there was a consent.
pub async fn revoke(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    client_id: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, AccountError> {
    let (p, s, cid) = (pool.clone(), sub.to_string(), client_id.to_string());
    let existed = app
        .sql
        .transaction(move |c| {
            let existed = rows::delete(c, &p, &s, &cid)?;
            refresh_tokens::revoke_user_client(c, &p, &s, &cid, now)?;
            Ok(existed)
        })
        .await?;
    if existed {
        let ctx = audit::Context {
            sub: Some(sub),
            client_id: Some(client_id),
            ip,
            ..Default::default()
        };
        audit::record(app, pool, audit::Kind::ConsentRevoked, ctx, now).await;
    }
    Ok(existed)
}
