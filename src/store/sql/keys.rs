//! Signing key rows: private JWKs stay encrypted here; decryption happens in `keys`.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::DbConn;
use super::schema::signing_keys;
use crate::ids::{Kid, PoolId};
use crate::store::StoreError;

#[derive(Queryable, Insertable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    pool_id: String,
    kid: String,
    alg: String,
    private_jwk: String,
    public_jwk: String,
    created_at: NaiveDateTime,
    active_from: NaiveDateTime,
}

/// A signing key as stored: `private_jwk_sealed` is ciphertext under the master key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub pool_id: PoolId,
    pub kid: Kid,
    pub alg: String,
    pub private_jwk_sealed: String,
    pub public_jwk: String,
    pub created_at: DateTime<Utc>,
    pub active_from: DateTime<Utc>,
}

impl From<KeyRow> for StoredKey {
    fn from(r: KeyRow) -> Self {
        StoredKey {
            pool_id: PoolId::new(r.pool_id),
            kid: Kid::new(r.kid),
            alg: r.alg,
            private_jwk_sealed: r.private_jwk,
            public_jwk: r.public_jwk,
            created_at: r.created_at.and_utc(),
            active_from: r.active_from.and_utc(),
        }
    }
}

pub fn insert(c: &mut DbConn, k: &StoredKey) -> Result<(), StoreError> {
    let row = KeyRow {
        pool_id: k.pool_id.to_string(),
        kid: k.kid.to_string(),
        alg: k.alg.clone(),
        private_jwk: k.private_jwk_sealed.clone(),
        public_jwk: k.public_jwk.clone(),
        created_at: k.created_at.naive_utc(),
        active_from: k.active_from.naive_utc(),
    };
    diesel::insert_into(signing_keys::table)
        .values(&row)
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "a key with that id"))?;
    Ok(())
}

/// All keys of a pool, oldest activation first.
pub fn list(c: &mut DbConn, pool: &PoolId) -> Result<Vec<StoredKey>, StoreError> {
    Ok(signing_keys::table
        .filter(signing_keys::pool_id.eq(pool.as_str()))
        .order((
            signing_keys::active_from.asc(),
            signing_keys::created_at.asc(),
        ))
        .load::<KeyRow>(c)?
        .into_iter()
        .map(StoredKey::from)
        .collect())
}

/// Does any pool hold a key sealed with a master key? (A missing key file is then fatal.)
pub fn any_exist(c: &mut DbConn) -> Result<bool, StoreError> {
    Ok(signing_keys::table
        .select(signing_keys::kid)
        .first::<String>(c)
        .optional()?
        .is_some())
}

/// Deletes the pool's keys named in `kids` (expired ones: no longer published).
pub fn delete(c: &mut DbConn, pool: &PoolId, kids: &[String]) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        signing_keys::table
            .filter(signing_keys::pool_id.eq(pool.as_str()))
            .filter(signing_keys::kid.eq_any(kids)),
    )
    .execute(c)?)
}
