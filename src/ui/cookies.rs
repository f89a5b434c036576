//! The hosted pages' cookies: the SSO session cookie and the browser binding cookie (it ties
//! login transactions and cookie-bound forms to the browser that started them), and what a
//! request's cookies and address make of a [`Browser`].

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};

use crate::clock::RandomExt;
use crate::http::client_ip::client_ip;
use crate::login::Browser;
use crate::pools::PoolRuntime;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "tessera_session";
/// Ties login transactions to the browser that started them (their forms' CSRF defence, with
/// the per-transaction token in the form).
pub const BROWSER_COOKIE: &str = "tessera_browser";
pub const BROWSER_COOKIE_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// A cookie scoped to the pool's path: HttpOnly, SameSite=Lax, Secure behind https.
pub fn cookie<'a>(
    app: &AppState,
    tenant: &PoolRuntime,
    name: &'a str,
    value: String,
    max_age: std::time::Duration,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path(format!("/{}", tenant.pool.id))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(app.config.public_base().starts_with("https://"))
        .max_age(CookieDuration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(0),
        ))
        .finish()
}

fn read_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_string())
}

/// The browser's cookies and address.
pub struct BrowserCookies {
    pub binding: Option<String>,
    pub session: Option<String>,
    pub ip: Option<String>,
}

impl BrowserCookies {
    pub fn of(req: &HttpRequest, app: &AppState) -> Self {
        let trusted = &app.trusted_proxies;
        Self {
            binding: read_cookie(req, BROWSER_COOKIE).filter(|b| !b.is_empty() && b.len() <= 128),
            session: read_cookie(req, SESSION_COOKIE),
            ip: client_ip(req, trusted).map(|ip| ip.to_string()),
        }
    }

    /// Gives a browser without a binding cookie a new one; returns it when it must be set.
    pub fn bind(&mut self, app: &AppState) -> Option<String> {
        let new_binding = self.binding.is_none().then(|| app.random.token(24));
        if new_binding.is_some() {
            self.binding = new_binding.clone();
        }
        new_binding
    }

    pub fn browser(&self) -> Browser<'_> {
        Browser {
            binding: self.binding.as_deref().unwrap_or(""),
            session: self.session.as_deref(),
            ip: self.ip.as_deref(),
        }
    }
}
