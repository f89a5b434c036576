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
fn request_id(req: &ServiceRequest) -> HeaderValue {
    req.headers()
        .get(&REQUEST_ID)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty()
                && b.len() <= 64
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        })
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// A process-unique id without a system call or a format per request: a random prefix drawn
/// once, then a counter in hex.
fn new_request_id() -> HeaderValue {
    static PREFIX: OnceLock<[u8; 12]> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut p = [b'0'; 12];
        p.copy_from_slice(&uuid::Uuid::new_v4().simple().to_string().as_bytes()[..12]);
        p
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut id = [0u8; 20];
    id[..12].copy_from_slice(prefix);
    for (i, slot) in id[12..].iter_mut().enumerate() {
        *slot = b"0123456789abcdef"[((n >> (28 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("-"))
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
            return log_failure(
                app.as_deref(),
                id.to_str().unwrap_or("-"),
                status,
                took,
                result,
            );
        }
    };
    // `/{pool_id}/login` as `/:pool_id/login`: braces in label values trip some parsers.
    let route = request.match_pattern().map(|p| {
        p.chars()
            .filter(|&c| c != '}')
            .map(|c| if c == '{' { ':' } else { c })
            .collect::<String>()
    });
    let route = route.as_deref().unwrap_or("unmatched");
    if let Some(app) = app.as_deref() {
        app.metrics
            .http(route, request.method().as_str(), status, took);
        if wanted(app.config.access_log, status) {
            let id = id.to_str().unwrap_or("-");
            access_line(id, request.path(), request.method().as_str(), status, took);
        }
    }
    let mut res = result?;
    res.headers_mut().insert(REQUEST_ID.clone(), id);
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
