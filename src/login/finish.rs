//! How a journey ends: the user is authenticated, so an SSO session starts and the parked
//! authorization request goes on to consent or straight to a code for the client.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::outcome::{Browser, Outcome, Transition};
use super::tx::{self, Step};
use crate::federation::identities;
use crate::metrics::SignIn;
use crate::oidc::authorize::{self, AuthRequest, deliver};
use crate::oidc::code;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::pools::PoolRuntime;
use crate::sessions::{self, Session};
use crate::state::AppState;
use crate::store::kv::Writes;
use crate::store::sql::clients::Client;
use crate::store::sql::consents;

/// Sends an OAuth error back to the client of `req` (or shows it, if that cannot be done).
pub fn to_client(tenant: &PoolRuntime, req: &AuthRequest, e: OAuthError) -> Outcome {
    authorize::client_error(
        tenant,
        &req.redirect_uri,
        req.response_mode,
        req.state.as_deref(),
        &e,
    )
    .into()
}

/// The browser's usable SSO session, if any.
pub async fn live_session(
    app: &AppState,
    tenant: &PoolRuntime,
    browser: &Browser<'_>,
) -> Result<Option<Session>, OAuthError> {
    Ok(sessions::live(app, &tenant.pool.id, browser.session).await?)
}

/// The user is authenticated: ask for consent if needed, else issue the code. `pending`
/// (a new session's records, say) is stored first, with the code when there is one.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    req: AuthRequest,
    s: Session,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
    pending: Writes,
) -> Result<Outcome, OAuthError> {
    if needs_consent(app, tenant, client, &req, &s).await? {
        app.kv.write(pending).await?;
        if req.prompt.none {
            let e = OAuthError::new(
                ErrorCode::ConsentRequired,
                "the user has not allowed this application",
            );
            return Ok(to_client(tenant, &req, e));
        }
        let step = Step::NeedConsent { session: s };
        let tx = tx::begin(
            app,
            &tenant.pool.id,
            Some(req),
            step,
            browser.binding_hash(),
            now,
        )
        .await?;
        return Ok(Outcome::Consent {
            tx,
            client_name: client.name.clone(),
        });
    }
    issue_code(app, tenant, &req, &s, pending).await
}

/// The code for the client, delivered as the request asked; stored with `pending` in one
/// round trip.
pub async fn issue_code(
    app: &AppState,
    tenant: &PoolRuntime,
    req: &AuthRequest,
    s: &Session,
    mut pending: Writes,
) -> Result<Outcome, OAuthError> {
    let code = code::issue_into(app, tenant, req, s, &mut pending)?;
    app.kv.write(pending).await?;
    let backchannel = tenant
        .clients
        .get(&req.client_id)
        .is_some_and(|c| c.settings.backchannel_logout_uri.is_some());
    if backchannel && !s.sid.is_empty() {
        sessions::joined(app, &tenant.pool.id, &s.sid, &req.client_id).await?;
    }
    Ok(Outcome::Deliver(deliver(
        tenant,
        &req.redirect_uri,
        req.response_mode,
        req.state.as_deref(),
        vec![("code", code)],
    )))
}

/// First-party clients never ask; others ask when the user has not granted every requested
/// scope, or the request says `prompt=consent`.
async fn needs_consent(
    app: &AppState,
    tenant: &PoolRuntime,
    client: &Client,
    req: &AuthRequest,
    s: &Session,
) -> Result<bool, OAuthError> {
    if client.first_party {
        return Ok(false);
    }
    let (pool, sub, cid) = (
        tenant.pool.id.clone(),
        s.sub.clone(),
        client.client_id.to_string(),
    );
    let granted = app
        .sql
        .run(move |c| consents::find(c, &pool, &sub, &cid))
        .await?;
    Ok(req.prompt.consent || !req.scopes.iter().all(|x| granted.contains(x)))
}

/// The user is authenticated: end the transaction, start the SSO session, go on.
pub async fn complete_sign_in(
    app: &AppState,
    tenant: &PoolRuntime,
    tx_id: &str,
    sub: &str,
    amr: Vec<String>,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Transition, OAuthError> {
    // One round trip ends the transaction and reads the user's session generation.
    let generation = sessions::generation_key(&tenant.pool.id, sub);
    let (tx, current) = tx::take_reading(app, &tenant.pool.id, tx_id, &generation).await?;
    let Some(tx) = tx else {
        return Ok(Outcome::expired().into());
    };
    app.metrics.sign_in(SignIn::Success);
    let s = Session::new(sub, now.timestamp(), amr);
    // A new sign-in in this browser replaces its previous session.
    sessions::end(app, &tenant.pool.id, browser.session).await?;
    // The session's records go out with the code (one round trip), or alone.
    let mut pending = Writes::default();
    let (cookie, s) = sessions::open(app, &tenant.pool.id, &s, current, &mut pending)?;
    if let Some(link) = tx.link.as_ref().filter(|l| l.sub == sub) {
        // The owner of the account proved it: the upstream identity that led here joins it.
        let pool = &tenant.pool.id;
        let linked = identities::link(
            app,
            pool,
            &link.provider,
            &link.subject,
            sub,
            browser.ip,
            now,
        )
        .await;
        if let Err(e) = linked {
            tracing::warn!(pool = %pool, error = %e, "linking the upstream identity failed");
        }
    }
    let outcome = match tx.request {
        None => {
            app.kv.write(pending).await?;
            Outcome::Account
        }
        Some(request) => {
            let Some(client) = tenant.clients.get(&request.client_id).map(Arc::clone) else {
                return Ok(Outcome::expired().into());
            };
            finish(app, tenant, &client, request, s, browser, now, pending).await?
        }
    };
    Ok(Transition {
        outcome,
        new_session: Some(cookie),
    })
}
