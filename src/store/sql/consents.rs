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

/// Records the scopes allowed (replacing the previous set). Written as delete + insert because
/// MultiConnection has no upsert.
pub fn save(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    client_id: &str,
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let scopes = to_json(&scopes)?;
    c.transaction(|c| {
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
                consents::scopes.eq(&scopes),
                consents::updated_at.eq(now.naive_utc()),
            ))
            .execute(c)?;
        Ok(())
    })
}
