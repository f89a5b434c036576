//! Group rows and memberships; a user's groups come back ordered by precedence, then name.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::DbConn;
use super::schema::{groups, user_groups};
use crate::ids::PoolId;
use crate::store::StoreError;

#[derive(Queryable, Insertable)]
#[diesel(table_name = groups)]
struct Row {
    pool_id: String,
    name: String,
    description: String,
    precedence: i64,
    created_at: NaiveDateTime,
    role_arn: Option<String>,
}

/// A group of a pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Group {
    pub name: String,
    pub description: String,
    pub precedence: i64,
    pub created_at: DateTime<Utc>,
    /// Cognito's RoleArn: the role its members' ID tokens name (`cognito:roles`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

impl From<Row> for Group {
    fn from(r: Row) -> Self {
        Group {
            name: r.name,
            description: r.description,
            precedence: r.precedence,
            created_at: r.created_at.and_utc(),
            role_arn: r.role_arn,
        }
    }
}

pub fn insert(c: &mut DbConn, pool: &PoolId, g: &Group) -> Result<(), StoreError> {
    let row = Row {
        pool_id: pool.to_string(),
        name: g.name.clone(),
        description: g.description.clone(),
        precedence: g.precedence,
        created_at: g.created_at.naive_utc(),
        role_arn: g.role_arn.clone(),
    };
    diesel::insert_into(groups::table)
        .values(&row)
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "a group with that name"))?;
    Ok(())
}

pub fn delete(c: &mut DbConn, pool: &PoolId, name: &str) -> Result<bool, StoreError> {
    let n = diesel::delete(
        groups::table
            .filter(groups::pool_id.eq(pool.as_str()))
            .filter(groups::name.eq(name)),
    )
    .execute(c)?;
    members_changed(c, pool, n)
}

pub fn list(c: &mut DbConn, pool: &PoolId) -> Result<Vec<Group>, StoreError> {
    Ok(groups::table
        .filter(groups::pool_id.eq(pool.as_str()))
        .order((groups::precedence.asc(), groups::name.asc()))
        .load::<Row>(c)?
        .into_iter()
        .map(Group::from)
        .collect())
}

pub fn exists(c: &mut DbConn, pool: &PoolId, name: &str) -> Result<bool, StoreError> {
    Ok(groups::table
        .filter(groups::pool_id.eq(pool.as_str()))
        .filter(groups::name.eq(name))
        .select(groups::name)
        .first::<String>(c)
        .optional()?
        .is_some())
}

/// Adds a membership; adding twice is not an error.
pub fn add_member(c: &mut DbConn, pool: &PoolId, name: &str, sub: &str) -> Result<(), StoreError> {
    let r = diesel::insert_into(user_groups::table)
        .values((
            user_groups::pool_id.eq(pool.as_str()),
            user_groups::sub.eq(sub),
            user_groups::group_name.eq(name),
        ))
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "membership"));
    match r {
        Ok(n) => members_changed(c, pool, n).map(|_| ()),
        Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn remove_member(
    c: &mut DbConn,
    pool: &PoolId,
    name: &str,
    sub: &str,
) -> Result<bool, StoreError> {
    let n = diesel::delete(
        user_groups::table
            .filter(user_groups::pool_id.eq(pool.as_str()))
            .filter(user_groups::group_name.eq(name))
            .filter(user_groups::sub.eq(sub)),
    )
    .execute(c)?;
    members_changed(c, pool, n)
}

/// Names of the user's groups, lowest precedence first (Cognito's `cognito:groups` order).
pub fn of_user(c: &mut DbConn, pool: &PoolId, sub: &str) -> Result<Vec<String>, StoreError> {
    Ok(with_roles_of_user(c, pool, sub)?.0)
}

/// The user's groups by precedence (`cognito:groups`) and, in the same order without repeats,
/// the roles of those that have one (`cognito:roles`; the first is `cognito:preferred_role`):
/// one query.
pub fn with_roles_of_user(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let rows: Vec<(String, Option<String>)> = user_groups::table
        .inner_join(
            groups::table.on(groups::pool_id
                .eq(user_groups::pool_id)
                .and(groups::name.eq(user_groups::group_name))),
        )
        .filter(user_groups::pool_id.eq(pool.as_str()))
        .filter(user_groups::sub.eq(sub))
        .order((groups::precedence.asc(), groups::name.asc()))
        .select((groups::name, groups::role_arn))
        .load(c)?;
    let mut roles: Vec<String> = Vec::new();
    let mut names = Vec::with_capacity(rows.len());
    for (name, role) in rows {
        names.push(name);
        if let Some(r) = role
            && !roles.contains(&r)
        {
            roles.push(r);
        }
    }
    Ok((names, roles))
}

/// Changes a group's description, precedence and role; returns whether it exists.
pub fn update(
    c: &mut DbConn,
    pool: &PoolId,
    name: &str,
    description: &str,
    precedence: i64,
    role_arn: Option<&str>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        groups::table
            .filter(groups::pool_id.eq(pool.as_str()))
            .filter(groups::name.eq(name)),
    )
    .set((
        groups::description.eq(description),
        groups::precedence.eq(precedence),
        groups::role_arn.eq(role_arn),
    ))
    .execute(c)?;
    members_changed(c, pool, n)
}

/// After a write of `n` rows that changes what its members' tokens say (their groups, the
/// groups' order or roles): when any changed, bumps the pool's users version (instances drop
/// the users they cached) and says so.
fn members_changed(c: &mut DbConn, pool: &PoolId, n: usize) -> Result<bool, StoreError> {
    if n > 0 {
        super::pools::bump_users_version(c, pool)?;
    }
    Ok(n > 0)
}

/// The subs of a group's members, in sub order.
pub fn members(c: &mut DbConn, pool: &PoolId, name: &str) -> Result<Vec<String>, StoreError> {
    Ok(user_groups::table
        .filter(user_groups::pool_id.eq(pool.as_str()))
        .filter(user_groups::group_name.eq(name))
        .order(user_groups::sub.asc())
        .select(user_groups::sub)
        .load::<String>(c)?)
}
