//! Refresh token rows: only the SHA-256 of each token is stored; rotation marks `used_at`,
//! revocation marks a whole family.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::refresh_tokens as tenant;
use super::{DbConn, from_json, to_json};
use crate::ids::PoolId;
use crate::store::StoreError;

#[derive(Queryable, Insertable)]
#[diesel(table_name = tenant)]
struct Row {
    pool_id: String,
    token_hash: String,
    family_id: String,
    sub: String,
    client_id: String,
    scope: String,
    auth_time: i64,
    amr: String,
    issued_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
    sid: Option<String>,
}

/// A refresh token record.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub token_hash: String,
    pub family_id: String,
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The SSO session the family started in (OIDC `sid`), when known.
    pub sid: Option<String>,
}

impl TryFrom<Row> for RefreshToken {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Self {
            amr: from_json(&r.amr, "refresh token amr")?,
            token_hash: r.token_hash,
            family_id: r.family_id,
            sub: r.sub,
            client_id: r.client_id,
            scope: r.scope,
            auth_time: r.auth_time,
            issued_at: r.issued_at.and_utc(),
            expires_at: r.expires_at.and_utc(),
            used_at: r.used_at.map(|t| t.and_utc()),
            revoked_at: r.revoked_at.map(|t| t.and_utc()),
            sid: r.sid,
        })
    }
}

pub fn insert(c: &mut DbConn, pool: &PoolId, t: &RefreshToken) -> Result<(), StoreError> {
    let row = Row {
        pool_id: pool.to_string(),
        token_hash: t.token_hash.clone(),
        family_id: t.family_id.clone(),
        sub: t.sub.clone(),
        client_id: t.client_id.clone(),
        scope: t.scope.clone(),
        auth_time: t.auth_time,
        amr: to_json(&t.amr)?,
        issued_at: t.issued_at.naive_utc(),
        expires_at: t.expires_at.naive_utc(),
        used_at: None,
        revoked_at: None,
        sid: t.sid.clone(),
    };
    diesel::insert_into(tenant::table).values(&row).execute(c)?;
    Ok(())
}

pub fn find(c: &mut DbConn, pool: &PoolId, hash: &str) -> Result<Option<RefreshToken>, StoreError> {
    tenant::table
        .filter(tenant::pool_id.eq(pool.as_str()))
        .filter(tenant::token_hash.eq(hash))
        .first::<Row>(c)
        .optional()?
        .map(RefreshToken::try_from)
        .transpose()
}

/// Marks the token used if nobody else did first; false means it was already used (a replay
/// or a concurrent duplicate).
pub fn mark_used(
    c: &mut DbConn,
    pool: &PoolId,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        tenant::table
            .filter(tenant::pool_id.eq(pool.as_str()))
            .filter(tenant::token_hash.eq(hash))
            .filter(tenant::used_at.is_null())
            // A family revoked or expired since the caller read the row must not rotate.
            .filter(tenant::revoked_at.is_null())
            .filter(tenant::expires_at.gt(now.naive_utc())),
    )
    .set(tenant::used_at.eq(Some(now.naive_utc())))
    .execute(c)?;
    Ok(n == 1)
}

/// Marks the token `hash` used and stores its successor `next`, when the token is live and
/// unused (the conditions of [`mark_used`]); false, with nothing written, when it is not.
/// PostgreSQL does both in one statement (a data-modifying CTE: one round trip and one commit,
/// where a transaction of the two took four round trips); SQLite, in process, in one
/// transaction.
pub fn rotate(
    c: &mut DbConn,
    pool: &PoolId,
    hash: &str,
    next: &RefreshToken,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if let DbConn::Pg(pg) = c {
        use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
        let n = diesel::sql_query(
            "WITH used AS (UPDATE refresh_tokens SET used_at = $1 \
               WHERE pool_id = $2 AND token_hash = $3 AND used_at IS NULL \
               AND revoked_at IS NULL AND expires_at > $1 RETURNING 1) \
             INSERT INTO refresh_tokens (pool_id, token_hash, family_id, sub, client_id, scope, \
               auth_time, amr, issued_at, expires_at, sid) \
             SELECT $2, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
             WHERE EXISTS (SELECT 1 FROM used)",
        )
        .bind::<Timestamp, _>(now.naive_utc())
        .bind::<Text, _>(pool.as_str())
        .bind::<Text, _>(hash)
        .bind::<Text, _>(&next.token_hash)
        .bind::<Text, _>(&next.family_id)
        .bind::<Text, _>(&next.sub)
        .bind::<Text, _>(&next.client_id)
        .bind::<Text, _>(&next.scope)
        .bind::<BigInt, _>(next.auth_time)
        .bind::<Text, _>(to_json(&next.amr)?)
        .bind::<Timestamp, _>(next.issued_at.naive_utc())
        .bind::<Timestamp, _>(next.expires_at.naive_utc())
        .bind::<Nullable<Text>, _>(next.sid.as_deref())
        .execute(pg)?;
        return Ok(n == 1);
    }
    c.transaction(|c| {
        if !mark_used(c, pool, hash, now)? {
            return Ok(false);
        }
        insert(c, pool, next)?;
        Ok(true)
    })
}

pub fn revoke_family(
    c: &mut DbConn,
    pool: &PoolId,
    family: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        tenant::table
            .filter(tenant::pool_id.eq(pool.as_str()))
            .filter(tenant::family_id.eq(family))
            .filter(tenant::revoked_at.is_null()),
    )
    .set(tenant::revoked_at.eq(Some(now.naive_utc())))
    .execute(c)?)
}

/// Revokes every live refresh token of a user (disable, password reset).
pub fn revoke_user(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        tenant::table
            .filter(tenant::pool_id.eq(pool.as_str()))
            .filter(tenant::sub.eq(sub))
            .filter(tenant::revoked_at.is_null()),
    )
    .set(tenant::revoked_at.eq(Some(now.naive_utc())))
    .execute(c)?)
}

/// Revokes every live refresh token of `sub` issued to `client_id` (a consent taken back).
pub fn revoke_user_client(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        tenant::table
            .filter(tenant::pool_id.eq(pool.as_str()))
            .filter(tenant::sub.eq(sub))
            .filter(tenant::client_id.eq(client_id))
            .filter(tenant::revoked_at.is_null()),
    )
    .set(tenant::revoked_at.eq(Some(now.naive_utc())))
    .execute(c)?)
}

/// Deletes the pool's refresh tokens that expired before `before`, used and revoked ones
/// included: past its expiry a token is refused whatever its row says.
pub fn delete_expired(
    c: &mut DbConn,
    pool: &PoolId,
    before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        tenant::table
            .filter(tenant::pool_id.eq(pool.as_str()))
            .filter(tenant::expires_at.lt(before.naive_utc())),
    )
    .execute(c)?)
}
