//! SQL persistence through one diesel `MultiConnection` over PostgreSQL and SQLite, pooled by r2d2.

pub mod access_keys;
pub mod audit;
pub mod clients;
pub mod consents;
pub mod federation;
pub mod groups;
pub mod identity_pools;
pub mod keys;
pub mod mfa;
mod migrate;
pub mod pools;
pub mod refresh_tokens;
pub mod schema;
pub mod users;

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};

pub use migrate::MigrationReport;

use super::StoreError;
use crate::clock::Observer;
use crate::config::redact_url;
use tokio::sync::Semaphore;

/// A connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which SQL backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite://") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// A pooled connection and when it last answered a query without error.
pub struct Tracked {
    db: DbConn,
    answered: Option<Instant>,
}

/// A connection that answered this recently is not tested again when it is checked out (as
/// HikariCP's `aliveBypassWindowMs`): under load every query would otherwise cost a second
/// round trip (`SELECT 1`) to the database. An idle connection, or one whose last query
/// failed, is tested as before.
const ALIVE_BYPASS: Duration = Duration::from_millis(500);

/// Opens connections of one backend (the derived `establish` would try every backend in turn
/// and hide the real error).
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
    url: String,
}

impl ManageConnection for Manager {
    type Connection = Tracked;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Tracked, Self::Error> {
        let conn = match self.backend {
            Backend::Postgres => DbConn::Pg(PgConnection::establish(&self.url)?),
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(&self.url)?;
                // The page cache is per connection (2 MiB by default: up to 16 MiB for a pool
                // of eight, growing with the database). 256 KiB keeps the B-tree pages every
                // query walks; the rest is in the OS page cache, a `pread` away. Under the
                // benchmark's password cases SQLite's heap went from 3.0-4.1 MB to 1.8 MB.
                c.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA cache_size = -256;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;

                DbConn::Sqlite(c)
            }
        };
        Ok(Tracked {
            db: conn,
            answered: None,
        })
    }

    fn is_valid(&self, conn: &mut Tracked) -> Result<(), Self::Error> {
        if conn.answered.is_some_and(|t| t.elapsed() < ALIVE_BYPASS) {
            return Ok(());
        }
        conn.db.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Tracked) -> bool {
        conn.db.is_broken()
    }
}

/// Connections a pool keeps at most when the operator set none. SQLite takes one writer at a
/// time and its statements run in microseconds, so a second connection only lets a read
/// overlap a write; each one more holds its own page cache, parsed schema and prepared
/// statements (~0.8 MiB once every query has run) in the arena of whichever blocking thread
/// touched it. In the benchmark's run of every case the embedded server peaked at 65 MiB with
/// 8, 63 with 4 and 60 with 2; sign-in, sign-up and reset rates did not move, refresh rotation
/// (SQL-bound) went from ~2,000 to ~1,500 a second.
pub fn default_pool_size(backend: Backend) -> u32 {
    match backend {
        Backend::Postgres => 8,
        Backend::Sqlite => 2,
    }
}

/// The SQL store: a connection pool plus helpers that run diesel code off the async workers.
#[derive(Clone)]
pub struct SqlStore {
    pool: Pool<Manager>,
    backend: Backend,
    /// One per connection: a query waits here (a future, no thread) rather than on a blocking
    /// thread parked in the connection pool, so a burst cannot grow threads and memory.
    slots: Arc<Semaphore>,
    observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .finish()
    }
}

impl SqlStore {
    /// Connects (creating the SQLite file and its directory if needed) and checks that the
    /// database answers within `timeout`; `size` connections at most ([`default_pool_size`]
    /// when `None`). Errors name the URL with its password redacted.
    pub fn connect(url: &str, size: Option<u32>, timeout: Duration) -> Result<Self, StoreError> {
        init_tls();
        let shown = redact_url(url);
        let backend = Backend::of_url(url)
            .ok_or_else(|| StoreError::Unavailable(format!("{shown}: unsupported database URL")))?;
        let size = size.unwrap_or(default_pool_size(backend));
        if backend == Backend::Sqlite {
            let path = std::path::Path::new(url.trim_start_matches("sqlite://"));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::crypto::create_private_dir(dir).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "{shown}: cannot create {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        let manager = Manager {
            backend,
            url: url.to_string(),
        };
        // Try one connection first so the operator sees the driver's own reason, not a timeout.
        let first = manager.connect().map_err(|e| {
            StoreError::Unavailable(format!("cannot connect to {shown}: {}", one_line(&e)))
        })?;
        drop(first);
        #[cfg(unix)]
        if backend == Backend::Sqlite {
            // The file holds password hashes and sealed keys: owner only.
            use std::os::unix::fs::PermissionsExt;
            let path = std::path::Path::new(url.trim_start_matches("sqlite://"));
            if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
                tracing::warn!(error = %e, "cannot restrict the SQLite file to its owner");
            }
        }
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(timeout)
            .error_handler(Box::new(diesel::r2d2::LoggingErrorHandler))
            .build(manager)
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to {shown}: {}", one_line(&e)))
            })?;
        Ok(Self {
            pool,
            backend,
            slots: Arc::new(Semaphore::new(usize::try_from(size.max(1)).unwrap_or(1))),
            observer: None,
        })
    }

    /// Reports each operation's latency and failure to `observer` (the metrics).
    pub fn with_observer(self, observer: Arc<dyn Observer>) -> Self {
        Self {
            observer: Some(observer),
            ..self
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(one_line(&e)))
    }

    /// Runs blocking diesel code on tokio's blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let started = Instant::now();
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Cancelled)?;
        let pool = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let mut conn = pool.conn()?;
            let result = f(&mut conn.db);
            conn.answered = result.is_ok().then(Instant::now);
            result
        })
        .await
        .map_err(|_| StoreError::Cancelled)?;
        if let Some(o) = &self.observer {
            o.observe("sql", started.elapsed(), result.is_err());
        }
        result
    }

    /// Runs a closure inside one transaction.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |c| c.transaction(f)).await
    }

    /// Applies pending migrations, refusing a database migrated by a newer Tessera.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        self.run(migrate::run).await
    }

    /// `SELECT 1`: is the database answering?
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| c.ping().map_err(StoreError::Sql)).await
    }
}

/// Initialises OpenSSL before libpq does, so that it registers no `atexit` cleanup: with one,
/// a process exiting while another thread still uses OpenSSL (an idle pool thread, a TLS
/// connection to PostgreSQL) crashes with SIGSEGV at exit. Call before any PostgreSQL connection.
pub fn init_tls() {
    openssl::init();
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl From<diesel::r2d2::Error> for StoreError {
    fn from(e: diesel::r2d2::Error) -> Self {
        StoreError::Unavailable(one_line(&e))
    }
}

/// Stores JSON in TEXT columns (MultiConnection has no JSON type).
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    s: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_two_connections_unless_told() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let timeout = Duration::from_secs(5);
        let unset = SqlStore::connect(&url, None, timeout).unwrap();
        assert_eq!(unset.pool.max_size(), 2);
        assert_eq!(unset.slots.available_permits(), 2);
        let told = SqlStore::connect(&url, Some(5), timeout).unwrap();
        assert_eq!(told.pool.max_size(), 5);
    }
}
