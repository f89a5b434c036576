//! The interactive side of the code flow: what an authorization request leads to (a code, the
//! sign-in page, the consent page, or an error), and what the sign-in and consent forms do.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::authorize::{self, AuthRequest, AuthorizeError, Delivery, deliver};
use super::code;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::session::{self, LoginTx, Session, Step};
use crate::accounts::{UserStatus, normalize_identifier};
use crate::crypto::ct_eq;
use crate::ids::Secret;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::clients::Client;
use crate::store::sql::{consents, users};

/// What the browser is shown next.
#[derive(Debug)]
pub enum Outcome {
    /// Back to the client (a code or an error).
    Deliver(Delivery),
    /// An error page; the client is not told (its redirect URI is unproven or the form is stale).
    Page(String),
    /// The sign-in page for this transaction, with an error message after a failed attempt.
    Login { tx: LoginTx, error: Option<String> },
    /// The consent page for this transaction.
    Consent { tx: LoginTx, client_name: String },
}

/// An outcome plus a new SSO session cookie to set, if one was started.
#[derive(Debug)]
pub struct Step2 {
    pub outcome: Outcome,
    pub new_session: Option<String>,
}

impl From<Outcome> for Step2 {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            new_session: None,
        }
    }
}

fn to_client(rt: &PoolRuntime, req: &AuthRequest, e: OAuthError) -> Outcome {
    match authorize::client_error(
        rt,
        &req.redirect_uri,
        req.response_mode,
        req.state.as_deref(),
        &e,
    ) {
        AuthorizeError::Client(d) => Outcome::Deliver(d),
        AuthorizeError::Page(m) => Outcome::Page(m),
    }
}

/// Handles `/oauth2/authorize`.
pub async fn authorize(
    st: &AppState,
    rt: &PoolRuntime,
    params: &Params,
    cookie: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let (client, req) = match authorize::validate(rt, params) {
        Ok(v) => v,
        Err(AuthorizeError::Page(m)) => return Ok(Outcome::Page(m)),
        Err(AuthorizeError::Client(d)) => return Ok(Outcome::Deliver(d)),
    };
    let existing = session::find(st, rt, cookie).await?;
    let usable = existing.filter(|s| {
        !req.prompt.login
            && req
                .max_age
                .is_none_or(|max| now.timestamp() - s.auth_time <= max)
    });
    match usable {
        Some(s) => finish(st, rt, &client, req, s, false, now).await,
        None if req.prompt.none => Ok(to_client(
            rt,
            &req,
            OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in"),
        )),
        None => {
            let tx = session::begin_tx(st, rt, req, Step::NeedPassword, now).await?;
            Ok(Outcome::Login { tx, error: None })
        }
    }
}

/// The user is authenticated: ask for consent if needed, else issue the code.
async fn finish(
    st: &AppState,
    rt: &PoolRuntime,
    client: &Client,
    req: AuthRequest,
    s: Session,
    consented: bool,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let (pool, sub, cid) = (
        rt.pool.id.clone(),
        s.sub.clone(),
        client.client_id.to_string(),
    );
    let user = st.sql.run(move |c| users::find(c, &pool, &sub)).await?;
    if !user.is_some_and(|u| u.enabled) {
        return Ok(to_client(
            rt,
            &req,
            OAuthError::new(ErrorCode::LoginRequired, "the user can no longer sign in"),
        ));
    }
    let needs_consent = !client.first_party && !consented && {
        let (pool, sub) = (rt.pool.id.clone(), s.sub.clone());
        let granted = st
            .sql
            .run(move |c| consents::find(c, &pool, &sub, &cid))
            .await?;
        req.prompt.consent || !req.scopes.iter().all(|x| granted.contains(x))
    };
    if needs_consent {
        if req.prompt.none {
            return Ok(to_client(
                rt,
                &req,
                OAuthError::new(
                    ErrorCode::ConsentRequired,
                    "the user has not allowed this application",
                ),
            ));
        }
        let tx = session::begin_tx(st, rt, req, Step::NeedConsent { session: s }, now).await?;
        return Ok(Outcome::Consent {
            tx,
            client_name: client.name.clone(),
        });
    }
    let code = code::issue(st, rt, &req, &s).await?;
    Ok(Outcome::Deliver(deliver(
        rt,
        &req.redirect_uri,
        req.response_mode,
        req.state.as_deref(),
        vec![("code", code)],
    )))
}

const EXPIRED: &str =
    "This sign-in has expired or was already used. Go back to the application and start again.";

/// Finds the transaction a form belongs to, checking its CSRF token in the form and the cookie.
async fn tx_for_form(
    st: &AppState,
    rt: &PoolRuntime,
    tx_id: &str,
    csrf_form: &str,
    csrf_cookie: Option<&str>,
) -> Result<Option<LoginTx>, OAuthError> {
    let Some(tx) = session::find_tx(st, rt, tx_id).await? else {
        return Ok(None);
    };
    let ok = ct_eq(tx.csrf.as_bytes(), csrf_form.as_bytes())
        && csrf_cookie.is_some_and(|c| ct_eq(tx.csrf.as_bytes(), c.as_bytes()));
    Ok(ok.then_some(tx))
}

/// Looks up the parked transaction for showing its page again (GET of the login page).
pub async fn show(st: &AppState, rt: &PoolRuntime, tx_id: &str) -> Result<Outcome, OAuthError> {
    Ok(match session::find_tx(st, rt, tx_id).await? {
        Some(tx) if matches!(tx.step, Step::NeedPassword) => Outcome::Login { tx, error: None },
        Some(tx) => {
            let name = rt
                .clients
                .get(&tx.request.client_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            Outcome::Consent {
                tx,
                client_name: name,
            }
        }
        None => Outcome::Page(EXPIRED.into()),
    })
}

/// The sign-in form was submitted.
pub async fn login(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    csrf_cookie: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Step2, OAuthError> {
    let (tx_id, csrf) = (
        form.get("tx").unwrap_or_default(),
        form.get("csrf").unwrap_or_default(),
    );
    let Some(tx) = tx_for_form(st, rt, tx_id, csrf, csrf_cookie).await? else {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    };
    if !matches!(tx.step, Step::NeedPassword) {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    }
    let retry = |tx: LoginTx| {
        Ok(Outcome::Login {
            tx,
            error: Some("Incorrect username or password.".into()),
        }
        .into())
    };
    let (Some(identifier), Some(password)) = (form.get("username"), form.get("password")) else {
        return retry(tx);
    };
    if identifier.chars().count() > 256
        || password.chars().count() > crate::accounts::policy::MAX_PASSWORD_LEN
    {
        return retry(tx);
    }
    let (pool, norm) = (rt.pool.id.clone(), normalize_identifier(identifier));
    let user = st
        .sql
        .run(move |c| users::find_by_identifier(c, &pool, &norm))
        .await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let verified = st
        .hasher
        .verify_or_dummy(&Secret::new(password), hash, st.random.as_ref())
        .await
        .map_err(OAuthError::server)?;
    let user = match user {
        Some(u) if verified && u.enabled && u.status == UserStatus::Confirmed => u,
        _ => return retry(tx),
    };
    let Some(tx) = session::take_tx(st, rt, &tx.id).await? else {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    };
    let s = Session {
        sub: user.sub.to_string(),
        auth_time: now.timestamp(),
        amr: vec!["pwd".into()],
    };
    let cookie = session::start(st, rt, &s).await?;
    let Some(client) = rt.clients.get(&tx.request.client_id).cloned() else {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    };
    let outcome = finish(st, rt, &client, tx.request, s, false, now).await?;
    Ok(Step2 {
        outcome,
        new_session: Some(cookie),
    })
}

/// The consent form was submitted (`decision` is `allow` or `deny`).
pub async fn consent(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    csrf_cookie: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let (tx_id, csrf) = (
        form.get("tx").unwrap_or_default(),
        form.get("csrf").unwrap_or_default(),
    );
    let Some(tx) = tx_for_form(st, rt, tx_id, csrf, csrf_cookie).await? else {
        return Ok(Outcome::Page(EXPIRED.into()));
    };
    let Some(LoginTx {
        request,
        step: Step::NeedConsent { session: s },
        ..
    }) = session::take_tx(st, rt, &tx.id).await?
    else {
        return Ok(Outcome::Page(EXPIRED.into()));
    };
    let client: Option<Arc<Client>> = rt.clients.get(&request.client_id).cloned();
    let Some(client) = client else {
        return Ok(Outcome::Page(EXPIRED.into()));
    };
    if form.get("decision") != Some("allow") {
        return Ok(to_client(
            rt,
            &request,
            OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
        ));
    }
    let (pool, sub, cid, scopes) = (
        rt.pool.id.clone(),
        s.sub.clone(),
        client.client_id.to_string(),
        request.scopes.clone(),
    );
    st.sql
        .run(move |c| consents::save(c, &pool, &sub, &cid, &scopes, now))
        .await?;
    finish(st, rt, &client, request, s, true, now).await
}
