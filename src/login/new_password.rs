//! The new-password step: a user signing in with a temporary password (FORCE_CHANGE_PASSWORD)
//! chooses a real one before going on.

use chrono::{DateTime, Utc};

use super::outcome::{BUSY, Outcome, StepResult, account_failure, shed_wait, user_message};
use super::tx::{self, LoginTx, Step};
use crate::accounts::{self, AccountError};
use crate::ids::Secret;
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::users::User;

/// Moves the transaction to this step for `user`.
pub async fn enter(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    user: &User,
) -> Result<Outcome, OAuthError> {
    let tx = tx.at(Step::NeedNewPassword {
        sub: user.sub.to_string(),
    });
    tx::save(app, &tenant.pool.id, &tx).await?;
    Ok(Outcome::NewPassword { tx, error: None })
}

/// The new-password form was submitted.
pub async fn submit(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    let Step::NeedNewPassword { sub } = tx.step.clone() else {
        return Ok(Outcome::expired().into());
    };
    let (pw, again) = (
        form.get("password").unwrap_or_default(),
        form.get("confirm").unwrap_or_default(),
    );
    let page = |tx: LoginTx, error: String| Outcome::NewPassword {
        tx,
        error: Some(error),
    };
    let retry = |tx: LoginTx, error: String| Ok(page(tx, error).into());
    if pw != again {
        return retry(tx, "The two passwords differ.".into());
    }
    match accounts::set_password(app, &tenant.pool, &sub, &Secret::new(pw), false, now).await {
        Ok(user) => Ok(StepResult::Authenticated {
            tx,
            identifier: user.username.clone(),
            user: Box::new(user),
        }),
        Err(e @ AccountError::Policy(_)) => retry(tx, user_message(&e).unwrap_or_default()),
        Err(e) => match shed_wait(&e) {
            Some(wait) => Ok(page(tx, BUSY.into()).shed(wait).into()),
            None => Err(account_failure(e)),
        },
    }
}
