//! Askama view structs of the hosted pages, and the security headers every page carries.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderValue, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use askama::Template;
use base64::Engine;
use sha2::{Digest, Sha256};

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub login_hint: &'a str,
    pub error: Option<&'a str>,
    /// Shown as a link when self-service sign-up is open.
    pub signup_url: Option<&'a str>,
    pub forgot_url: &'a str,
    pub notice: Option<&'a str>,
    /// The pool's own password form (the client allows COGNITO).
    pub password: bool,
    /// A typed email may go to its identity provider: the password is not required.
    pub home_realm: bool,
    /// "Continue with ..." buttons: (provider name, label).
    pub providers: Vec<(String, String)>,
    /// Where those buttons post.
    pub federate_action: &'a str,
}

#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub identifier: &'a str,
    pub policy: &'a str,
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignUpPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub login_url: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub policy: &'a str,
    pub error: Option<&'a str>,
    /// False when the pool signs in by email only.
    pub ask_username: bool,
    pub username: &'a str,
    pub email: &'a str,
    /// Required attributes: (form name, label, value).
    pub fields: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub email: &'a str,
    pub notice: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "new_password.html")]
pub struct NewPasswordPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub policy: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub pending_email: Option<&'a str>,
    /// Editable attributes: (form name, label, value).
    pub fields: Vec<(String, String, String)>,
    pub policy: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    pub logout_action: &'a str,
    pub logout_csrf: &'a str,
    pub mfa_available: bool,
    pub mfa_enabled: bool,
    /// (text secret, QR code SVG) of an enrollment in progress.
    pub enrollment: Option<(&'a str, &'a str)>,
    pub recovery_codes: &'a [String],
    pub recovery_codes_left: i64,
    /// Providers whose identities are linked (can be disconnected).
    pub linked: Vec<&'a str>,
    /// The pool's providers not linked yet (can be connected).
    pub available: Vec<&'a str>,
    /// Applications the user allowed: (client id, name, scopes).
    pub consents: Vec<(&'a str, &'a str, String)>,
}

#[derive(Template)]
#[template(path = "mfa.html")]
pub struct MfaPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mfa_setup.html")]
pub struct MfaSetupPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub reason: &'a str,
    pub secret: &'a str,
    /// An SVG we generated (no user input in it).
    pub qr_svg: &'a str,
    pub recovery_codes: &'a [String],
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub pool_name: &'a str,
    pub client_name: &'a str,
    pub scopes: &'a [String],
    pub action: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage;

#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage<'a> {
    pub pool_name: &'a str,
    pub action: &'a str,
    pub fields: &'a [(String, String)],
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    pub action: &'a str,
    pub fields: &'a [(String, String)],
    pub script: &'a str,
}

/// The only script any page runs: form_post's auto-submit. Allowed by its hash in the CSP.
pub const AUTO_SUBMIT: &str = "document.forms[0].submit()";

fn csp(script_hash: Option<&str>) -> String {
    let script = match script_hash {
        Some(h) => format!("script-src 'sha256-{h}'"),
        None => "script-src 'none'".into(),
    };
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; {script}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Renders a page with `no-store`, no framing, no referrer and a strict CSP.
pub fn page(status: StatusCode, t: &impl Template) -> HttpResponse {
    let body = match t.render() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            return HttpResponse::InternalServerError().body("internal error");
        }
    };
    let is_form_post = body.contains(AUTO_SUBMIT);
    let hash = is_form_post.then(|| {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(AUTO_SUBMIT.as_bytes()))
    });
    let mut res = HttpResponse::build(status).body(body);
    let h = res.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(v) = HeaderValue::from_str(&csp(hash.as_deref())) {
        h.insert(actix_web::http::header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    page(status, &ErrorPage { message })
}
