//! The password step: identifier and password against the lockout and the stored hash. A
//! success hands the user to the journey, which looks at the account's state.

use chrono::{DateTime, Utc};

use super::outcome::{BUSY, Browser, LOCKED, Outcome, StepResult, account_failure, shed_wait};
use super::tx::{LoginTx, Step};
use crate::accounts::signin::{self, Checked};
use crate::metrics::SignIn;
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::state::AppState;

/// The sign-in form was submitted.
pub async fn submit(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    if !matches!(tx.step, Step::NeedPassword) {
        return Ok(Outcome::expired().into());
    }
    let (Some(identifier), Some(password)) = (form.get("username"), form.get("password")) else {
        return Ok(again(tx, "", WRONG).into());
    };
    let checked =
        signin::check_password(app, &tenant.pool, identifier, password, browser.ip, now).await;
    match checked {
        Ok(Checked::Ok(user)) => Ok(StepResult::Authenticated {
            tx,
            user,
            identifier: identifier.to_string(),
        }),
        Ok(Checked::Failed) => {
            app.metrics.sign_in(SignIn::WrongPassword);
            Ok(again(tx, identifier, WRONG).into())
        }
        Ok(Checked::Locked) => {
            app.metrics.sign_in(SignIn::Locked);
            Ok(again(tx, identifier, LOCKED).into())
        }
        // Shed before the check (every hashing worker busy, the queue long): nothing was
        // counted against the user, and the form comes back for them to send again.
        Err(e) => match shed_wait(&e) {
            Some(wait) => {
                app.metrics.sign_in(SignIn::Shed);
                Ok(again(tx, identifier, BUSY).shed(wait).into())
            }
            None => Err(account_failure(e)),
        },
    }
}

/// The same for a wrong password and an unknown user, so neither is told from the other.
const WRONG: &str = "Incorrect username or password.";

/// The sign-in form again, keeping what the user typed as their identifier (unless it is
/// longer than any identifier can be).
fn again(tx: LoginTx, identifier: &str, error: &str) -> Outcome {
    let kept = if identifier.chars().count() <= 256 {
        identifier
    } else {
        ""
    };
    Outcome::LoginAgain {
        tx,
        identifier: kept.into(),
        error: error.into(),
    }
}
