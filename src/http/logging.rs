//! One structured log line per request: request id, pool, method, path (never the query, which
//! may carry codes or tokens), status, latency.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

use crate::ids::PoolId;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client-supplied request id is kept only if short and plain; otherwise we make one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().to_string();
    let path = req.path().chars().take(256).collect::<String>();
    let pool = path
        .split('/')
        .nth(1)
        .filter(|s| PoolId::is_well_formed(s))
        .unwrap_or("-")
        .to_string();
    let result = next.call(req).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(REQUEST_ID.clone(), v);
            }
            tracing::info!(request_id = %id, pool = %pool, method = %method, path = %path, status, latency_ms, "request");
            Ok(res)
        }
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            tracing::info!(request_id = %id, pool = %pool, method = %method, path = %path, status, latency_ms, "request");
            Err(e)
        }
    }
}
