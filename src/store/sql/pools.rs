//! Pool rows: create, look up by id or name, list, bump the version that invalidates caches.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::pools;
use super::{DbConn, from_json, to_json};
use crate::ids::PoolId;
use crate::model::PoolSettings;
use crate::store::StoreError;

#[derive(Queryable, Insertable)]
#[diesel(table_name = pools)]
struct PoolRow {
    id: String,
    name: String,
    settings: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    users_version: i64,
}

/// A user pool as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pool {
    pub id: PoolId,
    pub name: String,
    pub settings: PoolSettings,
    /// Bumped on every change to the pool, its clients or its keys; caches compare it.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped on every write to the pool's users; caches of users compare it.
    pub users_version: i64,
}

impl TryFrom<PoolRow> for Pool {
    type Error = StoreError;
    fn try_from(r: PoolRow) -> Result<Self, StoreError> {
        Ok(Pool {
            settings: from_json(&r.settings, "pool settings")?,
            id: PoolId::new(r.id),
            name: r.name,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            users_version: r.users_version,
        })
    }
}

pub fn insert(
    c: &mut DbConn,
    id: &PoolId,
    name: &str,
    settings: &PoolSettings,
    now: DateTime<Utc>,
) -> Result<Pool, StoreError> {
    let row = PoolRow {
        id: id.to_string(),
        name: name.to_string(),
        settings: to_json(settings)?,
        version: 1,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
        users_version: 0,
    };
    diesel::insert_into(pools::table)
        .values(&row)
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "a pool with that name or id"))?;
    row.try_into()
}

pub fn find(c: &mut DbConn, id: &PoolId) -> Result<Option<Pool>, StoreError> {
    pools::table
        .filter(pools::id.eq(id.as_str()))
        .first::<PoolRow>(c)
        .optional()?
        .map(Pool::try_from)
        .transpose()
}

pub fn find_by_name(c: &mut DbConn, name: &str) -> Result<Option<Pool>, StoreError> {
    pools::table
        .filter(pools::name.eq(name))
        .first::<PoolRow>(c)
        .optional()?
        .map(Pool::try_from)
        .transpose()
}

pub fn list(c: &mut DbConn) -> Result<Vec<Pool>, StoreError> {
    pools::table
        .order(pools::created_at.asc())
        .load::<PoolRow>(c)?
        .into_iter()
        .map(Pool::try_from)
        .collect()
}

/// `(id, version)` of every pool: the cheap query each instance polls to refresh its caches.
/// Every pool's id, version and users version: what the caches compare.
pub fn versions(c: &mut DbConn) -> Result<Vec<(PoolId, i64, i64)>, StoreError> {
    Ok(pools::table
        .select((pools::id, pools::version, pools::users_version))
        .load::<(String, i64, i64)>(c)?
        .into_iter()
        .map(|(id, v, u)| (PoolId::new(id), v, u))
        .collect())
}

/// Marks the pool's users changed so every instance drops the users it cached.
pub fn bump_users_version(c: &mut DbConn, id: &PoolId) -> Result<(), StoreError> {
    diesel::update(pools::table.filter(pools::id.eq(id.as_str())))
        .set(pools::users_version.eq(pools::users_version + 1))
        .execute(c)?;
    Ok(())
}

/// Marks the pool changed so every instance reloads it.
pub fn bump_version(c: &mut DbConn, id: &PoolId, now: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::update(pools::table.filter(pools::id.eq(id.as_str())))
        .set((
            pools::version.eq(pools::version + 1),
            pools::updated_at.eq(now.naive_utc()),
        ))
        .execute(c)?;
    Ok(())
}

pub fn update_settings(
    c: &mut DbConn,
    id: &PoolId,
    settings: &PoolSettings,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(pools::table.filter(pools::id.eq(id.as_str())))
        .set((
            pools::settings.eq(to_json(settings)?),
            pools::version.eq(pools::version + 1),
            pools::updated_at.eq(now.naive_utc()),
        ))
        .execute(c)?;
    Ok(())
}

/// Deletes a pool and, through the foreign keys' cascades, everything it holds (clients,
/// users, keys, tokens, groups, audit, MFA, providers). Returns whether it existed.
pub fn delete(c: &mut DbConn, id: &PoolId) -> Result<bool, StoreError> {
    // Keys reference their issuer by name only (the identity issuer owns keys too): they go
    // explicitly; every other table cascades from the pool.
    use super::schema::signing_keys;
    diesel::delete(signing_keys::table.filter(signing_keys::pool_id.eq(id.as_str()))).execute(c)?;
    Ok(diesel::delete(pools::table.filter(pools::id.eq(id.as_str()))).execute(c)? > 0)
}
