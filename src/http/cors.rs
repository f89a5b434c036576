//! CORS for the endpoints browser apps (public PKCE clients) call: token, userinfo and
//! revocation. An origin is allowed when it is the origin of a redirect URI of one of the
//! pool's clients or one of their `--allowed-origin`s; it is echoed, never `*` (discovery and
//! JWKS, public documents, keep `*`). No credentials mode: these endpoints take no cookies.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, HeaderMap, HeaderValue, ORIGIN, VARY,
};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, web};

use super::PoolCtx;
use crate::pools::PoolRuntime;
use crate::state::AppState;

/// The request's `Origin` if the pool allows it.
fn allowed(headers: &HeaderMap, tenant: &PoolRuntime) -> Option<HeaderValue> {
    let origin = headers.get(ORIGIN)?;
    tenant
        .allows_origin(origin.to_str().ok()?)
        .then(|| origin.clone())
}

/// Answers a preflight (`OPTIONS`): the allowed origin gets the methods and headers these
/// endpoints take; any other gets no CORS headers, so its browser refuses the call.
pub async fn preflight(req: HttpRequest, PoolCtx(tenant): PoolCtx) -> HttpResponse {
    // `answer` (around every route of these endpoints) adds the origin and `Vary`.
    let mut res = HttpResponse::NoContent().finish();
    if allowed(req.headers(), &tenant).is_some() {
        let h = res.headers_mut();
        h.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    res
}

/// Adds `Access-Control-Allow-Origin` to an answer for an allowed origin (and `Vary: Origin`
/// whenever the request named one, so caches keep answers apart).
pub async fn answer(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let origin = req.headers().contains_key(ORIGIN).then(|| {
        req.app_data::<web::Data<AppState>>()
            .zip(req.match_info().get("pool_id"))
            .and_then(|(app, id)| app.pools.get(id))
            .and_then(|tenant| allowed(req.headers(), &tenant))
    });
    let mut res = next.call(req).await?;
    if let Some(origin) = origin {
        let h = res.headers_mut();
        h.append(VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = origin {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("WWW-Authenticate"),
            );
        }
    }
    Ok(res)
}
