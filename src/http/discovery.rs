//! Discovery and JWKS: served from the pool cache's pre-serialised bytes (never from SQL), with
//! ETag, `Cache-Control` and 304 on `If-None-Match`.

use actix_web::http::Method;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH,
};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{ApiError, PoolCtx};
use crate::metrics::WellKnown;
use crate::pools::StaticDoc;
use crate::state::AppState;

/// How long relying parties may cache discovery and JWKS.
pub const CACHE_SECONDS: u64 = 300;
const CACHE_CONTROL_VALUE: &str = "public, max-age=300";

/// JWKS may be cached no longer than a new key waits before it signs
/// (`key_activation_delay_secs`), so a cached JWKS always knows the signer.
fn jwks_cache_control(app: &AppState) -> HeaderValue {
    match app.config.key_activation_delay_secs {
        d if d >= CACHE_SECONDS => HeaderValue::from_static(CACHE_CONTROL_VALUE),
        0 => HeaderValue::from_static("no-cache"),
        d => HeaderValue::from_str(&format!("public, max-age={d}"))
            .unwrap_or_else(|_| HeaderValue::from_static("no-cache")),
    }
}

/// Does `If-None-Match` name this entity tag (RFC 9110 §13.1.2: weak comparison, `*`)?
fn not_modified(req: &HttpRequest, etag: &[u8]) -> bool {
    req.headers()
        .get_all(IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t).as_bytes() == etag)
}

/// The stored bytes (or 304), cacheable and readable from any origin.
fn cached_json(req: &HttpRequest, doc: StaticDoc, cache_control: HeaderValue) -> HttpResponse {
    let fresh = not_modified(req, &doc.etag);
    let mut res = if fresh {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok().body(doc.body)
    };
    let h = res.headers_mut();
    if !fresh {
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Ok(tag) = HeaderValue::from_maybe_shared(doc.etag.clone()) {
        h.insert(ETAG, tag);
    }
    h.insert(CACHE_CONTROL, cache_control);
    // Public documents: browser apps (public PKCE clients) must be able to read them.
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

/// `GET /{pool_id}/.well-known/{openid-configuration,jwks.json}` of a known pool, answered by
/// the edge before routing; `None` for anything else (the route table then answers it).
pub fn well_known(app: &AppState, req: &HttpRequest) -> Option<(WellKnown, HttpResponse)> {
    if req.method() != Method::GET {
        return None;
    }
    // Suffix first: two short compares instead of a search for '/' (this runs per request).
    // A "pool" with a '/' in it is no pool id, and the lookup below misses.
    let path = req.path().strip_prefix('/')?;
    let (pool, which) = if let Some(p) = path.strip_suffix("/.well-known/jwks.json") {
        (p, WellKnown::Jwks)
    } else if let Some(p) = path.strip_suffix("/.well-known/openid-configuration") {
        (p, WellKnown::Discovery)
    } else {
        return None;
    };
    let tenant = app.pools.get(pool)?;
    let res = match which {
        WellKnown::Discovery => cached_json(
            req,
            crate::oidc::discovery::cached(&tenant, app.clock.now()),
            HeaderValue::from_static(CACHE_CONTROL_VALUE),
        ),
        WellKnown::Jwks => cached_json(req, tenant.jwks(app.clock.now()), jwks_cache_control(app)),
    };
    Some((which, res))
}

pub async fn openid_configuration(
    req: HttpRequest,
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
) -> Result<HttpResponse, ApiError> {
    let cache_control = HeaderValue::from_static(CACHE_CONTROL_VALUE);
    Ok(cached_json(
        &req,
        crate::oidc::discovery::cached(&tenant, app.clock.now()),
        cache_control,
    ))
}

pub async fn jwks(
    req: HttpRequest,
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
) -> Result<HttpResponse, ApiError> {
    let doc = tenant.jwks(app.clock.now());
    Ok(cached_json(&req, doc, jwks_cache_control(&app)))
}

/// `GET /identity/.well-known/openid-configuration`: the identity issuer's discovery document
/// (AWS IAM, OpenBao and other JWT consumers find its JWKS there).
pub async fn identity_configuration(
    req: HttpRequest,
    app: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let doc = crate::identity::token::discovery(&app)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(cached_json(
        &req,
        doc,
        HeaderValue::from_static(CACHE_CONTROL_VALUE),
    ))
}

/// `GET /identity/.well-known/jwks.json`: the identity issuer's published keys.
pub async fn identity_jwks(
    req: HttpRequest,
    app: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let doc = crate::identity::token::jwks(&app)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(cached_json(&req, doc, jwks_cache_control(&app)))
}
