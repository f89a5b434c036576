//! `GET /metrics`: the Prometheus text exposition, on its own listen address (`metrics_bind`).

use actix_web::{HttpResponse, web};

use crate::metrics::Hashing;
use crate::state::AppState;

pub async fn metrics(app: web::Data<AppState>) -> HttpResponse {
    let body = app.metrics.render(Hashing {
        queued: app.hasher.queued(),
        running: app.hasher.running(),
        memory_bytes: app.hasher.memory_bytes(),
    });
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
