//! Back-channel OAuth endpoints: token, introspection, revocation. Each parses the form
//! strictly, calls one service, and maps `OAuthError` to RFC 6749 §5.2 JSON once.

use actix_web::http::StatusCode;
use actix_web::http::header::{
    AUTHORIZATION, CACHE_CONTROL, HeaderValue, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;

use super::form::form_body;
use super::{Body, PoolCtx};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::{introspect, token};
use crate::state::AppState;

/// `OAuthError` as an HTTP response.
#[derive(Debug)]
pub struct OAuthResponse(pub OAuthError);

impl From<OAuthError> for OAuthResponse {
    fn from(e: OAuthError) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for OAuthResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for OAuthResponse {
    fn status_code(&self) -> StatusCode {
        match self.0.code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable if self.0.overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::TemporarilyUnavailable if self.0.retry_after.is_some() => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let e = &self.0;
        if let Some(detail) = &e.detail {
            tracing::error!(error = e.code.as_str(), detail = %detail, "oauth request failed");
        }
        let mut res = HttpResponse::build(self.status_code()).json(json!({
            "error": e.code.as_str(),
            "error_description": e.description,
        }));
        let h = res.headers_mut();
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match e.code {
            ErrorCode::InvalidToken => {
                h.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ErrorCode::InsufficientScope => {
                h.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
                );
            }
            _ => {}
        }
        if e.code == ErrorCode::TemporarilyUnavailable {
            h.insert(RETRY_AFTER, HeaderValue::from(e.retry_after.unwrap_or(1)));
        }
        if e.code == ErrorCode::InvalidClient {
            h.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
            );
        }
        res
    }
}

fn authorization(req: &HttpRequest) -> Option<&[u8]> {
    req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes)
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    let h = res.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

pub async fn token_endpoint(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> Result<HttpResponse, OAuthResponse> {
    let params = form_body(&req, &body)?;
    let res = token::exchange(&app, &tenant, authorization(&req), &params, app.clock.now()).await?;
    Ok(no_store(HttpResponse::Ok().json(res)))
}

pub async fn introspect_endpoint(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> Result<HttpResponse, OAuthResponse> {
    let params = form_body(&req, &body)?;
    let res = introspect::introspect(&app, &tenant, authorization(&req), &params, app.clock.now())
        .await?;
    Ok(no_store(HttpResponse::Ok().json(res)))
}

pub async fn revoke_endpoint(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> Result<HttpResponse, OAuthResponse> {
    let params = form_body(&req, &body)?;
    introspect::revoke(&app, &tenant, authorization(&req), &params, app.clock.now()).await?;
    Ok(no_store(HttpResponse::Ok().finish()))
}

/// The bearer token of a userinfo request: the Authorization header (RFC 6750 §2.1) or, on a
/// form POST, `access_token` (§2.2); never both.
fn bearer(req: &HttpRequest, body: &[u8]) -> Result<String, OAuthError> {
    let missing = || OAuthError::invalid_token("an access token is required");
    let header = match req.headers().get(AUTHORIZATION) {
        Some(v) => {
            let v = v.to_str().map_err(|_| missing())?;
            let (scheme, token) = v.split_once(' ').ok_or_else(missing)?;
            if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                return Err(missing());
            }
            Some(token.trim().to_string())
        }
        None => None,
    };
    let form = if req.method() == actix_web::http::Method::POST && !body.is_empty() {
        form_body(req, body)?
            .get("access_token")
            .map(str::to_string)
    } else {
        None
    };
    match (header, form) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the access token once")),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(missing()),
    }
}

pub async fn userinfo_endpoint(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> Result<HttpResponse, OAuthResponse> {
    let token = bearer(&req, &body)?;
    let claims = crate::oidc::userinfo::userinfo(&app, &tenant, &token, app.clock.now()).await?;
    Ok(no_store(HttpResponse::Ok().json(claims)))
}
