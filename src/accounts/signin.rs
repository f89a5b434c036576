//! Password sign-in: Cognito's lockout (after 5 consecutive failures per identifier each attempt
//! waits 1 s, doubling to 15 minutes) and a per-IP throttle, both in the KV store and the same
//! for unknown identifiers; a dummy hash for unknown users; hash upgrades on sign-in.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{AccountError, normalize_identifier, policy::MAX_PASSWORD_LEN};
use crate::audit;
use crate::crypto::sha256_hex;
use crate::ids::{PoolId, Secret};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::pools::Pool;
use crate::store::sql::users::{self, User};

/// Consecutive failures per identifier before each further attempt must wait.
pub const FREE_FAILURES: i64 = 5;
/// The longest wait between attempts once locked (Cognito's cap).
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// How long consecutive failures are remembered without a success.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// Failed attempts per client IP (guessing across many accounts) in [`IP_WINDOW`].
pub const MAX_FAILURES_PER_IP: i64 = 50;
pub const IP_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The result of a password check. Every failure looks the same whether or not the account
/// exists; `Locked` only says "wait", which unknown identifiers get too.
#[derive(Debug)]
pub enum Checked {
    Ok(Box<User>),
    Failed,
    Locked,
}

/// The wait after `failures` consecutive failures: none up to [`FREE_FAILURES`], then 1 s
/// doubling, capped at [`MAX_LOCK`].
pub fn lock_delay(failures: i64) -> Option<Duration> {
    let over = failures - FREE_FAILURES;
    (over >= 0).then(|| {
        let secs = 1u64
            .checked_shl(u32::try_from(over).unwrap_or(u32::MAX))
            .unwrap_or(u64::MAX);
        Duration::from_secs(secs).min(MAX_LOCK)
    })
}

/// The lockout state of one identifier (or of the IP) in the KV store.
pub struct Throttle {
    pool: PoolId,
    id_hash: String,
    ip_key: Option<String>,
}

impl Throttle {
    pub fn new(pool: &PoolId, identifier: &str, ip: Option<&str>) -> Self {
        let norm = normalize_identifier(identifier);
        Self {
            pool: pool.clone(),
            id_hash: sha256_hex(norm.as_bytes()),
            ip_key: ip.map(|ip| format!("{pool}:fail:ip:{ip}")),
        }
    }

    fn count_key(&self) -> String {
        format!("{}:fail:id:{}", self.pool, self.id_hash)
    }

    fn lock_key(&self) -> String {
        format!("{}:lock:id:{}", self.pool, self.id_hash)
    }

    /// Must this attempt wait?
    pub async fn is_locked(&self, app: &AppState) -> Result<bool, StoreError> {
        if app.kv.get(&self.lock_key()).await?.is_some() {
            return Ok(true);
        }
        Ok(match &self.ip_key {
            Some(k) => app.kv.count(k).await? >= MAX_FAILURES_PER_IP,
            None => false,
        })
    }

    /// Counts a failure and, past the free ones, locks the identifier for the next delay.
    pub async fn failed(
        &self,
        app: &AppState,
        ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let n = app.kv.incr(&self.count_key(), FAILURE_MEMORY).await?;
        if let Some(k) = &self.ip_key {
            app.kv.incr(k, IP_WINDOW).await?;
        }
        if let Some(wait) = lock_delay(n) {
            app.kv.put(&self.lock_key(), b"1", wait).await?;
            let detail = format!(
                "identifier {} locked for {} s after {n} failures",
                self.id_hash.get(..12).unwrap_or_default(),
                wait.as_secs()
            );
            let ctx = audit::Context {
                ip,
                detail: &detail,
                ..Default::default()
            };
            audit::record(app, &self.pool, audit::Kind::LockedOut, ctx, now).await;
        }
        Ok(())
    }

    /// A success ends the run of consecutive failures.
    pub async fn succeeded(&self, app: &AppState) -> Result<(), StoreError> {
        app.kv.delete(&self.count_key()).await?;
        Ok(())
    }
}

/// Checks credentials (the caller handles `FORCE_CHANGE_PASSWORD`, `RESET_REQUIRED` and
/// `UNCONFIRMED` users, who are returned as `Ok`); wrong password, unknown user and disabled
/// all give `Failed`, which the page shows as one generic message.
pub async fn check_password(
    app: &AppState,
    pool: &Pool,
    identifier: &str,
    password: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Checked, AccountError> {
    let norm = normalize_identifier(identifier);
    let throttle = Throttle::new(&pool.id, identifier, ip);
    let malformed = norm.is_empty()
        || norm.chars().count() > 256
        || norm.chars().any(char::is_control)
        || password.chars().count() > MAX_PASSWORD_LEN;
    if throttle.is_locked(app).await? {
        tracing::warn!(pool = %pool.id, "sign-in refused: locked after repeated failures");
        let detail = format!(
            "identifier {}",
            throttle.id_hash.get(..12).unwrap_or_default()
        );
        let ctx = audit::Context {
            ip,
            detail: &detail,
            ..Default::default()
        };
        audit::record(app, &pool.id, audit::Kind::Throttled, ctx, now).await;
        return Ok(Checked::Locked);
    }
    let mode = pool.settings.sign_in_identifier;
    let user = if malformed {
        None
    } else {
        let pool = pool.id.clone();
        let n = norm.clone();
        app.sql
            .run(move |c| users::find_for_sign_in(c, &pool, &n, mode))
            .await?
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let pw = Secret::new(password);
    let verified = app
        .hasher
        .verify_or_dummy(&pw, hash.as_deref(), app.random.as_ref())
        .await?;
    match user {
        Some(u) if verified && u.enabled => {
            throttle.succeeded(app).await?;
            audit::record(
                app,
                &pool.id,
                audit::Kind::SignIn,
                audit::Context {
                    sub: Some(u.sub.as_str()),
                    ip,
                    ..Default::default()
                },
                now,
            )
            .await;
            if hash.as_deref().is_some_and(|h| app.hasher.needs_rehash(h)) {
                upgrade_hash(app, &pool.id, &u, &pw, now).await;
            }
            Ok(Checked::Ok(Box::new(u)))
        }
        known => {
            let ctx = audit::Context {
                sub: known.as_ref().map(|u| u.sub.as_str()),
                ip,
                detail: "wrong password or account state",
                ..Default::default()
            };
            audit::record(app, &pool.id, audit::Kind::SignInFailed, ctx, now).await;
            throttle.failed(app, ip, now).await?;
            Ok(Checked::Failed)
        }
    }
}

/// Checks the current password of a signed-in user (account page), counting failures toward
/// the same lockout as sign-in, keyed by the username.
pub async fn check_current_password(
    app: &AppState,
    pool: &PoolId,
    user: &User,
    password: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Checked, AccountError> {
    let throttle = Throttle::new(pool, &user.username, ip);
    if throttle.is_locked(app).await? {
        return Ok(Checked::Locked);
    }
    if password.chars().count() > MAX_PASSWORD_LEN {
        throttle.failed(app, ip, now).await?;
        return Ok(Checked::Failed);
    }
    let ok = app
        .hasher
        .verify_or_dummy(
            &Secret::new(password),
            user.password_hash.as_deref(),
            app.random.as_ref(),
        )
        .await?;
    if ok {
        throttle.succeeded(app).await?;
        Ok(Checked::Ok(Box::new(user.clone())))
    } else {
        throttle.failed(app, ip, now).await?;
        Ok(Checked::Failed)
    }
}

/// Rehashes with the current parameters; a failure is logged, never fatal to the sign-in.
async fn upgrade_hash(app: &AppState, pool: &PoolId, u: &User, pw: &Secret, now: DateTime<Utc>) {
    let hash = match app.hasher.hash(pw, app.random.as_ref()).await {
        Ok(h) => h,
        Err(e) => return tracing::warn!(error = %e, "password rehash failed"),
    };
    let (pool, sub, status) = (pool.clone(), u.sub.clone(), u.status);
    if let Err(e) = app
        .sql
        .run(move |c| users::set_password(c, &pool, &sub, &hash, status, now))
        .await
    {
        tracing::warn!(error = %e, "storing the upgraded password hash failed");
    }
}
