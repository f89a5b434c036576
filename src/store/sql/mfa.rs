//! MFA rows: a user's TOTP factor (secret sealed by the caller, last accepted time step) and
//! their single-use recovery codes (hashes only).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::DbConn;
use super::schema::{mfa_recovery_codes as rc, mfa_totp as totp};
use crate::ids::PoolId;
use crate::store::StoreError;

#[derive(Queryable, Insertable)]
#[diesel(table_name = totp)]
struct FactorRow {
    pool_id: String,
    sub: String,
    secret_sealed: String,
    last_step: Option<i64>,
    created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = rc)]
struct CodeRow<'a> {
    pool_id: &'a str,
    sub: &'a str,
    code_hash: &'a str,
    used_at: Option<NaiveDateTime>,
}

/// A stored TOTP factor. `secret_sealed` is only ever the master-key-sealed secret.
#[derive(Debug, Clone)]
pub struct TotpFactor {
    pub secret_sealed: String,
    /// The last time step (RFC 6238 `T`) a code was accepted for; codes of this step or
    /// earlier are refused.
    pub last_step: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<FactorRow> for TotpFactor {
    fn from(r: FactorRow) -> Self {
        Self {
            secret_sealed: r.secret_sealed,
            last_step: r.last_step,
            created_at: r.created_at.and_utc(),
        }
    }
}

/// Replaces the user's factor and recovery codes with new ones. Call inside a transaction
/// (`SqlStore::transaction`) so a user never holds a factor without its codes.
pub fn replace(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    factor: &TotpFactor,
    code_hashes: &[String],
) -> Result<(), StoreError> {
    delete_for_user(c, pool, sub)?;
    let row = FactorRow {
        pool_id: pool.to_string(),
        sub: sub.to_string(),
        secret_sealed: factor.secret_sealed.clone(),
        last_step: factor.last_step,
        created_at: factor.created_at.naive_utc(),
    };
    diesel::insert_into(totp::table).values(&row).execute(c)?;
    for h in code_hashes {
        let code = CodeRow {
            pool_id: pool.as_str(),
            sub,
            code_hash: h,
            used_at: None,
        };
        diesel::insert_into(rc::table)
            .values(&code)
            .execute(c)
            .map_err(|e| StoreError::conflict_on_unique(e, "a recovery code"))?;
    }
    Ok(())
}

pub fn find(c: &mut DbConn, pool: &PoolId, sub: &str) -> Result<Option<TotpFactor>, StoreError> {
    Ok(totp::table
        .filter(totp::pool_id.eq(pool.as_str()))
        .filter(totp::sub.eq(sub))
        .first::<FactorRow>(c)
        .optional()?
        .map(TotpFactor::from))
}

/// Records `step` as the last accepted step if it is later than the stored one. False means
/// a code of this step (or a later one) was already accepted: a replay, or a concurrent
/// duplicate, or no factor at all.
pub fn advance_step(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    step: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        totp::table
            .filter(totp::pool_id.eq(pool.as_str()))
            .filter(totp::sub.eq(sub))
            .filter(totp::last_step.is_null().or(totp::last_step.lt(step))),
    )
    .set(totp::last_step.eq(Some(step)))
    .execute(c)?;
    Ok(n == 1)
}

/// Marks an unused recovery code used; false if there is no such unused code.
pub fn use_recovery_code(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    code_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        rc::table
            .filter(rc::pool_id.eq(pool.as_str()))
            .filter(rc::sub.eq(sub))
            .filter(rc::code_hash.eq(code_hash))
            .filter(rc::used_at.is_null()),
    )
    .set(rc::used_at.eq(Some(now.naive_utc())))
    .execute(c)?;
    Ok(n == 1)
}

/// Deletes the factor and every recovery code of a user; true if anything was there.
/// Which of `subs` hold a TOTP factor.
pub fn with_factor(
    c: &mut DbConn,
    pool: &PoolId,
    subs: &[String],
) -> Result<std::collections::HashSet<String>, StoreError> {
    Ok(totp::table
        .filter(totp::pool_id.eq(pool.as_str()))
        .filter(totp::sub.eq_any(subs))
        .select(totp::sub)
        .load::<String>(c)?
        .into_iter()
        .collect())
}

pub fn delete_for_user(c: &mut DbConn, pool: &PoolId, sub: &str) -> Result<bool, StoreError> {
    let codes = diesel::delete(
        rc::table
            .filter(rc::pool_id.eq(pool.as_str()))
            .filter(rc::sub.eq(sub)),
    )
    .execute(c)?;
    let factors = diesel::delete(
        totp::table
            .filter(totp::pool_id.eq(pool.as_str()))
            .filter(totp::sub.eq(sub)),
    )
    .execute(c)?;
    Ok(codes + factors > 0)
}

/// How many recovery codes the user has not used yet.
pub fn remaining_codes(c: &mut DbConn, pool: &PoolId, sub: &str) -> Result<i64, StoreError> {
    Ok(rc::table
        .filter(rc::pool_id.eq(pool.as_str()))
        .filter(rc::sub.eq(sub))
        .filter(rc::used_at.is_null())
        .count()
        .get_result(c)?)
}
