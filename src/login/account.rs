//! The account page's actions for a signed-in user: edit attributes, change the email (a code
//! to the new address; the old one stays until it is confirmed), change the password (current
//! one required, counted toward the sign-in lockout).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::connections::{self, Connections};
use super::finish::live_session;
use super::outcome::{
    BUSY, Browser, LOCKED, account_failure, form_token, form_token_ok, shed_wait, user_message,
};
use super::tx::{self, LoginTx, Step};
use crate::accounts::consents::{self, Granted};
use crate::accounts::email_change::{self, EmailChangeError};
use crate::accounts::signin::{self, Checked, Throttle, Verdict};
use crate::accounts::{self, AccountError};
use crate::audit;
use crate::crypto::MasterKey;
use crate::ids::Secret;
use crate::mfa::{self, MfaError};
use crate::model::{MfaMode, attributes};
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::sessions::{self, Session};
use crate::state::AppState;
use crate::store::sql::users::{self, User};

/// What the account page shows.
#[derive(Debug)]
pub struct AccountState {
    pub user: User,
    pub session: Session,
    /// A new email waiting for its code.
    pub pending_email: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The pool offers MFA (OPTIONAL or REQUIRED).
    pub mfa_available: bool,
    pub mfa_enabled: bool,
    /// Enrollment in progress: the secret to show until the first code comes back.
    pub enrollment: Option<crate::mfa::Enrollment>,
    /// Shown once, right after enrollment.
    pub recovery_codes: Vec<String>,
    pub recovery_codes_left: i64,
    /// Linked upstream identities and the providers that could be connected.
    pub connections: Connections,
    /// The applications the user allowed.
    pub consents: Vec<Granted>,
}

/// What a request to the account page leads to.
#[derive(Debug)]
pub enum AccountOutcome {
    /// Not signed in: the sign-in page of this new transaction, then back here.
    SignIn(Box<LoginTx>),
    Show(Box<AccountState>),
    /// The password changed: every session ended, so this browser gets a new one.
    ShowWithNewSession(Box<AccountState>, String),
    /// The page again, saying [`BUSY`], answered 503 with `Retry-After` (these seconds): a
    /// password check or hash was shed because every hashing worker was busy; nothing changed.
    Shed(Box<AccountState>, u64),
    /// The form did not come from this browser's page.
    Forbidden,
    /// To an upstream identity provider ("connect").
    Upstream(String),
}

/// The purpose of the account forms' token (see [`form_token`]).
const FORM: &str = "account";

/// The token the account forms carry.
pub fn csrf_token(key: &MasterKey, binding: &str) -> String {
    form_token(key, FORM, binding)
}

/// Editable attributes of the page, in display order: standard ones, then the custom ones the
/// pool lets users write.
pub fn editable(tenant: &PoolRuntime) -> Vec<String> {
    let settings = &tenant.pool.settings;
    attributes::STANDARD
        .iter()
        .map(|s| s.to_string())
        .chain(
            settings
                .custom_attributes
                .iter()
                .filter(|c| c.user_may_write())
                .map(|c| c.claim()),
        )
        .collect()
}

async fn state_for(
    app: &AppState,
    tenant: &PoolRuntime,
    s: Session,
) -> Result<Option<AccountState>, OAuthError> {
    let (pool, sub) = (tenant.pool.id.clone(), s.sub.clone());
    let Some(user) = app.sql.run(move |c| users::find(c, &pool, &sub)).await? else {
        return Ok(None);
    };
    let pending = email_change::pending(app, &tenant.pool.id, user.sub.as_str()).await?;
    let mfa_enabled = mfa::is_enrolled(app, &tenant.pool.id, user.sub.as_str())
        .await
        .map_err(OAuthError::server)?;
    let enrollment = if mfa_enabled {
        None
    } else {
        mfa::pending_enrollment(
            app,
            &tenant.pool.id,
            &tenant.pool.name,
            user.sub.as_str(),
            &user.username,
        )
        .await
        .map_err(OAuthError::server)?
    };
    let recovery_codes_left = if mfa_enabled {
        mfa::remaining_recovery_codes(app, &tenant.pool.id, user.sub.as_str())
            .await
            .map_err(OAuthError::server)?
    } else {
        0
    };
    Ok(Some(AccountState {
        session: s,
        pending_email: pending,
        notice: None,
        error: None,
        mfa_available: tenant.pool.settings.mfa != MfaMode::Off,
        mfa_enabled,
        enrollment,
        recovery_codes: Vec::new(),
        recovery_codes_left,
        connections: connections::of(app, tenant, &user).await?,
        consents: consents::list(app, &tenant.pool.id, user.sub.as_str())
            .await
            .map_err(OAuthError::server)?,
        user,
    }))
}

/// `GET /account`.
pub async fn view(
    app: &AppState,
    tenant: &PoolRuntime,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<AccountOutcome, OAuthError> {
    if let Some(s) = live_session(app, tenant, browser).await?
        && let Some(state) = state_for(app, tenant, s).await?
    {
        return Ok(AccountOutcome::Show(Box::new(state)));
    }
    let tx = tx::begin(
        app,
        &tenant.pool.id,
        None,
        Step::NeedPassword,
        browser.binding_hash(),
        now,
    )
    .await?;
    Ok(AccountOutcome::SignIn(Box::new(tx)))
}

/// `POST /account`: one of the page's forms, named by `action`.
pub async fn act(
    app: &AppState,
    tenant: &PoolRuntime,
    form: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<AccountOutcome, OAuthError> {
    let presented = form.get("csrf").unwrap_or_default();
    if !form_token_ok(&app.master_key, FORM, browser.binding, presented) {
        return Ok(AccountOutcome::Forbidden);
    }
    let Some(s) = live_session(app, tenant, browser).await? else {
        return view(app, tenant, browser, now).await;
    };
    let Some(mut state) = state_for(app, tenant, s).await? else {
        return view(app, tenant, browser, now).await;
    };
    let result = match form.get("action").unwrap_or_default() {
        "profile" => profile(app, tenant, form, &mut state, browser, now).await?,
        "email" => change_email(app, tenant, form, &mut state, now).await?,
        "verify_email" => verify_email(app, tenant, form, &mut state, browser, now).await?,
        "cancel_email" => {
            email_change::cancel(app, &tenant.pool.id, state.user.sub.as_str()).await?;
            state.pending_email = None;
            Ok("The email change was cancelled.".to_string())
        }
        "password" => {
            return change_password(app, tenant, form, state, browser, now).await;
        }
        "connect" => {
            let provider = form.get("provider").unwrap_or_default();
            match connections::connect(app, tenant, &state.user, provider, browser, now).await? {
                Ok(url) => return Ok(AccountOutcome::Upstream(url)),
                Err(e) => Err(e),
            }
        }
        "disconnect" => {
            let provider = form.get("provider").unwrap_or_default();
            let user = &state.user;
            let done = connections::disconnect(app, tenant, user, provider, browser, now).await?;
            state.connections = connections::of(app, tenant, user).await?;
            done
        }
        "revoke_consent" => {
            let client_id = form.get("client_id").unwrap_or_default();
            let (pool, sub) = (&tenant.pool.id, state.user.sub.as_str());
            let revoked = consents::revoke(app, pool, sub, client_id, browser.ip, now)
                .await
                .map_err(OAuthError::server)?;
            state.consents = consents::list(app, pool, sub)
                .await
                .map_err(OAuthError::server)?;
            match revoked {
                true => Ok("The application's access was removed; it will ask again.".into()),
                false => Err("That application had no access.".into()),
            }
        }
        "mfa_begin" | "mfa_confirm" | "mfa_disable" => {
            mfa_action(app, tenant, form, &mut state, browser, now).await?
        }
        _ => Err("Unknown action.".to_string()),
    };
    match result {
        Ok(notice) => state.notice = Some(notice),
        Err(error) => state.error = Some(error),
    }
    Ok(AccountOutcome::Show(Box::new(state)))
}

async fn profile(
    app: &AppState,
    tenant: &PoolRuntime,
    form: &Params,
    state: &mut AccountState,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Result<String, String>, OAuthError> {
    let mut changes = BTreeMap::new();
    for name in editable(tenant) {
        if let Some(v) = form.field(&name) {
            changes.insert(name, Some(v.to_string()));
        }
    }
    match accounts::update_attributes(
        app,
        &tenant.pool,
        state.user.sub.as_str(),
        changes,
        accounts::Writer::User { ip: browser.ip },
        now,
    )
    .await
    {
        Ok(u) => {
            state.user = u;
            Ok(Ok("Your profile was saved.".into()))
        }
        Err(e) => match user_message(&e) {
            Some(msg) => Ok(Err(msg)),
            None => Err(OAuthError::server(e)),
        },
    }
}

async fn change_email(
    app: &AppState,
    tenant: &PoolRuntime,
    form: &Params,
    state: &mut AccountState,
    now: DateTime<Utc>,
) -> Result<Result<String, String>, OAuthError> {
    let email = form.get("email").unwrap_or_default().trim().to_string();
    match email_change::request(app, &tenant.pool, &state.user, &email, now).await {
        Ok(()) => {
            state.pending_email = Some(email.clone());
            Ok(Ok(format!(
                "We sent a code to {email}. Your current address stays until you enter it."
            )))
        }
        Err(e) => change_message(e),
    }
}

/// A page message for what stopped an email change, or the fault behind it.
fn change_message(e: EmailChangeError) -> Result<Result<String, String>, OAuthError> {
    match e {
        EmailChangeError::Invalid(a) => Ok(Err(user_message(&a).unwrap_or_default())),
        EmailChangeError::Store(s) => Err(OAuthError::server(s)),
        EmailChangeError::Account(a) => Err(OAuthError::server(a)),
        other => Ok(Err(other.to_string())),
    }
}

async fn verify_email(
    app: &AppState,
    tenant: &PoolRuntime,
    form: &Params,
    state: &mut AccountState,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Result<String, String>, OAuthError> {
    let sub = state.user.sub.to_string();
    let code = form.get("code").unwrap_or_default();
    match email_change::confirm(app, &tenant.pool.id, &sub, code, browser.ip, now).await {
        Ok(u) => {
            state.user = u;
            state.pending_email = None;
            Ok(Ok("Your email address was changed.".into()))
        }
        Err(e) => change_message(e),
    }
}

/// Turning MFA on (a fresh secret, then its first code) or off (a current or recovery code).
/// Each code attempt is reserved against the sign-in lockout before it is checked.
async fn mfa_action(
    app: &AppState,
    tenant: &PoolRuntime,
    form: &Params,
    state: &mut AccountState,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Result<String, String>, OAuthError> {
    if !state.mfa_available {
        return Ok(Err(
            "Two-step verification is not offered by this application.".into(),
        ));
    }
    let action = form.get("action").unwrap_or_default();
    if action == "mfa_begin" && !state.mfa_enabled {
        let (pool, user) = (&tenant.pool, &state.user);
        let e = mfa::begin_enrollment(
            app,
            &pool.id,
            &pool.name,
            user.sub.as_str(),
            &user.username,
            now,
        )
        .await
        .map_err(OAuthError::server)?;
        state.enrollment = Some(e);
        return Ok(Ok(
            "Scan the code with your authenticator app, then enter the code it shows.".into(),
        ));
    }
    let throttle = Throttle::new(&tenant.pool.id, &state.user.username, browser.ip);
    let Some(reserved) = throttle.reserve(app).await? else {
        return Ok(Err(LOCKED.into()));
    };
    let code = form.get("code").unwrap_or_default();
    let (outcome, verdict) = match action {
        "mfa_confirm" if !state.mfa_enabled => confirm_mfa(app, tenant, state, code, now).await?,
        "mfa_disable" if state.mfa_enabled => disable_mfa(app, tenant, state, code, now).await?,
        _ => (
            Err("Reload the page and try again.".into()),
            Verdict::NotChecked,
        ),
    };
    throttle
        .settle(app, reserved, verdict, browser.ip, now)
        .await?;
    Ok(outcome)
}

/// A page message and how the code attempt went.
type CodeAttempt = (Result<String, String>, Verdict);

/// The first code of a new factor: on success the factor is on and the recovery codes shown.
async fn confirm_mfa(
    app: &AppState,
    tenant: &PoolRuntime,
    state: &mut AccountState,
    code: &str,
    now: DateTime<Utc>,
) -> Result<CodeAttempt, OAuthError> {
    let sub = state.user.sub.to_string();
    Ok(match mfa::confirm_enrollment(app, &tenant.pool.id, &sub, code, now).await {
        Ok(codes) => {
            state.mfa_enabled = true;
            state.enrollment = None;
            state.recovery_codes_left = i64::try_from(codes.len()).unwrap_or(0);
            state.recovery_codes = codes;
            (Ok("Two-step verification is on.".into()), Verdict::Right)
        }
        Err(MfaError::WrongCode) => (
            Err("That code is not right. Check the time on your device and try the newest code.".into()),
            Verdict::Wrong,
        ),
        Err(e) if e.is_user_facing() => (Err(e.to_string()), Verdict::NotChecked),
        Err(e) => return Err(OAuthError::server(e)),
    })
}

/// Turning the factor off with a current or recovery code (not in a REQUIRED pool).
async fn disable_mfa(
    app: &AppState,
    tenant: &PoolRuntime,
    state: &mut AccountState,
    code: &str,
    now: DateTime<Utc>,
) -> Result<CodeAttempt, OAuthError> {
    if tenant.pool.settings.mfa == MfaMode::Required {
        let msg = "This application requires two-step verification; it cannot be turned off.";
        return Ok((Err(msg.into()), Verdict::NotChecked));
    }
    let sub = state.user.sub.to_string();
    Ok(
        match mfa::disable(app, &tenant.pool.id, &sub, code, now).await {
            Ok(true) => {
                state.mfa_enabled = false;
                state.recovery_codes_left = 0;
                (Ok("Two-step verification is off.".into()), Verdict::Right)
            }
            Ok(false) => (Err("That code is not right.".into()), Verdict::Wrong),
            Err(e) if e.is_user_facing() => (Err(e.to_string()), Verdict::NotChecked),
            Err(e) => return Err(OAuthError::server(e)),
        },
    )
}

async fn change_password(
    app: &AppState,
    tenant: &PoolRuntime,
    form: &Params,
    mut state: AccountState,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<AccountOutcome, OAuthError> {
    let (current, new, again) = (
        form.get("current").unwrap_or_default(),
        form.get("password").unwrap_or_default(),
        form.get("confirm").unwrap_or_default(),
    );
    let fail = |mut state: AccountState, msg: &str| {
        state.error = Some(msg.to_string());
        Ok(AccountOutcome::Show(Box::new(state)))
    };
    if new != again {
        return fail(state, "The two new passwords differ.");
    }
    if let Err(msg) =
        accounts::policy::check(&tenant.pool.settings.password_policy, &Secret::new(new))
    {
        return fail(state, &format!("The new password {msg}."));
    }
    let shed_or_fault = |mut state: AccountState, e: AccountError| match shed_wait(&e) {
        Some(wait) => {
            state.error = Some(BUSY.into());
            Ok(AccountOutcome::Shed(Box::new(state), wait))
        }
        None => Err(account_failure(e)),
    };
    let checked =
        signin::check_current_password(app, &tenant.pool.id, &state.user, current, browser.ip, now)
            .await;
    match checked {
        Ok(Checked::Ok(_)) => {}
        Ok(Checked::Failed) => return fail(state, "The current password is wrong."),
        Ok(Checked::Locked) => return fail(state, LOCKED),
        Err(e) => return shed_or_fault(state, e),
    }
    let sub = state.user.sub.to_string();
    match accounts::set_password(app, &tenant.pool, &sub, &Secret::new(new), false, now).await {
        Ok(u) => state.user = u,
        Err(AccountError::Policy(msg)) => {
            return fail(state, &format!("The new password {msg}."));
        }
        Err(e) => return shed_or_fault(state, e),
    }
    let ctx = audit::Context {
        sub: Some(&sub),
        ip: browser.ip,
        ..Default::default()
    };
    audit::record(app, &tenant.pool.id, audit::Kind::PasswordChanged, ctx, now).await;
    // Every session ended with the old password; this browser keeps going with a new one.
    sessions::end(app, &tenant.pool.id, browser.session).await?;
    let s = Session::new(&sub, now.timestamp(), state.session.amr.clone());
    let (cookie, s) = sessions::start(app, &tenant.pool.id, &s).await?;
    state.session = s;
    state.notice = Some("Your password was changed. Your other sessions were signed out.".into());
    Ok(AccountOutcome::ShowWithNewSession(Box::new(state), cookie))
}
