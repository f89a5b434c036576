//! The interactive side of the code flow: what an authorization request leads to (a code, the
//! sign-in page, the consent page, or an error), and what the sign-in and consent forms do.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::authorize::{self, AuthRequest, AuthorizeError, Delivery, deliver};
use super::code;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::session::{self, LoginTx, Session, Step};
use super::signin;
use crate::accounts::{self, UserStatus};
use crate::crypto::{ct_eq, sha256_hex};
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
    /// The sign-in page with a notice (after a password reset).
    LoginNotice { tx: LoginTx, notice: String },
    /// The forgot-password page.
    Forgot { tx: LoginTx },
    /// The reset page: code and new password.
    ResetCode {
        tx: LoginTx,
        identifier: String,
        error: Option<String>,
        notice: Option<String>,
    },
    /// The sign-up page; `values` refills the form after an error (never the password).
    SignUp {
        tx: LoginTx,
        error: Option<String>,
        values: std::collections::BTreeMap<String, String>,
    },
    /// The confirmation-code page; `notice` after a wrong code or a resend.
    Confirm {
        tx: LoginTx,
        email: String,
        notice: Option<String>,
    },
    /// The new-password page (temporary password), with an error after a rejected attempt.
    NewPassword { tx: LoginTx, error: Option<String> },
    /// The consent page for this transaction.
    Consent { tx: LoginTx, client_name: String },
    /// Signed in from the account page: back to it.
    Account,
    /// The TOTP challenge.
    Mfa { tx: LoginTx, error: Option<String> },
    /// MFA enrollment during sign-in; `recovery_codes` once the factor is on.
    MfaSetup {
        tx: LoginTx,
        enrollment: Option<Box<crate::mfa::Enrollment>>,
        recovery_codes: Vec<String>,
        error: Option<String>,
    },
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

/// What the browser brings: its binding cookie (ties forms to this browser), its SSO session
/// cookie, and its address (for throttling).
#[derive(Debug, Clone, Copy, Default)]
pub struct Browser<'a> {
    pub binding: &'a str,
    pub session: Option<&'a str>,
    pub ip: Option<&'a str>,
}

impl Browser<'_> {
    fn binding_hash(&self) -> String {
        sha256_hex(self.binding.as_bytes())
    }
}

async fn user_enabled(st: &AppState, rt: &PoolRuntime, sub: &str) -> Result<bool, OAuthError> {
    let (pool, sub) = (rt.pool.id.clone(), sub.to_string());
    Ok(st
        .sql
        .run(move |c| users::find(c, &pool, &sub))
        .await?
        .is_some_and(|u| u.enabled))
}

/// The browser's live SSO session; one whose user can no longer sign in is ended.
pub(crate) async fn live_session(
    st: &AppState,
    rt: &PoolRuntime,
    b: &Browser<'_>,
) -> Result<Option<Session>, OAuthError> {
    let Some(s) = session::find(st, rt, b.session).await? else {
        return Ok(None);
    };
    if user_enabled(st, rt, &s.sub).await? && !session::is_ended(st, &rt.pool.id, &s).await? {
        Ok(Some(s))
    } else {
        session::end(st, rt, b.session).await?;
        Ok(None)
    }
}

/// Handles `/oauth2/authorize`.
pub async fn authorize(
    st: &AppState,
    rt: &PoolRuntime,
    params: &Params,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let (client, req) = match authorize::validate(rt, params) {
        Ok(v) => v,
        Err(AuthorizeError::Page(m)) => return Ok(Outcome::Page(m)),
        Err(AuthorizeError::Client(d)) => return Ok(Outcome::Deliver(d)),
    };
    let usable = live_session(st, rt, b).await?.filter(|s| {
        !req.prompt.login
            && (!(req.requires_mfa || rt.pool.settings.mfa == crate::pools::MfaMode::Required)
                || s.amr.iter().any(|m| m == "otp"))
            && req
                .max_age
                .is_none_or(|max| now.timestamp() - s.auth_time <= max)
    });
    match usable {
        Some(s) => finish(st, rt, &client, req, s, false, b, now).await,
        None if req.prompt.none => Ok(to_client(
            rt,
            &req,
            OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in"),
        )),
        None => {
            let tx =
                session::begin_tx(st, rt, Some(req), Step::NeedPassword, b.binding_hash(), now)
                    .await?;
            Ok(Outcome::Login { tx, error: None })
        }
    }
}

/// The user is authenticated: ask for consent if needed, else issue the code.
#[allow(clippy::too_many_arguments)]
async fn finish(
    st: &AppState,
    rt: &PoolRuntime,
    client: &Client,
    req: AuthRequest,
    s: Session,
    consented: bool,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let needs_consent = !client.first_party && !consented && {
        let (pool, sub, cid) = (
            rt.pool.id.clone(),
            s.sub.clone(),
            client.client_id.to_string(),
        );
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
        let tx = session::begin_tx(
            st,
            rt,
            Some(req),
            Step::NeedConsent { session: s },
            b.binding_hash(),
            now,
        )
        .await?;
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

/// Shown while an identifier (or the client's address) must wait after repeated failures.
pub(crate) const LOCKED: &str = "Too many failed attempts. Wait a little, then try again.";

/// A validation message as a sentence on a page: "must be x" -> "Must be x." (char-safe).
pub(crate) fn sentence(msg: &str) -> String {
    let mut chars = msg.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => "Please check the form.".into(),
    }
}

pub(crate) const EXPIRED: &str =
    "This sign-in has expired or was already used. Go back to the application and start again.";

/// Finds the transaction a form belongs to: its CSRF token must be in the form, and the form
/// must come from the browser that started it (binding cookie).
pub(crate) async fn tx_for_form(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    b: &Browser<'_>,
) -> Result<Option<LoginTx>, OAuthError> {
    let (tx_id, csrf) = (
        form.get("tx").unwrap_or_default(),
        form.get("csrf").unwrap_or_default(),
    );
    let Some(tx) = session::find_tx(st, rt, tx_id).await? else {
        return Ok(None);
    };
    let ok = ct_eq(tx.csrf.as_bytes(), csrf.as_bytes())
        && ct_eq(tx.browser.as_bytes(), b.binding_hash().as_bytes());
    Ok(ok.then_some(tx))
}

/// Looks up the parked transaction to show its page (GET of the sign-in or consent page).
pub async fn show(
    st: &AppState,
    rt: &PoolRuntime,
    tx_id: &str,
    b: &Browser<'_>,
) -> Result<Outcome, OAuthError> {
    Ok(match session::find_tx(st, rt, tx_id).await? {
        // Another browser holding the link gets nothing.
        Some(tx) if !ct_eq(tx.browser.as_bytes(), b.binding_hash().as_bytes()) => {
            Outcome::Page(EXPIRED.into())
        }
        Some(tx) if matches!(tx.step, Step::NeedPassword) => Outcome::Login { tx, error: None },
        Some(tx) if matches!(tx.step, Step::NeedNewPassword { .. }) => {
            Outcome::NewPassword { tx, error: None }
        }
        Some(tx) if matches!(tx.step, Step::NeedConfirmation { .. }) => {
            let email = match &tx.step {
                Step::NeedConfirmation { email, .. } => email.clone(),
                _ => String::new(),
            };
            Outcome::Confirm {
                tx,
                email,
                notice: None,
            }
        }
        Some(tx) if matches!(tx.step, Step::NeedResetCode { .. }) => {
            let identifier = match &tx.step {
                Step::NeedResetCode { identifier } => identifier.clone(),
                _ => String::new(),
            };
            Outcome::ResetCode {
                tx,
                identifier,
                error: None,
                notice: None,
            }
        }
        Some(tx)
            if matches!(
                tx.step,
                Step::NeedMfa { .. } | Step::NeedMfaSetup { .. } | Step::MfaEnrolled { .. }
            ) =>
        {
            super::mfa_step::show(st, rt, tx).await?
        }
        Some(tx) if matches!(tx.step, Step::NeedConsent { .. }) => {
            let name = tx
                .request
                .as_ref()
                .and_then(|r| rt.clients.get(&r.client_id))
                .map(|c| c.name.clone())
                .unwrap_or_default();
            Outcome::Consent {
                tx,
                client_name: name,
            }
        }
        Some(_) | None => Outcome::Page(EXPIRED.into()),
    })
}

/// The sign-in form was submitted.
pub async fn login(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Step2, OAuthError> {
    let Some(tx) = tx_for_form(st, rt, form, b).await? else {
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
    let user = match signin::check_password(st, rt, identifier, password, b.ip, now).await? {
        signin::Checked::Ok(u) => *u,
        signin::Checked::Failed => return retry(tx),
        signin::Checked::Locked => {
            return Ok(Outcome::Login {
                tx,
                error: Some(LOCKED.into()),
            }
            .into());
        }
    };
    if user.status == UserStatus::ResetRequired {
        return Ok(
            super::recovery::require_reset(st, rt, tx, identifier, &user, now)
                .await?
                .into(),
        );
    }
    if user.status == UserStatus::Unconfirmed {
        // The right password of an account never confirmed: send a fresh code and ask for it
        // (as Cognito does; only the password holder learns the account exists).
        return Ok(super::signup::resume_confirmation(st, rt, tx, &user, now)
            .await?
            .into());
    }
    if user.status == UserStatus::ForceChangePassword {
        let tx = LoginTx {
            step: Step::NeedNewPassword {
                sub: user.sub.to_string(),
            },
            ..tx
        };
        session::save_tx(st, rt, &tx).await?;
        return Ok(Outcome::NewPassword { tx, error: None }.into());
    }
    super::mfa_step::after_password(st, rt, tx, &user, identifier, b, now).await
}

/// The user is authenticated: end the transaction, start the SSO session, go on.
pub(crate) async fn complete_sign_in(
    st: &AppState,
    rt: &PoolRuntime,
    tx_id: &str,
    sub: &str,
    amr: Vec<String>,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Step2, OAuthError> {
    let Some(tx) = session::take_tx(st, rt, tx_id).await? else {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    };
    let s = Session {
        sub: sub.to_string(),
        auth_time: now.timestamp(),
        amr,
    };
    let cookie = session::start(st, rt, &s).await?;
    let Some(request) = tx.request else {
        return Ok(Step2 {
            outcome: Outcome::Account,
            new_session: Some(cookie),
        });
    };
    let Some(client) = rt.clients.get(&request.client_id).cloned() else {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    };
    let outcome = finish(st, rt, &client, request, s, false, b, now).await?;
    Ok(Step2 {
        outcome,
        new_session: Some(cookie),
    })
}

/// The new-password form was submitted (temporary password replaced at first sign-in).
pub async fn new_password(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Step2, OAuthError> {
    let Some(tx) = tx_for_form(st, rt, form, b).await? else {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    };
    let Step::NeedNewPassword { sub } = tx.step.clone() else {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    };
    let (pw, again) = (
        form.get("password").unwrap_or_default(),
        form.get("confirm").unwrap_or_default(),
    );
    if pw != again {
        return Ok(Outcome::NewPassword {
            tx,
            error: Some("The two passwords differ.".into()),
        }
        .into());
    }
    match accounts::set_password(st, &rt.pool, &sub, &crate::ids::Secret::new(pw), false, now).await
    {
        Ok(user) => {
            let identifier = user.username.clone();
            super::mfa_step::after_password(st, rt, tx, &user, &identifier, b, now).await
        }
        Err(accounts::AccountError::Policy(msg)) => Ok(Outcome::NewPassword {
            tx,
            error: Some(format!("The password {msg}.")),
        }
        .into()),
        Err(e) => Err(OAuthError::server(e)),
    }
}

/// The consent form was submitted (`decision` is `allow` or `deny`). The browser must still be
/// signed in as the user who was asked.
pub async fn consent(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let Some(tx) = tx_for_form(st, rt, form, b).await? else {
        return Ok(Outcome::Page(EXPIRED.into()));
    };
    let Step::NeedConsent { session: asked } = &tx.step else {
        return Ok(Outcome::Page(EXPIRED.into()));
    };
    let live = live_session(st, rt, b).await?;
    if !live.is_some_and(|l| l.sub == asked.sub && l.auth_time == asked.auth_time) {
        return Ok(Outcome::Page(EXPIRED.into()));
    }
    let Some(LoginTx {
        request: Some(request),
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
    finish(st, rt, &client, request, s, true, b, now).await
}
