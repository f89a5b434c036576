//! Password sign-in: Cognito's lockout (after 5 consecutive failures per identifier each attempt
//! waits 1 s, doubling to 15 minutes) and a per-IP throttle, both in the KV store and the same
//! for unknown identifiers; a dummy hash for unknown users; hash upgrades on sign-in. An
//! attempt whose request is dropped before its password was checked (the client went away
//! while it waited for a hash) gives the identifier's count back: nobody learnt anything from
//! it (the address's count stays: it budgets work). Once the verdict is known the attempt
//! counts, whatever happens to its request.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{AccountError, normalize_identifier, policy::MAX_PASSWORD_LEN};
use crate::audit;
use crate::background::Background;
use crate::crypto::password::PasswordError;
use crate::crypto::sha256_hex;
use crate::ids::{PoolId, Secret};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::kv::Kv;
use crate::store::sql::pools::Pool;
use crate::store::sql::users::{self, User};

/// Consecutive failures per identifier before each further attempt must wait.
pub const FREE_FAILURES: i64 = 5;
/// The longest wait between attempts once locked (Cognito's cap).
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// How long consecutive failures are remembered without a success.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// Failed attempts per client IP (guessing across many accounts) in [`IP_WINDOW`].
pub const MAX_FAILURES_PER_IP: i64 = 50;
pub const IP_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The result of a password check. Every failure looks the same whether or not the account
/// exists; `Locked` only says "wait", which unknown identifiers get too.
#[derive(Debug)]
pub enum Checked {
    Ok(Box<User>),
    Failed,
    Locked,
}

/// The wait after `failures` consecutive failures: none up to [`FREE_FAILURES`], then 1 s
/// doubling, capped at [`MAX_LOCK`].
pub fn lock_delay(failures: i64) -> Option<Duration> {
    let over = failures - FREE_FAILURES;
    (over >= 0).then(|| {
        let secs = 1u64
            .checked_shl(u32::try_from(over).unwrap_or(u32::MAX))
            .unwrap_or(u64::MAX);
        Duration::from_secs(secs).min(MAX_LOCK)
    })
}

/// The lockout state of one identifier (or of the IP) in the KV store.
pub struct Throttle {
    pool: PoolId,
    id_hash: String,
    ip_key: Option<String>,
}

impl Throttle {
    pub fn new(pool: &PoolId, identifier: &str, ip: Option<&str>) -> Self {
        let norm = normalize_identifier(identifier);
        Self {
            pool: pool.clone(),
            id_hash: sha256_hex(norm.as_bytes()),
            ip_key: ip.map(|ip| format!("{pool}:fail:ip:{ip}")),
        }
    }

    fn count_key(&self) -> String {
        format!("{}:fail:id:{}", self.pool, self.id_hash)
    }

    fn lock_key(&self) -> String {
        format!("{}:lock:id:{}", self.pool, self.id_hash)
    }

    /// Reserves this attempt before any work is done: it is counted for the identifier and the
    /// client address first (atomic increments), then allowed only if the identifier is not in
    /// its wait and the address has budget left. An attempt that would start a wait if it fails
    /// claims that wait now (set-if-absent), so of a parallel burst only the allowed number is
    /// evaluated. `None`: wait (nothing was counted).
    pub async fn reserve(&self, app: &AppState) -> Result<Option<Reserved>, StoreError> {
        let (count_key, lock_key) = (self.count_key(), self.lock_key());
        let mut counters = vec![(count_key.as_str(), FAILURE_MEMORY)];
        if let Some(k) = &self.ip_key {
            counters.push((k.as_str(), IP_WINDOW));
        }
        // One round trip: not counted at all while the identifier waits.
        let Some(counts) = app.kv.incr_unless(&lock_key, &counters).await? else {
            return Ok(None);
        };
        let attempt = counts.first().copied().unwrap_or(0);
        if counts.get(1).is_some_and(|&n| n > MAX_FAILURES_PER_IP) {
            self.give_back(app).await?;
            return Ok(None);
        }
        if let Some(wait) = lock_delay(attempt)
            && !app.kv.put_if_absent(&lock_key, b"1", wait).await?
        {
            self.give_back(app).await?;
            return Ok(None);
        }
        Ok(Some(Reserved {
            attempt,
            unsettled: None,
        }))
    }

    /// Until [`Reserved::decided`], dropping `r` (its request was dropped) gives it back in
    /// the background, as [`Throttle::cancel`] would: call it before the wait for a check.
    /// The address's count stays: it budgets the work asked of the server (a worker may
    /// have computed the check already), and a client must not get around it by hanging up.
    fn undecided(&self, app: &AppState, r: &mut Reserved) {
        r.unsettled = Some(Unsettled {
            kv: app.kv.shared(),
            background: app.background.clone(),
            count_key: self.count_key(),
            lock_key: self.lock_key(),
        });
    }

    /// Undoes the counts of an attempt that does not count (refused, or not evaluated).
    async fn give_back(&self, app: &AppState) -> Result<(), StoreError> {
        give_back(&app.kv, &self.count_key(), self.ip_key.as_deref()).await
    }

    /// The reservation and the check's answer; a check that was not made (shed under load,
    /// or its worker gone) gives its reservation back first: the server's overload never
    /// counts against a user.
    async fn unless_unchecked(
        &self,
        app: &AppState,
        r: Reserved,
        checked: Result<bool, PasswordError>,
    ) -> Result<(Reserved, bool), AccountError> {
        match checked {
            Ok(verified) => Ok((r, verified)),
            Err(e) => {
                self.cancel(app, r).await?;
                Err(e.into())
            }
        }
    }

    /// The reserved attempt was not evaluated after all (malformed input): it does not count.
    pub async fn cancel(&self, app: &AppState, mut r: Reserved) -> Result<(), StoreError> {
        r.decided();
        if lock_delay(r.attempt).is_some() {
            app.kv.delete(&self.lock_key()).await?;
        }
        self.give_back(app).await
    }

    /// The reserved attempt failed: it stays counted, and past the free ones the wait it
    /// claimed stands (audited).
    pub async fn failed(
        &self,
        app: &AppState,
        mut r: Reserved,
        ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        r.decided();
        if let Some(wait) = lock_delay(r.attempt) {
            let detail = format!(
                "identifier {} locked for {} s after {} failures",
                self.id_hash.get(..12).unwrap_or_default(),
                wait.as_secs(),
                r.attempt
            );
            let ctx = audit::Context {
                ip,
                detail: &detail,
                ..Default::default()
            };
            audit::record(app, &self.pool, audit::Kind::LockedOut, ctx, now).await;
        }
        Ok(())
    }

    /// The reserved attempt succeeded: the run of failures ends, and a success does not count
    /// against the address.
    pub async fn succeeded(&self, app: &AppState, mut r: Reserved) -> Result<(), StoreError> {
        r.decided();
        let (count_key, lock_key) = (self.count_key(), self.lock_key());
        let release: Vec<&str> = self.ip_key.as_deref().into_iter().collect();
        app.kv
            .release_and_delete(&release, &[&count_key, &lock_key])
            .await
    }
}

/// How a reserved attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Right,
    Wrong,
    /// Not evaluated (malformed input, or refused for another reason): does not count.
    NotChecked,
}

impl Throttle {
    /// Reports a reserved attempt's verdict.
    pub async fn settle(
        &self,
        app: &AppState,
        r: Reserved,
        verdict: Verdict,
        ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match verdict {
            Verdict::Right => self.succeeded(app, r).await,
            Verdict::Wrong => self.failed(app, r, ip, now).await,
            Verdict::NotChecked => self.cancel(app, r).await,
        }
    }
}

/// One attempt reserved by [`Throttle::reserve`]; say how it went with `failed`, `succeeded`,
/// `cancel` or `settle`. Dropped unsettled it counts as a failure, except while its check
/// waits (see [`Throttle::undecided`]).
#[must_use]
#[derive(Debug)]
pub struct Reserved {
    attempt: i64,
    /// Set while a drop gives it back.
    unsettled: Option<Unsettled>,
}

impl Reserved {
    /// The check is made: from here on the attempt counts even if its request is dropped
    /// (a verdict someone could learn from must never be given back).
    fn decided(&mut self) {
        self.unsettled = None;
    }
}

/// What giving an unsettled reservation back needs, owned (it happens after its request).
struct Unsettled {
    kv: Kv,
    background: Background,
    count_key: String,
    lock_key: String,
}

impl std::fmt::Debug for Unsettled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unsettled")
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let Some(u) = self.unsettled.take() else {
            return;
        };
        let claimed_wait = lock_delay(self.attempt).is_some();
        let background = u.background.clone();
        background.detach("giving back a sign-in attempt", async move {
            let deleted = if claimed_wait {
                u.kv.delete(&u.lock_key).await
            } else {
                Ok(())
            };
            let released = give_back(&u.kv, &u.count_key, None).await;
            if let Err(e) = deleted.and(released) {
                tracing::warn!(error = %e, "giving back a dropped sign-in attempt failed");
            }
        });
    }
}

/// Releases one count of the identifier, and of the address if given.
async fn give_back(kv: &Kv, count_key: &str, ip_key: Option<&str>) -> Result<(), StoreError> {
    let mut release = vec![count_key];
    release.extend(ip_key);
    kv.release_and_delete(&release, &[]).await
}

/// Checks credentials (the caller handles `FORCE_CHANGE_PASSWORD`, `RESET_REQUIRED` and
/// `UNCONFIRMED` users, who are returned as `Ok`); wrong password, unknown user and disabled
/// all give `Failed`, which the page shows as one generic message.
pub async fn check_password(
    app: &AppState,
    pool: &Pool,
    identifier: &str,
    password: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Checked, AccountError> {
    // Shed before any store work when the check could not be admitted anyway: under a flood
    // a refused attempt must cost next to nothing, or refusals eat the hashing core.
    if let Some(retry_after) = app.hasher.saturated() {
        return Err(PasswordError::Busy { retry_after }.into());
    }
    let norm = normalize_identifier(identifier);
    let throttle = Throttle::new(&pool.id, identifier, ip);
    let malformed = norm.is_empty()
        || norm.chars().count() > 256
        || norm.chars().any(char::is_control)
        || password.chars().count() > MAX_PASSWORD_LEN;
    let Some(mut reserved) = throttle.reserve(app).await? else {
        tracing::warn!(pool = %pool.id, "sign-in refused: locked after repeated failures");
        let detail = format!(
            "identifier {}",
            throttle.id_hash.get(..12).unwrap_or_default()
        );
        let ctx = audit::Context {
            ip,
            detail: &detail,
            ..Default::default()
        };
        audit::record(app, &pool.id, audit::Kind::Throttled, ctx, now).await;
        return Ok(Checked::Locked);
    };
    throttle.undecided(app, &mut reserved);
    let mode = pool.settings.sign_in_identifier;
    let user = if malformed {
        None
    } else {
        let pool = pool.id.clone();
        let n = norm.clone();
        app.sql
            .run(move |c| users::find_for_sign_in(c, &pool, &n, mode))
            .await?
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let pw = Secret::new(password);
    let checked = app
        .hasher
        .verify_or_dummy(&pw, hash.as_deref(), app.random.as_ref())
        .await;
    if checked.is_ok() {
        reserved.decided();
    }
    let (reserved, verified) = throttle.unless_unchecked(app, reserved, checked).await?;
    match user {
        Some(u) if verified && u.enabled => {
            let ctx = audit::Context {
                sub: Some(u.sub.as_str()),
                ip,
                ..Default::default()
            };
            // Independent: the lockout's clean-up (KV) and the audit row (SQL) go out together,
            // and their answers wake this request once rather than one after the other.
            let (settled, ()) = tokio::join!(
                throttle.succeeded(app, reserved),
                audit::record(app, &pool.id, audit::Kind::SignIn, ctx, now)
            );
            settled?;
            if hash.as_deref().is_some_and(|h| app.hasher.needs_rehash(h)) {
                upgrade_hash(app, &pool.id, &u, &pw, now).await;
            }
            if u.srp_verifier.is_none() {
                keep_srp_verifier(app, pool, &u, &pw).await;
            }
            Ok(Checked::Ok(Box::new(u)))
        }
        known => {
            let ctx = audit::Context {
                sub: known.as_ref().map(|u| u.sub.as_str()),
                ip,
                detail: "wrong password or account state",
                ..Default::default()
            };
            audit::record(app, &pool.id, audit::Kind::SignInFailed, ctx, now).await;
            throttle.failed(app, reserved, ip, now).await?;
            Ok(Checked::Failed)
        }
    }
}

/// Checks the current password of a signed-in user (account page), counting failures toward
/// the same lockout as sign-in, keyed by the username.
pub async fn check_current_password(
    app: &AppState,
    pool: &PoolId,
    user: &User,
    password: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Checked, AccountError> {
    let throttle = Throttle::new(pool, &user.username, ip);
    let Some(mut reserved) = throttle.reserve(app).await? else {
        return Ok(Checked::Locked);
    };
    if password.chars().count() > MAX_PASSWORD_LEN {
        throttle.failed(app, reserved, ip, now).await?;
        return Ok(Checked::Failed);
    }
    throttle.undecided(app, &mut reserved);
    let checked = app
        .hasher
        .verify_or_dummy(
            &Secret::new(password),
            user.password_hash.as_deref(),
            app.random.as_ref(),
        )
        .await;
    if checked.is_ok() {
        reserved.decided();
    }
    let (reserved, ok) = throttle.unless_unchecked(app, reserved, checked).await?;
    if ok {
        throttle.succeeded(app, reserved).await?;
        Ok(Checked::Ok(Box::new(user.clone())))
    } else {
        throttle.failed(app, reserved, ip, now).await?;
        Ok(Checked::Failed)
    }
}

/// Rehashes with the current parameters; a failure is logged, never fatal to the sign-in.
/// A user without an SRP verifier (created before them, or imported with a hash) gets one
/// with their first password sign-in, if the pool keeps them.
async fn keep_srp_verifier(app: &AppState, pool: &Pool, u: &User, pw: &Secret) {
    let Some(v) = super::srp_verifier(app, pool, &u.username, pw) else {
        return;
    };
    let (p, sub) = (pool.id.clone(), u.sub.to_string());
    if let Err(e) = app
        .sql
        .run(move |c| users::set_srp_verifier(c, &p, &sub, Some(&v)))
        .await
    {
        tracing::warn!(error = %e, "storing an SRP verifier failed");
    }
}

async fn upgrade_hash(app: &AppState, pool: &PoolId, u: &User, pw: &Secret, now: DateTime<Utc>) {
    let hash = match app.hasher.hash(pw, app.random.as_ref()).await {
        Ok(h) => h,
        Err(e) => return tracing::warn!(error = %e, "password rehash failed"),
    };
    let (pool, sub, status) = (pool.clone(), u.sub.clone(), u.status);
    if let Err(e) = app
        .sql
        .run(move |c| users::set_password(c, &pool, &sub, &hash, status, now))
        .await
    {
        tracing::warn!(error = %e, "storing the upgraded password hash failed");
    }
}
