//! `/{pool}/logout`: asks first when the request cannot be tied to the signed-in user, then
//! ends the SSO session and redirects to a registered URI or confirms.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};

use super::cookies::{BROWSER_COOKIE, BROWSER_COOKIE_TTL, BrowserCookies, SESSION_COOKIE, cookie};
use super::render::{failure, redirect};
use super::views::{LoggedOutPage, LogoutConfirmPage, error_page, page};
use crate::http::form::query_or_form;
use crate::http::{Body, PoolCtx};
use crate::login::outcome::{form_token, form_token_ok};
use crate::oidc::backchannel;
use crate::oidc::error::OAuthError;
use crate::oidc::logout::{self, AfterLogout};
use crate::oidc::params::Params;
use crate::pools::PoolRuntime;
use crate::sessions;
use crate::state::AppState;

/// The purpose of the logout confirmation form's token.
pub const FORM: &str = "logout";

/// Ends the session `hinted` names and this browser's, and tells each client that received
/// tokens in them (back-channel).
async fn end_sessions(
    app: AppState,
    tenant: std::sync::Arc<PoolRuntime>,
    hinted: Option<String>,
    cookie: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), crate::store::StoreError> {
    let pool = &tenant.pool.id;
    let mut ended = Vec::new();
    if let Some(sid) = hinted.as_deref() {
        ended.extend(sessions::end_sid(&app, pool, sid).await?);
    }
    ended.extend(sessions::end(&app, pool, cookie.as_deref()).await?);
    for e in &ended {
        backchannel::notify(&app, &tenant, e, now);
    }
    Ok(())
}

/// `GET|POST /{pool}/logout`
pub async fn logout(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let params = match query_or_form(&req, &body) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let now = app.clock.now();
    let mut cookies = BrowserCookies::of(&req, &app, &tenant);
    let pool = &tenant.pool.id;
    let current = match sessions::find(&app, pool, cookies.session.as_deref()).await {
        Ok(s) => s,
        Err(e) => return failure(&OAuthError::server(e)),
    };
    let confirmed = req.method() == Method::POST
        && params.get("confirm") == Some("yes")
        && cookies.binding.as_deref().is_some_and(|b| {
            form_token_ok(
                &app.master_key,
                FORM,
                b,
                params.get("csrf").unwrap_or_default(),
            )
        });
    if let Some(s) = &current
        && !confirmed
        && logout::needs_confirmation(&tenant, &params, &s.sub, now)
    {
        return confirm_page(&app, &tenant, &params, &mut cookies);
    }
    // The session the id_token_hint names ends exactly (wherever its browser is), and so does
    // this browser's; each client that received tokens in them is told (back-channel).
    let hinted = logout::hinted_sid(&tenant, &params, now);
    let work = end_sessions(
        app.for_background(),
        tenant.clone(),
        hinted,
        cookies.session.clone(),
        now,
    );
    // Ended and told, even if the browser goes away meanwhile.
    if let Err(e) = app.background.finish("logging out", work).await {
        return failure(&OAuthError::server(e));
    }
    let mut res = match logout::after_logout(&tenant, &params, now) {
        AfterLogout::Redirect(url) => redirect(&url),
        AfterLogout::Page => page(StatusCode::OK, &LoggedOutPage),
        AfterLogout::Error(m) => error_page(StatusCode::BAD_REQUEST, &m),
    };
    let gone = cookie(
        &app,
        &tenant,
        SESSION_COOKIE,
        String::new(),
        std::time::Duration::ZERO,
    );
    let _ = res.add_removal_cookie(&gone);
    res
}

/// "Sign out?" with the request's parameters carried along and a token bound to the browser.
fn confirm_page(
    app: &AppState,
    tenant: &PoolRuntime,
    params: &Params,
    cookies: &mut BrowserCookies,
) -> HttpResponse {
    let new_binding = cookies.bind(app);
    let binding = cookies.binding.as_deref().unwrap_or_default();
    let csrf = form_token(&app.master_key, FORM, binding);
    let (action, fields) = (
        format!("/{}/logout", tenant.pool.id),
        logout::carried(params),
    );
    let mut res = page(
        StatusCode::OK,
        &LogoutConfirmPage {
            pool_name: &tenant.pool.name,
            action: &action,
            fields: &fields,
            csrf: &csrf,
        },
    );
    if let Some(b) = new_binding {
        let _ = res.add_cookie(&cookie(app, tenant, BROWSER_COOKIE, b, BROWSER_COOKIE_TTL));
    }
    res
}
