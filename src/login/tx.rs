//! The login transaction: a parked authorization request (or none, for the account page) and
//! the step the user is at, kept in the KV store while the user signs in. Each step of the
//! journey is a [`Step`] variant; a new step (an upstream identity provider, say) is a new
//! variant, not a new flow.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::RandomExt;
use crate::crypto::sha256_hex;
use crate::federation::RoundTrip;
use crate::ids::PoolId;
use crate::oidc::authorize::AuthRequest;
use crate::sessions::Session;
use crate::state::AppState;
use crate::store::StoreError;

/// How long a user has to finish signing in.
pub const LOGIN_TX_TTL: Duration = Duration::from_secs(15 * 60);

/// Where the user is in the journey.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Waiting for identifier and password.
    NeedPassword,
    /// Forgot password: waiting for the emailed code and a new password.
    NeedResetCode { identifier: String },
    /// Signed up; waiting for the emailed code. A `decoy` step stands in for a sign-up that
    /// named a taken email: it looks the same, and no code exists for it or is ever sent.
    NeedConfirmation {
        sub: String,
        email: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        decoy: bool,
    },
    /// The password was right but is temporary (FORCE_CHANGE_PASSWORD): a new one is due.
    NeedNewPassword { sub: String },
    /// The password was right; waiting for a TOTP or recovery code. `identifier` is what the
    /// user typed (failures count toward its lockout).
    NeedMfa { sub: String, identifier: String },
    /// The password was right, MFA is required and the user has none: enrollment first.
    NeedMfaSetup { sub: String, identifier: String },
    /// Enrolled during sign-in; the recovery codes were shown, waiting for "continue".
    MfaEnrolled { sub: String },
    /// Signed in; waiting for the user to allow or deny the client.
    NeedConsent { session: Session },
    /// Sent to an upstream identity provider; waiting for its answer at `/oauth2/idpresponse`.
    AtUpstream { trip: RoundTrip },
}

/// An upstream identity waiting to be linked to a local account once the user proves it is
/// theirs (signs in to it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingLink {
    pub provider: String,
    pub subject: String,
    /// The local account whose email the identity carries.
    pub sub: String,
}

/// A parked authorization request and where the user is in signing in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginTx {
    pub id: String,
    /// Must come back in the form.
    pub csrf: String,
    /// SHA-256 of the binding cookie of the browser that started it.
    pub browser: String,
    /// The parked authorization request; `None` when signing in to the account page.
    pub request: Option<AuthRequest>,
    pub step: Step,
    pub created_at: i64,
    /// Linked at the end of the journey if the user signs in as `sub`.
    #[serde(default)]
    pub link: Option<PendingLink>,
    /// A round trip from the account page: the identity it brings back joins this user.
    #[serde(default)]
    pub account_link: Option<String>,
}

impl LoginTx {
    /// The same transaction at another step.
    pub fn at(self, step: Step) -> Self {
        Self { step, ..self }
    }
}

fn tx_key(pool: &PoolId, id: &str) -> String {
    format!("{pool}:ltx:{}", sha256_hex(id.as_bytes()))
}

pub async fn begin(
    app: &AppState,
    pool: &PoolId,
    request: Option<AuthRequest>,
    step: Step,
    browser: String,
    now: DateTime<Utc>,
) -> Result<LoginTx, StoreError> {
    let tx = LoginTx {
        id: app.random.token(24),
        csrf: app.random.token(24),
        browser,
        request,
        step,
        created_at: now.timestamp(),
        link: None,
        account_link: None,
    };
    save(app, pool, &tx).await?;
    Ok(tx)
}

pub async fn save(app: &AppState, pool: &PoolId, tx: &LoginTx) -> Result<(), StoreError> {
    let body = serde_json::to_vec(tx).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // Evictable: losing a sign-in in progress costs its browser a restart, nothing more.
    app.kv
        .put_evictable(&tx_key(pool, &tx.id), &body, LOGIN_TX_TTL)
        .await
}

pub async fn find(app: &AppState, pool: &PoolId, id: &str) -> Result<Option<LoginTx>, StoreError> {
    if id.is_empty() || id.len() > 128 {
        return Ok(None);
    }
    let raw = app.kv.get(&tx_key(pool, id)).await?;
    Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
}

/// Ends a transaction; of two concurrent finishers only one gets it.
pub async fn take(app: &AppState, pool: &PoolId, id: &str) -> Result<Option<LoginTx>, StoreError> {
    let raw = app.kv.take(&tx_key(pool, id)).await?;
    Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
}

/// Ends a transaction (as [`take`]) and reads the KV key `other` in the same round trip.
pub async fn take_reading(
    app: &AppState,
    pool: &PoolId,
    id: &str,
    other: &str,
) -> Result<(Option<LoginTx>, Option<Vec<u8>>), StoreError> {
    let (raw, read) = app.kv.take_and_get(&tx_key(pool, id), other).await?;
    Ok((raw.and_then(|r| serde_json::from_slice(&r).ok()), read))
}
