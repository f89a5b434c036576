//! Discovery and JWKS handlers: served from the in-memory pool cache, never from SQL.

use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE, HeaderValue,
};
use actix_web::{HttpResponse, web};

use super::{ApiError, PoolCtx};
use crate::state::AppState;

/// How long relying parties may cache discovery and JWKS. Key activation waits longer than
/// this (`key_activation_delay_secs`), so a cached JWKS always knows the signer.
const CACHE_SECONDS: &str = "public, max-age=300";

fn cached_json(body: web::Bytes) -> HttpResponse {
    let mut res = HttpResponse::Ok().body(body);
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE_SECONDS));
    // Public documents: browser apps (public PKCE clients) must be able to read them.
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

pub async fn openid_configuration(PoolCtx(tenant): PoolCtx) -> Result<HttpResponse, ApiError> {
    Ok(cached_json(crate::oidc::discovery::cached(&tenant)))
}

pub async fn jwks(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
) -> Result<HttpResponse, ApiError> {
    Ok(cached_json(tenant.jwks(app.clock.now())))
}
