//! Which SQL and KV backends the suite runs on: SQLite + memory by default, PostgreSQL + Redis
//! when TEST_DATABASE_URL / TEST_REDIS_URL are set (one schema and one key prefix per test).

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::{Connection, RunQueryDsl, pg::PgConnection};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique within this test run and across runs.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id())
}

fn required() -> bool {
    std::env::var("TESSERA_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// TEST_DATABASE_URL, or None; under TESSERA_REQUIRE_SERVICES=1 its absence fails the run.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if required() => panic!("TESSERA_REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set"),
        _ => None,
    }
}

/// TEST_REDIS_URL or `memory://`; under TESSERA_REQUIRE_SERVICES=1 its absence fails the run.
pub fn redis_url() -> String {
    match std::env::var("TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => u,
        _ if required() => panic!("TESSERA_REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set"),
        _ => "memory://".into(),
    }
}

/// TEST_REDISS_URL (a Redis that speaks only TLS, e.g. `rediss://127.0.0.1:6390`) with the CA
/// that signed its certificate (PEM file TEST_REDISS_CA), or None; under
/// TESSERA_REQUIRE_SERVICES=1 their absence fails the run.
pub fn rediss() -> Option<(String, Vec<u8>)> {
    let url = std::env::var("TEST_REDISS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let ca = std::env::var("TEST_REDISS_CA")
        .ok()
        .filter(|u| !u.is_empty());
    match (url, ca) {
        (Some(url), Some(ca)) => {
            let pem = std::fs::read(&ca).unwrap_or_else(|e| panic!("TEST_REDISS_CA {ca}: {e}"));
            Some((url, pem))
        }
        _ if required() => {
            panic!("TESSERA_REQUIRE_SERVICES=1 but TEST_REDISS_URL or TEST_REDISS_CA is not set")
        }
        _ => None,
    }
}

/// One test's SQL database: a temporary SQLite file, or a fresh PostgreSQL schema dropped at the end.
pub struct SqlBackend {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl SqlBackend {
    pub fn new() -> Self {
        tessera::store::sql::init_tls();
        let dir = tempfile::tempdir().unwrap();
        match postgres_url() {
            Some(admin) => {
                let schema = unique_name("t_");
                let mut c = PgConnection::establish(&admin)
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL: {e}"));
                diesel::sql_query(format!("CREATE SCHEMA \"{schema}\""))
                    .execute(&mut c)
                    .unwrap();
                let sep = if admin.contains('?') { '&' } else { '?' };
                let url = format!("{admin}{sep}options=-csearch_path%3D{schema}");
                Self {
                    url,
                    dir,
                    pg: Some((admin, schema)),
                }
            }
            None => {
                let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
                Self { url, dir, pg: None }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }
}

impl Drop for SqlBackend {
    fn drop(&mut self) {
        if let Some((admin, schema)) = self.pg.take() {
            // Other connections of the dropped app may linger briefly; CASCADE does not wait on them.
            if let Ok(mut c) = PgConnection::establish(&admin) {
                let _ = diesel::sql_query(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .execute(&mut c);
            }
        }
    }
}
