//! Remembered consents: which scopes a user allowed a client.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::consents;
use super::{DbConn, from_json, to_json};
use crate::ids::PoolId;
use crate::store::StoreError;

/// The scopes `sub` has allowed `client_id`, if any.
pub fn find(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    client_id: &str,
) -> Result<Vec<String>, StoreError> {
    let raw = consents::table
        .filter(consents::pool_id.eq(pool.as_str()))
        .filter(consents::sub.eq(sub))
        .filter(consents::client_id.eq(client_id))
        .select(consents::scopes)
        .first::<String>(c)
        .optional()?;
    raw.map(|s| from_json(&s, "consent scopes"))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Adds `scopes` to what `sub` allowed `client_id`. Written as delete + insert (MultiConnection
/// has no upsert); a concurrent save of the same pair that wins the insert is as good as ours.
pub fn save(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    client_id: &str,
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut merged = find(c, pool, sub, client_id)?;
    for s in scopes {
        if !merged.contains(s) {
            merged.push(s.clone());
        }
    }
    let merged = to_json(&merged)?;
    let result = c.transaction(|c| {
        diesel::delete(
            consents::table
                .filter(consents::pool_id.eq(pool.as_str()))
                .filter(consents::sub.eq(sub))
                .filter(consents::client_id.eq(client_id)),
        )
        .execute(c)?;
        diesel::insert_into(consents::table)
            .values((
                consents::pool_id.eq(pool.as_str()),
                consents::sub.eq(sub),
                consents::client_id.eq(client_id),
                consents::scopes.eq(&merged),
                consents::updated_at.eq(now.naive_utc()),
            ))
            .execute(c)
            .map_err(|e| StoreError::conflict_on_unique(e, "consent"))?;
        Ok(())
    });
    match result {
        Err(StoreError::Conflict(_)) => Ok(()),
        other => other,
    }
}

/// One remembered consent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Consent {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

/// Every consent `sub` gave, by client id.
pub fn list(c: &mut DbConn, pool: &PoolId, sub: &str) -> Result<Vec<Consent>, StoreError> {
    consents::table
        .filter(consents::pool_id.eq(pool.as_str()))
        .filter(consents::sub.eq(sub))
        .order(consents::client_id.asc())
        .select((consents::client_id, consents::scopes, consents::updated_at))
        .load::<(String, String, chrono::NaiveDateTime)>(c)?
        .into_iter()
        .map(|(client_id, scopes, at)| {
            Ok(Consent {
                client_id,
                scopes: from_json(&scopes, "consent scopes")?,
                updated_at: at.and_utc(),
            })
        })
        .collect()
}

/// Forgets what `sub` allowed `client_id`; whether there was anything.
pub fn delete(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    client_id: &str,
) -> Result<bool, StoreError> {
    let n = diesel::delete(
        consents::table
            .filter(consents::pool_id.eq(pool.as_str()))
            .filter(consents::sub.eq(sub))
            .filter(consents::client_id.eq(client_id)),
    )
    .execute(c)?;
    Ok(n > 0)
}
