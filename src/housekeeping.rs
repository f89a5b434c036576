//! Periodic clean-up while the server runs: expired UNCONFIRMED sign-ups, per pool. Each run
//! logs what it removed; a failing pool is logged and the others still run.

use std::time::Duration;

use crate::accounts::expiry::expire_unconfirmed;
use crate::pools;
use crate::state::AppState;

/// How often the clean-up runs.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// One pass over every pool; returns how many accounts were removed.
pub async fn run_once(app: &AppState) -> usize {
    let pools = match pools::list(app).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "housekeeping: cannot list pools");
            return 0;
        }
    };
    let now = app.clock.now();
    let mut removed = 0;
    for pool in pools {
        match expire_unconfirmed(app, &pool, now).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(pool = %pool.id, removed = n, "expired unconfirmed sign-ups");
                removed += n;
            }
            Err(e) => tracing::warn!(pool = %pool.id, error = %e, "housekeeping failed"),
        }
    }
    removed
}

/// Runs [`run_once`] every [`INTERVAL`], the first time at start.
pub async fn run_forever(app: AppState) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        run_once(&app).await;
    }
}
