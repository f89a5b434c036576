//! Turns a journey outcome into a response: a redirect, the client's form_post page, or one of
//! the hosted pages with its form.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue, LOCATION, RETRY_AFTER};

use super::views::{
    AUTO_SUBMIT, ConfirmPage, ConsentPage, ForgotPage, FormPostPage, LoginPage, MfaPage,
    MfaSetupPage, NewPasswordPage, ResetPage, SignUpPage, error_page, page,
};
use crate::login::outcome::BUSY;
use crate::login::{LoginTx, Outcome, federated};
use crate::mfa::Enrollment;
use crate::model::{MfaMode, PasswordPolicy, SignInIdentifier, attributes};
use crate::oidc::authorize::Delivery;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::pools::PoolRuntime;

pub fn redirect(to: &str) -> HttpResponse {
    let mut res = HttpResponse::Found().finish();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A journey failure as a page: server faults are logged and shown as "try again later".
pub fn failure(e: &OAuthError) -> HttpResponse {
    if let Some(d) = &e.detail {
        tracing::error!(error = e.code.as_str(), detail = %d, "hosted page failed");
    }
    match e.code {
        ErrorCode::ServerError => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is having trouble. Please try again later.",
        ),
        ErrorCode::TemporarilyUnavailable if !e.overloaded && e.retry_after.is_some() => too_many(
            "Too many requests are arriving right now. Please try again in a moment.",
            e.retry_after.unwrap_or(1),
        ),
        ErrorCode::TemporarilyUnavailable => shed(
            error_page(StatusCode::SERVICE_UNAVAILABLE, BUSY),
            e.retry_after.unwrap_or(1),
        ),
        _ => error_page(StatusCode::BAD_REQUEST, &e.description),
    }
}

/// A page answered as shed (the work it needed was refused under load): 503, `Retry-After`.
pub fn shed(mut res: HttpResponse, retry_after: u64) -> HttpResponse {
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    res.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after));
    res
}

/// The 429 page: what limit was reached, and `Retry-After`.
fn too_many(message: &str, retry_after: u64) -> HttpResponse {
    let mut res = error_page(StatusCode::TOO_MANY_REQUESTS, message);
    res.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after));
    res
}

/// A form page is a 400 when it is shown again with an error, else a 200.
pub fn form_status(has_error: bool) -> StatusCode {
    if has_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// The password policy in words, shown where a password is chosen.
pub fn policy_text(p: &PasswordPolicy) -> String {
    let mut needs = vec![format!("at least {} characters", p.min_length)];
    for (on, what) in [
        (p.require_lowercase, "a lowercase letter"),
        (p.require_uppercase, "an uppercase letter"),
        (p.require_digit, "a digit"),
        (p.require_symbol, "a symbol"),
    ] {
        if on {
            needs.push(what.into());
        }
    }
    format!("Use {}.", needs.join(", "))
}

/// Turns an outcome into a response. `render_login` shows the sign-in page in place (after a
/// failed attempt, or on its own URL) instead of redirecting to it.
pub fn respond(tenant: &PoolRuntime, outcome: Outcome, render_login: bool) -> HttpResponse {
    let pool = &tenant.pool.id;
    match outcome {
        Outcome::Deliver(delivery) => deliver(delivery),
        Outcome::Upstream(url) => redirect(&url),
        Outcome::TooMany {
            message,
            retry_after,
        } => too_many(&message, retry_after),
        Outcome::Page(message) => error_page(StatusCode::BAD_REQUEST, &message),
        Outcome::Login { tx, error } if render_login => {
            login_page(tenant, &tx, error.as_deref(), None, None)
        }
        Outcome::LoginAgain {
            tx,
            identifier,
            error,
        } if render_login => login_page(tenant, &tx, Some(&error), None, Some(&identifier)),
        Outcome::Shed { again, retry_after } => {
            let res = respond(tenant, *again, render_login);
            // A form shown again; a redirect keeps its status.
            if res.status().is_redirection() {
                res
            } else {
                shed(res, retry_after)
            }
        }
        Outcome::Login { tx, .. } | Outcome::LoginAgain { tx, .. } => {
            redirect(&format!("/{pool}/login?tx={}", tx.id))
        }
        Outcome::LoginNotice { tx, notice } => login_page(tenant, &tx, None, Some(&notice), None),
        Outcome::Forgot { tx } => forgot_page(tenant, &tx),
        Outcome::ResetCode {
            tx,
            identifier,
            error,
            notice,
        } => reset_page(
            tenant,
            &tx,
            &identifier,
            error.as_deref(),
            notice.as_deref(),
        ),
        Outcome::SignUp { tx, error, values } => {
            signup_page(tenant, &tx, error.as_deref(), &values)
        }
        Outcome::Confirm { tx, email, notice } => {
            confirm_page(tenant, &tx, &email, notice.as_deref())
        }
        Outcome::NewPassword { tx, error } => new_password_page(tenant, &tx, error.as_deref()),
        Outcome::Consent { tx, .. } => redirect(&format!("/{pool}/consent?tx={}", tx.id)),
        Outcome::Account => redirect(&format!("/{pool}/account")),
        Outcome::Mfa { tx, error } => mfa_page(tenant, &tx, error.as_deref()),
        Outcome::MfaSetup {
            tx,
            enrollment,
            recovery_codes,
            error,
        } => mfa_setup_page(
            tenant,
            &tx,
            enrollment.as_deref(),
            &recovery_codes,
            error.as_deref(),
        ),
    }
}

/// Back to the client: a redirect, or the auto-submitting form of `response_mode=form_post`.
fn deliver(delivery: Delivery) -> HttpResponse {
    match delivery {
        Delivery::Redirect(url) => redirect(&url),
        Delivery::FormPost { action, fields } => page(
            StatusCode::OK,
            &FormPostPage {
                action: &action,
                fields: &fields,
                script: AUTO_SUBMIT,
            },
        ),
    }
}

/// The sign-in page; `typed` refills the identifier after an attempt (when empty, the
/// client's `login_hint` does).
fn login_page(
    tenant: &PoolRuntime,
    tx: &LoginTx,
    error: Option<&str>,
    notice: Option<&str>,
    typed: Option<&str>,
) -> HttpResponse {
    let pool = &tenant.pool.id;
    let action = format!("/{pool}/login");
    let signup_url =
        (!tenant.pool.settings.admin_only_signup).then(|| format!("/{pool}/signup?tx={}", tx.id));
    let forgot_url = format!("/{pool}/forgotPassword?tx={}", tx.id);
    let federate_action = format!("/{pool}/federate");
    let offered = federated::offered(tenant, tx);
    let view = LoginPage {
        pool_name: &tenant.pool.name,
        action: &action,
        tx: &tx.id,
        csrf: &tx.csrf,
        login_hint: typed
            .filter(|t| !t.is_empty())
            .or_else(|| tx.request.as_ref().and_then(|r| r.login_hint.as_deref()))
            .unwrap_or(""),
        error,
        signup_url: signup_url.as_deref(),
        forgot_url: &forgot_url,
        notice,
        password: federated::password_offered(tenant, tx),
        home_realm: offered.iter().any(|p| !p.settings.identifiers.is_empty()),
        providers: offered
            .iter()
            .map(|p| (p.name.clone(), provider_label(&p.name)))
            .collect(),
        federate_action: &federate_action,
    };
    let status = match error {
        Some(_) => StatusCode::UNAUTHORIZED,
        None => StatusCode::OK,
    };
    page(status, &view)
}

/// The button label of a provider: Cognito's fixed names read as their brands.
fn provider_label(name: &str) -> String {
    match name {
        "LoginWithAmazon" => "Amazon".into(),
        other => other.into(),
    }
}

/// The consent page (only its own URL shows it; other steps redirect there).
pub fn consent_page(tenant: &PoolRuntime, tx: &LoginTx, client_name: &str) -> HttpResponse {
    let action = format!("/{}/consent", tenant.pool.id);
    let view = ConsentPage {
        pool_name: &tenant.pool.name,
        client_name,
        scopes: tx.request.as_ref().map_or(&[][..], |r| &r.scopes[..]),
        action: &action,
        tx: &tx.id,
        csrf: &tx.csrf,
    };
    page(StatusCode::OK, &view)
}

fn forgot_page(tenant: &PoolRuntime, tx: &LoginTx) -> HttpResponse {
    let action = format!("/{}/forgotPassword", tenant.pool.id);
    let view = ForgotPage {
        pool_name: &tenant.pool.name,
        action: &action,
        tx: &tx.id,
        csrf: &tx.csrf,
    };
    page(StatusCode::OK, &view)
}

fn reset_page(
    tenant: &PoolRuntime,
    tx: &LoginTx,
    identifier: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> HttpResponse {
    let action = format!("/{}/confirmForgotPassword", tenant.pool.id);
    let policy = policy_text(&tenant.pool.settings.password_policy);
    let view = ResetPage {
        pool_name: &tenant.pool.name,
        action: &action,
        tx: &tx.id,
        csrf: &tx.csrf,
        identifier,
        policy: &policy,
        error,
        notice,
    };
    page(form_status(error.is_some()), &view)
}

fn signup_page(
    tenant: &PoolRuntime,
    tx: &LoginTx,
    error: Option<&str>,
    values: &std::collections::BTreeMap<String, String>,
) -> HttpResponse {
    let pool = &tenant.pool.id;
    let (action, login_url) = (
        format!("/{pool}/signup"),
        format!("/{pool}/login?tx={}", tx.id),
    );
    let settings = &tenant.pool.settings;
    let policy = policy_text(&settings.password_policy);
    let value = |k: &str| values.get(k).map(String::as_str).unwrap_or_default();
    let view = SignUpPage {
        pool_name: &tenant.pool.name,
        action: &action,
        login_url: &login_url,
        tx: &tx.id,
        csrf: &tx.csrf,
        policy: &policy,
        error,
        ask_username: settings.sign_in_identifier != SignInIdentifier::Email,
        username: value("username"),
        email: value("email"),
        fields: settings
            .required_attributes
            .iter()
            .map(|n| {
                let label = attributes::label(n).to_string();
                (n.clone(), label, value(n).to_string())
            })
            .collect(),
    };
    page(form_status(error.is_some()), &view)
}

fn confirm_page(
    tenant: &PoolRuntime,
    tx: &LoginTx,
    email: &str,
    notice: Option<&str>,
) -> HttpResponse {
    let action = format!("/{}/confirm", tenant.pool.id);
    let view = ConfirmPage {
        pool_name: &tenant.pool.name,
        action: &action,
        tx: &tx.id,
        csrf: &tx.csrf,
        email,
        notice,
    };
    page(StatusCode::OK, &view)
}

fn new_password_page(tenant: &PoolRuntime, tx: &LoginTx, error: Option<&str>) -> HttpResponse {
    let action = format!("/{}/newPassword", tenant.pool.id);
    let policy = policy_text(&tenant.pool.settings.password_policy);
    let view = NewPasswordPage {
        pool_name: &tenant.pool.name,
        action: &action,
        tx: &tx.id,
        csrf: &tx.csrf,
        policy: &policy,
        error,
    };
    page(form_status(error.is_some()), &view)
}

fn mfa_page(tenant: &PoolRuntime, tx: &LoginTx, error: Option<&str>) -> HttpResponse {
    let action = format!("/{}/mfa", tenant.pool.id);
    let view = MfaPage {
        pool_name: &tenant.pool.name,
        action: &action,
        tx: &tx.id,
        csrf: &tx.csrf,
        error,
    };
    page(form_status(error.is_some()), &view)
}

fn mfa_setup_page(
    tenant: &PoolRuntime,
    tx: &LoginTx,
    enrollment: Option<&Enrollment>,
    recovery_codes: &[String],
    error: Option<&str>,
) -> HttpResponse {
    let action = format!("/{}/mfaSetup", tenant.pool.id);
    let reason = if tenant.pool.settings.mfa == MfaMode::Required {
        "This application requires a second step at sign-in: a code from an authenticator app."
    } else {
        "The application asked for a second step at sign-in: a code from an authenticator app."
    };
    let view = MfaSetupPage {
        pool_name: &tenant.pool.name,
        action: &action,
        tx: &tx.id,
        csrf: &tx.csrf,
        reason,
        secret: enrollment.map_or("", |e| e.secret_base32.as_str()),
        qr_svg: enrollment.map_or("", |e| e.qr_svg.as_str()),
        recovery_codes,
        error,
    };
    page(form_status(error.is_some()), &view)
}
