//! Periodic clean-up while the server runs, on one instance at a time (a lease in the KV
//! store): expired UNCONFIRMED sign-ups, expired refresh tokens, audit events past
//! `audit_retention_days`, and signing keys no longer published. Each run logs and counts
//! what it removed; a failing pool is logged and the others still run.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::accounts::expiry::expire_unconfirmed;
use crate::error::Error;
use crate::pools;
use crate::state::AppState;
use crate::store::sql::pools::Pool;
use crate::store::sql::{audit as audit_rows, refresh_tokens};

/// How often the clean-up runs.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// The lease a run holds; it outlives a crashed holder by at most its TTL.
const LEASE: &str = "housekeeping:lease";
const LEASE_TTL: Duration = Duration::from_secs(600);

/// What one run removed, over every pool.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub unconfirmed_users: usize,
    pub refresh_tokens: usize,
    pub audit_events: usize,
    pub signing_keys: usize,
}

impl Swept {
    pub fn total(&self) -> usize {
        self.unconfirmed_users + self.refresh_tokens + self.audit_events + self.signing_keys
    }

    fn add(&mut self, o: Swept) {
        self.unconfirmed_users += o.unconfirmed_users;
        self.refresh_tokens += o.refresh_tokens;
        self.audit_events += o.audit_events;
        self.signing_keys += o.signing_keys;
    }
}

/// One pass over every pool; `None` when another instance holds the lease (or the KV store
/// cannot be asked: better skip a run than run twice).
pub async fn run_once(app: &AppState) -> Option<Swept> {
    let holder = uuid::Uuid::new_v4().to_string();
    match app
        .kv
        .put_if_absent(LEASE, holder.as_bytes(), LEASE_TTL)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("housekeeping: another instance holds the lease; skipped");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "housekeeping: cannot take the lease; skipped");
            return None;
        }
    }
    let swept = sweep(app).await;
    // Released only if still ours (a run longer than the TTL may have lost it).
    if let Ok(Some(v)) = app.kv.get(LEASE).await
        && v == holder.as_bytes()
        && let Err(e) = app.kv.delete(LEASE).await
    {
        tracing::warn!(error = %e, "housekeeping: cannot release the lease");
    }
    app.metrics.housekeeping(&[
        ("unconfirmed_users", swept.unconfirmed_users),
        ("refresh_tokens", swept.refresh_tokens),
        ("audit_events", swept.audit_events),
        ("signing_keys", swept.signing_keys),
    ]);
    tracing::info!(
        unconfirmed_users = swept.unconfirmed_users,
        refresh_tokens = swept.refresh_tokens,
        audit_events = swept.audit_events,
        signing_keys = swept.signing_keys,
        "housekeeping done"
    );
    Some(swept)
}

async fn sweep(app: &AppState) -> Swept {
    let mut swept = Swept::default();
    let pools = match pools::list(app).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "housekeeping: cannot list pools");
            return swept;
        }
    };
    let now = app.clock.now();
    match crate::keys::delete_expired(app, crate::keys::Owner::Identity, now).await {
        Ok(n) => swept.signing_keys += n,
        Err(e) => tracing::warn!(error = %e, "housekeeping: identity issuer keys"),
    }
    for pool in pools {
        match sweep_pool(app, &pool, now).await {
            Ok(s) => swept.add(s),
            Err(e) => tracing::warn!(pool = %pool.id, error = %e, "housekeeping failed"),
        }
    }
    swept
}

async fn sweep_pool(app: &AppState, pool: &Pool, now: DateTime<Utc>) -> Result<Swept, Error> {
    let unconfirmed_users = expire_unconfirmed(app, pool, now).await?;
    let id = pool.id.clone();
    let refresh_tokens = app
        .sql
        .run(move |c| refresh_tokens::delete_expired(c, &id, now))
        .await?;
    let days = app.config.audit_retention_days;
    let audit_events = if days == 0 {
        0
    } else {
        let before = now - TimeDelta::days(i64::try_from(days).unwrap_or(i64::MAX / 86_400_000));
        let id = pool.id.clone();
        // Rows recorded before the sweep are in SQL before it looks.
        app.audit.flush().await;
        app.sql
            .run(move |c| audit_rows::delete_before(c, &id, before.naive_utc()))
            .await?
    };
    let signing_keys =
        crate::keys::delete_expired(app, crate::keys::Owner::Pool(&pool.id), now).await?;
    Ok(Swept {
        unconfirmed_users,
        refresh_tokens,
        audit_events,
        signing_keys,
    })
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
