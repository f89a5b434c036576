//! Hosted pages and the browser-facing endpoints (authorize, the journey's forms, account,
//! logout): read the request and its cookies, call one `login` function, and turn its outcome
//! into a redirect or a page with cookies.

mod account;
mod cookies;
mod logout;
mod render;
mod views;

use std::future::Future;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub use account::account;
pub use logout::logout;
pub use views::error_page;

use cookies::{BROWSER_COOKIE, BROWSER_COOKIE_TTL, BrowserCookies, SESSION_COOKIE, cookie};
use render::{consent_page, failure, respond};

use crate::http::form::query_or_form;
use crate::http::{Body, PoolCtx};
use crate::login::{Form, Outcome, Transition, journey};
use crate::pools::PoolRuntime;
use crate::sessions::SESSION_TTL;
use crate::state::AppState;

/// `GET|POST /{pool}/oauth2/authorize`
pub async fn authorize(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let params = match query_or_form(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let mut cookies = BrowserCookies::of(&req, &app, &tenant);
    let new_binding = cookies.bind(&app);
    let browser = cookies.browser();
    let outcome = journey::authorize(&app, &tenant, &params, &browser, app.clock.now()).await;
    let mut res = match outcome {
        Ok(outcome) => respond(&tenant, outcome, false),
        Err(e) => failure(&e),
    };
    if let Some(b) = new_binding {
        let _ = res.add_cookie(&cookie(
            &app,
            &tenant,
            BROWSER_COOKIE,
            b,
            BROWSER_COOKIE_TTL,
        ));
    }
    res
}

#[derive(serde::Deserialize)]
struct TxQuery {
    tx: Option<String>,
}

/// The `tx` of a page's query string ("" when absent); `None` when the query is malformed.
fn tx_of(req: &HttpRequest) -> Option<String> {
    let q = web::Query::<TxQuery>::from_query(req.query_string()).ok()?;
    Some(q.tx.clone().unwrap_or_default())
}

/// `GET /{pool}/login?tx=`, and the same for the other pages of the journey: the page of the
/// step the transaction is at.
pub async fn tx_page(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
) -> HttpResponse {
    let Some(tx) = tx_of(&req) else {
        return error_page(StatusCode::BAD_REQUEST, "Malformed request.");
    };
    let cookies = BrowserCookies::of(&req, &app, &tenant);
    match journey::current_page(&app, &tenant, &tx, &cookies.browser()).await {
        Ok(Outcome::Consent { tx, client_name }) => consent_page(&tenant, &tx, &client_name),
        Ok(outcome) => respond(&tenant, outcome, true),
        Err(e) => failure(&e),
    }
}

/// `GET /{pool}/signup?tx=`
pub async fn signup_page(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
) -> HttpResponse {
    let tx = tx_of(&req).unwrap_or_default();
    let cookies = BrowserCookies::of(&req, &app, &tenant);
    let outcome = journey::signup_form(&app, &tenant, &tx, &cookies.browser()).await;
    outcome.map_or_else(|e| failure(&e), |o| respond(&tenant, o, true))
}

/// `GET /{pool}/forgotPassword?tx=`
pub async fn forgot_page(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
) -> HttpResponse {
    let tx = tx_of(&req).unwrap_or_default();
    let cookies = BrowserCookies::of(&req, &app, &tenant);
    let outcome = journey::forgot_form(&app, &tenant, &tx, &cookies.browser()).await;
    outcome.map_or_else(|e| failure(&e), |o| respond(&tenant, o, true))
}

/// `GET /{pool}/oauth2/idpresponse`: an upstream identity provider sends the browser back.
pub async fn idp_response(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
) -> HttpResponse {
    let params = match query_or_form(&req, &[]) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req, &app, &tenant);
    let now = app.clock.now();
    match journey::callback(&app, &tenant, &params, &cookies.browser(), now).await {
        Ok(step) => with_session(&app, &tenant, step),
        Err(e) => failure(&e),
    }
}

/// The POST handler of a hosted form answered by the step `which`.
pub fn form_handler(
    which: Form,
) -> impl Fn(web::Data<AppState>, PoolCtx, HttpRequest, Body) -> FormFuture + Clone + 'static {
    move |app, PoolCtx(tenant), req, Body(body)| Box::pin(submit(app, tenant, req, body, which))
}

/// The future a form handler returns.
pub type FormFuture = std::pin::Pin<Box<dyn Future<Output = HttpResponse>>>;

async fn submit(
    app: web::Data<AppState>,
    tenant: Arc<PoolRuntime>,
    req: HttpRequest,
    body: web::Bytes,
    which: Form,
) -> HttpResponse {
    let form = match query_or_form(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let cookies = BrowserCookies::of(&req, &app, &tenant);
    let now = app.clock.now();
    match journey::submit(&app, &tenant, which, &form, &cookies.browser(), now).await {
        Ok(step) => with_session(&app, &tenant, step),
        Err(e) => failure(&e),
    }
}

/// Renders a step's outcome, setting the SSO session cookie when one was started.
fn with_session(app: &AppState, tenant: &PoolRuntime, step: Transition) -> HttpResponse {
    let mut res = respond(tenant, step.outcome, true);
    if let Some(id) = step.new_session {
        let _ = res.add_cookie(&cookie(app, tenant, SESSION_COOKIE, id, SESSION_TTL));
    }
    res
}
