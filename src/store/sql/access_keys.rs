//! Access key rows for the Cognito API's signed operations: id, sealed secret, description.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::DbConn;
use super::schema::access_keys;
use crate::store::StoreError;

#[derive(Queryable, Insertable)]
#[diesel(table_name = access_keys)]
struct Row {
    access_key_id: String,
    secret_sealed: String,
    description: String,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
}

/// An access key as stored; the secret stays sealed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccessKey {
    pub access_key_id: String,
    #[serde(skip)]
    pub secret_sealed: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<Row> for AccessKey {
    fn from(r: Row) -> Self {
        Self {
            access_key_id: r.access_key_id,
            secret_sealed: r.secret_sealed,
            description: r.description,
            created_at: r.created_at.and_utc(),
            last_used_at: r.last_used_at.map(|t| t.and_utc()),
        }
    }
}

pub fn insert(c: &mut DbConn, k: &AccessKey) -> Result<(), StoreError> {
    diesel::insert_into(access_keys::table)
        .values(Row {
            access_key_id: k.access_key_id.clone(),
            secret_sealed: k.secret_sealed.clone(),
            description: k.description.clone(),
            created_at: k.created_at.naive_utc(),
            last_used_at: None,
        })
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "an access key with that id"))?;
    Ok(())
}

pub fn find(c: &mut DbConn, id: &str) -> Result<Option<AccessKey>, StoreError> {
    Ok(access_keys::table
        .filter(access_keys::access_key_id.eq(id))
        .first::<Row>(c)
        .optional()?
        .map(AccessKey::from))
}

pub fn list(c: &mut DbConn) -> Result<Vec<AccessKey>, StoreError> {
    Ok(access_keys::table
        .order(access_keys::created_at.asc())
        .load::<Row>(c)?
        .into_iter()
        .map(AccessKey::from)
        .collect())
}

/// Deletes a key; returns whether it existed.
pub fn delete(c: &mut DbConn, id: &str) -> Result<bool, StoreError> {
    Ok(
        diesel::delete(access_keys::table.filter(access_keys::access_key_id.eq(id))).execute(c)?
            > 0,
    )
}

/// Records a use (at most the time given; callers limit how often they write).
pub fn touch(c: &mut DbConn, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::update(access_keys::table.filter(access_keys::access_key_id.eq(id)))
        .set(access_keys::last_used_at.eq(now.naive_utc()))
        .execute(c)?;
    Ok(())
}
