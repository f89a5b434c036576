//! The account page (`/{pool}/account`): renders `login::account` outcomes, with the session and
//! binding cookies it needs.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::cookies::{BROWSER_COOKIE, BROWSER_COOKIE_TTL, BrowserCookies, SESSION_COOKIE, cookie};
use super::render::{failure, form_status, policy_text, redirect, shed};
use super::views::{AccountPage, error_page, page};
use crate::crypto::MasterKey;
use crate::http::form::query_or_form;
use crate::http::{Body, PoolCtx};
use crate::login::account::{self, AccountOutcome, AccountState};
use crate::login::outcome::form_token;
use crate::model::attributes;
use crate::pools::PoolRuntime;
use crate::sessions::SESSION_TTL;
use crate::state::AppState;

fn render(
    key: &MasterKey,
    tenant: &PoolRuntime,
    state: &AccountState,
    binding: &str,
) -> HttpResponse {
    let user = &state.user;
    let fields = account::editable(tenant)
        .into_iter()
        .map(|name| {
            let value = if name == "phone_number" {
                user.phone_number.clone()
            } else {
                user.attributes.get(&name).cloned()
            };
            let label = attributes::label(&name).to_string();
            (name, label, value.unwrap_or_default())
        })
        .collect();
    let (action, logout_action) = (
        format!("/{}/account", tenant.pool.id),
        format!("/{}/logout", tenant.pool.id),
    );
    let (csrf, out_csrf, policy) = (
        account::csrf_token(key, binding),
        form_token(key, super::logout::FORM, binding),
        policy_text(&tenant.pool.settings.password_policy),
    );
    let view = AccountPage {
        pool_name: &tenant.pool.name,
        action: &action,
        csrf: &csrf,
        username: &user.username,
        email: user.email.as_deref(),
        email_verified: user.email_verified,
        pending_email: state.pending_email.as_deref(),
        fields,
        policy: &policy,
        notice: state.notice.as_deref(),
        error: state.error.as_deref(),
        logout_action: &logout_action,
        logout_csrf: &out_csrf,
        mfa_available: state.mfa_available,
        mfa_enabled: state.mfa_enabled,
        enrollment: state
            .enrollment
            .as_ref()
            .map(|e| (e.secret_base32.as_str(), e.qr_svg.as_str())),
        recovery_codes: &state.recovery_codes,
        recovery_codes_left: state.recovery_codes_left,
        linked: state
            .connections
            .linked
            .iter()
            .map(|l| l.provider.as_str())
            .collect(),
        available: state
            .connections
            .available
            .iter()
            .map(String::as_str)
            .collect(),
        consents: state
            .consents
            .iter()
            .map(|g| {
                let name = g.client_name.as_deref().unwrap_or("A deleted application");
                (g.client_id.as_str(), name, g.scopes.join(", "))
            })
            .collect(),
    };
    page(form_status(state.error.is_some()), &view)
}

fn respond(
    app: &AppState,
    tenant: &PoolRuntime,
    outcome: AccountOutcome,
    binding: &str,
) -> HttpResponse {
    match outcome {
        AccountOutcome::SignIn(tx) => redirect(&format!("/{}/login?tx={}", tenant.pool.id, tx.id)),
        AccountOutcome::Show(state) => render(&app.master_key, tenant, &state, binding),
        AccountOutcome::ShowWithNewSession(state, id) => {
            let mut res = render(&app.master_key, tenant, &state, binding);
            let _ = res.add_cookie(&cookie(app, tenant, SESSION_COOKIE, id, SESSION_TTL));
            res
        }
        AccountOutcome::Shed(state, retry_after) => shed(
            render(&app.master_key, tenant, &state, binding),
            retry_after,
        ),
        AccountOutcome::Upstream(url) => redirect(&url),
        AccountOutcome::Forbidden => error_page(
            StatusCode::FORBIDDEN,
            "This form has expired. Open your account page again.",
        ),
    }
}

/// `GET|POST /{pool}/account`
pub async fn account(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> HttpResponse {
    let mut cookies = BrowserCookies::of(&req, &app, &tenant);
    let now = app.clock.now();
    let outcome = if req.method() == actix_web::http::Method::POST {
        let form = match query_or_form(&req, &body) {
            Ok(p) => p,
            Err(e) => return failure(&e),
        };
        account::act(&app, &tenant, &form, &cookies.browser(), now).await
    } else {
        if let Some(b) = cookies.bind(&app) {
            let outcome = account::view(&app, &tenant, &cookies.browser(), now).await;
            let mut res = match outcome {
                Ok(o) => respond(&app, &tenant, o, &b),
                Err(e) => failure(&e),
            };
            let _ = res.add_cookie(&cookie(
                &app,
                &tenant,
                BROWSER_COOKIE,
                b,
                BROWSER_COOKIE_TTL,
            ));
            return res;
        }
        account::view(&app, &tenant, &cookies.browser(), now).await
    };
    match outcome {
        Ok(o) => respond(
            &app,
            &tenant,
            o,
            cookies.binding.as_deref().unwrap_or_default(),
        ),
        Err(e) => failure(&e),
    }
}
