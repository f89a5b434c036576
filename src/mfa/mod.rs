//! Multi-factor authentication: TOTP enrollment (pending secret in the KV store, confirmed
//! factor sealed in SQL), code verification with a durable replay guard, single-use recovery
//! codes, a per-user limit on wrong codes, disabling and operator reset. No HTTP here: the
//! sign-in flow and the account pages call this API.

pub mod totp;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::audit;
use crate::clock::RandomExt;
use crate::crypto::{CryptoError, MasterKey, sha256_hex};
use crate::ids::PoolId;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::mfa::{self as rows, TotpFactor};

/// How long a started enrollment waits for its first code.
pub const PENDING_TTL: Duration = Duration::from_secs(15 * 60);
/// Recovery codes issued at each enrollment.
pub const RECOVERY_CODES: usize = 10;
/// Wrong codes (TOTP or recovery) a user may enter per [`FAILURE_WINDOW`]; more are refused
/// without being checked, so six digits cannot be guessed at speed.
pub const MAX_FAILURES: i64 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Recovery code alphabet: RFC 4648 base32 in lowercase (no 0/1/8/9 to misread).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Characters in a recovery code (50 bits), shown as two groups of five.
const RECOVERY_LEN: usize = 10;
/// Longest input looked at; anything longer is not a code.
const MAX_INPUT_CHARS: usize = 64;

const MSG_CODE_OR_RECOVERY: &str =
    "Enter the 6-digit code from your authenticator app, or a recovery code.";
const MSG_CODE: &str = "Enter the 6-digit code from your authenticator app.";

/// Errors of MFA operations. The first four display a message fit to show the user; the
/// others are internal and should be logged, not shown.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The input cannot be a code at all (wrong length, letters in a TOTP code, control
    /// characters, empty).
    #[error("{0}")]
    Malformed(&'static str),
    /// Enrollment: the code does not match the pending secret. The enrollment stays pending.
    #[error("That code is not right. Check the time on your device and try the current code.")]
    WrongCode,
    /// Enrollment: nothing pending (never started, expired after [`PENDING_TTL`], or
    /// already confirmed).
    #[error("The setup has expired. Start setting up the authenticator app again.")]
    NoPendingEnrollment,
    /// More than [`MAX_FAILURES`] wrong codes within [`FAILURE_WINDOW`].
    #[error("Too many wrong codes. Wait a few minutes and try again.")]
    TooManyAttempts,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("cannot draw the QR code: {0}")]
    Qr(String),
}

impl MfaError {
    /// True for the variants whose message is meant for the user (bad input, wrong code,
    /// expired setup, too many attempts).
    pub fn is_user_facing(&self) -> bool {
        matches!(
            self,
            Self::Malformed(_)
                | Self::WrongCode
                | Self::NoPendingEnrollment
                | Self::TooManyAttempts
        )
    }
}

/// What a user needs to add the factor to an authenticator app. Holds the secret: never log
/// it, and serve pages showing it with `Cache-Control: no-store`.
#[derive(Clone)]
pub struct Enrollment {
    /// The secret in base32 (RFC 4648, no padding) for typing in by hand.
    pub secret_base32: String,
    /// `otpauth://totp/...` Key URI.
    pub otpauth_uri: String,
    /// The URI as a QR code: an `<svg>` element to inline in the page.
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment(***)")
    }
}

/// The outcome of checking a second-factor code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// A current TOTP code, not used before.
    Totp,
    /// An unused recovery code; it is now used up.
    RecoveryCode,
    /// Wrong, replayed or used-up code, or the user has no factor.
    Invalid,
}

/// A code after normalisation.
#[derive(Debug, PartialEq, Eq)]
enum Input {
    Totp(String),
    Recovery(String),
}

/// Trims, refuses control characters and overlong input, drops spaces and hyphens, lowercases;
/// then 6 digits are a TOTP code and 10 base32 characters a recovery code.
fn parse(raw: &str) -> Result<Input, MfaError> {
    let bad = Err(MfaError::Malformed(MSG_CODE_OR_RECOVERY));
    let t = raw.trim();
    if t.chars().count() > MAX_INPUT_CHARS || t.chars().any(char::is_control) {
        return bad;
    }
    let s: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    if s.len() == totp::DIGITS && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Input::Totp(s))
    } else if s.len() == RECOVERY_LEN && s.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
        Ok(Input::Recovery(s))
    } else {
        bad
    }
}

fn pending_key(pool: &PoolId, sub: &str) -> String {
    format!("{pool}:mfa-pending:{sub}")
}

fn failures_key(pool: &PoolId, sub: &str) -> String {
    format!("{pool}:mfa-failures:{sub}")
}

/// Sealing contexts: a pending secret cannot be passed off as a confirmed one, nor one user's
/// secret as another's.
fn pending_context(pool: &PoolId, sub: &str) -> String {
    format!("mfa-pending:{pool}:{sub}")
}

fn factor_context(pool: &PoolId, sub: &str) -> String {
    format!("mfa:{pool}:{sub}")
}

/// Recovery codes are stored as SHA-256 over pool, sub and code, so equal codes of two users
/// differ and one precomputed table does not serve every user.
/// A recovery code as stored: a MAC under a key derived from the master key, so a leaked
/// database alone cannot be searched for the (short) codes.
fn recovery_hash(key: &MasterKey, pool: &PoolId, sub: &str, code: &str) -> String {
    key.mac("recovery-code", format!("{pool}:{sub}:{code}").as_bytes())
}

/// How codes were stored before they were keyed (still accepted until used or replaced).
fn legacy_recovery_hash(pool: &PoolId, sub: &str, code: &str) -> String {
    sha256_hex(format!("{pool}:{sub}:{code}").as_bytes())
}

fn enrollment(secret: &[u8], pool_name: &str, username: &str) -> Result<Enrollment, MfaError> {
    let secret_base32 = totp::to_base32(secret);
    let otpauth_uri = totp::otpauth_uri(&secret_base32, pool_name, username);
    let qr_svg = totp::qr_svg(&otpauth_uri).map_err(|e| MfaError::Qr(e.to_string()))?;
    Ok(Enrollment {
        secret_base32,
        otpauth_uri,
        qr_svg,
    })
}

/// Starts (or restarts) enrollment: draws a new 160-bit secret and keeps it, sealed, pending
/// for [`PENDING_TTL`]. The pool name is the issuer shown in the authenticator app.
///
/// This does not check whether the user already has a factor: confirming replaces it, so
/// callers should ask for a current code first when one exists. `now` is not used yet (the KV
/// store reads the injected clock for the expiry); it keeps the signature like its siblings.
pub async fn begin_enrollment(
    app: &AppState,
    pool: &PoolId,
    pool_name: &str,
    sub: &str,
    username: &str,
    _now: DateTime<Utc>,
) -> Result<Enrollment, MfaError> {
    let mut secret = [0u8; totp::SECRET_LEN];
    app.random.fill(&mut secret);
    let sealed = app
        .master_key
        .seal(&secret, &pending_context(pool, sub), app.random.as_ref())?;
    app.kv
        .put(&pending_key(pool, sub), sealed.as_bytes(), PENDING_TTL)
        .await?;
    enrollment(&secret, pool_name, username)
}

async fn pending_secret(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
) -> Result<Option<Vec<u8>>, MfaError> {
    let Some(raw) = app.kv.get(&pending_key(pool, sub)).await? else {
        return Ok(None);
    };
    let sealed =
        String::from_utf8(raw).map_err(|_| StoreError::Corrupt("pending MFA enrollment".into()))?;
    Ok(Some(
        app.master_key
            .unseal(&sealed, &pending_context(pool, sub))?,
    ))
}

/// The enrollment in progress, to show the same secret again after a wrong code; None when
/// nothing is pending.
pub async fn pending_enrollment(
    app: &AppState,
    pool: &PoolId,
    pool_name: &str,
    sub: &str,
    username: &str,
) -> Result<Option<Enrollment>, MfaError> {
    match pending_secret(app, pool, sub).await? {
        Some(secret) => Ok(Some(enrollment(&secret, pool_name, username)?)),
        None => Ok(None),
    }
}

/// Reserves one attempt before any code is checked (an atomic increment, so a parallel burst
/// cannot outrun the count), and refuses it once the user has used [`MAX_FAILURES`] attempts
/// without a success. A right code clears the count.
async fn check_throttle(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    now: DateTime<Utc>,
) -> Result<(), MfaError> {
    let attempt = app
        .kv
        .incr(&failures_key(pool, sub), FAILURE_WINDOW)
        .await?;
    if attempt > MAX_FAILURES {
        let ctx = audit::Context {
            sub: Some(sub),
            detail: "too many wrong MFA codes",
            ..Default::default()
        };
        audit::record(app, pool, audit::Kind::Throttled, ctx, now).await;
        return Err(MfaError::TooManyAttempts);
    }
    Ok(())
}

/// Audits a wrong code (the attempt was counted when it was reserved).
async fn note_failure(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), MfaError> {
    let ctx = audit::Context {
        sub: Some(sub),
        detail,
        ..Default::default()
    };
    audit::record(app, pool, audit::Kind::MfaFailed, ctx, now).await;
    Ok(())
}

/// Completes enrollment with a code from the app (the pending secret's, ± one step). The
/// factor is stored sealed, replacing any earlier one and its recovery codes; the step used
/// counts as spent, so the same code cannot then pass sign-in. Returns the new recovery codes
/// (`xxxxx-xxxxx`) in plain text: this is the only time they exist outside their hashes.
///
/// A wrong code gives [`MfaError::WrongCode`] and leaves the enrollment pending.
pub async fn confirm_enrollment(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, MfaError> {
    // The pending secret taken and the factor stored, or neither, even if the request is
    // dropped between them.
    let (a, pool, sub, code) = (
        app.for_background(),
        pool.clone(),
        sub.to_string(),
        code.to_string(),
    );
    let work = async move { confirm_enrollment_now(&a, &pool, &sub, &code, now).await };
    app.background.finish("enrolling MFA", work).await
}

async fn confirm_enrollment_now(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, MfaError> {
    let Input::Totp(code) = parse(code)? else {
        return Err(MfaError::Malformed(MSG_CODE));
    };
    check_throttle(app, pool, sub, now).await?;
    let secret = pending_secret(app, pool, sub)
        .await?
        .ok_or(MfaError::NoPendingEnrollment)?;
    let Some(step) = totp::matching_step(&secret, &code, now, None) else {
        note_failure(app, pool, sub, "wrong code while enrolling", now).await?;
        return Err(MfaError::WrongCode);
    };
    // Of two concurrent confirmations only the one that takes the pending secret goes on.
    if app.kv.take(&pending_key(pool, sub)).await?.is_none() {
        return Err(MfaError::NoPendingEnrollment);
    }
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| app.random.string_from(RECOVERY_ALPHABET, RECOVERY_LEN))
        .collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| recovery_hash(&app.master_key, pool, sub, c))
        .collect();
    let factor = TotpFactor {
        secret_sealed: app.master_key.seal(
            &secret,
            &factor_context(pool, sub),
            app.random.as_ref(),
        )?,
        last_step: Some(step),
        created_at: now,
    };
    let (p, s) = (pool.clone(), sub.to_string());
    app.sql
        .transaction(move |c| rows::replace(c, &p, &s, &factor, &hashes))
        .await?;
    app.kv.delete(&failures_key(pool, sub)).await?;
    let ctx = audit::Context {
        sub: Some(sub),
        detail: "totp",
        ..Default::default()
    };
    audit::record(app, pool, audit::Kind::MfaEnabled, ctx, now).await;
    Ok(codes
        .iter()
        .map(|c| format!("{}-{}", &c[..5], &c[5..]))
        .collect())
}

/// Whether the user has a confirmed TOTP factor.
pub async fn is_enrolled(app: &AppState, pool: &PoolId, sub: &str) -> Result<bool, MfaError> {
    let (p, s) = (pool.clone(), sub.to_string());
    Ok(app.sql.run(move |c| rows::find(c, &p, &s)).await?.is_some())
}

/// Checks a parsed code against the stored factor, spending it if right.
async fn check(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    input: Input,
    now: DateTime<Utc>,
) -> Result<Verified, MfaError> {
    let (p, s) = (pool.clone(), sub.to_string());
    let Some(factor) = app.sql.run(move |c| rows::find(c, &p, &s)).await? else {
        return Ok(Verified::Invalid);
    };
    let (p, s) = (pool.clone(), sub.to_string());
    match input {
        Input::Totp(code) => {
            let secret = app
                .master_key
                .unseal(&factor.secret_sealed, &factor_context(pool, sub))?;
            let Some(step) = totp::matching_step(&secret, &code, now, factor.last_step) else {
                return Ok(Verified::Invalid);
            };
            // The conditional update is the replay guard: of two requests with one code,
            // only one moves last_step forward.
            let fresh = app
                .sql
                .run(move |c| rows::advance_step(c, &p, &s, step))
                .await?;
            Ok(if fresh {
                Verified::Totp
            } else {
                Verified::Invalid
            })
        }
        Input::Recovery(code) => {
            let (hash, legacy) = (
                recovery_hash(&app.master_key, pool, sub, &code),
                legacy_recovery_hash(pool, sub, &code),
            );
            let used = app
                .sql
                .run(move |c| {
                    Ok(rows::use_recovery_code(c, &p, &s, &hash, now)?
                        || rows::use_recovery_code(c, &p, &s, &legacy, now)?)
                })
                .await?;
            Ok(if used {
                Verified::RecoveryCode
            } else {
                Verified::Invalid
            })
        }
    }
}

/// Parses, throttles, checks; records a failure.
async fn verify_with(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    input: &str,
    what: &str,
    now: DateTime<Utc>,
) -> Result<Verified, MfaError> {
    let parsed = parse(input)?;
    check_throttle(app, pool, sub, now).await?;
    let v = check(app, pool, sub, parsed, now).await?;
    if v == Verified::Invalid {
        note_failure(app, pool, sub, what, now).await?;
    } else {
        app.kv.delete(&failures_key(pool, sub)).await?;
    }
    Ok(v)
}

/// Checks a second-factor code at sign-in: a current TOTP code (± one step, later than the
/// last one accepted: RFC 6238 §5.2 allows each code once) or an unused recovery code, which
/// is then used up. Input is trimmed, spaces and hyphens dropped, case ignored.
///
/// Input that cannot be a code gives [`MfaError::Malformed`] with a message for the user;
/// after [`MAX_FAILURES`] wrong codes, [`MfaError::TooManyAttempts`]. A user without a factor
/// gets [`Verified::Invalid`].
pub async fn verify(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    input: &str,
    now: DateTime<Utc>,
) -> Result<Verified, MfaError> {
    verify_with(app, pool, sub, input, "wrong code at sign-in", now).await
}

/// Turns MFA off at the user's request, which needs a current code or an unused recovery
/// code (checked as [`verify`] does). Removes the factor and all recovery codes; true when
/// disabled, false for a wrong code.
pub async fn disable(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    input: &str,
    now: DateTime<Utc>,
) -> Result<bool, MfaError> {
    // Checked (a recovery code used up), removed and audited, or none of it: runs to its end
    // even if the request is dropped.
    let (a, pool, sub, input) = (
        app.for_background(),
        pool.clone(),
        sub.to_string(),
        input.to_string(),
    );
    let work = async move { disable_now(&a, &pool, &sub, &input, now).await };
    app.background.finish("disabling MFA", work).await
}

async fn disable_now(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    input: &str,
    now: DateTime<Utc>,
) -> Result<bool, MfaError> {
    if verify_with(app, pool, sub, input, "wrong code to disable MFA", now).await?
        == Verified::Invalid
    {
        return Ok(false);
    }
    let (p, s) = (pool.clone(), sub.to_string());
    app.sql
        .run(move |c| rows::delete_for_user(c, &p, &s))
        .await?;
    let ctx = audit::Context {
        sub: Some(sub),
        detail: "by the user",
        ..Default::default()
    };
    audit::record(app, pool, audit::Kind::MfaDisabled, ctx, now).await;
    Ok(true)
}

/// Operator reset (lost device): removes the factor and recovery codes without a code, and
/// any enrollment in progress. True if the user had a factor or codes.
pub async fn reset(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    now: DateTime<Utc>,
) -> Result<bool, MfaError> {
    let (a, pool, sub) = (app.for_background(), pool.clone(), sub.to_string());
    let work = async move { reset_now(&a, &pool, &sub, now).await };
    app.background.finish("resetting MFA", work).await
}

async fn reset_now(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    now: DateTime<Utc>,
) -> Result<bool, MfaError> {
    let (p, s) = (pool.clone(), sub.to_string());
    let removed = app
        .sql
        .run(move |c| rows::delete_for_user(c, &p, &s))
        .await?;
    app.kv.delete(&pending_key(pool, sub)).await?;
    app.kv.delete(&failures_key(pool, sub)).await?;
    if removed {
        let ctx = audit::Context {
            sub: Some(sub),
            detail: "by an operator",
            ..Default::default()
        };
        audit::record(app, pool, audit::Kind::MfaReset, ctx, now).await;
    }
    Ok(removed)
}

/// Recovery codes the user has not used yet.
pub async fn remaining_recovery_codes(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
) -> Result<i64, MfaError> {
    let (p, s) = (pool.clone(), sub.to_string());
    Ok(app
        .sql
        .run(move |c| rows::remaining_codes(c, &p, &s))
        .await?)
}

/// The 6-digit code of a base32 secret at `at` (what an authenticator app would show);
/// None for a secret that is not base32 of at least 128 bits, or a time before 1970.
pub fn code_at(secret_base32: &str, at: DateTime<Utc>) -> Option<String> {
    let secret = totp::from_base32(secret_base32)?;
    totp::code_for_step(&secret, totp::step_of(at), totp::DIGITS)
}

#[cfg(test)]
mod tests;
