//! The MFA steps of the login transaction: after a correct password, a TOTP challenge for
//! enrolled users, or enrollment when the pool (or the request's `acr_values`) demands MFA and the
//! user has none (Cognito's MFA_SETUP). Failed codes count toward the sign-in lockout.

use chrono::{DateTime, Utc};

use super::finish::{complete_sign_in, to_client};
use super::outcome::{Browser, LOCKED, Outcome, StepResult, Transition};
use super::tx::{self, LoginTx, Step};
use crate::accounts::signin::{Reserved, Throttle, Verdict};
use crate::crypto::sha256_hex;
use crate::metrics::SignIn;
use crate::mfa::{self, MfaError, Verified};
use crate::model::MfaMode;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::users::{self, User};

const PWD: &[&str] = &["pwd"];
const PWD_OTP: &[&str] = &["pwd", "otp"];

fn amr(methods: &[&str]) -> Vec<String> {
    methods.iter().map(|m| m.to_string()).collect()
}

/// The password was right (and the account is in order): go on to the second factor if the
/// pool or the request wants one, else finish signing in.
pub async fn enter(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    user: &User,
    identifier: &str,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Transition, OAuthError> {
    let sub = user.sub.to_string();
    let demanded = tx.request.as_ref().is_some_and(|r| r.requires_mfa);
    let mode = tenant.pool.settings.mfa;
    if mode == MfaMode::Off {
        if demanded {
            return Ok(unmet(app, tenant, &tx).await?.into());
        }
        return complete_sign_in(app, tenant, &tx.id, &sub, amr(PWD), browser, now).await;
    }
    let enrolled = mfa::is_enrolled(app, &tenant.pool.id, &sub)
        .await
        .map_err(OAuthError::server)?;
    let identifier = identifier.to_string();
    if enrolled {
        let tx = tx.at(Step::NeedMfa { sub, identifier });
        tx::save(app, &tenant.pool.id, &tx).await?;
        app.metrics.sign_in(SignIn::MfaRequired);
        return Ok(Outcome::Mfa { tx, error: None }.into());
    }
    if mode == MfaMode::Required || demanded {
        let tx = tx.at(Step::NeedMfaSetup { sub, identifier });
        tx::save(app, &tenant.pool.id, &tx).await?;
        return setup_page(app, tenant, tx, user, None)
            .await
            .map(Into::into);
    }
    complete_sign_in(app, tenant, &tx.id, &sub, amr(PWD), browser, now).await
}

/// The client asked for MFA this pool cannot do.
async fn unmet(app: &AppState, tenant: &PoolRuntime, tx: &LoginTx) -> Result<Outcome, OAuthError> {
    let Some(tx) = tx::take(app, &tenant.pool.id, &tx.id).await? else {
        return Ok(Outcome::expired());
    };
    let Some(req) = tx.request else {
        return Ok(Outcome::expired());
    };
    let e = OAuthError::new(
        ErrorCode::UnmetAuthenticationRequirements,
        "multi-factor authentication is not enabled in this user pool",
    );
    Ok(to_client(tenant, &req, e))
}

async fn setup_page(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    user: &User,
    error: Option<String>,
) -> Result<Outcome, OAuthError> {
    let (pool, sub) = (&tenant.pool, user.sub.as_str());
    let enrollment = match mfa::pending_enrollment(app, &pool.id, &pool.name, sub, &user.username)
        .await
        .map_err(OAuthError::server)?
    {
        Some(e) => e,
        None => mfa::begin_enrollment(
            app,
            &pool.id,
            &pool.name,
            sub,
            &user.username,
            app.clock.now(),
        )
        .await
        .map_err(OAuthError::server)?,
    };
    Ok(Outcome::MfaSetup {
        tx,
        enrollment: Some(Box::new(enrollment)),
        recovery_codes: Vec::new(),
        error,
    })
}

async fn user_of(
    app: &AppState,
    tenant: &PoolRuntime,
    sub: &str,
) -> Result<Option<User>, OAuthError> {
    Ok(users::find_enabled(&app.sql, &tenant.pool.id, sub).await?)
}

/// Wrong codes one login transaction may take before it is spent.
const MAX_CODES_PER_TX: i64 = 5;

fn tx_codes_key(tenant: &PoolRuntime, tx: &LoginTx) -> String {
    format!("{}:mfa-tx:{}", tenant.pool.id, sha256_hex(tx.id.as_bytes()))
}

/// Reserves one code attempt on the transaction before it is checked; past
/// [`MAX_CODES_PER_TX`] the transaction is ended.
async fn reserve_on_tx(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: &LoginTx,
) -> Result<bool, OAuthError> {
    if app
        .kv
        .incr(&tx_codes_key(tenant, tx), tx::LOGIN_TX_TTL)
        .await?
        <= MAX_CODES_PER_TX
    {
        return Ok(true);
    }
    tx::take(app, &tenant.pool.id, &tx.id).await?;
    Ok(false)
}

/// Settles a code attempt on both counters: the throttle's, and the transaction's (an attempt
/// that was not checked, such as malformed input, is given back).
async fn settle(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: &LoginTx,
    attempt: (&Throttle, Reserved, Verdict),
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let (throttle, reserved, verdict) = attempt;
    if verdict == Verdict::NotChecked {
        app.kv.release(&tx_codes_key(tenant, tx)).await?;
    }
    throttle
        .settle(app, reserved, verdict, browser.ip, now)
        .await?;
    Ok(())
}

const TOO_MANY: &str =
    "Too many wrong codes for this sign-in. Go back to the application and sign in again.";

/// `POST /mfa`: the code of an enrolled user. The attempt is reserved (per identifier, address
/// and transaction) before the code is checked.
pub async fn challenge(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    let Step::NeedMfa { sub, identifier } = tx.step.clone() else {
        return Ok(Outcome::expired().into());
    };
    let retry = |tx: LoginTx, msg: &str| {
        Ok(Outcome::Mfa {
            tx,
            error: Some(msg.to_string()),
        }
        .into())
    };
    let throttle = Throttle::new(&tenant.pool.id, &identifier, browser.ip);
    let Some(reserved) = throttle.reserve(app).await? else {
        return retry(tx, LOCKED);
    };
    if !reserve_on_tx(app, tenant, &tx).await? {
        throttle.cancel(app, reserved).await?;
        return Ok(Outcome::Page(TOO_MANY.into()).into());
    }
    let input = form.get("code").unwrap_or_default();
    let verified = mfa::verify(app, &tenant.pool.id, &sub, input, now).await;
    let verdict = match &verified {
        Ok(Verified::Totp | Verified::RecoveryCode) => Verdict::Right,
        Ok(Verified::Invalid) => Verdict::Wrong,
        Err(_) => Verdict::NotChecked,
    };
    settle(
        app,
        tenant,
        &tx,
        (&throttle, reserved, verdict),
        browser,
        now,
    )
    .await?;
    match verified {
        Ok(Verified::Totp | Verified::RecoveryCode) => {
            if user_of(app, tenant, &sub).await?.is_none() {
                return Ok(Outcome::expired().into());
            }
            let done = complete_sign_in(app, tenant, &tx.id, &sub, amr(PWD_OTP), browser, now);
            Ok(done.await?.into())
        }
        Ok(Verified::Invalid) => {
            app.metrics.sign_in(SignIn::MfaFailed);
            retry(
                tx,
                "That code is not right. Try the newest code from your app.",
            )
        }
        Err(e) if e.is_user_facing() => retry(tx, &e.to_string()),
        Err(e) => Err(OAuthError::server(e)),
    }
}

/// `POST /mfaSetup`: the first code from the app (the factor turns on), then "continue" after
/// the recovery codes were shown.
pub async fn setup(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    match tx.step.clone() {
        Step::MfaEnrolled { sub } if form.get("step") == Some("continue") => {
            let done = complete_sign_in(app, tenant, &tx.id, &sub, amr(PWD_OTP), browser, now);
            Ok(done.await?.into())
        }
        Step::NeedMfaSetup { sub, identifier } => {
            let Some(user) = user_of(app, tenant, &sub).await? else {
                return Ok(Outcome::expired().into());
            };
            let throttle = Throttle::new(&tenant.pool.id, &identifier, browser.ip);
            let Some(reserved) = throttle.reserve(app).await? else {
                let page = setup_page(app, tenant, tx, &user, Some(LOCKED.into()));
                return Ok(page.await?.into());
            };
            if !reserve_on_tx(app, tenant, &tx).await? {
                throttle.cancel(app, reserved).await?;
                return Ok(Outcome::Page(TOO_MANY.into()).into());
            }
            let input = form.get("code").unwrap_or_default();
            let confirmed = mfa::confirm_enrollment(app, &tenant.pool.id, &sub, input, now).await;
            let verdict = match &confirmed {
                Ok(_) => Verdict::Right,
                Err(MfaError::WrongCode) => Verdict::Wrong,
                Err(_) => Verdict::NotChecked,
            };
            settle(
                app,
                tenant,
                &tx,
                (&throttle, reserved, verdict),
                browser,
                now,
            )
            .await?;
            enrolled(app, tenant, tx, &user, confirmed).await
        }
        _ => Ok(Outcome::expired().into()),
    }
}

/// The page after a first code: the recovery codes, or the setup again with what went wrong.
async fn enrolled(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    user: &User,
    confirmed: Result<Vec<String>, MfaError>,
) -> Result<StepResult, OAuthError> {
    let error = match confirmed {
        Ok(codes) => {
            let tx = tx.at(Step::MfaEnrolled {
                sub: user.sub.to_string(),
            });
            tx::save(app, &tenant.pool.id, &tx).await?;
            let page = Outcome::MfaSetup {
                tx,
                enrollment: None,
                recovery_codes: codes,
                error: None,
            };
            return Ok(page.into());
        }
        Err(MfaError::WrongCode) => {
            "That code is not right. Check the time on your device and try the newest code.".into()
        }
        Err(MfaError::NoPendingEnrollment) => "The setup expired; here is a new key.".into(),
        Err(e) if e.is_user_facing() => e.to_string(),
        Err(e) => return Err(OAuthError::server(e)),
    };
    Ok(setup_page(app, tenant, tx, user, Some(error)).await?.into())
}

/// The MFA page of a transaction at one of these steps (GET of `/mfa` or `/mfaSetup`).
pub async fn page(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
) -> Result<Outcome, OAuthError> {
    match tx.step.clone() {
        Step::NeedMfa { .. } => Ok(Outcome::Mfa { tx, error: None }),
        Step::NeedMfaSetup { sub, .. } => match user_of(app, tenant, &sub).await? {
            Some(user) => setup_page(app, tenant, tx, &user, None).await,
            None => Ok(Outcome::expired()),
        },
        _ => Ok(Outcome::expired()),
    }
}
