//! Federation rows: a pool's upstream identity providers (client secret sealed by the caller)
//! and the upstream identities linked to its users.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::DbConn;
use super::schema::{federated_identities as fi, identity_providers as idp, users};
use crate::ids::PoolId;
use crate::model::{ProviderKind, ProviderSettings};
use crate::store::StoreError;

#[derive(Queryable, Insertable)]
#[diesel(table_name = idp)]
struct ProviderRow {
    pool_id: String,
    name: String,
    kind: String,
    client_id: String,
    client_secret_sealed: String,
    settings: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A stored identity provider. `client_secret_sealed` is only ever the sealed secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderRecord {
    pub pool_id: PoolId,
    pub name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    #[serde(skip)]
    pub client_secret_sealed: String,
    pub settings: ProviderSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<ProviderRow> for ProviderRecord {
    type Error = StoreError;
    fn try_from(r: ProviderRow) -> Result<Self, StoreError> {
        Ok(Self {
            pool_id: PoolId::new(r.pool_id),
            kind: r.kind.parse().map_err(StoreError::Corrupt)?,
            name: r.name,
            client_id: r.client_id,
            client_secret_sealed: r.client_secret_sealed,
            settings: serde_json::from_str(&r.settings)
                .map_err(|e| StoreError::Corrupt(format!("provider settings: {e}")))?,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

fn row_of(p: &ProviderRecord) -> Result<ProviderRow, StoreError> {
    Ok(ProviderRow {
        pool_id: p.pool_id.to_string(),
        name: p.name.clone(),
        kind: p.kind.as_str().to_string(),
        client_id: p.client_id.clone(),
        client_secret_sealed: p.client_secret_sealed.clone(),
        settings: serde_json::to_string(&p.settings)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: p.created_at.naive_utc(),
        updated_at: p.updated_at.naive_utc(),
    })
}

/// Inserts a provider; a name taken in the pool is a conflict.
pub fn insert(c: &mut DbConn, p: &ProviderRecord) -> Result<(), StoreError> {
    diesel::insert_into(idp::table)
        .values(&row_of(p)?)
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "an identity provider with that name"))?;
    Ok(())
}

/// Replaces a provider's configuration (same pool and name).
pub fn update(c: &mut DbConn, p: &ProviderRecord) -> Result<bool, StoreError> {
    let row = row_of(p)?;
    let n = diesel::update(
        idp::table
            .filter(idp::pool_id.eq(p.pool_id.as_str()))
            .filter(idp::name.eq(&p.name)),
    )
    .set((
        idp::client_id.eq(row.client_id),
        idp::client_secret_sealed.eq(row.client_secret_sealed),
        idp::settings.eq(row.settings),
        idp::updated_at.eq(row.updated_at),
    ))
    .execute(c)?;
    Ok(n == 1)
}

pub fn list(c: &mut DbConn, pool: &PoolId) -> Result<Vec<ProviderRecord>, StoreError> {
    idp::table
        .filter(idp::pool_id.eq(pool.as_str()))
        .order(idp::name.asc())
        .load::<ProviderRow>(c)?
        .into_iter()
        .map(ProviderRecord::try_from)
        .collect()
}

/// Deletes a provider and every identity linked through it.
pub fn delete(c: &mut DbConn, pool: &PoolId, name: &str) -> Result<bool, StoreError> {
    let unlinked = diesel::delete(
        fi::table
            .filter(fi::pool_id.eq(pool.as_str()))
            .filter(fi::provider.eq(name)),
    )
    .execute(c)?;
    if unlinked > 0 {
        super::pools::bump_users_version(c, pool)?;
    }
    let n = diesel::delete(
        idp::table
            .filter(idp::pool_id.eq(pool.as_str()))
            .filter(idp::name.eq(name)),
    )
    .execute(c)?;
    Ok(n == 1)
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = fi)]
struct IdentityRow {
    pool_id: String,
    provider: String,
    subject: String,
    sub: String,
    created_at: NaiveDateTime,
}

/// An upstream identity linked to a local user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkedIdentity {
    pub provider: String,
    pub subject: String,
    pub sub: String,
    pub created_at: DateTime<Utc>,
}

impl From<IdentityRow> for LinkedIdentity {
    fn from(r: IdentityRow) -> Self {
        Self {
            provider: r.provider,
            subject: r.subject,
            sub: r.sub,
            created_at: r.created_at.and_utc(),
        }
    }
}

/// Links `(provider, subject)` to `sub`; an identity already linked (to anyone) is a conflict.
pub fn link(
    c: &mut DbConn,
    pool: &PoolId,
    provider: &str,
    subject: &str,
    sub: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_link(c, pool, provider, subject, sub, now)?;
    // The user's `identities` claim changed: instances drop the users they cached.
    super::pools::bump_users_version(c, pool)
}

/// Links like [`link`] unless `sub` already has `max` linked identities
/// (`StoreError::AtLimit`; `NotFound` if the user is gone; either way nothing is written).
/// The user's row is written *first* (its `updated_at`: the user's identities change): that
/// takes the row's lock (PostgreSQL) or the database's write lock (SQLite) until the
/// transaction ends, so concurrent links to one user count one after the other and a burst
/// cannot pass `max` (a count read before the lock could be stale). User row, then pool row:
/// the order of every other user write, so no deadlock with them.
pub fn link_at_most(
    c: &mut DbConn,
    pool: &PoolId,
    (provider, subject): (&str, &str),
    sub: &str,
    max: usize,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.transaction(|c| {
        let touched = diesel::update(
            users::table
                .filter(users::pool_id.eq(pool.as_str()))
                .filter(users::sub.eq(sub)),
        )
        .set(users::updated_at.eq(now.naive_utc()))
        .execute(c)?;
        if touched == 0 {
            // Deleted since the caller found it: say so rather than fail on the foreign key.
            return Err(StoreError::NotFound("user"));
        }
        let linked: i64 = fi::table
            .filter(fi::pool_id.eq(pool.as_str()))
            .filter(fi::sub.eq(sub))
            .count()
            .get_result(c)?;
        if usize::try_from(linked).unwrap_or(usize::MAX) >= max {
            return Err(StoreError::AtLimit("linked identities"));
        }
        insert_link(c, pool, provider, subject, sub, now)?;
        super::pools::bump_users_version(c, pool)
    })
}

fn insert_link(
    c: &mut DbConn,
    pool: &PoolId,
    provider: &str,
    subject: &str,
    sub: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = IdentityRow {
        pool_id: pool.to_string(),
        provider: provider.to_string(),
        subject: subject.to_string(),
        sub: sub.to_string(),
        created_at: now.naive_utc(),
    };
    diesel::insert_into(fi::table)
        .values(&row)
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "that upstream identity"))?;
    Ok(())
}

/// Removes the link of `sub`'s identity at `provider`; whether there was one.
pub fn unlink(
    c: &mut DbConn,
    pool: &PoolId,
    provider: &str,
    sub: &str,
) -> Result<bool, StoreError> {
    let n = diesel::delete(
        fi::table
            .filter(fi::pool_id.eq(pool.as_str()))
            .filter(fi::provider.eq(provider))
            .filter(fi::sub.eq(sub)),
    )
    .execute(c)?;
    if n > 0 {
        super::pools::bump_users_version(c, pool)?;
    }
    Ok(n > 0)
}

/// The local user an upstream identity is linked to.
pub fn find_link(
    c: &mut DbConn,
    pool: &PoolId,
    provider: &str,
    subject: &str,
) -> Result<Option<LinkedIdentity>, StoreError> {
    Ok(fi::table
        .filter(fi::pool_id.eq(pool.as_str()))
        .filter(fi::provider.eq(provider))
        .filter(fi::subject.eq(subject))
        .first::<IdentityRow>(c)
        .optional()?
        .map(Into::into))
}

/// Every identity linked to `sub`, oldest first.
pub fn of_user(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
) -> Result<Vec<LinkedIdentity>, StoreError> {
    Ok(fi::table
        .filter(fi::pool_id.eq(pool.as_str()))
        .filter(fi::sub.eq(sub))
        .order(fi::created_at.asc())
        .load::<IdentityRow>(c)?
        .into_iter()
        .map(Into::into)
        .collect())
}
