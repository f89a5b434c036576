//! The account page's sign-in methods: the upstream identities linked to the signed-in user,
//! connecting another one (a round trip to its provider that ends back on the account page)
//! and disconnecting one, never the last way to sign in.

use chrono::{DateTime, Utc};

use super::federated;
use super::outcome::{Browser, Outcome};
use super::tx::{self, LoginTx, Step};
use crate::federation::FederationError;
use crate::federation::identities;
use crate::oidc::error::OAuthError;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::federation::LinkedIdentity;
use crate::store::sql::users::User;

/// What the page lists: the linked identities, and the pool's providers not yet linked.
#[derive(Debug, Default)]
pub struct Connections {
    pub linked: Vec<LinkedIdentity>,
    pub available: Vec<String>,
}

pub async fn of(
    app: &AppState,
    tenant: &PoolRuntime,
    user: &User,
) -> Result<Connections, OAuthError> {
    let linked = identities::of_user(app, &tenant.pool.id, user.sub.as_str())
        .await
        .map_err(OAuthError::server)?;
    let available = tenant
        .providers
        .iter()
        .filter(|p| !linked.iter().any(|l| l.provider == p.name))
        .map(|p| p.name.clone())
        .collect();
    Ok(Connections { linked, available })
}

/// "Connect": a round trip to `provider` whose answer is linked to `user`. `Err` is the
/// message for the page.
pub async fn connect(
    app: &AppState,
    tenant: &PoolRuntime,
    user: &User,
    provider: &str,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Result<String, String>, OAuthError> {
    let pool = &tenant.pool.id;
    let tx = tx::begin(
        app,
        pool,
        None,
        Step::NeedPassword,
        browser.binding_hash(),
        now,
    )
    .await?;
    let tx = LoginTx {
        account_link: Some(user.sub.to_string()),
        ..tx
    };
    tx::save(app, pool, &tx).await?;
    match federated::start(app, tenant, tx, provider, now).await? {
        Outcome::Upstream(url) => Ok(Ok(url)),
        _ => Ok(Err(format!("{provider} cannot be connected just now."))),
    }
}

/// "Disconnect"; `Ok` is the notice, `Err` the error for the page.
pub async fn disconnect(
    app: &AppState,
    tenant: &PoolRuntime,
    user: &User,
    provider: &str,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Result<String, String>, OAuthError> {
    let sub = user.sub.as_str();
    match identities::unlink(app, &tenant.pool.id, provider, sub, browser.ip, now).await {
        Ok(()) => Ok(Ok(format!("{provider} was disconnected."))),
        Err(FederationError::Config(_)) => Ok(Err(format!(
            "{provider} is your only way to sign in, so it stays connected."
        ))),
        Err(FederationError::NotFound(_)) => Ok(Err(format!("{provider} is not connected."))),
        Err(e) => Err(OAuthError::server(e)),
    }
}
