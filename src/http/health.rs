//! Liveness (`/healthz`) and readiness (`/readyz`: SQL and KV answer) probes.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(app: web::Data<AppState>) -> HttpResponse {
    let sql = tokio::time::timeout(PROBE_TIMEOUT, app.sql.ping()).await;
    let kv = tokio::time::timeout(PROBE_TIMEOUT, app.kv.ping()).await;
    let mut failing = Vec::new();
    if !matches!(sql, Ok(Ok(()))) {
        failing.push("sql");
    }
    if !matches!(kv, Ok(Ok(()))) {
        failing.push("kv");
    }
    if failing.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        tracing::warn!(?failing, "not ready");
        HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "failing": failing }))
    }
}
