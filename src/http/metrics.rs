//! `GET /metrics`: the Prometheus text exposition, on its own listen address (`metrics_bind`).

use actix_web::{HttpResponse, web};

use crate::metrics::{Hashing, MemoryStore, Remembered};
use crate::state::AppState;

pub async fn metrics(app: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(exposition(&app))
}

/// The exposition with what is read at render time: the hashing workers, the in-process
/// store and what the pools remember.
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
    let (users, subjects, tokens) = app.pools.remembered();
    let remembered = Remembered {
        users,
        subjects,
        tokens,
    };
    app.metrics.render(hashing, store, remembered)
}
