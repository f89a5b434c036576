//! The conductor of the hosted journey: where an authorization request enters, which page a
//! transaction shows, which step a submitted form goes to, and what follows once the user has
//! proven who they are. The only module here that knows every step; the steps know none of
//! each other.

use chrono::{DateTime, Utc};

use super::finish::{finish, live_session, to_client};
use super::outcome::{Browser, Outcome, StepResult, Transition, tx_for_form};
use super::tx::{self, LoginTx, Step};
use super::{consent, federated, mfa, new_password, password, recovery, signup};
use crate::crypto::ct_eq;
use crate::limits::{self, Budget};
use crate::model::client::COGNITO;
use crate::model::pool::RateCategory;
use crate::model::{MfaMode, UserStatus};
use crate::oidc::authorize::{self, AuthRequest};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::sessions::Session;
use crate::state::AppState;
use crate::store::kv::Writes;
use crate::store::sql::users::User;

/// The forms of the hosted pages, each answered by one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Password,
    NewPassword,
    SignUp,
    Confirm,
    Forgot,
    Reset,
    Mfa,
    MfaSetup,
    Consent,
    /// "Continue with ..." (`provider` names the identity provider).
    Federate,
}

impl Form {
    /// The pool rate this form counts against.
    fn category(self) -> RateCategory {
        match self {
            Self::SignUp | Self::Confirm => RateCategory::UserCreation,
            Self::Forgot | Self::Reset => RateCategory::AccountRecovery,
            Self::Password
            | Self::NewPassword
            | Self::Mfa
            | Self::MfaSetup
            | Self::Consent
            | Self::Federate => RateCategory::SignIn,
        }
    }
}

/// Counts a request against the pool's rate for `category`: the 429 page once it is spent.
async fn over_rate(
    app: &AppState,
    tenant: &PoolRuntime,
    category: RateCategory,
) -> Result<Option<Outcome>, OAuthError> {
    let settings = &tenant.pool.settings;
    let rated = limits::rate(app, &tenant.pool.id, &settings.rate_limits, category).await?;
    let busy = "Too many people are doing this right now. Please try again in a moment.";
    Ok(rated.err().map(|l| Outcome::limited(busy, l)))
}

/// New sign-in transactions per client address in [`ANON_WINDOW`]: an anonymous GET of the
/// authorization endpoint writes a transaction, so a flood from one address is cut off.
const TX_PER_ADDRESS: i64 = 300;
const ANON_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Handles `/oauth2/authorize`: a code at once for a usable SSO session, else the sign-in page
/// of a new transaction (or `login_required` for `prompt=none`).
pub async fn authorize(
    app: &AppState,
    tenant: &PoolRuntime,
    params: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let (client, req) = match authorize::validate(tenant, params) {
        Ok(v) => v,
        Err(e) => return Ok(e.into()),
    };
    let usable = live_session(app, tenant, browser)
        .await?
        .filter(|s| reusable(tenant, &req, s, now));
    match usable {
        Some(s) => {
            finish(
                app,
                tenant,
                &client,
                req,
                s,
                browser,
                now,
                Writes::default(),
            )
            .await
        }
        None if req.prompt.none => {
            let e = OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in");
            Ok(to_client(tenant, &req, e))
        }
        None => {
            if let Some(ip) = browser.ip {
                let key = format!("{}:authz-ip:{ip}", tenant.pool.id);
                let budget = [Budget::new(key, TX_PER_ADDRESS, ANON_WINDOW)];
                if let Err(l) = limits::reserve(app, &budget).await? {
                    let why = "Too many sign-ins were started from your network. \
                               Please try again later.";
                    return Ok(Outcome::limited(why, l));
                }
            }
            let (pool, binding) = (&tenant.pool.id, browser.binding_hash());
            let direct = req.identity_provider.clone().filter(|p| p != COGNITO);
            let step = Step::NeedPassword;
            let tx = tx::begin(app, pool, Some(req), step, binding, now).await?;
            match direct {
                Some(provider) => federated::start(app, tenant, tx, &provider, now).await,
                None => Ok(Outcome::Login { tx, error: None }),
            }
        }
    }
}

/// May this SSO session answer the request without a new sign-in? Not when the request says
/// `prompt=login`, needs MFA the session did not do, or `max_age` has passed.
fn reusable(tenant: &PoolRuntime, req: &AuthRequest, s: &Session, now: DateTime<Utc>) -> bool {
    let mfa_needed = req.requires_mfa || tenant.pool.settings.mfa == MfaMode::Required;
    !req.prompt.login
        && (!mfa_needed || s.amr.iter().any(|m| m == "otp"))
        && req
            .max_age
            .is_none_or(|max| now.timestamp() - s.auth_time <= max)
}

/// The page of the step a transaction is at (GET of a hosted page with `?tx=`).
pub async fn current_page(
    app: &AppState,
    tenant: &PoolRuntime,
    tx_id: &str,
    browser: &Browser<'_>,
) -> Result<Outcome, OAuthError> {
    let Some(tx) = tx::find(app, &tenant.pool.id, tx_id).await? else {
        return Ok(Outcome::expired());
    };
    // Another browser holding the link gets nothing.
    if !ct_eq(tx.browser.as_bytes(), browser.binding_hash().as_bytes()) {
        return Ok(Outcome::expired());
    }
    Ok(match tx.step.clone() {
        Step::NeedPassword => Outcome::Login { tx, error: None },
        Step::NeedNewPassword { .. } => Outcome::NewPassword { tx, error: None },
        Step::NeedConfirmation { email, .. } => Outcome::Confirm {
            tx,
            email,
            notice: None,
        },
        Step::NeedResetCode { identifier } => Outcome::ResetCode {
            tx,
            identifier,
            error: None,
            notice: None,
        },
        Step::NeedMfa { .. } | Step::NeedMfaSetup { .. } | Step::MfaEnrolled { .. } => {
            mfa::page(app, tenant, tx).await?
        }
        Step::NeedConsent { .. } => consent::page(tenant, tx),
        // Back from the provider's page without an answer: sign in again.
        Step::AtUpstream { .. } => Outcome::Login { tx, error: None },
    })
}

/// The transaction behind `tx_id` if it waits at the sign-in page.
async fn at_sign_in(
    app: &AppState,
    tenant: &PoolRuntime,
    tx_id: &str,
    browser: &Browser<'_>,
) -> Result<Option<LoginTx>, OAuthError> {
    Ok(match current_page(app, tenant, tx_id, browser).await? {
        Outcome::Login { tx, .. } => Some(tx),
        _ => None,
    })
}

/// The sign-up form, linked from the sign-in page.
pub async fn signup_form(
    app: &AppState,
    tenant: &PoolRuntime,
    tx_id: &str,
    browser: &Browser<'_>,
) -> Result<Outcome, OAuthError> {
    if let Some(closed) = signup::closed(tenant) {
        return Ok(closed);
    }
    let tx = at_sign_in(app, tenant, tx_id, browser).await?;
    Ok(tx.map_or_else(Outcome::expired, signup::form))
}

/// The forgot-password form, linked from the sign-in page.
pub async fn forgot_form(
    app: &AppState,
    tenant: &PoolRuntime,
    tx_id: &str,
    browser: &Browser<'_>,
) -> Result<Outcome, OAuthError> {
    let tx = at_sign_in(app, tenant, tx_id, browser).await?;
    Ok(tx.map_or_else(Outcome::expired, recovery::form))
}

/// A hosted form was submitted: its transaction must be this browser's and carry the form's
/// CSRF token; then its step answers.
pub async fn submit(
    app: &AppState,
    tenant: &PoolRuntime,
    which: Form,
    form: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Transition, OAuthError> {
    if let Some(busy) = over_rate(app, tenant, which.category()).await? {
        return Ok(busy.into());
    }
    let Some(tx) = tx_for_form(app, tenant, form, browser).await? else {
        return Ok(Outcome::expired().into());
    };
    let (a, t, b) = (app, tenant, browser);
    // Every waiting request holds this future whole, sized by its largest branch: the other
    // steps are boxed, so a password sign-in (the one that waits for a hash, by the hundred
    // under load) holds ~4 KiB instead of ~8 KiB (`size_of` of the futures, 2026-12-06).
    let result = match which {
        Form::Password => match home_realm(t, &tx, form) {
            Some(provider) => Box::pin(federated::start(a, t, tx, &provider, now))
                .await?
                .into(),
            None => password::submit(a, t, tx, form, b, now).await?,
        },
        Form::Federate => {
            let provider = form.get("provider").unwrap_or_default();
            Box::pin(federated::start(a, t, tx, provider, now))
                .await?
                .into()
        }
        Form::NewPassword => Box::pin(new_password::submit(a, t, tx, form, now)).await?,
        Form::SignUp => Box::pin(signup::submit(a, t, tx, form, b, now)).await?,
        Form::Confirm => Box::pin(signup::confirm(a, t, tx, form, now)).await?,
        Form::Forgot => Box::pin(recovery::forgot(a, t, tx, form, b, now)).await?,
        Form::Reset => Box::pin(recovery::reset(a, t, tx, form, b, now)).await?,
        Form::Mfa => Box::pin(mfa::challenge(a, t, tx, form, b, now)).await?,
        Form::MfaSetup => Box::pin(mfa::setup(a, t, tx, form, b, now)).await?,
        Form::Consent => Box::pin(consent::submit(a, t, tx, form, b, now)).await?,
    };
    conclude(app, tenant, result, browser, now).await
}

/// Home-realm discovery: an email typed on the sign-in page whose domain belongs to an
/// identity provider goes there (only from the sign-in step).
fn home_realm(tenant: &PoolRuntime, tx: &LoginTx, form: &Params) -> Option<String> {
    if !matches!(tx.step, Step::NeedPassword) {
        return None;
    }
    federated::for_identifier(tenant, tx, form.get("username")?)
}

/// `GET /oauth2/idpresponse`: an upstream identity provider's answer.
pub async fn callback(
    app: &AppState,
    tenant: &PoolRuntime,
    params: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Transition, OAuthError> {
    if let Some(busy) = over_rate(app, tenant, RateCategory::SignIn).await? {
        return Ok(busy.into());
    }
    let result = federated::callback(app, tenant, params, browser, now).await?;
    conclude(app, tenant, result, browser, now).await
}

/// A step's result as the browser's next page: done, or on from a proven first factor (boxed:
/// the rest of a sign-in is not held inside every waiting form's future).
async fn conclude(
    app: &AppState,
    tenant: &PoolRuntime,
    result: StepResult,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Transition, OAuthError> {
    match result {
        StepResult::Done(transition) => Ok(transition),
        StepResult::Authenticated {
            tx,
            user,
            identifier,
        } => {
            Box::pin(after_first_factor(
                app,
                tenant,
                tx,
                &user,
                &identifier,
                browser,
                now,
            ))
            .await
        }
    }
}

/// The user proved who they are; the account's state says what comes next: a password reset,
/// the email confirmation, a new password, or the second factor (which ends in signing in).
async fn after_first_factor(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    user: &User,
    identifier: &str,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Transition, OAuthError> {
    let outcome = match user.status {
        UserStatus::ResetRequired => {
            recovery::require_reset(app, tenant, tx, identifier, user, now).await?
        }
        UserStatus::Unconfirmed => signup::resume_confirmation(app, tenant, tx, user, now).await?,
        UserStatus::ForceChangePassword
            if crate::accounts::temporary_password_expired(&tenant.pool, user, now) =>
        {
            Outcome::Login {
                tx,
                error: Some(crate::accounts::TEMPORARY_PASSWORD_EXPIRED.into()),
            }
        }
        UserStatus::ForceChangePassword => new_password::enter(app, tenant, tx, user).await?,
        UserStatus::Confirmed | UserStatus::ExternalProvider => {
            return mfa::enter(app, tenant, tx, user, identifier, browser, now).await;
        }
    };
    Ok(outcome.into())
}
