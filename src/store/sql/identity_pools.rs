//! Identity pool rows: pools (configuration as JSON), their identities, and the logins linked
//! to each identity (one per provider per identity; one identity per login).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{identities, identity_logins, identity_pools};
use super::{DbConn, from_json, to_json};
use crate::model::IdentityPoolSettings;
use crate::store::StoreError;

#[derive(Queryable, Insertable, AsChangeset)]
#[diesel(table_name = identity_pools)]
struct PoolRow {
    id: String,
    name: String,
    settings: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// An identity pool as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdentityPool {
    pub id: String,
    pub name: String,
    pub settings: IdentityPoolSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<PoolRow> for IdentityPool {
    type Error = StoreError;
    fn try_from(r: PoolRow) -> Result<Self, StoreError> {
        Ok(Self {
            settings: from_json(&r.settings, "identity pool settings")?,
            id: r.id,
            name: r.name,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

fn row_of(p: &IdentityPool) -> Result<PoolRow, StoreError> {
    Ok(PoolRow {
        id: p.id.clone(),
        name: p.name.clone(),
        settings: to_json(&p.settings)?,
        created_at: p.created_at.naive_utc(),
        updated_at: p.updated_at.naive_utc(),
    })
}

pub fn insert(c: &mut DbConn, p: &IdentityPool) -> Result<(), StoreError> {
    diesel::insert_into(identity_pools::table)
        .values(row_of(p)?)
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "an identity pool with that id"))?;
    Ok(())
}

/// Replaces the name and settings; whether the pool exists.
pub fn update(c: &mut DbConn, p: &IdentityPool) -> Result<bool, StoreError> {
    let n = diesel::update(identity_pools::table.filter(identity_pools::id.eq(&p.id)))
        .set(row_of(p)?)
        .execute(c)?;
    Ok(n > 0)
}

pub fn find(c: &mut DbConn, id: &str) -> Result<Option<IdentityPool>, StoreError> {
    identity_pools::table
        .filter(identity_pools::id.eq(id))
        .first::<PoolRow>(c)
        .optional()?
        .map(IdentityPool::try_from)
        .transpose()
}

/// Pools by id, after `after` (keyset paging), at most `limit`.
pub fn list(
    c: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<IdentityPool>, StoreError> {
    let mut q = identity_pools::table
        .order(identity_pools::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(identity_pools::id.gt(a.to_string()));
    }
    q.load::<PoolRow>(c)?
        .into_iter()
        .map(IdentityPool::try_from)
        .collect()
}

/// Deletes a pool with its identities and logins; whether it existed.
pub fn delete(c: &mut DbConn, id: &str) -> Result<bool, StoreError> {
    // The foreign keys cascade; deleting the children first keeps SQLite honest without them.
    diesel::delete(identity_logins::table.filter(identity_logins::pool_id.eq(id))).execute(c)?;
    diesel::delete(identities::table.filter(identities::pool_id.eq(id))).execute(c)?;
    Ok(diesel::delete(identity_pools::table.filter(identity_pools::id.eq(id))).execute(c)? > 0)
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = identities)]
struct IdentityRow {
    id: String,
    pool_id: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// One identity with the logins linked to it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Identity {
    pub id: String,
    pub pool_id: String,
    pub logins: Vec<Login>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A login (provider key and the subject there) linked to an identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Login {
    pub provider: String,
    pub subject: String,
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = identity_logins)]
struct LoginRow {
    pool_id: String,
    provider: String,
    subject: String,
    identity_id: String,
    created_at: NaiveDateTime,
}

/// Creates an identity, linked to `login` if one is given.
pub fn create_identity(
    c: &mut DbConn,
    pool: &str,
    id: &str,
    login: Option<&Login>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(identities::table)
        .values(IdentityRow {
            id: id.to_string(),
            pool_id: pool.to_string(),
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
        })
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "an identity with that id"))?;
    if let Some(l) = login {
        link(c, pool, id, l, now)?;
    }
    Ok(())
}

/// Links `login` to identity `id`; a login already linked, or a second login of the same
/// provider on the identity, is a conflict.
pub fn link(
    c: &mut DbConn,
    pool: &str,
    id: &str,
    login: &Login,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(identity_logins::table)
        .values(LoginRow {
            pool_id: pool.to_string(),
            provider: login.provider.clone(),
            subject: login.subject.clone(),
            identity_id: id.to_string(),
            created_at: now.naive_utc(),
        })
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "a login of that provider"))?;
    diesel::update(identities::table.filter(identities::id.eq(id)))
        .set(identities::updated_at.eq(now.naive_utc()))
        .execute(c)?;
    Ok(())
}

/// Removes identity `id`'s login of `provider`; whether there was one.
pub fn unlink(c: &mut DbConn, pool: &str, id: &str, provider: &str) -> Result<bool, StoreError> {
    let n = diesel::delete(
        identity_logins::table
            .filter(identity_logins::pool_id.eq(pool))
            .filter(identity_logins::identity_id.eq(id))
            .filter(identity_logins::provider.eq(provider)),
    )
    .execute(c)?;
    Ok(n > 0)
}

/// The identity `login` is linked to, if any.
pub fn owner_of(c: &mut DbConn, pool: &str, login: &Login) -> Result<Option<String>, StoreError> {
    Ok(identity_logins::table
        .filter(identity_logins::pool_id.eq(pool))
        .filter(identity_logins::provider.eq(&login.provider))
        .filter(identity_logins::subject.eq(&login.subject))
        .select(identity_logins::identity_id)
        .first::<String>(c)
        .optional()?)
}

/// The pool identity `id` belongs to, if it exists.
pub fn pool_of_identity(c: &mut DbConn, id: &str) -> Result<Option<String>, StoreError> {
    Ok(identities::table
        .filter(identities::id.eq(id))
        .select(identities::pool_id)
        .first::<String>(c)
        .optional()?)
}

/// An identity of `pool` with its logins (oldest first).
pub fn find_identity(c: &mut DbConn, pool: &str, id: &str) -> Result<Option<Identity>, StoreError> {
    let Some(row) = identities::table
        .filter(identities::pool_id.eq(pool))
        .filter(identities::id.eq(id))
        .first::<IdentityRow>(c)
        .optional()?
    else {
        return Ok(None);
    };
    let logins = identity_logins::table
        .filter(identity_logins::identity_id.eq(id))
        .order(identity_logins::created_at.asc())
        .load::<LoginRow>(c)?
        .into_iter()
        .map(|l| Login {
            provider: l.provider,
            subject: l.subject,
        })
        .collect();
    Ok(Some(Identity {
        id: row.id,
        pool_id: row.pool_id,
        logins,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
    }))
}

/// Identity ids of `pool` after `after`, at most `limit`.
pub fn list_identities(
    c: &mut DbConn,
    pool: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut q = identities::table
        .filter(identities::pool_id.eq(pool))
        .order(identities::id.asc())
        .select(identities::id)
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(identities::id.gt(a.to_string()));
    }
    Ok(q.load::<String>(c)?)
}

/// Moves every login of `from` to `into` and deletes `from` (a merge); a provider both hold
/// is a conflict and changes nothing.
pub fn merge(
    c: &mut DbConn,
    pool: &str,
    from: &str,
    into: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(
        identity_logins::table
            .filter(identity_logins::pool_id.eq(pool))
            .filter(identity_logins::identity_id.eq(from)),
    )
    .set(identity_logins::identity_id.eq(into))
    .execute(c)
    .map_err(|e| StoreError::conflict_on_unique(e, "a login of that provider"))?;
    diesel::delete(identities::table.filter(identities::id.eq(from))).execute(c)?;
    diesel::update(identities::table.filter(identities::id.eq(into)))
        .set(identities::updated_at.eq(now.naive_utc()))
        .execute(c)?;
    Ok(())
}

/// Deletes identities of `pool` (with their logins); how many existed.
pub fn delete_identities(c: &mut DbConn, pool: &str, ids: &[String]) -> Result<usize, StoreError> {
    diesel::delete(
        identity_logins::table
            .filter(identity_logins::pool_id.eq(pool))
            .filter(identity_logins::identity_id.eq_any(ids)),
    )
    .execute(c)?;
    Ok(diesel::delete(
        identities::table
            .filter(identities::pool_id.eq(pool))
            .filter(identities::id.eq_any(ids)),
    )
    .execute(c)?)
}
