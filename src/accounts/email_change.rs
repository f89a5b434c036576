//! A user's change of email address, for the account page and the Cognito API
//! (`UpdateUserAttributes`, `VerifyUserAttribute`): a code is mailed to the new address and the
//! old one stays until the code comes back. The code is bound to the user and that exact
//! address; sends are limited per user.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::codes::{self, Purpose};
use super::{AccountError, check_email, normalize_identifier, set_email};
use crate::ids::PoolId;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::pools::Pool;
use crate::store::sql::users::User;

/// How long an email-change code (and the pending address) lasts.
pub const CODE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Codes per user in [`SEND_WINDOW`].
const MAX_SENDS: i64 = 3;
const SEND_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Why a change did not go through.
#[derive(Debug, thiserror::Error)]
pub enum EmailChangeError {
    #[error("{0}")]
    Invalid(AccountError),
    #[error("That is already your email address.")]
    Same,
    #[error("Too many codes were sent. Wait a few minutes before asking again.")]
    TooMany,
    #[error("We could not send the email just now. Please try again later.")]
    Mail,
    #[error("There is no email change to confirm.")]
    NothingPending,
    #[error("That code is wrong or has expired.")]
    WrongCode,
    #[error("That email address is used by another account.")]
    Taken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Account(AccountError),
}

fn pending_key(pool: &PoolId, sub: &str) -> String {
    format!("{pool}:email-change:{sub}")
}

/// An email-change code belongs to the user and the address it was mailed to: it confirms
/// that exact address only, even if another change was asked for meanwhile.
fn bound_to(sub: &str, email: &str) -> String {
    format!("{sub}:{}", normalize_identifier(email))
}

/// The address waiting for its code, if any.
pub async fn pending(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
) -> Result<Option<String>, StoreError> {
    Ok(app
        .kv
        .get(&pending_key(pool, sub))
        .await?
        .and_then(|v| String::from_utf8(v).ok()))
}

/// Forgets the pending address.
pub async fn cancel(app: &AppState, pool: &PoolId, sub: &str) -> Result<(), StoreError> {
    app.kv.delete(&pending_key(pool, sub)).await
}

/// Mails a code to `email` for `user` and remembers the address until it comes back.
pub async fn request(
    app: &AppState,
    pool: &Pool,
    user: &User,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), EmailChangeError> {
    let email = email.trim();
    check_email(email).map_err(EmailChangeError::Invalid)?;
    // The same address again is only worth a code while it is unverified.
    if user.email_verified
        && user
            .email
            .as_deref()
            .is_some_and(|e| normalize_identifier(e) == normalize_identifier(email))
    {
        return Err(EmailChangeError::Same);
    }
    let sub = user.sub.as_str();
    let sends = app
        .kv
        .incr(
            &format!("{}:email-change-sends:{sub}", pool.id),
            SEND_WINDOW,
        )
        .await?;
    if sends > MAX_SENDS {
        return Err(EmailChangeError::TooMany);
    }
    let sent = codes::send(
        app,
        pool,
        Purpose::EmailChange,
        &bound_to(sub, email),
        email,
        CODE_TTL,
        now,
    )
    .await;
    if let Err(e) = sent {
        tracing::error!(error = %e, "email-change mail failed");
        return Err(EmailChangeError::Mail);
    }
    app.kv
        .put(&pending_key(&pool.id, sub), email.as_bytes(), CODE_TTL)
        .await?;
    Ok(())
}

/// The code came back: the pending address becomes the user's, verified.
pub async fn confirm(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    code: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<User, EmailChangeError> {
    let Some(email) = pending(app, pool, sub).await? else {
        return Err(EmailChangeError::NothingPending);
    };
    // The code used and the address changed, or neither, even if the request is dropped.
    let (a, p, s) = (app.for_background(), pool.clone(), sub.to_owned());
    let (code, ip) = (code.to_owned(), ip.map(str::to_owned));
    let work = async move {
        let bound = bound_to(&s, &email);
        let purpose = Purpose::EmailChange;
        if !codes::verify(&a, &p, purpose, &bound, &code, CODE_TTL).await? {
            return Err(EmailChangeError::WrongCode);
        }
        match set_email(&a, &p, &s, &email, true, ip.as_deref(), now).await {
            Ok(u) => {
                cancel(&a, &p, &s).await?;
                Ok(u)
            }
            Err(AccountError::Exists) => Err(EmailChangeError::Taken),
            Err(e @ AccountError::Invalid { .. }) => Err(EmailChangeError::Invalid(e)),
            Err(e) => Err(EmailChangeError::Account(e)),
        }
    };
    app.background
        .finish("changing an email address", work)
        .await
}
