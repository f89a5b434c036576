//! `GET /metrics`: the Prometheus text exposition, on its own listen address (`metrics_bind`).

use actix_web::{HttpResponse, web};

use crate::metrics::{Hashing, MemoryStore};
use crate::state::AppState;

pub async fn metrics(app: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(exposition(&app))
}

/// The exposition with what is read at render time: the hashing workers and the in-process
/// store.
pub fn exposition(app: &AppState) -> String {
    let store = app.kv.memory_usage().map(|u| MemoryStore {
        bytes: u.bytes,
        entries: u.entries,
        evicted: u.evicted,
    });
    let hashing = Hashing {
        queued: app.hasher.queued(),
        running: app.hasher.running(),
        memory_bytes: app.hasher.memory_bytes(),
        abandoned: app.hasher.abandoned(),
    };
    app.metrics.render(hashing, store)
}
