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

fn https(app: &AppState) -> bool {
    app.config.is_https()
}

/// The name a pool's cookie goes by. Behind https it is `__Host-{base}-{pool}`: the browser
/// then guarantees it was set by this host over https for the whole host (no `Domain`, path
/// `/`), so a sibling subdomain or a plain-http page cannot plant or shadow it; the pool is in
/// the name since the path no longer tells pools apart. Over plain http (development) the
/// prefix is not allowed, and the cookie is `{base}` on the pool's path.
pub fn cookie_name(app: &AppState, tenant: &PoolRuntime, base: &str) -> String {
    if https(app) {
        format!("__Host-{base}-{}", tenant.pool.id)
    } else {
        base.to_string()
    }
}

/// A pool's cookie: HttpOnly, SameSite=Lax; `__Host-`, Secure and host-wide behind https,
/// else on the pool's path.
pub fn cookie(
    app: &AppState,
    tenant: &PoolRuntime,
    base: &str,
    value: String,
    max_age: std::time::Duration,
) -> Cookie<'static> {
    let path = match https(app) {
        true => "/".to_string(),
        false => format!("/{}", tenant.pool.id),
    };
    Cookie::build(cookie_name(app, tenant, base), value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https(app))
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
    pub fn of(req: &HttpRequest, app: &AppState, tenant: &PoolRuntime) -> Self {
        let trusted = &app.trusted_proxies;
        let read = |base: &str| read_cookie(req, &cookie_name(app, tenant, base));
        Self {
            binding: read(BROWSER_COOKIE).filter(|b| !b.is_empty() && b.len() <= 128),
            session: read(SESSION_COOKIE),
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
