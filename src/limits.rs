//! Request limits, each counted before the work it guards: a pool's request rates per category
//! (Cognito's quotas, in requests per second) and attempt budgets per key (a client address,
//! a destination email) over a window. Both are atomic increments in the KV store, so they
//! hold across parallel requests and across instances sharing one store.

use std::time::Duration;

use crate::ids::PoolId;
use crate::model::pool::{RateCategory, RateLimits};
use crate::state::AppState;
use crate::store::StoreError;

/// A limit was reached: come back after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: u64,
}

/// The window of a rate: one second.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Counts one request of `category` against the pool's rate; `Err` once this second's share
/// is spent. A rate of 0 means no limit.
pub async fn rate(
    app: &AppState,
    pool: &PoolId,
    limits: &RateLimits,
    category: RateCategory,
) -> Result<Result<(), Limited>, StoreError> {
    let max = limits.of(category);
    if max == 0 {
        return Ok(Ok(()));
    }
    let key = format!("{pool}:rate:{}", category.as_str());
    let n = app.kv.incr(&key, RATE_WINDOW).await?;
    Ok(if n > i64::from(max) {
        Err(Limited { retry_after: 1 })
    } else {
        Ok(())
    })
}

/// One budget: at most `max` uses of `key` per `window`.
#[derive(Debug, Clone)]
pub struct Budget {
    pub key: String,
    pub max: i64,
    pub window: Duration,
}

impl Budget {
    pub fn new(key: String, max: i64, window: Duration) -> Self {
        Self { key, max, window }
    }
}

/// Budgets reserved by [`reserve`]; [`Reserved::give_back`] returns them when the attempt
/// turned out not to count (nothing was created or sent).
#[derive(Debug)]
#[must_use]
pub struct Reserved {
    keys: Vec<String>,
}

impl Reserved {
    pub async fn give_back(self, app: &AppState) -> Result<(), StoreError> {
        for key in &self.keys {
            app.kv.release(key).await?;
        }
        Ok(())
    }
}

/// Reserves one use of every budget, or none: when any is spent, those already counted are
/// given back and the answer says how long to wait (the longest window involved).
pub async fn reserve(
    app: &AppState,
    budgets: &[Budget],
) -> Result<Result<Reserved, Limited>, StoreError> {
    let mut keys = Vec::with_capacity(budgets.len());
    for b in budgets {
        let n = app.kv.incr(&b.key, b.window).await?;
        keys.push(b.key.clone());
        if n > b.max {
            Reserved { keys }.give_back(app).await?;
            return Ok(Err(Limited {
                retry_after: b.window.as_secs().max(1),
            }));
        }
    }
    Ok(Ok(Reserved { keys }))
}
