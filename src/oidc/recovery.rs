//! Forgot password: the same answer whether or not the account exists; a 6-digit code by email
//! (1 h, single use, 5 tries); the new password must meet the policy; success revokes the
//! user's refresh tokens, ends their other sessions, and returns to the sign-in page.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::OAuthError;
use super::flow::{Browser, EXPIRED, Outcome, tx_for_form};
use super::params::Params;
use super::session::{self, LoginTx, Step};
use crate::accounts::codes::{self, Purpose};
use crate::accounts::{self, AccountError, UserStatus, normalize_identifier};
use crate::audit;
use crate::ids::Secret;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::users;

pub const RESET_TTL: Duration = Duration::from_secs(3600);

/// The forgot-password form for a transaction waiting for a password.
pub async fn show(
    st: &AppState,
    rt: &PoolRuntime,
    tx_id: &str,
    b: &Browser<'_>,
) -> Result<Outcome, OAuthError> {
    Ok(match super::flow::show(st, rt, tx_id, b).await? {
        Outcome::Login { tx, .. } => Outcome::Forgot { tx },
        _ => Outcome::Page(EXPIRED.into()),
    })
}

/// A RESET_REQUIRED user gave the right password: mail a fresh code and ask for it.
pub async fn require_reset(
    st: &AppState,
    rt: &PoolRuntime,
    tx: LoginTx,
    identifier: &str,
    user: &users::User,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let Some(email) = user.email.clone() else {
        return Ok(Outcome::Page(
            "Your password must be reset, but this account has no email address. Ask an administrator."
                .into(),
        ));
    };
    if let Err(e) = codes::send(
        st,
        &rt.pool,
        Purpose::Reset,
        user.sub.as_str(),
        &email,
        RESET_TTL,
        now,
    )
    .await
    {
        tracing::error!(error = %e, "password reset mail failed");
        return Ok(Outcome::Page(
            "We could not send the email just now. Please try again later.".into(),
        ));
    }
    let tx = LoginTx {
        step: Step::NeedResetCode {
            identifier: identifier.to_string(),
        },
        ..tx
    };
    session::save_tx(st, rt, &tx).await?;
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

/// An identifier was submitted: mail a code if the account can reset, answer the same either way.
pub async fn forgot(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let Some(tx) = tx_for_form(st, rt, form, b).await? else {
        return Ok(Outcome::Page(EXPIRED.into()));
    };
    if !matches!(tx.step, Step::NeedPassword | Step::NeedResetCode { .. }) {
        return Ok(Outcome::Page(EXPIRED.into()));
    }
    let identifier: String = form
        .get("username")
        .unwrap_or_default()
        .chars()
        .take(256)
        .collect();
    let norm = normalize_identifier(&identifier);
    // A per-identifier budget keeps this from becoming a mail cannon.
    let sends = st
        .kv
        .incr(
            &format!(
                "{}:reset-sends:{}",
                rt.pool.id,
                crate::crypto::sha256_hex(norm.as_bytes())
            ),
            RESET_TTL,
        )
        .await?;
    let user = if norm.is_empty() || norm.chars().any(char::is_control) || sends > 5 {
        None
    } else {
        let (pool, mode) = (rt.pool.id.clone(), rt.pool.settings.sign_in_identifier);
        st.sql
            .run(move |c| users::find_for_sign_in(c, &pool, &norm, mode))
            .await?
    };
    if let Some(u) = user.filter(|u| {
        u.enabled && matches!(u.status, UserStatus::Confirmed | UserStatus::ResetRequired)
    }) && let Some(email) = u.email.clone()
        && let Err(e) = codes::send(
            st,
            &rt.pool,
            Purpose::Reset,
            u.sub.as_str(),
            &email,
            RESET_TTL,
            now,
        )
        .await
    {
        tracing::error!(error = %e, "password reset mail failed");
        return Ok(Outcome::Page(
            "We could not send the email just now. Please try again later.".into(),
        ));
    }
    let tx = LoginTx {
        step: Step::NeedResetCode {
            identifier: identifier.clone(),
        },
        ..tx
    };
    session::save_tx(st, rt, &tx).await?;
    Ok(Outcome::ResetCode {
        tx,
        identifier,
        error: None,
        notice: None,
    })
}

/// The code and the new password were submitted.
pub async fn reset(
    st: &AppState,
    rt: &PoolRuntime,
    form: &Params,
    b: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, OAuthError> {
    let Some(tx) = tx_for_form(st, rt, form, b).await? else {
        return Ok(Outcome::Page(EXPIRED.into()));
    };
    let Step::NeedResetCode { identifier } = tx.step.clone() else {
        return Ok(Outcome::Page(EXPIRED.into()));
    };
    let retry = |tx: LoginTx, msg: &str| {
        Ok(Outcome::ResetCode {
            tx,
            identifier: identifier.clone(),
            error: Some(msg.to_string()),
            notice: None,
        })
    };
    let (code, pw, again) = (
        form.get("code").unwrap_or_default(),
        form.get("password").unwrap_or_default(),
        form.get("confirm").unwrap_or_default(),
    );
    if pw != again {
        return retry(tx, "The two passwords differ.");
    }
    if let Err(msg) = accounts::policy::check(&rt.pool.settings.password_policy, &Secret::new(pw)) {
        return retry(tx, &format!("The password {msg}."));
    }
    let (pool, norm) = (rt.pool.id.clone(), normalize_identifier(&identifier));
    let mode = rt.pool.settings.sign_in_identifier;
    let user = st
        .sql
        .run(move |c| users::find_for_sign_in(c, &pool, &norm, mode))
        .await?;
    let ok = match &user {
        Some(u) => {
            codes::verify(
                st,
                &rt.pool.id,
                Purpose::Reset,
                u.sub.as_str(),
                code,
                RESET_TTL,
            )
            .await?
        }
        None => false,
    };
    let Some(user) = user.filter(|_| ok) else {
        return retry(tx, "That code is wrong or has expired.");
    };
    match accounts::set_password(
        st,
        &rt.pool,
        user.sub.as_str(),
        &Secret::new(pw),
        false,
        now,
    )
    .await
    {
        Ok(_) => {}
        Err(AccountError::Policy(msg)) => return retry(tx, &format!("The password {msg}.")),
        Err(e) => return Err(OAuthError::server(e)),
    }
    audit::record(
        st,
        &rt.pool.id,
        audit::Kind::PasswordReset,
        audit::Context {
            sub: Some(user.sub.as_str()),
            ip: b.ip,
            ..Default::default()
        },
        now,
    )
    .await;
    let tx = LoginTx {
        step: Step::NeedPassword,
        ..tx
    };
    session::save_tx(st, rt, &tx).await?;
    Ok(Outcome::LoginNotice {
        tx,
        notice: "Your password was changed. Sign in with the new one.".into(),
    })
}
