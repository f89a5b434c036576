//! Groups: administration and membership; `cognito:groups` in tokens lists a user's groups by
//! precedence.

use chrono::{DateTime, Utc};

use super::{AccountError, find};
use crate::ids::PoolId;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::groups::{self as rows, Group};

fn invalid(msg: impl Into<String>) -> AccountError {
    AccountError::Invalid {
        field: "group",
        msg: msg.into(),
    }
}

/// Cognito's rule: 1-128 printable characters without spaces or control characters.
fn check_name(name: &str) -> Result<(), AccountError> {
    let n = name.chars().count();
    if n == 0 || n > 128 || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid("name must be 1 to 128 characters without spaces"));
    }
    Ok(())
}

/// What a group is made of besides its name.
#[derive(Debug, Clone, Default)]
pub struct GroupSpec {
    pub description: String,
    pub precedence: i64,
    /// The role its members' ID tokens name (Cognito's RoleArn).
    pub role_arn: Option<String>,
}

fn check_spec(g: &GroupSpec) -> Result<(), AccountError> {
    if !(0..=i64::from(i32::MAX)).contains(&g.precedence) {
        return Err(invalid("precedence must be between 0 and 2147483647"));
    }
    if g.description.chars().count() > 2048 || g.description.chars().any(char::is_control) {
        return Err(invalid(
            "description must be at most 2048 printable characters",
        ));
    }
    let bad_role = g.role_arn.as_ref().is_some_and(|r| {
        r.len() < 20 || r.len() > 2048 || r.chars().any(|c| c.is_control() || c.is_whitespace())
    });
    if bad_role {
        return Err(invalid(
            "role ARN must be 20 to 2048 characters without spaces",
        ));
    }
    Ok(())
}

pub async fn create(
    app: &AppState,
    pool: &PoolId,
    name: &str,
    spec: GroupSpec,
    now: DateTime<Utc>,
) -> Result<Group, AccountError> {
    check_name(name)?;
    check_spec(&spec)?;
    let g = Group {
        name: name.into(),
        description: spec.description,
        precedence: spec.precedence,
        created_at: now,
        role_arn: spec.role_arn,
    };
    let (p, row) = (pool.clone(), g.clone());
    app.sql
        .run(move |c| rows::insert(c, &p, &row))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => invalid(format!("a group named {name:?} already exists")),
            other => AccountError::Store(other),
        })?;
    Ok(g)
}

pub async fn delete(app: &AppState, pool: &PoolId, name: &str) -> Result<(), AccountError> {
    let (p, n) = (pool.clone(), name.to_string());
    if app.sql.run(move |c| rows::delete(c, &p, &n)).await? {
        app.pools.users_changed(pool);
        Ok(())
    } else {
        Err(invalid(format!("no group {name:?}")))
    }
}

pub async fn list(app: &AppState, pool: &PoolId) -> Result<Vec<Group>, AccountError> {
    let p = pool.clone();
    Ok(app.sql.run(move |c| rows::list(c, &p)).await?)
}

/// Adds (or with `add == false` removes) a user, named by sub, username or email.
pub async fn set_member(
    app: &AppState,
    pool: &PoolId,
    name: &str,
    who: &str,
    add: bool,
) -> Result<(), AccountError> {
    let user = find(app, pool, who).await?;
    let (p, n, sub) = (pool.clone(), name.to_string(), user.sub.to_string());
    let found = app
        .sql
        .transaction(move |c| {
            if !rows::exists(c, &p, &n)? {
                return Ok(false);
            }
            if add {
                rows::add_member(c, &p, &n, &sub)?;
            } else {
                rows::remove_member(c, &p, &n, &sub)?;
            }
            Ok(true)
        })
        .await?;
    if found {
        app.pools.users_changed(pool);
        Ok(())
    } else {
        Err(invalid(format!("no group {name:?}")))
    }
}

/// The group `name`, if the pool has it.
pub async fn get(app: &AppState, pool: &PoolId, name: &str) -> Result<Option<Group>, AccountError> {
    Ok(list(app, pool).await?.into_iter().find(|g| g.name == name))
}

/// Replaces a group's description, precedence and role.
pub async fn update(
    app: &AppState,
    pool: &PoolId,
    name: &str,
    spec: GroupSpec,
) -> Result<(), AccountError> {
    check_spec(&spec)?;
    let (p, n) = (pool.clone(), name.to_string());
    if app
        .sql
        .run(move |c| {
            rows::update(
                c,
                &p,
                &n,
                &spec.description,
                spec.precedence,
                spec.role_arn.as_deref(),
            )
        })
        .await?
    {
        app.pools.users_changed(pool);
        Ok(())
    } else {
        Err(invalid(format!("no group {name:?}")))
    }
}

/// The members of group `name`.
pub async fn members(
    app: &AppState,
    pool: &PoolId,
    name: &str,
) -> Result<Vec<crate::store::sql::users::User>, AccountError> {
    let (p, n) = (pool.clone(), name.to_string());
    let subs = app.sql.run(move |c| rows::members(c, &p, &n)).await?;
    let mut out = Vec::with_capacity(subs.len());
    for sub in subs {
        out.push(find(app, pool, &sub).await?);
    }
    Ok(out)
}

/// The groups of the user `who`, by precedence.
pub async fn of_user(app: &AppState, pool: &PoolId, who: &str) -> Result<Vec<Group>, AccountError> {
    let user = find(app, pool, who).await?;
    let (p, sub) = (pool.clone(), user.sub.to_string());
    let names = app.sql.run(move |c| rows::of_user(c, &p, &sub)).await?;
    let all = list(app, pool).await?;
    Ok(names
        .iter()
        .filter_map(|n| all.iter().find(|g| &g.name == n).cloned())
        .collect())
}
