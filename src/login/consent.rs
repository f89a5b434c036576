//! The consent step: a signed-in user allows or denies a client that is not first-party; the
//! answer is remembered per set of scopes.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::finish::{issue_code, live_session, to_client};
use super::outcome::{Browser, Outcome, StepResult};
use super::tx::{self, LoginTx, Step};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::kv::Writes;
use crate::store::sql::consents;

/// The consent page of a transaction at this step.
pub fn page(tenant: &PoolRuntime, tx: LoginTx) -> Outcome {
    let client_name = tx
        .request
        .as_ref()
        .and_then(|r| tenant.clients.get(&r.client_id))
        .map(|c| c.name.clone())
        .unwrap_or_default();
    Outcome::Consent { tx, client_name }
}

/// The consent form was submitted (`decision` is `allow` or `deny`). The browser must still be
/// signed in as the user who was asked.
pub async fn submit(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    let Step::NeedConsent { session: asked } = &tx.step else {
        return Ok(Outcome::expired().into());
    };
    let live = live_session(app, tenant, browser).await?;
    if !live.is_some_and(|l| l.sub == asked.sub && l.auth_time == asked.auth_time) {
        return Ok(Outcome::expired().into());
    }
    let Some(LoginTx {
        request: Some(request),
        step: Step::NeedConsent { session: s },
        ..
    }) = tx::take(app, &tenant.pool.id, &tx.id).await?
    else {
        return Ok(Outcome::expired().into());
    };
    let Some(client) = tenant.clients.get(&request.client_id).map(Arc::clone) else {
        return Ok(Outcome::expired().into());
    };
    if form.get("decision") != Some("allow") {
        let e = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
        return Ok(to_client(tenant, &request, e).into());
    }
    let (pool, sub, cid, scopes) = (
        tenant.pool.id.clone(),
        s.sub.clone(),
        client.client_id.to_string(),
        request.scopes.clone(),
    );
    app.sql
        .run(move |c| consents::save(c, &pool, &sub, &cid, &scopes, now))
        .await?;
    Ok(issue_code(app, tenant, &request, &s, Writes::default())
        .await?
        .into())
}
