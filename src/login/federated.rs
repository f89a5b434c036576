//! The federated step: sign in at an upstream identity provider. `start` sends the browser
//! there with a state bound to the login transaction and this browser (accepted once), a
//! nonce and a PKCE challenge; `callback` takes the answer at `/oauth2/idpresponse`, checks
//! it, and hands the linked user to the journey, or asks the owner of an existing account
//! with the same email to sign in to it first.

use chrono::{DateTime, Utc};

use super::finish::{complete_sign_in, to_client};
use super::outcome::{Browser, Outcome, StepResult, Transition};
use super::tx::{self, LoginTx, PendingLink, Step};
use crate::audit;
use crate::clock::RandomExt;
use crate::crypto::{ct_eq, sha256_hex};
use crate::federation::FederationError;
use crate::federation::identities::{self, Resolution};
use crate::federation::{self, Provider, RoundTrip, UpstreamUser};
use crate::ids::PoolId;
use crate::model::client::COGNITO;
use crate::oidc::authorize::AMR_FEDERATED;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::sessions;
use crate::state::AppState;
use crate::store::sql::federation::ProviderRecord;

fn state_key(pool: &PoolId, state: &str) -> String {
    format!("{pool}:idp-state:{}", sha256_hex(state.as_bytes()))
}

/// The providers the transaction's client allows, in the pool's order (all of them for the
/// account page, which has no client).
pub fn offered<'a>(tenant: &'a PoolRuntime, tx: &LoginTx) -> Vec<&'a ProviderRecord> {
    let client = tx
        .request
        .as_ref()
        .and_then(|r| tenant.clients.get(&r.client_id));
    tenant
        .providers
        .iter()
        .filter(|p| client.is_none_or(|c| c.settings.allows(&p.name)))
        .collect()
}

/// May the transaction's client use the pool's own password form?
pub fn password_offered(tenant: &PoolRuntime, tx: &LoginTx) -> bool {
    tx.request
        .as_ref()
        .and_then(|r| tenant.clients.get(&r.client_id))
        .is_none_or(|c| c.settings.allows(COGNITO))
}

/// The provider whose home-realm identifiers hold the domain of `identifier` (an email).
pub fn for_identifier(tenant: &PoolRuntime, tx: &LoginTx, identifier: &str) -> Option<String> {
    let (_, domain) = identifier.trim().rsplit_once('@')?;
    let domain = domain.to_ascii_lowercase();
    offered(tenant, tx)
        .into_iter()
        .find(|p| p.settings.identifiers.contains(&domain))
        .map(|p| p.name.clone())
}

/// Sends the browser to `provider` ("Continue with ...", `identity_provider=`, home realm).
pub async fn start(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    provider: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    // From the sign-in page, or again after coming back from a provider without an answer.
    if !matches!(tx.step, Step::NeedPassword | Step::AtUpstream { .. }) {
        return Ok(Outcome::expired());
    }
    let Some(record) = offered(tenant, &tx)
        .into_iter()
        .find(|p| p.name == provider)
    else {
        return Ok(Outcome::Login {
            tx,
            error: Some("That sign-in option is not available here.".into()),
        });
    };
    let provider = Provider::resolve(app, record).map_err(OAuthError::server)?;
    let trip = RoundTrip {
        provider: provider.name.clone(),
        nonce: app.random.token(24),
        verifier: app.random.token(48),
    };
    let state = app.random.token(32);
    let url = federation::authorize_url(
        &app.federation,
        &provider,
        &tenant.issuer,
        &state,
        &trip,
        now,
    )
    .await;
    let url = match url {
        Ok(u) => u,
        Err(e) => return provider_failed(app, tenant, tx, &provider.name, &e).await,
    };
    let tx = tx.at(Step::AtUpstream { trip });
    tx::save(app, &tenant.pool.id, &tx).await?;
    app.kv
        .put(
            &state_key(&tenant.pool.id, &state),
            tx.id.as_bytes(),
            tx::LOGIN_TX_TTL,
        )
        .await?;
    Ok(Outcome::Upstream(url))
}

/// The provider could not be used: the sign-in page again, with a way to try again.
async fn provider_failed(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    provider: &str,
    e: &dyn std::fmt::Display,
) -> Result<Outcome, OAuthError> {
    tracing::warn!(pool = %tenant.pool.id, provider, error = %e, "federated sign-in failed");
    let tx = tx.at(Step::NeedPassword);
    tx::save(app, &tenant.pool.id, &tx).await?;
    Ok(Outcome::Login {
        tx,
        error: Some(format!(
            "We could not sign you in with {provider}. Try again, or choose another way."
        )),
    })
}

/// The transaction a callback's `state` belongs to: accepted once, and only in the browser
/// that started the round trip.
async fn tx_of_state(
    app: &AppState,
    tenant: &PoolRuntime,
    params: &Params,
    browser: &Browser<'_>,
) -> Result<Option<(LoginTx, RoundTrip)>, OAuthError> {
    let Some(state) = params
        .get("state")
        .filter(|s| !s.is_empty() && s.len() <= 128)
    else {
        return Ok(None);
    };
    let Some(tx_id) = app.kv.take(&state_key(&tenant.pool.id, state)).await? else {
        return Ok(None);
    };
    let tx_id = String::from_utf8(tx_id).unwrap_or_default();
    let Some(tx) = tx::find(app, &tenant.pool.id, &tx_id).await? else {
        return Ok(None);
    };
    if !ct_eq(tx.browser.as_bytes(), browser.binding_hash().as_bytes()) {
        return Ok(None);
    }
    match tx.step.clone() {
        Step::AtUpstream { trip } => Ok(Some((tx, trip))),
        _ => Ok(None),
    }
}

/// `GET /oauth2/idpresponse`: the provider's answer.
pub async fn callback(
    app: &AppState,
    tenant: &PoolRuntime,
    params: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    let Some((tx, trip)) = tx_of_state(app, tenant, params, browser).await? else {
        return Ok(Outcome::expired().into());
    };
    let Some(record) = tenant.providers.iter().find(|p| p.name == trip.provider) else {
        return Ok(Outcome::expired().into());
    };
    if let Some(error) = params.get("error") {
        return Ok(denied(app, tenant, tx, &trip.provider, error).await?.into());
    }
    let provider = Provider::resolve(app, record).map_err(OAuthError::server)?;
    if !from_expected_issuer(&provider, params) {
        // RFC 9207: an answer naming another issuer is a mix-up attempt.
        let e = "the answer names another issuer";
        return Ok(provider_failed(app, tenant, tx, &provider.name, &e)
            .await?
            .into());
    }
    let code = params.get("code").unwrap_or_default();
    let issuer = &tenant.issuer;
    let redeemed = federation::redeem(&app.federation, &provider, issuer, code, &trip, now).await;
    if let (Some(_), Ok(upstream)) = (&tx.account_link, &redeemed) {
        let (name, subject) = (&provider.name, upstream.subject.clone());
        let done = finish_connect(app, tenant, tx, name, &subject, browser, now);
        return Ok(done.await?.into());
    }
    let upstream = match redeemed {
        // Every account of a pool has an email (sign-up and recovery need one).
        Ok(u) if u.email.is_none() => {
            let e = "the provider shared no email address";
            return Ok(provider_failed(app, tenant, tx, &provider.name, &e)
                .await?
                .into());
        }
        Ok(u) => u,
        Err(e) => {
            return Ok(provider_failed(app, tenant, tx, &provider.name, &e)
                .await?
                .into());
        }
    };
    Ok(
        conclude(app, tenant, tx, &provider, &upstream, browser, now)
            .await?
            .into(),
    )
}

/// An OpenID provider's answer that carries `iss` (RFC 9207) must name that provider.
fn from_expected_issuer(provider: &Provider, params: &Params) -> bool {
    match (params.get("iss"), &provider.issuer) {
        (Some(iss), Some(expected)) => {
            iss.trim_end_matches('/') == expected.as_str().trim_end_matches('/')
        }
        _ => true,
    }
}

/// Who the verified upstream user is here decides: sign in, prove an existing account first,
/// or (disabled) try another way.
async fn conclude(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    provider: &Provider,
    upstream: &UpstreamUser,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Transition, OAuthError> {
    let resolved = identities::resolve(app, &tenant.pool, provider, upstream, browser.ip, now)
        .await
        .map_err(OAuthError::server)?;
    match resolved {
        Resolution::SignIn(user) => {
            let (kind, sub) = (audit::Kind::FederatedSignIn, user.sub.as_str());
            identities::record(
                app,
                &tenant.pool.id,
                kind,
                sub,
                browser.ip,
                &provider.name,
                now,
            )
            .await;
            signed_in(app, tenant, tx, user.sub.as_str(), browser, now).await
        }
        Resolution::ProveOwnership(local) => {
            let link = PendingLink {
                provider: provider.name.clone(),
                subject: upstream.subject.clone(),
                sub: local.sub.to_string(),
            };
            let tx = LoginTx {
                link: Some(link),
                ..tx.at(Step::NeedPassword)
            };
            tx::save(app, &tenant.pool.id, &tx).await?;
            let notice = format!(
                "An account with this email address already exists. Sign in to it once to \
                 connect your {} account.",
                provider.name
            );
            Ok(Outcome::LoginNotice { tx, notice }.into())
        }
        Resolution::Disabled => {
            let e = "this account is disabled";
            Ok(provider_failed(app, tenant, tx, &provider.name, &e)
                .await?
                .into())
        }
    }
}

/// The provider said no (`error=access_denied`, or any error): a client that named the provider
/// gets `access_denied` with its state; otherwise the sign-in page offers to try again.
async fn denied(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    provider: &str,
    error: &str,
) -> Result<Outcome, OAuthError> {
    let direct = tx
        .request
        .as_ref()
        .is_some_and(|r| r.identity_provider.as_deref() == Some(provider));
    if direct
        && let Some(taken) = tx::take(app, &tenant.pool.id, &tx.id).await?
        && let Some(req) = taken.request
    {
        let e = OAuthError::new(
            ErrorCode::AccessDenied,
            format!("{provider} did not sign the user in"),
        );
        return Ok(to_client(tenant, &req, e));
    }
    let error: String = error
        .chars()
        .take(64)
        .filter(|c| c.is_ascii_graphic())
        .collect();
    provider_failed(
        app,
        tenant,
        tx,
        provider,
        &format!("provider answered {error}"),
    )
    .await
}

/// A federated sign-in of `sub`: local MFA is not asked (as in Cognito), so a client that
/// demands MFA gets `unmet_authentication_requirements` rather than a silent pass.
async fn signed_in(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    sub: &str,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Transition, OAuthError> {
    if let Some(req) = tx.request.as_ref().filter(|r| r.requires_mfa) {
        let req = req.clone();
        tx::take(app, &tenant.pool.id, &tx.id).await?;
        let e = OAuthError::new(
            ErrorCode::UnmetAuthenticationRequirements,
            "a federated sign-in does not provide the required second factor",
        );
        return Ok(to_client(tenant, &req, e).into());
    }
    let amr = vec![AMR_FEDERATED.to_string()];
    complete_sign_in(app, tenant, &tx.id, sub, amr, browser, now).await
}

/// The provider answered a "connect" round trip (`tx.account_link` names the owner): link the
/// identity, unless it belongs to someone else or the browser is no longer signed in as the
/// owner.
async fn finish_connect(
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
