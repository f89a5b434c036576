//! Forgot password: the same answer whether or not the account exists; a 6-digit code by email
//! (1 h, single use, 5 tries); the new password must meet the policy; success revokes the
//! user's refresh tokens, ends their other sessions, and returns to the sign-in page.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::outcome::{
    BUSY, Browser, Outcome, StepResult, account_failure, shed_wait, user_message,
};
use super::tx::{self, LoginTx, Step};
use crate::accounts::codes::{self, Purpose};
use crate::accounts::{self, AccountError, normalize_identifier};
use crate::audit;
use crate::crypto::sha256_hex;
use crate::ids::Secret;
use crate::limits::{self, Budget};
use crate::model::UserStatus;
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::pools::Pool;
use crate::store::sql::users::{self, User};

pub const RESET_TTL: Duration = Duration::from_secs(3600);
/// Reset mails per identifier in [`RESET_TTL`]: keeps the form from becoming a mail cannon.
const MAX_SENDS: i64 = 5;

const MAIL_FAILED: &str = "We could not send the email just now. Please try again later.";

/// The forgot-password form, reached from the sign-in page of `tx`.
pub fn form(tx: LoginTx) -> Outcome {
    Outcome::Forgot { tx }
}

/// Mails a reset code to `user`'s address.
async fn send_code(
    app: &AppState,
    tenant: &PoolRuntime,
    user: &User,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let sub = user.sub.as_str();
    let sent = codes::send(
        app,
        &tenant.pool,
        Purpose::Reset,
        sub,
        email,
        RESET_TTL,
        now,
    )
    .await;
    sent.inspect_err(|e| tracing::error!(error = %e, "password reset mail failed"))
}

/// Moves `tx` to the reset-code step for what the user typed.
async fn at_reset_code(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    identifier: &str,
) -> Result<LoginTx, OAuthError> {
    let tx = tx.at(Step::NeedResetCode {
        identifier: identifier.to_string(),
    });
    tx::save(app, &tenant.pool.id, &tx).await?;
    Ok(tx)
}

/// A RESET_REQUIRED user gave the right password: mail a fresh code and ask for it.
pub async fn require_reset(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    identifier: &str,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let Some(email) = user.email.clone() else {
        return Ok(Outcome::Page(
            "Your password must be reset, but this account has no email address. Ask an administrator."
                .into(),
        ));
    };
    if send_code(app, tenant, user, &email, now).await.is_err() {
        return Ok(Outcome::Page(MAIL_FAILED.into()));
    }
    let tx = at_reset_code(app, tenant, tx, identifier).await?;
    Ok(Outcome::ResetCode {
        tx,
        identifier: identifier.to_string(),
        error: None,
        notice: Some(
            "Your password was reset by an administrator. Enter the code we emailed you and choose a new password."
                .into(),
        ),
    })
}

/// Forgot-password requests per client address in [`RESET_TTL`].
const FORGOTS_PER_ADDRESS: i64 = 20;
/// Reset mails per destination mailbox in [`RESET_TTL`], whichever identifier named it.
const SENDS_PER_EMAIL: i64 = 5;

async fn find_for_sign_in(
    app: &AppState,
    pool: &Pool,
    norm: String,
) -> Result<Option<User>, StoreError> {
    let (id, mode) = (pool.id.clone(), pool.settings.sign_in_identifier);
    app.sql
        .run(move |c| users::find_for_sign_in(c, &id, &norm, mode))
        .await
}

/// Mails a reset code for what was typed at "forgot password" if an account may reset with
/// it (run after the answer, so the visitor learns nothing from timing or mail failures).
async fn mail_reset(app: &AppState, pool: &Pool, norm: String, now: DateTime<Utc>) {
    let user = match find_for_sign_in(app, pool, norm).await {
        Ok(Some(u)) => u,
        Ok(None) => return,
        Err(e) => return tracing::error!(error = %e, "password reset lookup failed"),
    };
    let resettable = user.enabled
        && matches!(
            user.status,
            UserStatus::Confirmed | UserStatus::ResetRequired
        );
    let Some(email) = user.email.clone().filter(|_| resettable) else {
        return;
    };
    let to = sha256_hex(normalize_identifier(&email).as_bytes());
    let budget = [Budget::new(
        format!("{}:reset-to:{to}", pool.id),
        SENDS_PER_EMAIL,
        RESET_TTL,
    )];
    match limits::reserve(app, &budget).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => return tracing::warn!("password reset mail skipped: mailbox over budget"),
        Err(e) => return tracing::error!(error = %e, "password reset budget failed"),
    }
    let sub = user.sub.as_str();
    let sent = codes::send(app, pool, Purpose::Reset, sub, &email, RESET_TTL, now).await;
    if let Err(e) = sent {
        tracing::error!(error = %e, "password reset mail failed");
    }
}

/// An identifier was submitted: the same answer, after the same work, whether or not an
/// account may reset with it. The lookup and the mail happen after the answer; the only work
/// here is counting the address's and the identifier's budgets.
pub async fn forgot(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    if !matches!(tx.step, Step::NeedPassword | Step::NeedResetCode { .. }) {
        return Ok(Outcome::expired().into());
    }
    let pool = &tenant.pool;
    let identifier: String = form
        .get("username")
        .unwrap_or_default()
        .chars()
        .take(256)
        .collect();
    if let Some(ip) = browser.ip {
        let key = format!("{}:forgot-ip:{ip}", pool.id);
        let budget = [Budget::new(key, FORGOTS_PER_ADDRESS, RESET_TTL)];
        if let Err(l) = limits::reserve(app, &budget).await? {
            let why =
                "Too many password resets were asked from your network. Please try again later.";
            return Ok(Outcome::limited(why, l).into());
        }
    }
    // Per identifier, silently: over the budget the answer is the same but nothing is sent.
    let norm = normalize_identifier(&identifier);
    let key = format!("{}:reset-sends:{}", pool.id, sha256_hex(norm.as_bytes()));
    let within = app.kv.incr(&key, RESET_TTL).await? <= MAX_SENDS;
    if within && !norm.is_empty() && !norm.chars().any(char::is_control) {
        let (app2, pool) = (app.for_background(), pool.clone());
        app.background.spawn("password reset mail", async move {
            mail_reset(&app2, &pool, norm, now).await;
        });
    }
    let tx = at_reset_code(app, tenant, tx, &identifier).await?;
    Ok(Outcome::ResetCode {
        tx,
        identifier,
        error: None,
        notice: None,
    }
    .into())
}

/// The code and the new password were submitted.
pub async fn reset(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    let Step::NeedResetCode { identifier } = tx.step.clone() else {
        return Ok(Outcome::expired().into());
    };
    let page = |tx: LoginTx, msg: &str| Outcome::ResetCode {
        tx,
        identifier: identifier.clone(),
        error: Some(msg.to_string()),
        notice: None,
    };
    let retry = |tx: LoginTx, msg: &str| Ok(page(tx, msg).into());
    let (code, pw, again) = (
        form.get("code").unwrap_or_default(),
        form.get("password").unwrap_or_default(),
        form.get("confirm").unwrap_or_default(),
    );
    if pw != again {
        return retry(tx, "The two passwords differ.");
    }
    let password = Secret::new(pw);
    if let Err(msg) = accounts::policy::check(&tenant.pool.settings.password_policy, &password) {
        return retry(tx, &format!("The password {msg}."));
    }
    let wrong = "That code is wrong or has expired.";
    let found = find_for_sign_in(app, &tenant.pool, normalize_identifier(&identifier)).await?;
    let Some(user) = found else {
        return retry(tx, wrong);
    };
    let sub = user.sub.clone();
    let sub = sub.as_str();
    // The code is consumed only once the new password is hashed: shed under load (503), it
    // stays good for the retry.
    match accounts::reset_password(app, &tenant.pool, user, code, &password, RESET_TTL, now).await {
        Ok(Some(_)) => {}
        Ok(None) => return retry(tx, wrong),
        Err(e @ AccountError::Policy(_)) => {
            return retry(tx, &user_message(&e).unwrap_or_default());
        }
        Err(e) => {
            return match shed_wait(&e) {
                Some(wait) => Ok(page(tx, BUSY).shed(wait).into()),
                None => Err(account_failure(e)),
            };
        }
    }
    let ctx = audit::Context {
        sub: Some(sub),
        ip: browser.ip,
        ..Default::default()
    };
    audit::record(app, &tenant.pool.id, audit::Kind::PasswordReset, ctx, now).await;
    let tx = tx.at(Step::NeedPassword);
    tx::save(app, &tenant.pool.id, &tx).await?;
    let notice = "Your password was changed. Sign in with the new one.".into();
    Ok(Outcome::LoginNotice { tx, notice }.into())
}
