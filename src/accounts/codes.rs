//! One-time 6-digit codes (email confirmation, password reset): stored hashed in the KV store
//! with a lifetime, single use, at most 5 wrong tries.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::RandomExt;
use crate::crypto::{ct_eq, sha256_hex};
use crate::ids::PoolId;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::pools::Pool;

pub const MAX_TRIES: i64 = 5;

/// What a code is for.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Confirm,
    Reset,
    /// A new email address, before it replaces the old one.
    EmailChange,
}

impl Purpose {
    /// Subject and opening line of the message that carries the code.
    fn message(self, pool_name: &str) -> (&'static str, String) {
        match self {
            Self::Confirm => (
                "Your confirmation code",
                format!("Welcome to {pool_name}. Enter this code to confirm your email address."),
            ),
            Self::Reset => (
                "Your password reset code",
                format!(
                    "A password reset was asked for your {pool_name} account. Enter this code to choose a new password."
                ),
            ),
            Self::EmailChange => (
                "Confirm your new email address",
                format!(
                    "Enter this code on your {pool_name} account page to confirm your new email address."
                ),
            ),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Reset => "reset",
            Self::EmailChange => "email-change",
        }
    }
}

fn key(pool: &PoolId, p: Purpose, sub: &str) -> String {
    format!("{pool}:otc:{}:{sub}", p.as_str())
}

fn tries_key(pool: &PoolId, p: Purpose, sub: &str) -> String {
    format!("{pool}:otc-tries:{}:{sub}", p.as_str())
}

/// Issues a new code (replacing any earlier one) and returns it for mailing.
pub async fn issue(
    app: &AppState,
    pool: &PoolId,
    p: Purpose,
    sub: &str,
    ttl: Duration,
) -> Result<String, StoreError> {
    let code = app.random.string_from(b"0123456789", 6);
    // Evictable: a code the in-process store dropped costs its user a "send again" (the mail
    // counters and tries, which are the limits, are kept).
    app.kv
        .put_evictable(
            &key(pool, p, sub),
            sha256_hex(code.as_bytes()).as_bytes(),
            ttl,
        )
        .await?;
    app.kv.delete(&tries_key(pool, p, sub)).await?;
    Ok(code)
}

/// "24 hours", "1 hour", "15 minutes".
fn valid_for(ttl: Duration) -> String {
    match ttl.as_secs() / 3600 {
        0 => format!("{} minutes", ttl.as_secs() / 60),
        1 => "1 hour".into(),
        h => format!("{h} hours"),
    }
}

/// Issues a code (as [`issue`]) and mails it to `to`; the error is for the log, not the user.
pub async fn send(
    app: &AppState,
    pool: &Pool,
    p: Purpose,
    sub: &str,
    to: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let code = issue(app, &pool.id, p, sub, ttl)
        .await
        .map_err(|e| e.to_string())?;
    let (subject, intro) = p.message(&pool.name);
    app.mailer
        .send_code(to, subject, &intro, &code, &valid_for(ttl), now)
        .await
        .map_err(|e| e.to_string())
}

/// Checks a code; a right one is consumed. After [`MAX_TRIES`] wrong ones the code is dead.
pub async fn verify(
    app: &AppState,
    pool: &PoolId,
    p: Purpose,
    sub: &str,
    presented: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    match check(app, pool, p, sub, presented, ttl).await? {
        Some(accepted) => consume(app, pool, p, sub, accepted).await,
        None => Ok(false),
    }
}

/// A code [`check`] found right, not yet consumed.
#[derive(Debug)]
pub struct Accepted(Vec<u8>);

/// Counts a try of `presented` and says whether it is `sub`'s live code, consuming nothing:
/// a caller with work that may fail (a password hash shed under load) does it between this
/// and [`consume`], so the code survives for the retry.
pub async fn check(
    app: &AppState,
    pool: &PoolId,
    p: Purpose,
    sub: &str,
    presented: &str,
    ttl: Duration,
) -> Result<Option<Accepted>, StoreError> {
    let presented = presented.trim();
    if app.kv.incr(&tries_key(pool, p, sub), ttl).await? > MAX_TRIES {
        app.kv.delete(&key(pool, p, sub)).await?;
        return Ok(None);
    }
    let Some(stored) = app.kv.get(&key(pool, p, sub)).await? else {
        return Ok(None);
    };
    let ok = presented.len() == 6 && ct_eq(&stored, sha256_hex(presented.as_bytes()).as_bytes());
    Ok(ok.then_some(Accepted(stored)))
}

/// Consumes the code [`check`] accepted; `false` if another request took it first.
pub async fn consume(
    app: &AppState,
    pool: &PoolId,
    p: Purpose,
    sub: &str,
    accepted: Accepted,
) -> Result<bool, StoreError> {
    // Atomically: of two concurrent right answers only the one that takes it wins.
    let taken = app.kv.take(&key(pool, p, sub)).await?;
    if !taken.is_some_and(|t| ct_eq(&t, &accepted.0)) {
        return Ok(false);
    }
    app.kv.delete(&tries_key(pool, p, sub)).await?;
    Ok(true)
}
