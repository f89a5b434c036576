//! User pools: settings, creation with Cognito-shaped ids, lookup by id or name.

pub mod cache;
pub mod remembered;

use chrono::{DateTime, Utc};

use crate::clock::{BASE62, RandomExt};
use crate::ids::PoolId;
use crate::keys;
use crate::model::PoolSettings;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::pools::{self as pool_rows, Pool};

pub use cache::{PoolCache, PoolRuntime, StaticDoc, Subject, Verified};

/// Errors of pool administration.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("no pool with id or name {0:?}")]
    NotFound(String),
    #[error("invalid pool name: {0}")]
    InvalidName(&'static str),
    #[error("a pool named {0:?} already exists")]
    NameTaken(String),
    #[error("invalid pool settings: {0}")]
    InvalidSettings(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
}

fn check_name(name: &str) -> Result<(), PoolError> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err(PoolError::InvalidName("must be 1 to 128 characters"));
    }
    let ok = name
        .chars()
        .all(|c| c.is_alphanumeric() || " _+=,.@-".contains(c));
    if !ok {
        return Err(PoolError::InvalidName(
            "may contain letters, digits, spaces and _+=,.@- only",
        ));
    }
    if PoolId::is_well_formed(name) {
        return Err(PoolError::InvalidName("must not look like a pool id"));
    }
    Ok(())
}

/// Creates a pool and its first signing key (active at once).
pub async fn create(app: &AppState, name: &str, now: DateTime<Utc>) -> Result<Pool, PoolError> {
    check_name(name)?;
    let id = PoolId::new(format!(
        "{}_{}",
        app.config.region,
        app.random.string_from(BASE62, 9)
    ));
    let key = keys::generate(app, &id, app.config.key_algorithm, now, now)?;
    let (id2, name2) = (id.clone(), name.to_string());
    let pool = app
        .sql
        .transaction(move |c| {
            let pool = pool_rows::insert(c, &id2, &name2, &PoolSettings::default(), now)?;
            crate::store::sql::keys::insert(c, &key)?;
            Ok(pool)
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => PoolError::NameTaken(name.to_string()),
            other => other.into(),
        })?;
    app.pools.reload_after_change(app, &id).await;
    Ok(pool)
}

/// Finds a pool by id, else by name.
pub async fn resolve(app: &AppState, id_or_name: &str) -> Result<Pool, PoolError> {
    let key = id_or_name.to_string();
    let found = app
        .sql
        .run(
            move |c| match pool_rows::find(c, &PoolId::new(key.clone()))? {
                Some(p) => Ok(Some(p)),
                None => pool_rows::find_by_name(c, &key),
            },
        )
        .await?;
    found.ok_or_else(|| PoolError::NotFound(id_or_name.to_string()))
}

pub async fn list(app: &AppState) -> Result<Vec<Pool>, PoolError> {
    Ok(app.sql.run(pool_rows::list).await?)
}

/// Replaces a pool's settings; every instance picks them up (version bump). Settings that
/// break [`PoolSettings::check`] are refused and nothing is written.
pub async fn update_settings(
    app: &AppState,
    id: &PoolId,
    settings: PoolSettings,
    now: DateTime<Utc>,
) -> Result<Pool, PoolError> {
    settings.check().map_err(PoolError::InvalidSettings)?;
    let (pid, s) = (id.clone(), settings);
    app.sql
        .transaction(move |c| {
            pool_rows::update_settings(c, &pid, &s, now)?;
            if !s.srp {
                // SRP off: no verifier stays behind to be stolen.
                crate::store::sql::users::drop_srp_verifiers(c, &pid)?;
            }
            Ok(())
        })
        .await?;
    app.pools.reload_after_change(app, id).await;
    resolve(app, id.as_str()).await
}

/// Deletes a pool with all it holds (Cognito's DeleteUserPool). Short-lived state in the KV
/// store (sessions, codes) is left to expire: nothing can reach it without the pool.
pub async fn delete(app: &AppState, id: &PoolId) -> Result<(), PoolError> {
    let pid = id.clone();
    if !app
        .sql
        .transaction(move |c| pool_rows::delete(c, &pid))
        .await?
    {
        return Err(PoolError::NotFound(id.to_string()));
    }
    tracing::warn!(pool = %id, "user pool deleted");
    app.pools.reload_after_change(app, id).await;
    Ok(())
}

/// Creates the pool `default` when the database has no pool at all (first start).
pub async fn ensure_default(app: &AppState, now: DateTime<Utc>) -> Result<Option<Pool>, PoolError> {
    if !list(app).await?.is_empty() {
        return Ok(None);
    }
    match create(app, "default", now).await {
        Ok(p) => Ok(Some(p)),
        // Another instance starting at the same moment created it first.
        Err(PoolError::NameTaken(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("default").is_ok());
        assert!(check_name("My Pool-1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("local_Ab3dE5gH7").is_err());
        assert!(check_name(&"x".repeat(129)).is_err());
    }
}
