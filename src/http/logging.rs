//! Per request: a request id (echoed in `X-Request-Id`), the HTTP metrics, and, as
//! `access_log` says, one structured line: pool, method, path (never the query, which may
//! carry codes or tokens), status, latency.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::config::AccessLog;
use crate::ids::PoolId;
use crate::state::AppState;

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
        .unwrap_or_else(new_request_id)
}

/// A process-unique id without a system call per request: a random prefix drawn once, then
/// a counter.
fn new_request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
    format!("{prefix}{:08x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Counts every request in the metrics (by matched route, never the raw path) and writes an
/// access line as `access_log` says: none, 5xx only (the default), or all.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let app = req
        .app_data::<web::Data<AppState>>()
        .map(|d| d.clone().into_inner());
    let id = request_id(&req);
    let result = next.call(req).await;
    let took = started.elapsed();
    let (status, request) = match &result {
        Ok(res) => (res.status().as_u16(), res.request().clone()),
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            return log_failure(app.as_deref(), &id, status, took, result);
        }
    };
    // `/{pool_id}/login` as `/:pool_id/login`: braces in label values trip some parsers.
    let route = request
        .match_pattern()
        .map(|p| p.replace('{', ":").replace('}', ""));
    let route = route.as_deref().unwrap_or("unmatched");
    if let Some(app) = app.as_deref() {
        app.metrics
            .http(route, request.method().as_str(), status, took);
        if wanted(app.config.access_log, status) {
            access_line(&id, request.path(), request.method().as_str(), status, took);
        }
    }
    let mut res = result?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    Ok(res)
}

fn wanted(setting: AccessLog, status: u16) -> bool {
    match setting {
        AccessLog::Off => false,
        AccessLog::Errors => status >= 500,
        AccessLog::All => true,
    }
}

/// The path (never the query, which may carry codes or tokens), bounded.
fn access_line(id: &str, path: &str, method: &str, status: u16, took: std::time::Duration) {
    let path: String = path.chars().take(256).collect();
    let pool = path
        .split('/')
        .nth(1)
        .filter(|s| PoolId::is_well_formed(s))
        .unwrap_or("-");
    let latency_ms = took.as_secs_f64() * 1000.0;
    tracing::info!(target: "access", request_id = %id, pool = %pool, method = %method, path = %path, status, latency_ms, "request");
}

fn log_failure<B>(
    app: Option<&AppState>,
    id: &str,
    status: u16,
    took: std::time::Duration,
    result: Result<ServiceResponse<B>, Error>,
) -> Result<ServiceResponse<B>, Error> {
    if let Some(app) = app {
        app.metrics.http("unmatched", "-", status, took);
        if wanted(app.config.access_log, status) {
            tracing::info!(target: "access", request_id = %id, status, "request failed");
        }
    }
    result
}
