//! Self-service sign-up from the hosted sign-in page, and email confirmation with a 6-digit
//! code; the parked authorization request continues to the client once confirmed.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::outcome::{Browser, Outcome, StepResult, account_failure, user_message};
use super::tx::{self, LoginTx, Step};
use crate::accounts::codes::{self, Purpose};
use crate::accounts::{self, NewUserSpec};
use crate::audit;
use crate::crypto::sha256_hex;
use crate::ids::Secret;
use crate::model::SignInIdentifier;
use crate::model::attributes;
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::users::User;

/// A confirmation code lives this long.
pub const CONFIRM_TTL: Duration = Duration::from_secs(24 * 3600);
/// Resends per user in [`RESEND_WINDOW`].
const MAX_RESENDS: i64 = 3;
const RESEND_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The page shown instead of the sign-up form when only administrators create users.
pub fn closed(tenant: &PoolRuntime) -> Option<Outcome> {
    tenant.pool.settings.admin_only_signup.then(|| {
        Outcome::Page(
            "Sign-up is not open for this application; ask its administrator for an account."
                .into(),
        )
    })
}

/// The sign-up form, reached from the sign-in page of `tx`.
pub fn form(tx: LoginTx) -> Outcome {
    Outcome::SignUp {
        tx,
        error: None,
        values: Default::default(),
    }
}

/// What the sign-up form holds: the values to refill it with, the attributes to store, and
/// the first required field left empty.
struct SignUpForm {
    values: BTreeMap<String, String>,
    attributes: BTreeMap<String, String>,
    missing: Option<String>,
}

fn read_form(tenant: &PoolRuntime, form: &Params, ask_username: bool) -> SignUpForm {
    let settings = &tenant.pool.settings;
    let mut read = SignUpForm {
        values: BTreeMap::new(),
        attributes: BTreeMap::new(),
        missing: None,
    };
    for name in ["username", "email"]
        .into_iter()
        .chain(settings.required_attributes.iter().map(String::as_str))
    {
        let v: String = form
            .get(name)
            .unwrap_or_default()
            .trim()
            .chars()
            .take(4096)
            .collect();
        if v.is_empty() && (name != "username" || ask_username) && read.missing.is_none() {
            read.missing = Some(name.to_string());
        }
        if !v.is_empty() {
            read.values.insert(name.to_string(), v.clone());
            if !matches!(name, "username" | "email") {
                read.attributes.insert(name.to_string(), v);
            }
        }
    }
    read
}

/// "X is required." for the first empty required field.
fn required_message(name: &str) -> String {
    let label = match name {
        "username" => "A username",
        "email" => "An email address",
        other => attributes::label(other),
    };
    format!("{label} is required.")
}

/// The sign-up form was submitted.
pub async fn submit(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    if tenant.pool.settings.admin_only_signup {
        let closed = "Sign-up is not open for this application.";
        return Ok(Outcome::Page(closed.into()).into());
    }
    if !matches!(tx.step, Step::NeedPassword) {
        return Ok(Outcome::expired().into());
    }
    let ask_username = tenant.pool.settings.sign_in_identifier != SignInIdentifier::Email;
    let SignUpForm {
        values,
        attributes,
        missing,
    } = read_form(tenant, form, ask_username);
    let retry = |tx: LoginTx, msg: String| {
        Ok(Outcome::SignUp {
            tx,
            error: Some(msg),
            values: values.clone(),
        }
        .into())
    };
    if let Some(name) = missing {
        return retry(tx, required_message(&name));
    }
    let Some(budget) = reserve_budget(app, tenant, browser, values.get("email")).await? else {
        let msg = "Too many sign-ups from here or to this address. Please try again later.";
        return Ok(Outcome::TooMany(msg.into()).into());
    };
    let spec = NewUserSpec {
        username: match ask_username {
            true => values.get("username").cloned().unwrap_or_default(),
            false => String::new(),
        },
        email: values.get("email").cloned(),
        password: Secret::new(form.get("password").unwrap_or_default()),
        attributes,
        temporary_password: false,
        self_signup: true,
    };
    let user = match accounts::create(app, &tenant.pool, spec, now).await {
        Ok(u) => u,
        Err(e) => {
            // Nothing was created or mailed: the attempt does not count.
            give_back(app, &budget).await?;
            match user_message(&e) {
                Some(msg) => return retry(tx, msg),
                None => return Err(account_failure(e)),
            }
        }
    };
    let ctx = audit::Context {
        sub: Some(user.sub.as_str()),
        ip: browser.ip,
        ..Default::default()
    };
    audit::record(app, &tenant.pool.id, audit::Kind::SignedUp, ctx, now).await;
    let (tx, email) = at_confirmation(app, tenant, tx, &user).await?;
    let notice = send_code(app, tenant, &user, &email, now).await.err();
    Ok(Outcome::Confirm { tx, email, notice }.into())
}

/// Sign-ups per client address in [`SIGNUP_WINDOW`].
const SIGNUPS_PER_ADDRESS: i64 = 10;
/// Sign-ups (each mails a code) per destination address in [`SIGNUP_WINDOW`]: the page cannot
/// be used to flood a stranger's mailbox.
const SIGNUPS_PER_EMAIL: i64 = 3;
pub const SIGNUP_WINDOW: Duration = Duration::from_secs(3600);

/// Reserves this sign-up against the address's and the destination's budgets, counted before
/// any hashing or mail; `None` when either is spent (nothing stays counted then). The keys
/// reserved come back so that a sign-up that creates nothing can give them back.
async fn reserve_budget(
    app: &AppState,
    tenant: &PoolRuntime,
    browser: &Browser<'_>,
    email: Option<&String>,
) -> Result<Option<Vec<String>>, OAuthError> {
    let pool = &tenant.pool.id;
    let mut budgets = Vec::new();
    if let Some(ip) = browser.ip {
        budgets.push((format!("{pool}:signup-ip:{ip}"), SIGNUPS_PER_ADDRESS));
    }
    if let Some(email) = email {
        let to = sha256_hex(accounts::normalize_identifier(email).as_bytes());
        budgets.push((format!("{pool}:signup-to:{to}"), SIGNUPS_PER_EMAIL));
    }
    let mut reserved = Vec::new();
    for (key, max) in budgets {
        let n = app.kv.incr(&key, SIGNUP_WINDOW).await?;
        reserved.push(key);
        if n > max {
            give_back(app, &reserved).await?;
            return Ok(None);
        }
    }
    Ok(Some(reserved))
}

async fn give_back(app: &AppState, keys: &[String]) -> Result<(), OAuthError> {
    for key in keys {
        app.kv.release(key).await?;
    }
    Ok(())
}

/// Moves `tx` to the confirmation step for `user` (who has an email).
async fn at_confirmation(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    user: &User,
) -> Result<(LoginTx, String), OAuthError> {
    let email = user.email.clone().unwrap_or_default();
    let tx = tx.at(Step::NeedConfirmation {
        sub: user.sub.to_string(),
        email: email.clone(),
    });
    tx::save(app, &tenant.pool.id, &tx).await?;
    Ok((tx, email))
}

/// Mails a confirmation code; the error is the notice to show (the account is kept, and
/// "send a new code" retries delivery).
async fn send_code(
    app: &AppState,
    tenant: &PoolRuntime,
    user: &User,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let sent = codes::send(
        app,
        &tenant.pool,
        Purpose::Confirm,
        user.sub.as_str(),
        email,
        CONFIRM_TTL,
        now,
    )
    .await;
    sent.map_err(|e| {
        tracing::error!(error = %e, "confirmation mail failed");
        "We could not send the email just now. Try \"Send a new code\" in a moment.".into()
    })
}

/// An UNCONFIRMED user gave the right password: mail a new code and ask for it (as Cognito
/// does; only the password holder learns the account exists).
pub async fn resume_confirmation(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    if user.email.is_none() {
        return Ok(Outcome::Page(
            "This account has no email address to confirm; ask an administrator to confirm it."
                .into(),
        ));
    }
    let (tx, email) = at_confirmation(app, tenant, tx, user).await?;
    let notice = match send_code(app, tenant, user, &email, now).await {
        Ok(()) => "Your email address is not confirmed yet; we sent you a new code.".to_string(),
        Err(failed) => failed,
    };
    Ok(Outcome::Confirm {
        tx,
        email,
        notice: Some(notice),
    })
}

/// "Send a new code", within [`MAX_RESENDS`] per [`RESEND_WINDOW`].
async fn resend(
    app: &AppState,
    tenant: &PoolRuntime,
    sub: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let sent = app
        .kv
        .incr(&format!("{}:resend:{sub}", tenant.pool.id), RESEND_WINDOW)
        .await?;
    if sent > MAX_RESENDS {
        return Ok("Too many codes were sent. Wait a few minutes before asking again.".into());
    }
    let mailed = codes::send(
        app,
        &tenant.pool,
        Purpose::Confirm,
        sub,
        email,
        CONFIRM_TTL,
        now,
    )
    .await;
    Ok(match mailed {
        Ok(()) => "A new code is on its way.".into(),
        Err(e) => {
            tracing::error!(error = %e, "confirmation mail failed");
            "We could not send the email just now. Try again later.".into()
        }
    })
}

/// The confirmation form was submitted: a code, or a request for a new one. A right code
/// confirms the account, which counts as signing in.
pub async fn confirm(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    let Step::NeedConfirmation { sub, email } = tx.step.clone() else {
        return Ok(Outcome::expired().into());
    };
    let notice = if form.get("resend").is_some() {
        resend(app, tenant, &sub, &email, now).await?
    } else {
        let code = form.get("code").unwrap_or_default();
        let pool = &tenant.pool.id;
        if codes::verify(app, pool, Purpose::Confirm, &sub, code, CONFIRM_TTL).await? {
            let user = accounts::confirm(app, pool, &sub, now)
                .await
                .map_err(OAuthError::server)?;
            return Ok(StepResult::Authenticated {
                tx,
                identifier: user.username.clone(),
                user: Box::new(user),
            });
        }
        "That code is wrong or has expired.".into()
    };
    let notice = Some(notice);
    Ok(Outcome::Confirm { tx, email, notice }.into())
}
