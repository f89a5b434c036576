//! Hosted pages and the browser-facing endpoints (authorize, sign-in, consent, logout): parse,
//! call one `oidc::flow` function, and turn its outcome into a redirect or a page with cookies.

mod account;
mod views;

pub use account::account;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};

pub use views::error_page;
use views::{
    AUTO_SUBMIT, ConfirmPage, ConsentPage, ForgotPage, FormPostPage, LoggedOutPage, LoginPage,
    LogoutConfirmPage, MfaPage, MfaSetupPage, NewPasswordPage, ResetPage, SignUpPage, page,
};

use crate::clock::RandomExt;
use crate::http::{Body, PoolCtx};
use crate::oidc::authorize::Delivery;
use crate::oidc::error::OAuthError;
use crate::oidc::flow::{self, Browser, Outcome};
use crate::oidc::logout::{AfterLogout, after_logout};
use crate::oidc::params::Params;
use crate::oidc::session::{self, SESSION_TTL};
use crate::pools::PoolRuntime;
use crate::state::AppState;

const SESSION_COOKIE: &str = "tessera_session";
/// Ties login transactions to the browser that started them (their forms' CSRF defence, with
/// the per-transaction token in the form).
const BROWSER_COOKIE: &str = "tessera_browser";
const BROWSER_COOKIE_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

fn cookie<'a>(
    st: &AppState,
    rt: &PoolRuntime,
    name: &'a str,
    value: String,
    max_age: std::time::Duration,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path(format!("/{}", rt.pool.id))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(st.config.public_base().starts_with("https://"))
        .max_age(CookieDuration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(0),
        ))
        .finish()
}

fn read_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_string())
}

/// Query string (GET) or form body (POST) of a browser request.
fn browser_params(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    if req.method() == actix_web::http::Method::POST {
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        {
            return Err(OAuthError::invalid_request(
                "the form must be application/x-www-form-urlencoded",
            ));
        }
        Params::parse(body)
    } else {
        Params::parse(req.query_string().as_bytes())
    }
}

fn redirect(to: &str) -> HttpResponse {
    let mut res = HttpResponse::Found().finish();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Turns a flow outcome into a response. `render_login` shows the sign-in page in place (after
/// a failed attempt) instead of redirecting to it.
fn respond(rt: &PoolRuntime, outcome: Outcome, render_login: bool) -> HttpResponse {
    match outcome {
        Outcome::Deliver(Delivery::Redirect(url)) => redirect(&url),
        Outcome::Deliver(Delivery::FormPost { action, fields }) => page(
            StatusCode::OK,
            &FormPostPage {
                action: &action,
                fields: &fields,
                script: AUTO_SUBMIT,
            },
        ),
        Outcome::Page(message) => error_page(StatusCode::BAD_REQUEST, &message),
        Outcome::Login { tx, error } if render_login => login_page(rt, &tx, error.as_deref(), None),
        Outcome::LoginNotice { tx, notice } => login_page(rt, &tx, None, Some(&notice)),
        Outcome::Forgot { tx } => {
            let action = format!("/{}/forgotPassword", rt.pool.id);
            page(
                StatusCode::OK,
                &ForgotPage {
                    pool_name: &rt.pool.name,
                    action: &action,
                    tx: &tx.id,
                    csrf: &tx.csrf,
                },
            )
        }
        Outcome::ResetCode {
            tx,
            identifier,
            error,
            notice,
        } => {
            let (action, policy) = (
                format!("/{}/confirmForgotPassword", rt.pool.id),
                policy_text(&rt.pool.settings.password_policy),
            );
            let view = ResetPage {
                pool_name: &rt.pool.name,
                action: &action,
                tx: &tx.id,
                csrf: &tx.csrf,
                identifier: &identifier,
                policy: &policy,
                error: error.as_deref(),
                notice: notice.as_deref(),
            };
            page(form_status(error.is_some()), &view)
        }
        Outcome::SignUp { tx, error, values } => {
            let (action, login_url) = (
                format!("/{}/signup", rt.pool.id),
                format!("/{}/login?tx={}", rt.pool.id, tx.id),
            );
            let policy = policy_text(&rt.pool.settings.password_policy);
            let settings = &rt.pool.settings;
            let value = |k: &str| values.get(k).map(String::as_str).unwrap_or_default();
            let view = SignUpPage {
                pool_name: &rt.pool.name,
                action: &action,
                login_url: &login_url,
                tx: &tx.id,
                csrf: &tx.csrf,
                policy: &policy,
                error: error.as_deref(),
                ask_username: settings.sign_in_identifier != crate::pools::SignInIdentifier::Email,
                username: value("username"),
                email: value("email"),
                fields: settings
                    .required_attributes
                    .iter()
                    .map(|n| {
                        let label = crate::accounts::attributes::label(n).to_string();
                        (n.clone(), label, value(n).to_string())
                    })
                    .collect(),
            };
            page(form_status(error.is_some()), &view)
        }
        Outcome::Confirm { tx, email, notice } => {
            let action = format!("/{}/confirm", rt.pool.id);
            let view = ConfirmPage {
                pool_name: &rt.pool.name,
                action: &action,
                tx: &tx.id,
                csrf: &tx.csrf,
                email: &email,
                notice: notice.as_deref(),
            };
            page(StatusCode::OK, &view)
        }
        Outcome::NewPassword { tx, error } => {
            let (action, policy) = (
                format!("/{}/newPassword", rt.pool.id),
                policy_text(&rt.pool.settings.password_policy),
            );
            let view = NewPasswordPage {
                pool_name: &rt.pool.name,
                action: &action,
                tx: &tx.id,
                csrf: &tx.csrf,
                policy: &policy,
                error: error.as_deref(),
            };
            page(form_status(error.is_some()), &view)
        }
        Outcome::Login { tx, .. } => redirect(&format!("/{}/login?tx={}", rt.pool.id, tx.id)),
        Outcome::Consent { tx, .. } => redirect(&format!("/{}/consent?tx={}", rt.pool.id, tx.id)),
        Outcome::Account => redirect(&format!("/{}/account", rt.pool.id)),
        Outcome::Mfa { tx, error } => {
            let action = format!("/{}/mfa", rt.pool.id);
            let view = MfaPage {
                pool_name: &rt.pool.name,
                action: &action,
                tx: &tx.id,
                csrf: &tx.csrf,
                error: error.as_deref(),
            };
            page(form_status(error.is_some()), &view)
        }
        Outcome::MfaSetup {
            tx,
            enrollment,
            recovery_codes,
            error,
        } => {
            let action = format!("/{}/mfaSetup", rt.pool.id);
            let reason = if rt.pool.settings.mfa == crate::pools::MfaMode::Required {
                "This application requires a second step at sign-in: a code from an authenticator app."
            } else {
                "The application asked for a second step at sign-in: a code from an authenticator app."
            };
            let view = MfaSetupPage {
                pool_name: &rt.pool.name,
                action: &action,
                tx: &tx.id,
                csrf: &tx.csrf,
                reason,
                secret: enrollment
                    .as_ref()
                    .map(|e| e.secret_base32.as_str())
                    .unwrap_or_default(),
                qr_svg: enrollment
                    .as_ref()
                    .map(|e| e.qr_svg.as_str())
                    .unwrap_or_default(),
                recovery_codes: &recovery_codes,
                error: error.as_deref(),
            };
            page(form_status(error.is_some()), &view)
        }
    }
}

/// A form page is a 400 when it is shown again with an error, else a 200.
fn form_status(has_error: bool) -> StatusCode {
    if has_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

fn login_page(
    rt: &PoolRuntime,
    tx: &crate::oidc::session::LoginTx,
    error: Option<&str>,
    notice: Option<&str>,
) -> HttpResponse {
    let action = format!("/{}/login", rt.pool.id);
    let signup_url = (!rt.pool.settings.admin_only_signup)
        .then(|| format!("/{}/signup?tx={}", rt.pool.id, tx.id));
    let forgot_url = format!("/{}/forgotPassword?tx={}", rt.pool.id, tx.id);
    let view = LoginPage {
        pool_name: &rt.pool.name,
        action: &action,
        tx: &tx.id,
        csrf: &tx.csrf,
        login_hint: tx
            .request
            .as_ref()
            .and_then(|r| r.login_hint.as_deref())
            .unwrap_or(""),
        error,
        signup_url: signup_url.as_deref(),
        forgot_url: &forgot_url,
        notice,
    };
    page(
        if error.is_some() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        },
        &view,
    )
}

/// The password policy in words, shown where a password is chosen.
fn policy_text(p: &crate::pools::PasswordPolicy) -> String {
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

fn failure(e: &OAuthError) -> HttpResponse {
    if let Some(d) = &e.detail {
        tracing::error!(error = e.code.as_str(), detail = %d, "hosted page failed");
    }
    match e.code {
        crate::oidc::error::ErrorCode::ServerError => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is having trouble. Please try again later.",
        ),
        _ => error_page(StatusCode::BAD_REQUEST, &e.description),
    }
}

/// The browser's cookies and address.
struct BrowserCookies {
    binding: Option<String>,
    session: Option<String>,
    ip: Option<String>,
}

impl BrowserCookies {
    fn of(req: &HttpRequest) -> Self {
        Self {
            binding: read_cookie(req, BROWSER_COOKIE).filter(|b| !b.is_empty() && b.len() <= 128),
            session: read_cookie(req, SESSION_COOKIE),
            // The socket's peer: X-Forwarded-For is not trusted (no proxy configuration yet).
            ip: req.peer_addr().map(|a| a.ip().to_string()),
        }
    }

    fn browser(&self) -> Browser<'_> {
        Browser {
            binding: self.binding.as_deref().unwrap_or(""),
            session: self.session.as_deref(),
            ip: self.ip.as_deref(),
        }
    }
}

/// `GET|POST /{pool}/oauth2/authorize`
pub async fn authorize(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let params = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let mut cookies = BrowserCookies::of(&req);
    let new_binding = cookies.binding.is_none().then(|| st.random.token(24));
    if new_binding.is_some() {
        cookies.binding = new_binding.clone();
    }
    let mut res = match flow::authorize(&st, &rt, &params, &cookies.browser(), st.clock.now()).await
    {
        Ok(outcome) => respond(&rt, outcome, false),
        Err(e) => failure(&e),
    };
    if let Some(b) = new_binding {
        let _ = res.add_cookie(&cookie(&st, &rt, BROWSER_COOKIE, b, BROWSER_COOKIE_TTL));
    }
    res
}

#[derive(serde::Deserialize)]
pub struct TxQuery {
    tx: Option<String>,
}

/// `GET /{pool}/login?tx=` and `GET /{pool}/consent?tx=`
pub async fn show(st: web::Data<AppState>, PoolCtx(rt): PoolCtx, req: HttpRequest) -> HttpResponse {
    let Ok(q) = web::Query::<TxQuery>::from_query(req.query_string()) else {
        return error_page(StatusCode::BAD_REQUEST, "Malformed request.");
    };
    let tx = q.tx.clone().unwrap_or_default();
    let cookies = BrowserCookies::of(&req);
    match flow::show(&st, &rt, &tx, &cookies.browser()).await {
        Ok(Outcome::Consent { tx, client_name }) => {
            let action = format!("/{}/consent", rt.pool.id);
            let view = ConsentPage {
                pool_name: &rt.pool.name,
                client_name: &client_name,
                scopes: tx.request.as_ref().map_or(&[][..], |r| &r.scopes[..]),
                action: &action,
                tx: &tx.id,
                csrf: &tx.csrf,
            };
            page(StatusCode::OK, &view)
        }
        Ok(outcome) => respond(&rt, outcome, true),
        Err(e) => failure(&e),
    }
}

/// `POST /{pool}/login`
pub async fn login(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let form = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req);
    match flow::login(&st, &rt, &form, &cookies.browser(), st.clock.now()).await {
        Ok(step) => with_session(&st, &rt, step),
        Err(e) => failure(&e),
    }
}

#[derive(serde::Deserialize)]
pub struct SignUpQuery {
    tx: Option<String>,
}

/// `GET /{pool}/signup?tx=`
pub async fn signup_page(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
) -> HttpResponse {
    let tx = web::Query::<SignUpQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.tx.clone())
        .unwrap_or_default();
    let cookies = BrowserCookies::of(&req);
    match crate::oidc::signup::show(&st, &rt, &tx, &cookies.browser()).await {
        Ok(outcome) => respond(&rt, outcome, true),
        Err(e) => failure(&e),
    }
}

/// `POST /{pool}/signup`
pub async fn signup(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let form = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req);
    match crate::oidc::signup::signup(&st, &rt, &form, &cookies.browser(), st.clock.now()).await {
        Ok(outcome) => respond(&rt, outcome, true),
        Err(e) => failure(&e),
    }
}

/// `POST /{pool}/confirm`
pub async fn confirm(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let form = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req);
    match crate::oidc::signup::confirm(&st, &rt, &form, &cookies.browser(), st.clock.now()).await {
        Ok(step) => with_session(&st, &rt, step),
        Err(e) => failure(&e),
    }
}

/// Renders a step's outcome, setting the SSO session cookie when one was started.
fn with_session(st: &AppState, rt: &PoolRuntime, step: flow::Step2) -> HttpResponse {
    let mut res = respond(rt, step.outcome, true);
    if let Some(id) = step.new_session {
        let _ = res.add_cookie(&cookie(st, rt, SESSION_COOKIE, id, SESSION_TTL));
    }
    res
}

/// `GET /{pool}/forgotPassword?tx=`
pub async fn forgot_page(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
) -> HttpResponse {
    let tx = web::Query::<SignUpQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.tx.clone())
        .unwrap_or_default();
    let cookies = BrowserCookies::of(&req);
    match crate::oidc::recovery::show(&st, &rt, &tx, &cookies.browser()).await {
        Ok(outcome) => respond(&rt, outcome, true),
        Err(e) => failure(&e),
    }
}

/// `POST /{pool}/forgotPassword`
pub async fn forgot(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let form = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req);
    match crate::oidc::recovery::forgot(&st, &rt, &form, &cookies.browser(), st.clock.now()).await {
        Ok(outcome) => respond(&rt, outcome, true),
        Err(e) => failure(&e),
    }
}

/// `POST /{pool}/confirmForgotPassword`
pub async fn reset(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let form = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req);
    match crate::oidc::recovery::reset(&st, &rt, &form, &cookies.browser(), st.clock.now()).await {
        Ok(outcome) => respond(&rt, outcome, true),
        Err(e) => failure(&e),
    }
}

/// `POST /{pool}/newPassword`
pub async fn new_password(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let form = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req);
    match flow::new_password(&st, &rt, &form, &cookies.browser(), st.clock.now()).await {
        Ok(step) => with_session(&st, &rt, step),
        Err(e) => failure(&e),
    }
}

/// `POST /{pool}/mfa`
pub async fn mfa(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let form = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req);
    let now = st.clock.now();
    match crate::oidc::mfa_step::challenge(&st, &rt, &form, &cookies.browser(), now).await {
        Ok(step) => with_session(&st, &rt, step),
        Err(e) => failure(&e),
    }
}

/// `POST /{pool}/mfaSetup`
pub async fn mfa_setup(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let form = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req);
    let now = st.clock.now();
    match crate::oidc::mfa_step::setup(&st, &rt, &form, &cookies.browser(), now).await {
        Ok(step) => with_session(&st, &rt, step),
        Err(e) => failure(&e),
    }
}

/// `POST /{pool}/consent`
pub async fn consent(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let form = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req);
    match flow::consent(&st, &rt, &form, &cookies.browser(), st.clock.now()).await {
        Ok(outcome) => respond(&rt, outcome, true),
        Err(e) => failure(&e),
    }
}

/// The token the logout confirmation form carries: derived from the browser binding cookie,
/// which a cross-site page cannot read.
fn logout_csrf(binding: &str) -> String {
    crate::crypto::sha256_hex(format!("logout:{binding}").as_bytes())
}

/// `GET|POST /{pool}/logout`: asks first when the request cannot be tied to the signed-in
/// user, then ends the SSO session and redirects to a registered URI or confirms.
pub async fn logout(
    st: web::Data<AppState>,
    PoolCtx(rt): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let params = match browser_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let now = st.clock.now();
    let mut cookies = BrowserCookies::of(&req);
    let current = match session::find(&st, &rt, cookies.session.as_deref()).await {
        Ok(s) => s,
        Err(e) => return failure(&OAuthError::server(e)),
    };
    let confirmed = req.method() == actix_web::http::Method::POST
        && params.get("confirm") == Some("yes")
        && cookies.binding.as_deref().is_some_and(|b| {
            crate::crypto::ct_eq(
                logout_csrf(b).as_bytes(),
                params.get("csrf").unwrap_or_default().as_bytes(),
            )
        });
    if let Some(s) = &current
        && !confirmed
        && crate::oidc::logout::needs_confirmation(&rt, &params, &s.sub, now)
    {
        let new_binding = cookies.binding.is_none().then(|| st.random.token(24));
        if new_binding.is_some() {
            cookies.binding = new_binding.clone();
        }
        let csrf = logout_csrf(cookies.binding.as_deref().unwrap_or_default());
        let (action, fields) = (
            format!("/{}/logout", rt.pool.id),
            crate::oidc::logout::carried(&params),
        );
        let mut res = page(
            StatusCode::OK,
            &LogoutConfirmPage {
                pool_name: &rt.pool.name,
                action: &action,
                fields: &fields,
                csrf: &csrf,
            },
        );
        if let Some(b) = new_binding {
            let _ = res.add_cookie(&cookie(&st, &rt, BROWSER_COOKIE, b, BROWSER_COOKIE_TTL));
        }
        return res;
    }
    if let Err(e) = session::end(&st, &rt, cookies.session.as_deref()).await {
        return failure(&OAuthError::server(e));
    }
    let mut res = match after_logout(&rt, &params, now) {
        AfterLogout::Redirect(url) => redirect(&url),
        AfterLogout::Page => page(StatusCode::OK, &LoggedOutPage),
        AfterLogout::Error(m) => error_page(StatusCode::BAD_REQUEST, &m),
    };
    let _ = res.add_removal_cookie(&cookie(
        &st,
        &rt,
        SESSION_COOKIE,
        String::new(),
        std::time::Duration::ZERO,
    ));
    res
}
