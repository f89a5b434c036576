//! Unconfirmed sign-ups do not last: past the pool's `unconfirmed_expiry_days` they are deleted
//! (with an audit event each), so an address named by a sign-up nobody confirmed is free again.

use chrono::{DateTime, TimeDelta, Utc};

use super::AccountError;
use crate::audit;
use crate::state::AppState;
use crate::store::sql::pools::Pool;
use crate::store::sql::users as user_rows;

/// Deleted per query; a pool with more expired sign-ups takes several rounds of one run.
const BATCH: i64 = 200;

/// Deletes the pool's UNCONFIRMED users created more than its expiry ago; returns how many.
pub async fn expire_unconfirmed(
    app: &AppState,
    pool: &Pool,
    now: DateTime<Utc>,
) -> Result<usize, AccountError> {
    let days = pool.settings.unconfirmed_expiry_days;
    if days == 0 {
        return Ok(0);
    }
    let before = now - TimeDelta::days(i64::from(days));
    let mut deleted = 0;
    loop {
        let p = pool.id.clone();
        let batch = app
            .sql
            .run(move |c| user_rows::unconfirmed_before(c, &p, before, BATCH))
            .await?;
        let full = batch.len() == usize::try_from(BATCH).unwrap_or(usize::MAX);
        for user in batch {
            let (p, sub) = (pool.id.clone(), user.sub.clone());
            // A confirmation that raced this run wins: only a still-UNCONFIRMED row goes.
            if !app
                .sql
                .run(move |c| user_rows::delete_unconfirmed(c, &p, &sub))
                .await?
            {
                continue;
            }
            app.pools.users_changed(&pool.id);
            deleted += 1;
            let ctx = audit::Context {
                sub: Some(user.sub.as_str()),
                detail: "unconfirmed past the pool's expiry",
                ..Default::default()
            };
            audit::record(app, &pool.id, audit::Kind::UnconfirmedExpired, ctx, now).await;
        }
        if !full {
            return Ok(deleted);
        }
    }
}
