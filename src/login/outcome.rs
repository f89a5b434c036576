//! What every step of the journey shares: what the browser brings ([`Browser`]), what it is
//! shown next ([`Outcome`], [`Transition`]), the texts of the common answers, and how a form
//! is tied to its transaction and browser.

use crate::accounts::AccountError;
use crate::crypto::password::PasswordError;
use crate::crypto::{MasterKey, ct_eq, sha256_hex};
use crate::limits::Limited;
use crate::mfa::Enrollment;
use crate::oidc::authorize::{AuthorizeError, Delivery};
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::users::User;

use super::tx::{self, LoginTx};

/// What the browser brings: its binding cookie (ties forms to this browser), its SSO session
/// cookie, and its address (for throttling).
#[derive(Debug, Clone, Copy, Default)]
pub struct Browser<'a> {
    pub binding: &'a str,
    pub session: Option<&'a str>,
    pub ip: Option<&'a str>,
}

impl Browser<'_> {
    /// What a login transaction stores to recognise this browser.
    pub fn binding_hash(&self) -> String {
        sha256_hex(self.binding.as_bytes())
    }
}

/// The token a form that has no login transaction (account page, logout confirmation) carries:
/// a MAC under a server key of the browser binding cookie (which a cross-site page can neither
/// read nor set) and the form's purpose, so one form's token does not pass for another's and
/// nobody can compute one from a cookie alone.
pub fn form_token(key: &MasterKey, purpose: &str, binding: &str) -> String {
    key.mac(&format!("form:{purpose}"), binding.as_bytes())
}

/// Does a form's token match this browser's for `purpose`?
pub fn form_token_ok(key: &MasterKey, purpose: &str, binding: &str, presented: &str) -> bool {
    !binding.is_empty()
        && ct_eq(
            form_token(key, purpose, binding).as_bytes(),
            presented.as_bytes(),
        )
}

/// What the browser is shown next.
#[derive(Debug)]
pub enum Outcome {
    /// Back to the client (a code or an error).
    Deliver(Delivery),
    /// To an upstream identity provider's sign-in page.
    Upstream(String),
    /// A rate limit was reached: a 429 page that says why, with `Retry-After`.
    TooMany { message: String, retry_after: u64 },
    /// An error page; the client is not told (its redirect URI is unproven or the form is stale).
    Page(String),
    /// The sign-in page for this transaction, with an error message after a failed attempt.
    Login { tx: LoginTx, error: Option<String> },
    /// The sign-in form again after a password attempt that did not sign in: `error` says why,
    /// and the identifier is kept as typed (never the password).
    LoginAgain {
        tx: LoginTx,
        identifier: String,
        error: String,
    },
    /// A form page (`again`, saying [`BUSY`]) answered 503 with `Retry-After`: the step was
    /// shed before any work because every hashing worker was busy. The transaction is as it
    /// was, so the user sends the same form again after the wait instead of starting over.
    Shed {
        again: Box<Outcome>,
        retry_after: u64,
    },
    /// The sign-in page with a notice (after a password reset).
    LoginNotice { tx: LoginTx, notice: String },
    /// The forgot-password page.
    Forgot { tx: LoginTx },
    /// The reset page: code and new password.
    ResetCode {
        tx: LoginTx,
        identifier: String,
        error: Option<String>,
        notice: Option<String>,
    },
    /// The sign-up page; `values` refills the form after an error (never the password).
    SignUp {
        tx: LoginTx,
        error: Option<String>,
        values: std::collections::BTreeMap<String, String>,
    },
    /// The confirmation-code page; `notice` after a wrong code or a resend.
    Confirm {
        tx: LoginTx,
        email: String,
        notice: Option<String>,
    },
    /// The new-password page (temporary password), with an error after a rejected attempt.
    NewPassword { tx: LoginTx, error: Option<String> },
    /// The consent page for this transaction.
    Consent { tx: LoginTx, client_name: String },
    /// Signed in from the account page: back to it.
    Account,
    /// The TOTP challenge.
    Mfa { tx: LoginTx, error: Option<String> },
    /// MFA enrollment during sign-in; `recovery_codes` once the factor is on.
    MfaSetup {
        tx: LoginTx,
        enrollment: Option<Box<Enrollment>>,
        recovery_codes: Vec<String>,
        error: Option<String>,
    },
}

impl Outcome {
    /// The 429 page for a limit that was reached: `message`, and `Retry-After` from `l`.
    pub fn limited(message: &str, l: Limited) -> Self {
        Self::TooMany {
            message: message.into(),
            retry_after: l.retry_after,
        }
    }

    /// The page for a form that is stale, used, or from another browser.
    pub fn expired() -> Self {
        Self::Page(EXPIRED.into())
    }

    /// This form page, answered as shed: 503 with `Retry-After: retry_after`.
    pub fn shed(self, retry_after: u64) -> Self {
        Self::Shed {
            again: Box::new(self),
            retry_after,
        }
    }
}

/// The wait to ask for when `e` is a password check or hash shed because every hashing worker
/// was busy (the step did nothing else); `None` for any other error.
pub fn shed_wait(e: &AccountError) -> Option<u64> {
    match e {
        AccountError::Password(PasswordError::Busy { retry_after }) => Some(*retry_after),
        _ => None,
    }
}

impl From<AuthorizeError> for Outcome {
    fn from(e: AuthorizeError) -> Self {
        match e {
            AuthorizeError::Client(d) => Self::Deliver(d),
            AuthorizeError::Page(m) => Self::Page(m),
        }
    }
}

/// An outcome plus the SSO session cookie to set, when the step started a session.
#[derive(Debug)]
pub struct Transition {
    pub outcome: Outcome,
    pub new_session: Option<String>,
}

impl From<Outcome> for Transition {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            new_session: None,
        }
    }
}

/// What a step hands back to the journey.
#[derive(Debug)]
pub enum StepResult {
    /// Show this; the journey has nothing to add.
    Done(Transition),
    /// The user proved who they are (password, or a confirmed sign-up); the journey decides
    /// what comes next from the account's state. `identifier` is what the user typed (it keys
    /// the lockout of later factors).
    Authenticated {
        tx: LoginTx,
        user: Box<User>,
        identifier: String,
    },
}

impl From<Outcome> for StepResult {
    fn from(o: Outcome) -> Self {
        Self::Done(o.into())
    }
}

impl From<Transition> for StepResult {
    fn from(t: Transition) -> Self {
        Self::Done(t)
    }
}

/// Shown while an identifier (or the client's address) must wait after repeated failures.
pub const LOCKED: &str = "Too many failed attempts. Wait a little, then try again.";

/// Shown when a password check was shed: every hashing worker is busy and the queue is long.
pub const BUSY: &str = "Many people are signing in right now. Please try again in a moment.";

pub const EXPIRED: &str =
    "This sign-in has expired or was already used. Go back to the application and start again.";

/// A validation message as a sentence on a page: "must be x" -> "Must be x." (char-safe).
pub fn sentence(msg: &str) -> String {
    let mut chars = msg.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => "Please check the form.".into(),
    }
}

/// The words a page shows for an account error the user can fix; `None` for a server fault.
pub fn user_message(e: &AccountError) -> Option<String> {
    match e {
        AccountError::Invalid { msg, .. } => Some(sentence(msg)),
        AccountError::Policy(msg) => Some(format!("The password {msg}.")),
        AccountError::Exists => Some("That username or email is already registered.".into()),
        AccountError::NotFound(_) => Some("This account no longer exists.".into()),
        _ => None,
    }
}

/// An account error no page text covers: overload (503, retry shortly) or a server fault.
pub fn account_failure(e: AccountError) -> OAuthError {
    match e {
        AccountError::Password(PasswordError::Busy { retry_after }) => {
            OAuthError::busy(retry_after)
        }
        other => OAuthError::server(other),
    }
}

/// Finds the transaction a form belongs to: its CSRF token must be in the form, and the form
/// must come from the browser that started it (binding cookie).
pub async fn tx_for_form(
    app: &AppState,
    tenant: &PoolRuntime,
    form: &Params,
    browser: &Browser<'_>,
) -> Result<Option<LoginTx>, OAuthError> {
    let (tx_id, csrf) = (
        form.get("tx").unwrap_or_default(),
        form.get("csrf").unwrap_or_default(),
    );
    let Some(tx) = tx::find(app, &tenant.pool.id, tx_id).await? else {
        return Ok(None);
    };
    let ok = ct_eq(tx.csrf.as_bytes(), csrf.as_bytes())
        && ct_eq(tx.browser.as_bytes(), browser.binding_hash().as_bytes());
    Ok(ok.then_some(tx))
}
