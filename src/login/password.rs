//! The password step: identifier and password against the lockout and the stored hash. A
//! success hands the user to the journey, which looks at the account's state.

use chrono::{DateTime, Utc};

use super::outcome::{Browser, LOCKED, Outcome, StepResult, account_failure};
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
    let retry = |tx: LoginTx, error: &str| {
        Ok(Outcome::Login {
            tx,
            error: Some(error.into()),
        }
        .into())
    };
    let (Some(identifier), Some(password)) = (form.get("username"), form.get("password")) else {
        return retry(tx, "Incorrect username or password.");
    };
    let checked = signin::check_password(app, &tenant.pool, identifier, password, browser.ip, now)
        .await
        .map_err(account_failure)?;
    match checked {
        Checked::Ok(user) => Ok(StepResult::Authenticated {
            tx,
            user,
            identifier: identifier.to_string(),
        }),
        Checked::Failed => {
            app.metrics.sign_in(SignIn::WrongPassword);
            retry(tx, "Incorrect username or password.")
        }
        Checked::Locked => {
            app.metrics.sign_in(SignIn::Locked);
            retry(tx, LOCKED)
        }
    }
}
