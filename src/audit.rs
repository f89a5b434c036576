//! Audit trail: sign-ins and failures, lockouts, account changes. Recording is best-effort (a
//! failed write is logged, never fatal to the action it records) and batched: rows queue for
//! one writer task (`audit_log`), and a burst shares one commit instead of one each.

use chrono::{DateTime, Utc};

use crate::clock::RandomExt;
use crate::ids::PoolId;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::audit::{self as rows, AuditEvent};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SignIn,
    SignInFailed,
    Throttled,
    UserCreated,
    SignedUp,
    /// A sign-up named an email a confirmed account holds: nothing was created, the owner was
    /// told.
    SignUpEmailTaken,
    /// An UNCONFIRMED sign-up passed the pool's expiry and was deleted.
    UnconfirmedExpired,
    Confirmed,
    PasswordReset,
    PasswordSet,
    Disabled,
    Enabled,
    Deleted,
    AttributesChanged,
    EmailChanged,
    PasswordChanged,
    LockedOut,
    MfaEnabled,
    MfaDisabled,
    MfaReset,
    MfaFailed,
    FederatedSignIn,
    FederatedUserCreated,
    IdentityLinked,
    IdentityUnlinked,
    /// Users arrived in bulk (`user import`); the detail says how many.
    UsersImported,
    /// A signing key was revoked (`keys revoke`); the detail names it and its replacement.
    KeyRevoked,
    /// A user (or an operator) took back what they allowed an application.
    ConsentRevoked,
    /// A user's login joined identities of an identity pool into one (the detail names them).
    IdentitiesMerged,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::Throttled => "throttled",
            Self::UserCreated => "user_created",
            Self::SignedUp => "signed_up",
            Self::SignUpEmailTaken => "signup_email_taken",
            Self::UnconfirmedExpired => "unconfirmed_expired",
            Self::Confirmed => "confirmed",
            Self::PasswordReset => "password_reset",
            Self::PasswordSet => "password_set",
            Self::Disabled => "disabled",
            Self::Enabled => "enabled",
            Self::Deleted => "deleted",
            Self::AttributesChanged => "attributes_changed",
            Self::EmailChanged => "email_changed",
            Self::PasswordChanged => "password_changed",
            Self::LockedOut => "locked_out",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaReset => "mfa_reset",
            Self::MfaFailed => "mfa_failed",
            Self::FederatedSignIn => "federated_sign_in",
            Self::FederatedUserCreated => "federated_user_created",
            Self::IdentityLinked => "identity_linked",
            Self::IdentityUnlinked => "identity_unlinked",
            Self::UsersImported => "users_imported",
            Self::KeyRevoked => "key_revoked",
            Self::ConsentRevoked => "consent_revoked",
            Self::IdentitiesMerged => "identities_merged",
        }
    }
}

/// Who and where, besides the kind.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub sub: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: &'a str,
}

pub async fn record(
    app: &AppState,
    pool: &PoolId,
    kind: Kind,
    ctx: Context<'_>,
    now: DateTime<Utc>,
) {
    let e = AuditEvent {
        pool_id: pool.to_string(),
        id: app.random.uuid_v7(now),
        at: now.naive_utc(),
        kind: kind.as_str().into(),
        sub: ctx.sub.map(str::to_string),
        client_id: ctx.client_id.map(str::to_string),
        ip: ctx.ip.map(str::to_string),
        detail: ctx.detail.chars().take(512).collect(),
    };
    let Some(e) = app.audit.offer(e) else {
        return;
    };
    if let Err(e) = app.sql.run(move |c| rows::insert(c, &e)).await {
        tracing::warn!(error = %e, kind = kind.as_str(), "audit event not recorded");
    }
}

/// Newest first.
pub async fn list(
    app: &AppState,
    pool: &PoolId,
    sub: Option<String>,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    app.audit.flush().await;
    let p = pool.clone();
    app.sql
        .run(move |c| rows::list(c, &p, sub.as_deref(), limit))
        .await
}
