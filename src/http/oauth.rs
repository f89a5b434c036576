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
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        let e = &self.0;
        let mut res = json_error(e);
        if e.code == ErrorCode::InvalidClient {
            res.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
            );
        }
        res
    }
}

fn status_of(e: &OAuthError) -> StatusCode {
    match e.code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable if e.overloaded => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::TemporarilyUnavailable if e.retry_after.is_some() => {
            StatusCode::TOO_MANY_REQUESTS
        }
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// RFC 6749 §5.2 JSON, never cached, with `Retry-After` on a limit or a shed request.
fn json_error(e: &OAuthError) -> HttpResponse {
    if let Some(detail) = &e.detail {
        tracing::error!(error = e.code.as_str(), detail = %detail, "oauth request failed");
    }
    let mut res = HttpResponse::build(status_of(e)).json(json!({
        "error": e.code.as_str(),
        "error_description": e.description,
    }));
    let h = res.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if e.code == ErrorCode::TemporarilyUnavailable {
        h.insert(RETRY_AFTER, HeaderValue::from(e.retry_after.unwrap_or(1)));
    }
    res
}

/// A protected resource's refusal (RFC 6750 §3): the challenge names the realm (the pool's
/// issuer) and carries the error only when a token, or a malformed request, was sent.
#[derive(Debug)]
pub struct BearerRefusal {
    error: OAuthError,
    realm: String,
    /// No token at all: §3.1 says the challenge SHOULD NOT carry an error code.
    token_sent: bool,
}

impl std::fmt::Display for BearerRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for BearerRefusal {
    fn status_code(&self) -> StatusCode {
        status_of(&self.error)
    }

    fn error_response(&self) -> HttpResponse {
        let e = &self.error;
        // The body is the usual JSON error either way; only the challenge differs.
        let mut res = json_error(e);
        let status = res.status();
        let challenged = status == StatusCode::UNAUTHORIZED
            || status == StatusCode::FORBIDDEN
            || status == StatusCode::BAD_REQUEST;
        // The realm is our own issuer, the description is restricted to RFC 6749's characters
        // (no quote, no backslash): both are safe inside quoted strings.
        let challenge = if !challenged {
            None
        } else if self.token_sent {
            Some(format!(
                "Bearer realm=\"{}\", error=\"{}\", error_description=\"{}\"",
                self.realm,
                e.code.as_str(),
                e.description
            ))
        } else {
            Some(format!("Bearer realm=\"{}\"", self.realm))
        };
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            res.headers_mut().insert(WWW_AUTHENTICATE, v);
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
/// form POST, `access_token` (§2.2); never both. `None`: no bearer token was sent at all.
fn bearer(req: &HttpRequest, body: &[u8]) -> Result<Option<String>, OAuthError> {
    let header = match req.headers().get(AUTHORIZATION) {
        Some(v) => {
            let malformed = || OAuthError::invalid_request("malformed Authorization header");
            let v = v.to_str().map_err(|_| malformed())?;
            let (scheme, token) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
            let token = token.trim();
            if !scheme.eq_ignore_ascii_case("bearer") {
                // Another scheme (Basic...) carries no bearer token.
                None
            } else if token.is_empty() {
                return Err(malformed());
            } else {
                Some(token.to_string())
            }
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
        (Some(t), None) | (None, Some(t)) => Ok(Some(t)),
        (None, None) => Ok(None),
    }
}

pub async fn userinfo_endpoint(
    app: web::Data<AppState>,
    PoolCtx(tenant): PoolCtx,
    req: HttpRequest,
    Body(body): Body,
) -> Result<HttpResponse, BearerRefusal> {
    let refuse = |error, token_sent| BearerRefusal {
        error,
        realm: tenant.issuer.clone(),
        token_sent,
    };
    let token = match bearer(&req, &body) {
        Ok(Some(token)) => token,
        Ok(None) => {
            let missing = OAuthError::invalid_token("an access token is required");
            return Err(refuse(missing, false));
        }
        Err(e) => return Err(refuse(e, true)),
    };
    let claims = crate::oidc::userinfo::userinfo(&app, &tenant, &token, app.clock.now())
        .await
        .map_err(|e| refuse(e, true))?;
    Ok(no_store(HttpResponse::Ok().json(claims)))
}
