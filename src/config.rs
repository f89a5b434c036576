//! Configuration: built-in defaults < `tessera.toml` (or `--config FILE`) < environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

/// Environment variables read, and the configuration key each one sets. Fixed names: operators
/// and scripts rely on them.
const ENV_KEYS: &[(&str, &str)] = &[
    ("TESSERA_BIND", "bind"),
    ("TESSERA_PUBLIC_URL", "public_url"),
    ("DATABASE_URL", "database_url"),
    ("REDIS_URL", "redis_url"),
    ("TESSERA_REDIS_CA_FILE", "redis_ca_file"),
    ("TESSERA_DATA_DIR", "data_dir"),
    ("TESSERA_MASTER_KEY_FILE", "master_key_file"),
    ("TESSERA_LOG", "log"),
    ("TESSERA_LOG_FORMAT", "log_format"),
    ("TESSERA_ACCESS_LOG", "access_log"),
    ("TESSERA_THREAD_SCHEDULING", "thread_scheduling"),
    ("TESSERA_MAX_CONNECTIONS", "max_connections"),
    ("TESSERA_METRICS_BIND", "metrics_bind"),
    ("TESSERA_REGION", "region"),
    ("TESSERA_KEY_ALGORITHM", "key_algorithm"),
    (
        "TESSERA_KEY_ACTIVATION_DELAY_SECS",
        "key_activation_delay_secs",
    ),
    ("TESSERA_MAX_TOKEN_LIFETIME_SECS", "max_token_lifetime_secs"),
    ("TESSERA_AUDIT_RETENTION_DAYS", "audit_retention_days"),
    ("TESSERA_SQL_POOL_SIZE", "sql_pool_size"),
    ("TESSERA_SMTP_URL", "smtp_url"),
    ("TESSERA_MAIL_FROM", "mail_from"),
    (
        "TESSERA_REFRESH_REUSE_GRACE_SECS",
        "refresh_reuse_grace_secs",
    ),
    ("TESSERA_CACHE_REFRESH_SECS", "cache_refresh_secs"),
    ("TESSERA_UPSTREAM_TIMEOUT_SECS", "upstream_timeout_secs"),
    ("TESSERA_TRUSTED_PROXIES", "trusted_proxies"),
    ("TESSERA_FACEBOOK_GRAPH_URL", "facebook_graph_url"),
    ("TESSERA_AMAZON_API_URL", "amazon_api_url"),
    ("TESSERA_PASSWORD_HASH_QUEUE", "password_hash_queue"),
    (
        "TESSERA_PASSWORD_HASH_MAX_WAIT_MS",
        "password_hash_max_wait_ms",
    ),
    (
        "TESSERA_PASSWORD_HASH_CONCURRENCY",
        "password_hash_concurrency",
    ),
    ("TESSERA_MEMORY_STORE_MAX_MIB", "memory_store_max_mib"),
];

/// Which requests get an access line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLog {
    Off,
    /// Only answers with status 500 and above (the default: a load test writes nothing).
    Errors,
    All,
}

/// How the OS schedules the server's request threads (see `sched`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThreadScheduling {
    /// Linux `SCHED_BATCH`: a woken request thread does not interrupt a running hash.
    Batch,
    /// The OS default.
    Normal,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Signing algorithm for newly generated pool keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    RS256,
    ES256,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text: only for a relay on the same host or network.
    None,
}

/// SMTP settings as a `[smtp]` table of the configuration file (an alternative to `smtp_url`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default 587 for STARTTLS, 465 for TLS, 25 for none.
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl SmtpConfig {
    /// The same settings as an `smtp://` / `smtps://` URL (lettre's form).
    pub fn to_url(&self) -> Result<String, String> {
        let (scheme, port, query) = match self.tls {
            SmtpTls::Starttls => ("smtp", 587, "?tls=required"),
            SmtpTls::Tls => ("smtps", 465, ""),
            SmtpTls::None => ("smtp", 25, ""),
        };
        let mut url = Url::parse(&format!("{scheme}://localhost")).map_err(|e| e.to_string())?;
        url.set_host(Some(&self.host))
            .map_err(|e| format!("host {:?}: {e}", self.host))?;
        let _ = url.set_port(Some(self.port.unwrap_or(port)));
        if let Some(u) = &self.username {
            let _ = url.set_username(u);
            let _ = url.set_password(self.password.as_deref());
        }
        Ok(format!("{}{query}", url.as_str().trim_end_matches('/')))
    }
}

/// The configuration as read from defaults, file and environment (field names are the file's keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Base URL clients see; issuers are `{public_url}/{pool_id}`. Default `http://{bind}`.
    pub public_url: Option<String>,
    /// `sqlite://PATH` or `postgres://...`; default `sqlite://{data_dir}/tessera.db`.
    pub database_url: String,
    /// `memory://` or `redis://...` / `rediss://...`.
    pub redis_url: String,
    /// PEM certificates trusted for `rediss://` besides the system's (a private CA).
    pub redis_ca_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// Default `{data_dir}/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// tracing filter, e.g. `info,tessera=debug`.
    pub log: String,
    pub log_format: LogFormat,
    /// Access lines: `off`, `errors` (5xx only) or `all`.
    pub access_log: AccessLog,
    /// Where `/metrics` is served (not the public address); `off` serves none.
    pub metrics_bind: String,
    /// `batch` (Linux `SCHED_BATCH` for request threads) or `normal`.
    pub thread_scheduling: ThreadScheduling,
    /// Client connections served at once, split between the request workers (one per core);
    /// more wait in the listen backlog. Each costs ~19 KiB held (actix-web's buffers and task)
    /// and ~10 KiB more while a request is in flight, so this bounds memory. 0 means
    /// [`CONNECTIONS_PER_CORE`] per request worker.
    pub max_connections: usize,
    /// Region part of new pool ids.
    pub region: String,
    pub key_algorithm: KeyAlgorithm,
    /// How long a rotated-in key is published before it signs.
    pub key_activation_delay_secs: u64,
    /// Longest lifetime of any signed token; a retired key stays in JWKS this long.
    pub max_token_lifetime_secs: u64,
    /// Audit events older than this many days are deleted by housekeeping; 0 keeps them.
    pub audit_retention_days: u64,
    /// Database connections. Unset: the store's default for the backend (8 on PostgreSQL,
    /// 2 on SQLite).
    pub sql_pool_size: Option<u32>,
    /// Seconds during which a just-rotated refresh token may be presented again (two tabs
    /// refreshing at once) and get a fresh pair instead of revoking its family. 0 = off.
    pub refresh_reuse_grace_secs: u64,
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://...` (TLS) or plain
    /// `smtp://host:25` (lettre's URL form); without it (or `[smtp]`) mail goes to the log and
    /// `{data_dir}/outbox/`.
    pub smtp_url: Option<String>,
    /// The same as a table: host, port, tls (starttls, tls, none), username, password.
    pub smtp: Option<SmtpConfig>,
    /// Sender of codes and notices.
    pub mail_from: String,
    /// How often each instance checks the database for changed pools and keys.
    pub cache_refresh_secs: u64,
    /// Argon2 workers (each holds ~19 MiB while busy); 0 means one per core this process may
    /// run on (more than that adds memory, not throughput).
    pub password_hash_concurrency: usize,
    /// Password checks that may wait for a hashing slot; more are answered 503 at once.
    pub password_hash_queue: usize,
    /// Nor may a check wait longer than this (by the measured hashing time): beyond it, 503
    /// with a `Retry-After` of the expected wait, so a flood backs off instead of churning.
    pub password_hash_max_wait_ms: u64,
    /// With `redis_url = "memory://"`: the in-process store's budget. Past it, the oldest SSO
    /// sessions, sign-ins in progress, used-code marks and emailed codes are dropped (their
    /// users sign in again or ask for another code); limit counters, revocations and session
    /// generations are never dropped early.
    pub memory_store_max_mib: usize,
    /// Total time an upstream identity provider has to answer one call.
    pub upstream_timeout_secs: u64,
    /// Comma-separated CIDR ranges of reverse proxies whose `Forwarded` / `X-Forwarded-For`
    /// names the client; empty: the socket's peer is the client.
    pub trusted_proxies: String,
    /// Facebook's Graph API, which checks the access tokens identity pools are given.
    pub facebook_graph_url: String,
    /// Login with Amazon's API (`/auth/o2/tokeninfo`), likewise.
    pub amazon_api_url: String,
}

/// Connections a request worker serves at once by default. A core checks ~25-70 passwords a
/// second and admits at most `password_hash_max_wait_ms` (3 s) of queue, so at most ~200
/// sign-ins can usefully wait; 256 connections keep it fed. Measured at 512 browsers on one
/// core (2026-12-06): with 512 connections, RSS peaked at 64-67 MiB and most attempts were
/// shed (503, retried); with 256, 59-61 MiB, none shed. With 128 the peaks were 5 MiB lower,
/// but 512 browsers signing in starved (0 sign-ins in 8 s): browsers' idle keep-alive
/// connections held every slot while the requests that would let them go on (the app's token
/// exchange on another connection) waited in the backlog.
pub const CONNECTIONS_PER_CORE: usize = 256;

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            // Empty: `sqlite://{data_dir}/tessera.db`, resolved when loaded.
            database_url: String::new(),
            redis_url: "memory://".into(),
            redis_ca_file: None,
            data_dir: PathBuf::from("./data"),
            master_key_file: None,
            log: "info".into(),
            log_format: LogFormat::Text,
            access_log: AccessLog::Errors,
            metrics_bind: "127.0.0.1:9464".into(),
            thread_scheduling: ThreadScheduling::Batch,
            max_connections: 0,
            region: "local".into(),
            key_algorithm: KeyAlgorithm::RS256,
            key_activation_delay_secs: 600,
            max_token_lifetime_secs: 86_400,
            audit_retention_days: 90,
            sql_pool_size: None,
            refresh_reuse_grace_secs: 0,
            smtp_url: None,
            smtp: None,
            mail_from: "Tessera <no-reply@localhost>".into(),
            cache_refresh_secs: 5,
            password_hash_concurrency: 0,
            password_hash_queue: 1024,
            password_hash_max_wait_ms: 3000,
            // About 6,000 signed-in browsers (an SSO session and its `sid` entry: ~700 bytes),
            // and the whole process under 64 MiB however many sign in; Redis for more.
            memory_store_max_mib: 4,
            upstream_timeout_secs: 10,
            trusted_proxies: String::new(),
            facebook_graph_url: "https://graph.facebook.com/v21.0".into(),
            amazon_api_url: "https://api.amazon.com".into(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration key `{key}`: {msg}")]
    Invalid { key: &'static str, msg: String },
}

impl Config {
    /// The per-worker connection bound for `workers` request workers.
    pub fn connections_per_worker(&self, workers: usize) -> usize {
        match self.max_connections {
            0 => CONNECTIONS_PER_CORE,
            total => total.div_ceil(workers.max(1)),
        }
    }

    /// Loads defaults < file < environment. `file` is `--config FILE`; without it `./tessera.toml`
    /// is read when present.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Config::load`] with an explicit environment (tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            Some(path) => fig = fig.merge(Toml::file_exact(path)),
            None if Path::new("tessera.toml").exists() => {
                fig = fig.merge(Toml::file_exact("tessera.toml"))
            }
            None => {}
        }
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter_map(|(k, v)| {
                ENV_KEYS
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, key)| (key.to_string(), v))
            })
            .collect();
        for (key, value) in env {
            // Env values are parsed like TOML values so numbers become numbers; a bare string stays a string.
            let value: figment::value::Value = value.parse().unwrap_or_else(|never| match never {});
            fig = fig.merge(Serialized::global(&key, value));
        }
        let mut cfg: Config = fig.extract().map_err(Box::new)?;
        if cfg.database_url.is_empty() {
            // The embedded database lives with the rest of the data (master key, outbox).
            cfg.database_url = format!("sqlite://{}", cfg.data_dir.join("tessera.db").display());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.public_url()?;
        check_database_url(&self.database_url)?;
        check_redis_url(&self.redis_url)?;
        let region_ok = !self.region.is_empty()
            && self.region.len() <= 32
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(invalid(
                "region",
                "must be 1-32 characters of a-z, 0-9 and '-'",
            ));
        }
        self.validate_bounds()?;
        if let Some(u) = &self.smtp_url {
            match Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "smtp" | "smtps") => {}
                _ => {
                    return Err(invalid(
                        "smtp_url",
                        format!("{} must be smtp:// or smtps://", redact_url(u)),
                    ));
                }
            }
        }
        if let Some(t) = &self.smtp {
            if self.smtp_url.is_some() {
                return Err(invalid("smtp", "set either smtp_url or [smtp], not both"));
            }
            t.to_url().map_err(|m| invalid("smtp", m))?;
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "mail_from",
                "must be an address like \"Tessera <no-reply@example.com>\"",
            ));
        }
        if self.refresh_reuse_grace_secs > 60 {
            return Err(invalid("refresh_reuse_grace_secs", "must be at most 60"));
        }
        if self.cache_refresh_secs > 3600 {
            return Err(invalid("cache_refresh_secs", "must be between 1 and 3600"));
        }
        self.trusted_proxy_ranges()
            .map_err(|m| invalid("trusted_proxies", m))?;
        self.metrics_addr()
            .map_err(|m| invalid("metrics_bind", m))?;
        if !(1..=60).contains(&self.upstream_timeout_secs) {
            return Err(invalid("upstream_timeout_secs", "must be between 1 and 60"));
        }
        for (key, url) in [
            ("facebook_graph_url", &self.facebook_graph_url),
            ("amazon_api_url", &self.amazon_api_url),
        ] {
            if !Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                return Err(invalid(key, format!("{url:?} is not an http(s) URL")));
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| invalid("log", e.to_string()))?;
        Ok(())
    }

    /// The numeric settings within their ranges.
    fn validate_bounds(&self) -> Result<(), ConfigError> {
        if self.sql_pool_size.is_some_and(|n| n == 0 || n > 1000) {
            return Err(invalid("sql_pool_size", "must be between 1 and 1000"));
        }
        if self.password_hash_concurrency > 256 {
            return Err(invalid(
                "password_hash_concurrency",
                "must be between 0 (one per core) and 256",
            ));
        }
        if self.max_connections > 1_000_000 {
            return Err(invalid(
                "max_connections",
                "must be between 0 (256 per core) and 1000000",
            ));
        }
        if !(1..=1 << 20).contains(&self.memory_store_max_mib) {
            return Err(invalid(
                "memory_store_max_mib",
                "must be between 1 and 1048576",
            ));
        }
        if self.cache_refresh_secs == 0 {
            return Err(invalid("cache_refresh_secs", "must be at least 1"));
        }
        const YEAR: u64 = 365 * 86_400;
        if !(300..=YEAR).contains(&self.max_token_lifetime_secs) {
            return Err(invalid(
                "max_token_lifetime_secs",
                "must be between 300 and 31536000",
            ));
        }
        if self.audit_retention_days > 100 * 365 {
            return Err(invalid(
                "audit_retention_days",
                "must be at most 36500 (0 keeps events forever)",
            ));
        }
        if self.key_activation_delay_secs > YEAR {
            return Err(invalid(
                "key_activation_delay_secs",
                "must be at most 31536000",
            ));
        }
        Ok(())
    }

    /// The trusted proxies as address ranges (a bare address is a single-address range).
    pub fn trusted_proxy_ranges(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("{s:?} is not an address or CIDR range"))
            })
            .collect()
    }

    /// How many argon2 workers to run: the setting, or one per usable core for 0.
    pub fn hash_workers(&self) -> usize {
        match self.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// The metrics listen address, or `None` for `off`.
    pub fn metrics_addr(&self) -> Result<Option<std::net::SocketAddr>, String> {
        match self.metrics_bind.trim() {
            "" | "off" => Ok(None),
            a => a
                .parse()
                .map(Some)
                .map_err(|_| format!("metrics_bind {a:?} is not an address like 127.0.0.1:9464")),
        }
    }

    /// The validated public base URL, without a trailing slash.
    pub fn public_url(&self) -> Result<Url, ConfigError> {
        let raw = match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        };
        let url = Url::parse(&raw)
            .map_err(|e| invalid("public_url", format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid(
                "public_url",
                format!("{raw:?} must be an http(s) URL with a host"),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(invalid(
                "public_url",
                "must not carry a query, fragment or credentials",
            ));
        }
        Ok(url)
    }

    /// Is the public URL https (then every answer carries HSTS, and cookies are `__Host-`)?
    /// Cheap: read several times a request (`public_url` parses the URL, which showed in the
    /// sign-in flow's profile).
    pub fn is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .map(str::trim_start)
            .and_then(|u| u.get(..8))
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
    }

    /// `{public_url}` as a string without a trailing slash.
    pub fn public_base(&self) -> String {
        self.public_url()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_default()
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The SMTP server to send through, as a URL, if one is configured.
    pub fn smtp_url_effective(&self) -> Option<String> {
        match (&self.smtp_url, &self.smtp) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(t)) => t.to_url().ok(),
            (None, None) => None,
        }
    }

    /// The effective configuration as TOML with passwords in URLs redacted.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = redact_url(&self.database_url);
        shown.redis_url = redact_url(&self.redis_url);
        shown.smtp_url = self.smtp_url.as_deref().map(redact_url);
        if let Some(t) = shown.smtp.as_mut()
            && t.password.is_some()
        {
            t.password = Some("***".into());
        }
        shown.public_url = Some(self.public_base());
        toml::to_string_pretty(&shown).unwrap_or_default()
    }
}

fn invalid(key: &'static str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        msg: msg.into(),
    }
}

fn check_database_url(s: &str) -> Result<(), ConfigError> {
    if let Some(path) = s.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(invalid(
                "database_url",
                "sqlite:// needs a file path, e.g. sqlite://./data/tessera.db",
            ));
        }
        return Ok(());
    }
    match Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => Ok(()),
        Ok(_) => Err(invalid(
            "database_url",
            format!("{}: scheme must be sqlite:// or postgres://", redact_url(s)),
        )),
        Err(e) => Err(invalid(
            "database_url",
            format!("{} is not a URL: {e}", redact_url(s)),
        )),
    }
}

fn check_redis_url(s: &str) -> Result<(), ConfigError> {
    if s == "memory://" {
        return Ok(());
    }
    match Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss") => Ok(()),
        Ok(_) => Err(invalid(
            "redis_url",
            format!(
                "{}: scheme must be memory://, redis:// or rediss://",
                redact_url(s)
            ),
        )),
        Err(e) => Err(invalid(
            "redis_url",
            format!("{} is not a URL: {e}", redact_url(s)),
        )),
    }
}

/// Replaces a URL's password with `***` so it can be logged or shown.
pub fn redact_url(s: &str) -> String {
    match Url::parse(s) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            // libpq also takes `?password=` (and sslpassword); hide any query value named so.
            if u.query_pairs().any(|(k, _)| k.contains("password")) {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k.contains("password") {
                            "***".to_string()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        // Not a URL: show only the scheme-ish prefix, the rest may be a secret.
        Err(_) => match s.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_bounded_per_worker() {
        let with = |n: usize| Config {
            max_connections: n,
            ..Config::default()
        };
        assert_eq!(with(0).connections_per_worker(1), CONNECTIONS_PER_CORE);
        assert_eq!(with(0).connections_per_worker(4), CONNECTIONS_PER_CORE);
        assert_eq!(with(1000).connections_per_worker(3), 334);
        assert_eq!(with(1).connections_per_worker(8), 1);
        let env = [("TESSERA_MAX_CONNECTIONS".to_string(), "2000000".to_string())];
        assert!(Config::load_from(None, env).is_err(), "over the bound");
    }

    #[test]
    fn the_memory_store_budget_is_read_and_bounded() {
        let load = |v: &str| {
            let env = [("TESSERA_MEMORY_STORE_MAX_MIB".to_string(), v.to_string())];
            Config::load_from(None, env).map(|c| c.memory_store_max_mib)
        };
        assert_eq!(load("64").ok(), Some(64));
        assert!(load("0").is_err(), "no budget at all");
        assert!(load("nonsense").is_err());
        assert_eq!(Config::default().memory_store_max_mib, 4);
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let with = |v: &str| Config {
            trusted_proxies: v.into(),
            ..Config::default()
        };
        assert_eq!(with("").trusted_proxy_ranges().map(|r| r.len()), Ok(0));
        assert_eq!(
            with("10.0.0.0/8, 192.168.1.7 ,::1")
                .trusted_proxy_ranges()
                .map(|r| r.len()),
            Ok(3)
        );
        assert!(with("10.0.0.0/8,nonsense").validate().is_err());
    }

    #[test]
    fn smtp_table_becomes_a_url_and_is_redacted() {
        let t = SmtpConfig {
            host: "mail.example.com".into(),
            port: None,
            tls: SmtpTls::Starttls,
            username: Some("me@example.com".into()),
            password: Some("p@ss:word".into()),
        };
        let url = t.to_url().unwrap_or_default();
        assert_eq!(
            url,
            "smtp://me%40example.com:p%40ss%3Aword@mail.example.com:587?tls=required"
        );
        let tls = SmtpConfig {
            tls: SmtpTls::Tls,
            username: None,
            ..t.clone()
        };
        assert_eq!(
            tls.to_url().unwrap_or_default(),
            "smtps://mail.example.com:465"
        );
        let cfg = Config {
            smtp: Some(t),
            ..Config::default()
        };
        assert!(cfg.smtp_url_effective().is_some());
        let shown = cfg.to_redacted_toml();
        assert!(
            !shown.contains("p@ss") && shown.contains("[smtp]"),
            "{shown}"
        );
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_env_override() {
        let cfg = Config::load_from(
            None,
            env(&[("TESSERA_BIND", "127.0.0.1:9999"), ("UNRELATED", "x")]),
        )
        .unwrap();
        assert_eq!(cfg.bind.port(), 9999);
        assert_eq!(cfg.public_base(), "http://127.0.0.1:9999");
        assert_eq!(cfg.redis_url, "memory://");
    }

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "region = \"eu-west-1\"\nsql_pool_size = 3\n").unwrap();
        let cfg = Config::load_from(Some(&path), env(&[("TESSERA_SQL_POOL_SIZE", "5")])).unwrap();
        assert_eq!(cfg.region, "eu-west-1");
        assert_eq!(cfg.sql_pool_size, Some(5));
    }

    #[test]
    fn unknown_file_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "bindd = \"x\"\n").unwrap();
        let err = Config::load_from(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bindd"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        let e = Config::load_from(None, env(&[("TESSERA_BIND", "nope")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bind"), "{e}");
        let e = Config::load_from(None, env(&[("DATABASE_URL", "mysql://u:pw@h/db")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("database_url") && !e.contains("pw"), "{e}");
        let e = Config::load_from(None, env(&[("TESSERA_PUBLIC_URL", "ftp://x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("public_url"), "{e}");
        let e = Config::load_from(None, env(&[("TESSERA_LOG_FORMAT", "xml")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("log_format"), "{e}");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        assert!(!redact_url("postgres://h/db?password=secret&sslmode=require").contains("secret"));
        let cfg =
            Config::load_from(None, env(&[("DATABASE_URL", "postgres://u:secret@h/db")])).unwrap();
        assert!(!cfg.to_redacted_toml().contains("secret"));
    }
}
