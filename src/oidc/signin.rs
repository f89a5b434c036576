//! Password sign-in: throttled per identifier and per client IP in the KV store (the same for
//! unknown identifiers, so it reveals nothing), a dummy hash for unknown users, and hash
//! upgrades when the pool's argon2 parameters change.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::OAuthError;
use crate::accounts::{UserStatus, normalize_identifier, policy::MAX_PASSWORD_LEN};
use crate::audit;
use crate::crypto::sha256_hex;
use crate::ids::Secret;
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::users::{self, User};

/// Failed attempts per identifier before sign-in is refused for the rest of the window.
pub const MAX_FAILURES_PER_IDENTIFIER: i64 = 5;
/// Failed attempts per client IP (guessing across many accounts).
pub const MAX_FAILURES_PER_IP: i64 = 50;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Checks credentials (the caller handles `FORCE_CHANGE_PASSWORD` and `UNCONFIRMED` users); `None` for every kind of failure (wrong password, unknown user,
/// disabled, unconfirmed, throttled), which the page shows as one generic message.
pub async fn check_password(
    st: &AppState,
    rt: &PoolRuntime,
    identifier: &str,
    password: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<User>, OAuthError> {
    let norm = normalize_identifier(identifier);
    let id_key = format!("{}:fail:id:{}", rt.pool.id, sha256_hex(norm.as_bytes()));
    let ip_key = ip.map(|ip| format!("{}:fail:ip:{ip}", rt.pool.id));
    let malformed = norm.is_empty()
        || norm.chars().count() > 256
        || norm.chars().any(char::is_control)
        || password.chars().count() > MAX_PASSWORD_LEN;
    let throttled = st.kv.count(&id_key).await? >= MAX_FAILURES_PER_IDENTIFIER
        || match &ip_key {
            Some(k) => st.kv.count(k).await? >= MAX_FAILURES_PER_IP,
            None => false,
        };
    if throttled {
        tracing::warn!(pool = %rt.pool.id, "sign-in throttled after repeated failures");
        let detail = format!(
            "identifier {}",
            sha256_hex(norm.as_bytes()).get(..12).unwrap_or_default()
        );
        audit::record(
            st,
            &rt.pool.id,
            audit::Kind::Throttled,
            audit::Context {
                ip,
                detail: &detail,
                ..Default::default()
            },
            now,
        )
        .await;
        return Ok(None);
    }
    let user = if malformed {
        None
    } else {
        let pool = rt.pool.id.clone();
        let n = norm.clone();
        st.sql
            .run(move |c| users::find_by_identifier(c, &pool, &n))
            .await?
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let pw = Secret::new(password);
    let verified = st
        .hasher
        .verify_or_dummy(&pw, hash.as_deref(), st.random.as_ref())
        .await
        .map_err(OAuthError::server)?;
    match user {
        // FORCE_CHANGE_PASSWORD users get in as far as the new-password step of the login
        // transaction; the caller sends them there.
        Some(u)
            if verified
                && u.enabled
                && matches!(
                    u.status,
                    UserStatus::Confirmed
                        | UserStatus::ForceChangePassword
                        | UserStatus::Unconfirmed
                ) =>
        {
            st.kv.delete(&id_key).await?;
            audit::record(
                st,
                &rt.pool.id,
                audit::Kind::SignIn,
                audit::Context {
                    sub: Some(u.sub.as_str()),
                    ip,
                    ..Default::default()
                },
                now,
            )
            .await;
            if hash.as_deref().is_some_and(|h| st.hasher.needs_rehash(h)) {
                upgrade_hash(st, rt, &u, &pw, now).await;
            }
            Ok(Some(u))
        }
        known => {
            let ctx = audit::Context {
                sub: known.as_ref().map(|u| u.sub.as_str()),
                ip,
                detail: "wrong password or account state",
                ..Default::default()
            };
            audit::record(st, &rt.pool.id, audit::Kind::SignInFailed, ctx, now).await;
            st.kv.incr(&id_key, FAILURE_WINDOW).await?;
            if let Some(k) = &ip_key {
                st.kv.incr(k, FAILURE_WINDOW).await?;
            }
            Ok(None)
        }
    }
}

/// Rehashes with the current parameters; a failure is logged, never fatal to the sign-in.
async fn upgrade_hash(st: &AppState, rt: &PoolRuntime, u: &User, pw: &Secret, now: DateTime<Utc>) {
    let hash = match st.hasher.hash(pw, st.random.as_ref()).await {
        Ok(h) => h,
        Err(e) => return tracing::warn!(error = %e, "password rehash failed"),
    };
    let (pool, sub, status) = (rt.pool.id.clone(), u.sub.clone(), u.status);
    if let Err(e) = st
        .sql
        .run(move |c| users::set_password(c, &pool, &sub, &hash, status, now))
        .await
    {
        tracing::warn!(error = %e, "storing the upgraded password hash failed");
    }
}
