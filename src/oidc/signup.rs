//! Self-service sign-up from the hosted sign-in page, and email confirmation with a 6-digit
//! code; the parked authorization request continues to the client once confirmed.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::OAuthError;
use super::flow::{Browser, EXPIRED, Outcome, Step2, tx_for_form};
use super::params::Params;
use super::session::{self, LoginTx, Step};
use crate::accounts::codes::{self, Purpose};
use crate::accounts::{self, AccountError, NewUserSpec};
use crate::audit;
use crate::ids::Secret;
use crate::pools::{PoolRuntime, SignInIdentifier};
use crate::state::AppState;

/// A confirmation code lives this long.
pub const CONFIRM_TTL: Duration = Duration::from_secs(24 * 3600);
/// Resends per user in [`RESEND_WINDOW`].
const MAX_RESENDS: i64 = 3;
const RESEND_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The sign-up form of a transaction waiting for a password.
pub async fn show(
    st: &AppState,
    rt: &PoolRuntime,
    tx_id: &str,
    b: &Browser<'_>,
) -> Result<Outcome, OAuthError> {
    if rt.pool.settings.admin_only_signup {
        return Ok(Outcome::Page(
            "Sign-up is not open for this application; ask its administrator for an account."
                .into(),
        ));
    }
    Ok(match super::flow::show(st, rt, tx_id, b).await? {
        Outcome::Login { tx, .. } => Outcome::SignUp {
            tx,
            error: None,
            values: Default::default(),
        },
        _ => Outcome::Page(EXPIRED.into()),
    })
}

/// The sign-up form was submitted.
pub async fn signup(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    if rt.pool.settings.admin_only_signup {
        return Ok(Outcome::Page(
            "Sign-up is not open for this application.".into(),
        ));
    }
    let Some(tx) = tx_for_form(st, rt, form, b).await? else {
        return Ok(Outcome::Page(EXPIRED.into()));
    };
    if !matches!(tx.step, Step::NeedPassword) {
        return Ok(Outcome::Page(EXPIRED.into()));
    }
    let settings = &rt.pool.settings;
    let ask_username = settings.sign_in_identifier != SignInIdentifier::Email;
    let mut values = std::collections::BTreeMap::new();
    let mut attributes = std::collections::BTreeMap::new();
    let mut missing = None;
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
        if v.is_empty() && (name != "username" || ask_username) && missing.is_none() {
            missing = Some(name);
        }
        if !v.is_empty() {
            values.insert(name.to_string(), v.clone());
            if !matches!(name, "username" | "email") {
                attributes.insert(name.to_string(), v);
            }
        }
    }
    let retry = |tx: LoginTx, msg: String| {
        Ok(Outcome::SignUp {
            tx,
            error: Some(msg),
            values: values.clone(),
        })
    };
    if let Some(name) = missing {
        let label = match name {
            "username" => "A username",
            "email" => "An email address",
            other => crate::accounts::attributes::label(other),
        };
        return retry(tx, format!("{label} is required."));
    }
    let password = form.get("password").unwrap_or_default();
    let spec = NewUserSpec {
        username: if ask_username {
            values.get("username").cloned().unwrap_or_default()
        } else {
            String::new()
        },
        email: values.get("email").cloned(),
        password: Secret::new(password),
        attributes,
        temporary_password: false,
        self_signup: true,
    };
    let user = match accounts::create(st, &rt.pool, spec, now).await {
        Ok(u) => u,
        Err(AccountError::Invalid { msg, .. }) => return retry(tx, super::flow::sentence(&msg)),
        Err(AccountError::Policy(msg)) => return retry(tx, format!("The password {msg}.")),
        Err(AccountError::Exists) => {
            return retry(tx, "That username or email is already registered.".into());
        }
        Err(e) => return Err(OAuthError::server(e)),
    };
    audit::record(
        st,
        &rt.pool.id,
        audit::Kind::SignedUp,
        audit::Context {
            sub: Some(user.sub.as_str()),
            ip: b.ip,
            ..Default::default()
        },
        now,
    )
    .await;
    let email = user.email.clone().unwrap_or_default();
    let tx = LoginTx {
        step: Step::NeedConfirmation {
            sub: user.sub.to_string(),
            email: email.clone(),
        },
        ..tx
    };
    session::save_tx(st, rt, &tx).await?;
    let notice = match codes::send(
        st,
        &rt.pool,
        Purpose::Confirm,
        user.sub.as_str(),
        &email,
        CONFIRM_TTL,
        now,
    )
    .await
    {
        Ok(()) => None,
        Err(e) => {
            // The account is kept; "send a new code" retries delivery.
            tracing::error!(error = %e, "confirmation mail failed");
            Some(
                "We could not send the email just now. Try \"Send a new code\" in a moment.".into(),
            )
        }
    };
    Ok(Outcome::Confirm { tx, email, notice })
}

/// Moves a transaction to the confirmation step for an UNCONFIRMED user and mails a new code.
pub async fn resume_confirmation(
    st: &AppState,
    rt: &PoolRuntime,
    tx: LoginTx,
    user: &crate::store::sql::users::User,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let Some(email) = user.email.clone() else {
        return Ok(Outcome::Page(
            "This account has no email address to confirm; ask an administrator to confirm it."
                .into(),
        ));
    };
    let tx = LoginTx {
        step: Step::NeedConfirmation {
            sub: user.sub.to_string(),
            email: email.clone(),
        },
        ..tx
    };
    session::save_tx(st, rt, &tx).await?;
    let notice = match codes::send(
        st,
        &rt.pool,
        Purpose::Confirm,
        user.sub.as_str(),
        &email,
        CONFIRM_TTL,
        now,
    )
    .await
    {
        Ok(()) => {
            Some("Your email address is not confirmed yet; we sent you a new code.".to_string())
        }
        Err(e) => {
            tracing::error!(error = %e, "confirmation mail failed");
            Some(
                "We could not send the email just now. Try \"Send a new code\" in a moment.".into(),
            )
        }
    };
    Ok(Outcome::Confirm { tx, email, notice })
}

/// The confirmation form was submitted: a code, or a request for a new one.
pub async fn confirm(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Step2, OAuthError> {
    let Some(tx) = tx_for_form(st, rt, form, b).await? else {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    };
    let Step::NeedConfirmation { sub, email } = tx.step.clone() else {
        return Ok(Outcome::Page(EXPIRED.into()).into());
    };
    if form.get("resend").is_some() {
        let sent = st
            .kv
            .incr(&format!("{}:resend:{sub}", rt.pool.id), RESEND_WINDOW)
            .await?;
        let notice = if sent > MAX_RESENDS {
            "Too many codes were sent. Wait a few minutes before asking again.".to_string()
        } else {
            match codes::send(
                st,
                &rt.pool,
                Purpose::Confirm,
                &sub,
                &email,
                CONFIRM_TTL,
                now,
            )
            .await
            {
                Ok(()) => "A new code is on its way.".to_string(),
                Err(e) => {
                    tracing::error!(error = %e, "confirmation mail failed");
                    "We could not send the email just now. Try again later.".to_string()
                }
            }
        };
        return Ok(Outcome::Confirm {
            tx,
            email,
            notice: Some(notice),
        }
        .into());
    }
    let code = form.get("code").unwrap_or_default();
    if !codes::verify(st, &rt.pool.id, Purpose::Confirm, &sub, code, CONFIRM_TTL).await? {
        return Ok(Outcome::Confirm {
            tx,
            email,
            notice: Some("That code is wrong or has expired.".into()),
        }
        .into());
    }
    let user = accounts::confirm(st, &rt.pool.id, &sub, now)
        .await
        .map_err(OAuthError::server)?;
    super::mfa_step::after_password(st, rt, tx, &user, &user.username, b, now).await
}
