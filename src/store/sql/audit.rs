//! Audit event rows: who did what in a pool, and when.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::audit_events as ev;
use crate::ids::PoolId;
use crate::store::StoreError;

/// One audit event.
#[derive(Debug, Clone, serde::Serialize, Queryable, Insertable)]
#[diesel(table_name = ev)]
pub struct AuditEvent {
    #[serde(skip)]
    pub pool_id: String,
    pub id: String,
    #[serde(serialize_with = "utc")]
    pub at: NaiveDateTime,
    pub kind: String,
    pub sub: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

fn utc<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.and_utc().to_rfc3339())
}

pub fn insert(c: &mut DbConn, e: &AuditEvent) -> Result<(), StoreError> {
    diesel::insert_into(ev::table).values(e).execute(c)?;
    Ok(())
}

/// Several rows with one commit: one statement on PostgreSQL; on SQLite (no multi-row insert
/// through diesel) one prepared statement a row in one transaction, as fast there.
pub fn insert_all(c: &mut DbConn, rows: &[AuditEvent]) -> Result<(), StoreError> {
    match c {
        DbConn::Pg(pg) => {
            diesel::insert_into(ev::table).values(rows).execute(pg)?;
        }
        DbConn::Sqlite(lite) => lite.transaction(|t| {
            rows.iter().try_for_each(|r| {
                diesel::insert_into(ev::table)
                    .values(r)
                    .execute(t)
                    .map(drop)
            })
        })?,
    }
    Ok(())
}

/// Newest first; `sub` narrows to one user.
pub fn list(
    c: &mut DbConn,
    pool: &PoolId,
    sub: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut q = ev::table.filter(ev::pool_id.eq(pool.as_str())).into_boxed();
    if let Some(s) = sub {
        q = q.filter(ev::sub.eq(s));
    }
    Ok(q.order((ev::at.desc(), ev::id.desc()))
        .limit(limit)
        .load::<AuditEvent>(c)?)
}

/// Deletes the pool's events older than `before` (the retention).
pub fn delete_before(
    c: &mut DbConn,
    pool: &PoolId,
    before: NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        ev::table
            .filter(ev::pool_id.eq(pool.as_str()))
            .filter(ev::at.lt(before)),
    )
    .execute(c)?)
}
