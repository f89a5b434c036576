//! Identity pools (Cognito's second half): their configuration, and identities (stable ids
//! `{region}:{uuid}` for users of any trusted provider, or guests) with the logins linked to
//! them; the identity token and what it buys. The CLI, the Cognito Identity API and the RFC 8693
//! exchange are its edges.

pub mod broker;
pub mod flows;
pub mod identities;
pub mod social;
pub mod token;

use chrono::{DateTime, Utc};

use crate::model::IdentityPoolSettings;
use crate::model::identity_pool::check_pool_name;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::identity_pools::{self as rows, IdentityPool};

/// Most identity pools (or identities) one listing returns (Cognito's `MaxResults` bound).
pub const MAX_PAGE: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// What the caller asked for breaks a rule (name, limits, shapes).
    #[error("{0}")]
    Invalid(String),
    #[error("identity pool {0} does not exist")]
    NotFound(String),
    #[error("identity {0} does not exist")]
    NoIdentity(String),
    /// A login is missing, refused or from a provider the pool does not trust.
    #[error("{0}")]
    NotAuthorized(String),
    /// The identity already has a login of that provider.
    #[error("{0}")]
    Conflict(String),
    /// A service this needed failed (our fault, not the caller's).
    #[error("{0}")]
    Upstream(String),
    /// The pool is not set up for what was asked (no broker, no role, a role its STS refuses).
    #[error("{0}")]
    Configuration(String),
    /// A service outside (an STS, a provider's API) did not answer properly.
    #[error("{0}")]
    External(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new id in Cognito's shape: the configured region, a colon, a random UUID.
pub fn new_id(app: &AppState) -> String {
    let mut bytes = [0u8; 16];
    app.random.fill(&mut bytes);
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    format!("{}:{uuid}", app.config.region)
}

/// Is `id` in Cognito's identity (pool) id shape, `[\w-]+:[0-9a-f-]+`, at most 55 characters?
pub fn well_formed_id(id: &str) -> bool {
    id.len() <= 55
        && id.split_once(':').is_some_and(|(region, rest)| {
            !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                && !rest.is_empty()
                && rest.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        })
}

/// Creates an identity pool.
pub async fn create(
    app: &AppState,
    name: &str,
    settings: IdentityPoolSettings,
    now: DateTime<Utc>,
) -> Result<IdentityPool, IdentityError> {
    check_pool_name(name).map_err(IdentityError::Invalid)?;
    settings.check().map_err(IdentityError::Invalid)?;
    let pool = IdentityPool {
        id: new_id(app),
        name: name.to_string(),
        settings,
        created_at: now,
        updated_at: now,
    };
    let row = pool.clone();
    app.sql.run(move |c| rows::insert(c, &row)).await?;
    Ok(pool)
}

pub async fn find(app: &AppState, id: &str) -> Result<IdentityPool, IdentityError> {
    if !well_formed_id(id) {
        return Err(IdentityError::NotFound(id.to_string()));
    }
    let key = id.to_string();
    app.sql
        .run(move |c| rows::find(c, &key))
        .await?
        .ok_or_else(|| IdentityError::NotFound(id.to_string()))
}

/// Replaces a pool's name and settings; the developer provider name, once set, stays (as in
/// Cognito: identities are keyed by it).
pub async fn update(
    app: &AppState,
    id: &str,
    name: &str,
    settings: IdentityPoolSettings,
    now: DateTime<Utc>,
) -> Result<IdentityPool, IdentityError> {
    check_pool_name(name).map_err(IdentityError::Invalid)?;
    settings.check().map_err(IdentityError::Invalid)?;
    let mut pool = find(app, id).await?;
    if let Some(before) = &pool.settings.developer_provider_name
        && settings.developer_provider_name.as_ref() != Some(before)
    {
        return Err(IdentityError::Invalid(
            "DeveloperProviderName cannot be changed once set".into(),
        ));
    }
    pool.name = name.to_string();
    pool.settings = settings;
    pool.updated_at = now;
    let row = pool.clone();
    if !app.sql.run(move |c| rows::update(c, &row)).await? {
        return Err(IdentityError::NotFound(id.to_string()));
    }
    Ok(pool)
}

/// Deletes a pool with its identities.
pub async fn delete(app: &AppState, id: &str) -> Result<(), IdentityError> {
    let key = id.to_string();
    if app.sql.transaction(move |c| rows::delete(c, &key)).await? {
        Ok(())
    } else {
        Err(IdentityError::NotFound(id.to_string()))
    }
}

/// Pools by id after `after`, at most `limit` (1 to [`MAX_PAGE`]).
pub async fn list(
    app: &AppState,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<IdentityPool>, IdentityError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(IdentityError::Invalid(format!(
            "MaxResults must be between 1 and {MAX_PAGE}"
        )));
    }
    let after = after.map(str::to_string);
    Ok(app
        .sql
        .run(move |c| rows::list(c, after.as_deref(), limit))
        .await?)
}

#[cfg(test)]
mod tests {
    use super::well_formed_id;

    #[test]
    fn ids_have_cognitos_shape() {
        assert!(well_formed_id(
            "us-east-1:1699ebc0-7f3c-4b6a-9f8e-0123456789ab"
        ));
        assert!(!well_formed_id("us-east-1"));
        assert!(!well_formed_id(":abc"));
        assert!(!well_formed_id("us east:abc"));
        assert!(!well_formed_id("local:xyz"));
    }
}
