//! The edge's one form parser: `application/x-www-form-urlencoded` bodies (strict: repeated
//! parameters and other content types are `invalid_request`), and the query string of a GET.

use actix_web::HttpRequest;
use actix_web::http::Method;
use actix_web::http::header::CONTENT_TYPE;

use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;

/// The parameters of a form body; anything but `application/x-www-form-urlencoded` is refused.
pub fn form_body(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Params::parse(body)
}

/// The parameters of a browser request: the form body of a POST, else the query string.
pub fn query_or_form(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    if req.method() == Method::POST {
        form_body(req, body)
    } else {
        Params::parse(req.query_string().as_bytes())
    }
}
