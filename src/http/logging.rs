//! The edge middleware, per request: a request id (echoed in `X-Request-Id`), HSTS, the HTTP
//! metrics, and, as `access_log` says, one structured line: pool, method, path (never the
//! query, which may carry codes or tokens), status, latency.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, STRICT_TRANSPORT_SECURITY};
use actix_web::{Error, web};
use futures_util::future::Either;

use crate::config::AccessLog;
use crate::ids::PoolId;
use crate::state::AppState;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000; includeSubDomains");

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

/// The edge middleware: request id, HSTS, metrics and access line for every request, and the
/// two well-known documents answered before routing (the hottest static paths: a pool lookup
/// instead of the route table, the extractors and a boxed future).
pub struct Edge;

impl<S, B> Transform<S, ServiceRequest> for Edge
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = EdgeService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(EdgeService {
            service: Rc::new(service),
        }))
    }
}

pub struct EdgeService<S> {
    service: Rc<S>,
}

type Answer<B> = Result<ServiceResponse<EitherBody<B>>, Error>;
type Boxed<B> = std::pin::Pin<Box<dyn std::future::Future<Output = Answer<B>>>>;

impl<S, B> Service<ServiceRequest> for EdgeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Either<Ready<Answer<B>>, Boxed<B>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let app = req
            .app_data::<web::Data<AppState>>()
            .map(|d| d.clone().into_inner());
        let id = request_id(&req);
        if let Some(app) = app.as_deref()
            && let Some((doc, res)) = super::discovery::well_known(app, req.request())
        {
            let status = res.status().as_u16();
            app.metrics.static_doc(doc, status, started.elapsed());
            if wanted(app.config.access_log, status) {
                let method = req.method().as_str();
                access_line(id_str(&id), req.path(), method, status, started.elapsed());
            }
            let mut res = req.into_response(res).map_into_right_body();
            finish(Some(app), res.headers_mut(), id);
            return Either::Left(ready(Ok(res)));
        }
        let service = Rc::clone(&self.service);
        Either::Right(Box::pin(async move {
            let result = service.call(req).await;
            logged(app, id, started, result).map(ServiceResponse::map_into_left_body)
        }))
    }
}

fn id_str(id: &HeaderValue) -> &str {
    id.to_str().unwrap_or("-")
}

/// Counts a routed request in the metrics (by matched route, never the raw path) and writes an
/// access line as `access_log` says: none, 5xx only (the default), or all.
fn logged<B>(
    app: Option<Arc<AppState>>,
    id: HeaderValue,
    started: Instant,
    result: Result<ServiceResponse<B>, Error>,
) -> Result<ServiceResponse<B>, Error> {
    let took = started.elapsed();
    let (status, request) = match &result {
        Ok(res) => (res.status().as_u16(), res.request()),
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            return log_failure(app.as_deref(), id_str(&id), status, took, result);
        }
    };
    // Every resource is named by its route label (`/:pool_id/login`), read without building
    // a string; the default service (404) has none.
    let route = request.match_name().unwrap_or("unmatched");
    if let Some(app) = app.as_deref() {
        app.metrics
            .http(route, request.method().as_str(), status, took);
        if wanted(app.config.access_log, status) {
            let method = request.method().as_str();
            access_line(id_str(&id), request.path(), method, status, took);
        }
    }
    let mut res = result?;
    finish(app.as_deref(), res.headers_mut(), id);
    Ok(res)
}

/// Headers every answer carries: the request id, and HSTS when served over https (the public
/// URL says so: browsers must never use plain http again).
fn finish(app: Option<&AppState>, headers: &mut HeaderMap, id: HeaderValue) {
    headers.insert(REQUEST_ID.clone(), id);
    if app.is_some_and(|a| a.config.is_https()) {
        headers.insert(STRICT_TRANSPORT_SECURITY, HSTS.clone());
    }
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
