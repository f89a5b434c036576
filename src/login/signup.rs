//! Self-service sign-up from the hosted sign-in page, and email confirmation with a 6-digit
//! code; the parked authorization request continues to the client once confirmed.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::outcome::{
    BUSY, Browser, Outcome, StepResult, account_failure, shed_wait, user_message,
};
use super::tx::{self, LoginTx, Step};
use crate::accounts::codes::{self, Purpose};
use crate::accounts::{self, NewUserSpec};
use crate::audit;
use crate::clock::RandomExt;
use crate::crypto::sha256_hex;
use crate::ids::Secret;
use crate::limits::{self, Budget};
use crate::mail::Notice;
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

/// The first attribute of the form that the transaction's client may not write (Cognito's
/// WriteAttributes), if any.
fn unwritable(
    tenant: &PoolRuntime,
    tx: &LoginTx,
    values: &BTreeMap<String, String>,
) -> Option<String> {
    let client = tenant.clients.get(&tx.request.as_ref()?.client_id)?;
    values
        .keys()
        .filter(|k| k.as_str() != "username")
        .find(|k| !client.settings.may_write(k))
        .cloned()
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
    let page = |tx: LoginTx, msg: String| Outcome::SignUp {
        tx,
        error: Some(msg),
        values: values.clone(),
    };
    let retry = |tx: LoginTx, msg: String| Ok(page(tx, msg).into());
    // Nothing was created: the form again with why, or the fault's page.
    let refused = |tx: LoginTx, r: Refused| match r {
        Refused::Message(msg) => retry(tx, msg),
        Refused::Shed(wait) => Ok(page(tx, BUSY.into()).shed(wait).into()),
        Refused::Fault(e) => Err(e),
    };
    if let Some(name) = missing {
        return retry(tx, required_message(&name));
    }
    if let Some(name) = unwritable(tenant, &tx, &values) {
        return Ok(unwritable_page(&name).into());
    }
    let budget = match limits::reserve(app, &budgets(tenant, browser, values.get("email"))).await? {
        Ok(reserved) => reserved,
        Err(l) => return Ok(over_budget(l).into()),
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
    // The same checks, with the same answers, whether or not the email is taken.
    let prepared = match accounts::check_new(&tenant.pool, &spec) {
        Ok(()) => verified_holder(app, tenant, spec.email.as_deref()).await,
        Err(e) => Err(e.into()),
    };
    let taken = match prepared {
        Ok(taken) => taken,
        Err(e) => {
            budget.give_back(app).await?;
            return refused(tx, e);
        }
    };
    if let Some(owner) = taken {
        // The same work as a new account (the password is hashed), and when that is shed,
        // the same answer.
        if let Err(e) = app.hasher.hash(&spec.password, app.random.as_ref()).await {
            budget.give_back(app).await?;
            return refused(tx, accounts::AccountError::Password(e).into());
        }
        return email_taken(app, tenant, tx, &owner, browser, now).await;
    }
    let user = match accounts::create(app, &tenant.pool, spec, now).await {
        Ok(u) => u,
        Err(e) => {
            // Nothing was created or mailed: the attempt does not count.
            budget.give_back(app).await?;
            return refused(tx, e.into());
        }
    };
    created(app, tenant, tx, &user, browser, now).await
}

/// A sign-up made an account: audit it, and on to the confirmation step (the code is mailed
/// after the answer).
async fn created(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    user: &User,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    // The code goes out first: a request dropped after this point still leaves a user who
    // can confirm.
    let email = user.email.clone().unwrap_or_default();
    mail_code_later(app, tenant, user.sub.as_str(), &email, now);
    let ctx = audit::Context {
        sub: Some(user.sub.as_str()),
        ip: browser.ip,
        ..Default::default()
    };
    audit::record(app, &tenant.pool.id, audit::Kind::SignedUp, ctx, now).await;
    let tx = at_confirmation(app, tenant, tx, (user.sub.as_str(), &email), false).await?;
    Ok(Outcome::Confirm {
        tx,
        email,
        notice: None,
    }
    .into())
}

/// The pool came to require what this client may not write (its write list predates the
/// requirement): the operator must widen the list.
fn unwritable_page(name: &str) -> Outcome {
    let name = attributes::label(name);
    Outcome::Page(format!(
        "This application may not set \"{name}\", which sign-up requires; ask its administrator."
    ))
}

fn over_budget(l: limits::Limited) -> Outcome {
    let why = "Too many sign-ups from here or to this address. Please try again later.";
    Outcome::limited(why, l)
}

/// Why a sign-up stops before anything is created: a message for the form, the hash shed
/// (the form again after this many seconds), or a fault.
enum Refused {
    Message(String),
    Shed(u64),
    Fault(OAuthError),
}

impl From<accounts::AccountError> for Refused {
    fn from(e: accounts::AccountError) -> Self {
        if let Some(wait) = shed_wait(&e) {
            return Self::Shed(wait);
        }
        match user_message(&e) {
            Some(msg) => Self::Message(msg),
            None => Self::Fault(account_failure(e)),
        }
    }
}

/// The account that holds `email` as verified, if any.
async fn verified_holder(
    app: &AppState,
    tenant: &PoolRuntime,
    email: Option<&str>,
) -> Result<Option<User>, Refused> {
    let Some(email) = email else { return Ok(None) };
    let (pool, norm) = (
        tenant.pool.id.clone(),
        accounts::normalize_identifier(email),
    );
    app.sql
        .run(move |c| crate::store::sql::users::verified_email_holder(c, &pool, &norm))
        .await
        .map_err(|e| Refused::Fault(e.into()))
}

/// A sign-up named an email a confirmed account holds. The visitor sees exactly what a new
/// sign-up sees (Cognito's PreventUserExistenceErrors), after the same work (the caller has
/// hashed the password); nothing is created, and the address's owner is told, with the way
/// back in.
async fn email_taken(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    owner: &User,
    browser: &Browser<'_>,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    let ctx = audit::Context {
        sub: Some(owner.sub.as_str()),
        ip: browser.ip,
        ..Default::default()
    };
    audit::record(
        app,
        &tenant.pool.id,
        audit::Kind::SignUpEmailTaken,
        ctx,
        now,
    )
    .await;
    let email = owner.email.clone().unwrap_or_default();
    // A confirmation step no code can pass: the sub is new and no code was issued for it.
    let decoy = app.random.uuid_v7(now).to_string();
    let tx = at_confirmation(app, tenant, tx, (&decoy, &email), true).await?;
    let (app2, pool_name, to) = (
        app.for_background(),
        tenant.pool.name.clone(),
        email.clone(),
    );
    let link = format!("{}/account", tenant.issuer);
    app.background.spawn("sign-up notice", async move {
        let intro = format!(
            "Someone tried to create a {pool_name} account with this email address, which \
             already has one. No new account was made."
        );
        let notice = Notice {
            subject: "Someone tried to sign up with your email address",
            intro: &intro,
            advice: "If it was you, sign in to your account instead; if you forgot your \
                     password, choose \"Forgot your password?\" on the sign-in page. \
                     If it was not you, you need do nothing.",
            link: &link,
        };
        if let Err(e) = app2.mailer.send_notice(&to, notice, now).await {
            tracing::error!(error = %e, "sign-up notice mail failed");
        }
    });
    Ok(Outcome::Confirm {
        tx,
        email,
        notice: None,
    }
    .into())
}

/// Sign-ups per client address in [`SIGNUP_WINDOW`].
const SIGNUPS_PER_ADDRESS: i64 = 10;
/// Sign-ups (each mails a code) per destination address in [`SIGNUP_WINDOW`]: the page cannot
/// be used to flood a stranger's mailbox.
const SIGNUPS_PER_EMAIL: i64 = 3;
pub const SIGNUP_WINDOW: Duration = Duration::from_secs(3600);

/// This sign-up's budgets: the client address's and the destination's.
fn budgets(tenant: &PoolRuntime, browser: &Browser<'_>, email: Option<&String>) -> Vec<Budget> {
    let pool = &tenant.pool.id;
    let mut budgets = Vec::new();
    if let Some(ip) = browser.ip {
        let key = format!("{pool}:signup-ip:{ip}");
        budgets.push(Budget::new(key, SIGNUPS_PER_ADDRESS, SIGNUP_WINDOW));
    }
    if let Some(email) = email {
        let to = sha256_hex(accounts::normalize_identifier(email).as_bytes());
        let key = format!("{pool}:signup-to:{to}");
        budgets.push(Budget::new(key, SIGNUPS_PER_EMAIL, SIGNUP_WINDOW));
    }
    budgets
}

/// Moves `tx` to the confirmation step for the account `sub` at `email` (or for no account,
/// when `decoy`).
async fn at_confirmation(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    (sub, email): (&str, &str),
    decoy: bool,
) -> Result<LoginTx, OAuthError> {
    let tx = tx.at(Step::NeedConfirmation {
        sub: sub.to_string(),
        email: email.to_string(),
        decoy,
    });
    tx::save(app, &tenant.pool.id, &tx).await?;
    Ok(tx)
}

/// Mails a confirmation code after the answer: the page is the same whether delivery works
/// (a failure is logged; "send a new code" tries again).
fn mail_code_later(
    app: &AppState,
    tenant: &PoolRuntime,
    sub: &str,
    email: &str,
    now: DateTime<Utc>,
) {
    let (app2, pool) = (app.for_background(), tenant.pool.clone());
    let (sub, email) = (sub.to_string(), email.to_string());
    app.background.spawn("confirmation mail", async move {
        let sent = codes::send(
            &app2,
            &pool,
            Purpose::Confirm,
            &sub,
            &email,
            CONFIRM_TTL,
            now,
        )
        .await;
        if let Err(e) = sent {
            tracing::error!(error = %e, "confirmation mail failed");
        }
    });
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
    let email = user.email.clone().unwrap_or_default();
    let tx = at_confirmation(app, tenant, tx, (user.sub.as_str(), &email), false).await?;
    mail_code_later(app, tenant, user.sub.as_str(), &email, now);
    let notice = "Your email address is not confirmed yet; we sent you a new code.".to_string();
    Ok(Outcome::Confirm {
        tx,
        email,
        notice: Some(notice),
    })
}

/// "Send a new code", within [`MAX_RESENDS`] per [`RESEND_WINDOW`]; mailed after the answer,
/// like the first one, so the answer is the same for every confirmation step.
async fn resend(
    app: &AppState,
    tenant: &PoolRuntime,
    (sub, email): (&str, &str),
    decoy: bool,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let sent = app
        .kv
        .incr(&format!("{}:resend:{sub}", tenant.pool.id), RESEND_WINDOW)
        .await?;
    if sent > MAX_RESENDS {
        return Ok("Too many codes were sent. Wait a few minutes before asking again.".into());
    }
    if !decoy {
        mail_code_later(app, tenant, sub, email, now);
    }
    Ok("A new code is on its way.".into())
}

const ADDRESS_TAKEN: &str = "This email address now belongs to another account. Sign in to \
     that account, or reset its password if you forgot it.";

/// The confirmation form was submitted: a code, or a request for a new one. A right code
/// confirms the account, which counts as signing in.
pub async fn confirm(
    app: &AppState,
    tenant: &PoolRuntime,
    tx: LoginTx,
    form: &Params,
    now: DateTime<Utc>,
) -> Result<StepResult, OAuthError> {
    let Step::NeedConfirmation { sub, email, decoy } = tx.step.clone() else {
        return Ok(Outcome::expired().into());
    };
    let notice = if form.get("resend").is_some() {
        resend(app, tenant, (&sub, &email), decoy, now).await?
    } else {
        let code = form.get("code").unwrap_or_default();
        let pool = &tenant.pool.id;
        match accounts::confirm_with_code(app, pool, &sub, code, CONFIRM_TTL, now).await {
            Ok(Some(user)) => {
                return Ok(StepResult::Authenticated {
                    tx,
                    identifier: user.username.clone(),
                    user: Box::new(user),
                });
            }
            Ok(None) => "That code is wrong or has expired.".into(),
            // Another account verified this address first: this one cannot hold it.
            Err(accounts::AccountError::Exists) => {
                return Ok(Outcome::Page(ADDRESS_TAKEN.into()).into());
            }
            Err(e) => return Err(OAuthError::server(e)),
        }
    };
    let notice = Some(notice);
    Ok(Outcome::Confirm { tx, email, notice }.into())
}
