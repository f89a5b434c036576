//! Application state: configuration, stores, clock, randomness, keys and caches. No globals.

use std::sync::Arc;
use std::time::Duration;

use crate::audit_log::AuditLog;
use crate::background::Background;
use crate::clock::{Clock, OsRandom, Random, SystemClock};
use crate::config::{Config, ThreadScheduling};
use crate::crypto::password::{self, PasswordHasherPool};
use crate::crypto::{CoreSharing, MasterKey};
use crate::error::Error;
use crate::federation::Federation;
use crate::keys::IssuerKeys;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::pools::PoolCache;
use crate::store::kv::Kv;
use crate::store::sql::{MigrationReport, SqlStore};

/// How long start-up waits for a database or Redis before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a request or a CLI command needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub sql: SqlStore,
    pub kv: Kv,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub master_key: Arc<MasterKey>,
    pub hasher: PasswordHasherPool,
    pub pools: PoolCache,
    /// The identity issuer's keys (identity pools' tokens).
    pub identity_keys: IssuerKeys,
    pub mailer: Mailer,
    /// Upstream identity providers: HTTP client and discovery cache.
    pub federation: Federation,
    /// `trusted_proxies`, parsed once.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Work done after the answer (mail of the pages that must not reveal whether an account
    /// exists).
    pub background: Background,
    /// Prometheus metrics of this application.
    pub metrics: Metrics,
    /// Audit rows on their way to SQL.
    pub audit: AuditLog,
}

/// Background tasks at once; beyond, work is dropped (each is a mail at most).
const BACKGROUND_TASKS: usize = 256;

/// The injectable parts; production uses [`Deps::default`].
pub struct Deps {
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Prefix of every KV key (tests isolate themselves with it).
    pub kv_prefix: String,
    pub password_params: argon2::Params,
    /// Replaces the configured mailer (tests use an in-memory outbox).
    pub mailer: Option<Mailer>,
}

impl Default for Deps {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            kv_prefix: "tessera:".into(),
            password_params: password::default_params(),
            mailer: None,
        }
    }
}

impl AppState {
    /// The state one server worker holds: the same stores, with the worker's own Redis
    /// connection (see `Kv::for_worker`).
    pub fn for_worker(&self) -> Self {
        Self {
            kv: self.kv.for_worker(),
            ..self.clone()
        }
    }

    /// The state work that outlives its request uses ([`Background::finish`] and `spawn`
    /// run it on the runtime that opened the application): the shared Redis connection, not
    /// the worker's own.
    pub fn for_background(&self) -> Self {
        Self {
            kv: self.kv.shared(),
            ..self.clone()
        }
    }

    /// Connects the stores, applies migrations, loads (or on a fresh database creates) the
    /// master key, and fills the pool cache.
    pub async fn open(config: Config, deps: Deps) -> Result<(Self, MigrationReport), Error> {
        let metrics = Metrics::new();
        let sql = {
            let (url, size) = (config.database_url.clone(), config.sql_pool_size);
            tokio::task::spawn_blocking(move || SqlStore::connect(&url, size, CONNECT_TIMEOUT))
                .await
                .map_err(|_| Error::Startup("database connection task failed".into()))??
                .with_observer(Arc::new(metrics.clone()))
        };
        let report = sql.migrate().await?;
        let master_key = load_master_key(&config, &sql, deps.random.as_ref()).await?;
        let mailer = match deps.mailer {
            Some(m) => m,
            None => Mailer::new(
                config.smtp_url_effective().as_deref(),
                &config.mail_from,
                config.data_dir.join("outbox"),
            )
            .map_err(|e| Error::Startup(e.to_string()))?,
        };
        let ca =
            match &config.redis_ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    Error::Startup(format!("redis_ca_file {}: {e}", path.display()))
                })?),
                None => None,
            };
        let kv = Kv::connect_trusting(
            &config.redis_url,
            ca,
            &deps.kv_prefix,
            deps.clock.clone(),
            CONNECT_TIMEOUT,
        )
        .await?
        .with_memory_limit(config.memory_store_max_mib << 20)
        .with_observer(Arc::new(metrics.clone()));
        let federation = Federation::new(Duration::from_secs(config.upstream_timeout_secs))
            .map_err(|e| Error::Startup(e.to_string()))?;
        let trusted_proxies = Arc::new(config.trusted_proxy_ranges().map_err(Error::Startup)?);
        let audit = AuditLog::start(sql.clone());
        let app = AppState {
            hasher: PasswordHasherPool::start(
                config.hash_workers(),
                config.password_hash_queue,
                deps.password_params,
                match config.thread_scheduling {
                    ThreadScheduling::Batch => CoreSharing::WholeHashes,
                    ThreadScheduling::Normal => CoreSharing::Default,
                },
            )
            .with_max_wait(Duration::from_millis(config.password_hash_max_wait_ms))
            .with_observer(Arc::new(metrics.clone())),
            config: Arc::new(config),
            sql,
            kv,
            clock: deps.clock,
            random: deps.random,
            master_key: Arc::new(master_key),
            pools: PoolCache::default(),
            identity_keys: IssuerKeys::default(),
            mailer,
            federation,
            trusted_proxies,
            background: Background::new(BACKGROUND_TASKS),
            metrics,
            audit,
        };
        let loaded = app.pools.refresh(&app).await?;
        // One broken pool must not take the others down, but if none loads (a wrong master
        // key, say) there is nothing to serve.
        if let Some((id, why)) = loaded.failed.first()
            && loaded.failed.len() == loaded.pools
        {
            return Err(Error::Startup(format!("cannot load pool {id}: {why}")));
        }
        Ok((app, report))
    }
}

async fn load_master_key(
    config: &Config,
    sql: &SqlStore,
    random: &dyn Random,
) -> Result<MasterKey, Error> {
    let path = config.master_key_path();
    if path.exists() {
        return Ok(MasterKey::load(&path)?);
    }
    if sql.run(crate::store::sql::keys::any_exist).await? {
        return Err(Error::Startup(format!(
            "master key file {} is missing, but the database holds keys sealed with a master key; \
             restore the file or point TESSERA_MASTER_KEY_FILE at it",
            path.display()
        )));
    }
    Ok(MasterKey::create(&path, random)?)
}
