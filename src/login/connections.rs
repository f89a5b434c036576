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
use crate::sessions;
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

/// The provider answered a "connect" round trip (`tx.account_link` names the owner): link the identity, unless it
/// belongs to someone else or the browser is no longer signed in as `owner`.
pub async fn finish_connect(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    provider: &str,
    subject: &str,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let pool = &tenant.pool.id;
    tx::take(app, pool, &tx.id).await?;
    let owner = tx.account_link.as_deref().unwrap_or_default();
    let session = sessions::live(app, pool, browser.session).await?;
    if session.is_none_or(|s| s.sub != owner) {
        return Ok(Outcome::expired());
    }
    match identities::link(app, pool, provider, subject, owner, browser.ip, now).await {
        Ok(()) => Ok(Outcome::Account),
        Err(FederationError::Config(_)) => Ok(Outcome::Page(format!(
            "That {provider} account is already connected to another user, or to you."
        ))),
        Err(e) => Err(OAuthError::server(e)),
    }
}
