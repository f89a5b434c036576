//! The Cognito API's HTTP edge: `POST /` with `X-Amz-Target` (AWS JSON 1.1). Hands the raw
//! request (what a SigV4 signature covers) to `cognito::handle` and writes its answer or
//! error the way AWS SDKs read them (`__type`, `x-amzn-ErrorType`, `x-amzn-RequestId`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::Body;
use super::client_ip::client_ip;
use crate::cognito::{self, ApiError};
use crate::crypto::sigv4;
use crate::state::AppState;

const JSON_11: &str = "application/x-amz-json-1.1";

pub async fn endpoint(req: HttpRequest, app: web::Data<AppState>, body: Body) -> HttpResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(n, v)| {
            Some((
                n.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let ip = client_ip(&req, &app.trusted_proxies).map(|ip| ip.to_string());
    let call = cognito::Request {
        target: header("x-amz-target"),
        raw: sigv4::Request {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or(""),
            headers: &headers,
            body: &body.0,
        },
        authorization: header("authorization"),
        ip: ip.as_deref(),
        now: app.clock.now(),
    };
    match cognito::handle(&app, call).await {
        // Answers carry tokens, secrets and codes' destinations: never cached.
        Ok(out) => HttpResponse::Ok()
            .content_type(JSON_11)
            .insert_header(("cache-control", "no-store"))
            .insert_header(("x-amzn-requestid", request_id))
            .body(out.to_string()),
        Err(e) => error(&e, &request_id),
    }
}

fn error(e: &ApiError, request_id: &str) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    HttpResponse::build(status)
        .content_type(JSON_11)
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-amzn-errortype", e.kind))
        .insert_header(("x-amzn-requestid", request_id.to_string()))
        .body(e.body().to_string())
}
