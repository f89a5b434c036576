//! Users of a pool: identifiers, statuses, password policy, and administration.

pub mod codes;
pub mod consents;
pub mod email_change;
pub mod expiry;
pub mod groups;
pub mod policy;
pub mod signin;
pub mod transfer;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;

use crate::audit;
use crate::clock::RandomExt;
use crate::crypto::password::PasswordError;
use crate::ids::{PoolId, Secret, Sub};
use crate::model::{SignInIdentifier, UserStatus, attributes};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::pools::Pool;
use crate::store::sql::users::{self as user_rows, NewUser, User};

/// Errors of user administration and sign-in checks.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid {field}: {msg}")]
    Invalid { field: &'static str, msg: String },
    #[error("password does not meet the policy: {0}")]
    Policy(String),
    #[error("no user {0:?} in this pool")]
    NotFound(String),
    #[error("a user with that username or email already exists")]
    Exists,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => AccountError::Exists,
            other => AccountError::Store(other),
        }
    }
}

fn invalid(field: &'static str, msg: impl Into<String>) -> AccountError {
    AccountError::Invalid {
        field,
        msg: msg.into(),
    }
}

/// The form identifiers are compared in: NFKC, then lowercase.
pub fn normalize_identifier(s: &str) -> String {
    s.trim().nfkc().collect::<String>().to_lowercase()
}

/// Checks the NFKC form of a username. `@` is refused so a username can never shadow another
/// user's email, and UUID shapes so it cannot shadow a `sub`.
fn check_username(raw: &str) -> Result<(), AccountError> {
    let u: String = raw.nfkc().collect();
    if u.contains('@') {
        return Err(invalid(
            "username",
            "must not contain @ (sign in with the email instead)",
        ));
    }
    if uuid::Uuid::parse_str(&u).is_ok() {
        return Err(invalid("username", "must not look like a user id"));
    }
    let n = u.chars().count();
    if n == 0 || n > 128 {
        return Err(invalid("username", "must be 1 to 128 characters"));
    }
    if u.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            "username",
            "must not contain spaces or control characters",
        ));
    }
    Ok(())
}

/// A deliberately simple email check: one `@`, a dotted domain, no spaces or controls.
pub fn check_email(e: &str) -> Result<(), AccountError> {
    let bad = || invalid("email", format!("{e:?} is not a valid email address"));
    if e.len() > 254 || e.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad());
    }
    let (local, domain) = e.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 64
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(())
}

fn check_attributes(pool: &Pool, attrs: &BTreeMap<String, String>) -> Result<(), AccountError> {
    attributes::check(&pool.settings.custom_attributes, attrs).map_err(|m| invalid("attributes", m))
}

/// What an admin gives to create a user.
#[derive(Debug, Clone)]
pub struct NewUserSpec {
    pub username: String,
    pub email: Option<String>,
    pub password: Secret,
    pub attributes: BTreeMap<String, String>,
    /// Users created with a temporary password must change it at first sign-in.
    pub temporary_password: bool,
    /// Signed up on the hosted page: UNCONFIRMED until the emailed code comes back.
    pub self_signup: bool,
}

/// Every check [`create`] makes before it hashes the password and writes (formats, the pool's
/// schema and password policy; not uniqueness): a sign-up that will not create an account
/// must fail these exactly as one that would, or the difference tells what exists.
pub fn check_new(pool: &Pool, spec: &NewUserSpec) -> Result<(), AccountError> {
    let placeholder = Sub::new(uuid::Uuid::nil());
    checked(pool, spec.clone(), &placeholder).map(|_| ())
}

/// `spec` checked and, for email-as-username pools, with the email as its sign-in name and
/// `sub` as its username.
fn checked(pool: &Pool, spec: NewUserSpec, sub: &Sub) -> Result<NewUserSpec, AccountError> {
    let mut spec = spec;
    if pool.settings.sign_in_identifier == SignInIdentifier::Email {
        // Email-as-username: the email signs in, the stored username is the sub.
        if spec.email.is_none() && spec.username.contains('@') {
            spec.email = Some(spec.username.clone());
        }
        if spec.email.is_none() {
            return Err(invalid("email", "is required: this pool signs in by email"));
        }
        spec.username = sub.to_string();
    } else {
        check_username(&spec.username)?;
    }
    if let Some(e) = &spec.email {
        check_email(e)?;
    }
    check_attributes(pool, &spec.attributes)?;
    policy::check(&pool.settings.password_policy, &spec.password).map_err(AccountError::Policy)?;
    Ok(spec)
}

/// The SRP verifier to keep for `password` of the user named `username`, if the pool keeps
/// them (see `PoolSettings::srp`).
pub fn srp_verifier(
    app: &AppState,
    pool: &Pool,
    username: &str,
    password: &Secret,
) -> Option<String> {
    if !pool.settings.srp {
        return None;
    }
    let mut salt = [0u8; 16];
    app.random.fill(&mut salt);
    let name = crate::crypto::srp::pool_name(pool.id.as_str());
    match crate::crypto::srp::stored(name, username, password.expose(), &salt) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(pool = %pool.id, error = %e, "cannot compute an SRP verifier");
            None
        }
    }
}

/// Creates a user (admin path: email counts as verified, status CONFIRMED unless temporary).
pub async fn create(
    app: &AppState,
    pool: &Pool,
    spec: NewUserSpec,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let sub = Sub::new(app.random.uuid_v7(now));
    let spec = checked(pool, spec, &sub)?;
    let mut attributes = spec.attributes;
    let phone_number = attributes.remove("phone_number");
    let hash = app.hasher.hash(&spec.password, app.random.as_ref()).await?;
    let new = NewUser {
        sub,
        username_norm: normalize_identifier(&spec.username),
        username: spec.username.nfkc().collect(),
        email_norm: spec.email.as_deref().map(normalize_identifier),
        email_verified: spec.email.is_some() && !spec.self_signup,
        email: spec.email,
        phone_number,
        phone_number_verified: false,
        status: match (spec.self_signup, spec.temporary_password) {
            (true, _) => UserStatus::Unconfirmed,
            (false, true) => UserStatus::ForceChangePassword,
            (false, false) => UserStatus::Confirmed,
        },
        password_hash: Some(hash),
        attributes,
        srp_verifier: None,
    };
    let new = NewUser {
        srp_verifier: srp_verifier(app, pool, &new.username, &spec.password),
        ..new
    };
    let p = pool.id.clone();
    let user = app
        .sql
        .run(move |c| user_rows::insert(c, &p, new, now))
        .await?;
    let ctx = audit::Context {
        sub: Some(user.sub.as_str()),
        ..Default::default()
    };
    audit::record(app, &pool.id, audit::Kind::UserCreated, ctx, now).await;
    Ok(user)
}
/// Finds a user by sub, username or email.
/// Has the temporary password of a user who must choose their own expired? Its age is the
/// time since the account last changed: such a user cannot change it themselves, and an
/// administrator's change (a new temporary password, attributes) starts the time again.
pub fn temporary_password_expired(pool: &Pool, user: &User, now: DateTime<Utc>) -> bool {
    let days = pool
        .settings
        .password_policy
        .temporary_password_validity_days;
    user.status == UserStatus::ForceChangePassword
        && now - user.updated_at > chrono::TimeDelta::days(i64::from(days))
}

/// What a user whose temporary password expired is told.
pub const TEMPORARY_PASSWORD_EXPIRED: &str =
    "Temporary password has expired and must be reset by an administrator.";

pub async fn find(app: &AppState, pool: &PoolId, who: &str) -> Result<User, AccountError> {
    let (p, key) = (pool.clone(), who.to_string());
    let found = app
        .sql
        .run(move |c| match user_rows::find(c, &p, &key)? {
            Some(u) => Ok(Some(u)),
            None => user_rows::find_by_identifier(c, &p, &normalize_identifier(&key)),
        })
        .await?;
    found.ok_or_else(|| AccountError::NotFound(who.to_string()))
}

/// One page of the pool's users in username order, after the cursor `after` (the `next` of
/// the page before).
pub async fn page(
    app: &AppState,
    pool: &PoolId,
    after: Option<String>,
    limit: i64,
) -> Result<user_rows::Page, AccountError> {
    let p = pool.clone();
    Ok(app
        .sql
        .run(move |c| user_rows::page(c, &p, after.as_deref(), limit))
        .await?)
}

/// Enables or disables a user; disabling revokes their refresh tokens and ends their sessions.
/// Runs to its end even if the request is dropped (see `Background::finish`).
pub async fn set_enabled(
    app: &AppState,
    pool: &PoolId,
    who: &str,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let (a, p, w) = (app.for_background(), pool.clone(), who.to_owned());
    let work = async move { set_enabled_now(&a, &p, &w, enabled, now).await };
    app.background.finish("enabling a user", work).await
}

async fn set_enabled_now(
    app: &AppState,
    pool: &PoolId,
    who: &str,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let user = find(app, pool, who).await?;
    let (p, sub) = (pool.clone(), user.sub.clone());
    app.sql
        .transaction(move |c| {
            user_rows::set_enabled(c, &p, &sub, enabled, now)?;
            // Disabling ends everything: refresh tokens and access tokens issued until now
            // (they stay refused if the user is enabled again); SSO sessions end on their
            // next use (every session use checks that the user is enabled).
            if !enabled {
                crate::store::sql::refresh_tokens::revoke_user(c, &p, sub.as_str(), now)?;
                user_rows::revoke_tokens(c, &p, sub.as_str(), now)?;
            }
            Ok(())
        })
        .await?;
    app.pools.users_changed(pool);
    if !enabled {
        crate::sessions::end_all(app, pool, user.sub.as_str(), now).await?;
    }
    let kind = if enabled {
        audit::Kind::Enabled
    } else {
        audit::Kind::Disabled
    };
    audit::record(
        app,
        pool,
        kind,
        audit::Context {
            sub: Some(user.sub.as_str()),
            ..Default::default()
        },
        now,
    )
    .await;
    Ok(User { enabled, ..user })
}

pub async fn set_password(
    app: &AppState,
    pool: &Pool,
    who: &str,
    password: &Secret,
    temporary: bool,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    policy::check(&pool.settings.password_policy, password).map_err(AccountError::Policy)?;
    let user = find(app, &pool.id, who).await?;
    let hash = app.hasher.hash(password, app.random.as_ref()).await?;
    store_password(app, pool, user, password, hash, temporary, now).await
}

/// Sets `user`'s password with the reset code they were mailed. The new password is hashed
/// first (the step a flood sheds: TooManyRequests, 503), then the code consumed, then the
/// password stored: shed, the code stays good for the retry (an SDK retries by itself).
/// `Ok(None)`: the code is wrong, used up or expired.
pub async fn reset_password(
    app: &AppState,
    pool: &Pool,
    user: User,
    code: &str,
    password: &Secret,
    code_ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<Option<User>, AccountError> {
    policy::check(&pool.settings.password_policy, password).map_err(AccountError::Policy)?;
    let (reset, sub) = (codes::Purpose::Reset, user.sub.clone());
    let Some(accepted) = codes::check(app, &pool.id, reset, sub.as_str(), code, code_ttl).await?
    else {
        return Ok(None);
    };
    let hash = app.hasher.hash(password, app.random.as_ref()).await?;
    let srp = srp_verifier(app, pool, &user.username, password);
    let new = NewPassword::new(user, hash, srp, false);
    // The code used and the password stored, or neither: from here on it runs to its end.
    let (a, p) = (app.for_background(), pool.id.clone());
    let work = async move {
        if !codes::consume(&a, &p, reset, sub.as_str(), accepted).await? {
            return Ok(None);
        }
        write_password(&a, &p, new, now).await.map(Some)
    };
    app.background.finish("resetting a password", work).await
}

/// Stores `hash` (of `password`) as `user`'s password and ends what the old one started; runs
/// to its end even if the request is dropped (its sessions ended with it, see
/// `Background::finish`).
async fn store_password(
    app: &AppState,
    pool: &Pool,
    user: User,
    password: &Secret,
    hash: String,
    temporary: bool,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let srp = srp_verifier(app, pool, &user.username, password);
    let new = NewPassword::new(user, hash, srp, temporary);
    let (a, p) = (app.for_background(), pool.id.clone());
    let work = async move { write_password(&a, &p, new, now).await };
    app.background.finish("storing a password", work).await
}

/// A new password's writes, owned so that they can outlive the request.
struct NewPassword {
    user: User,
    hash: String,
    srp: Option<String>,
    status: UserStatus,
    temporary: bool,
}

impl NewPassword {
    fn new(user: User, hash: String, srp: Option<String>, temporary: bool) -> Self {
        let status = if temporary {
            UserStatus::ForceChangePassword
        } else {
            UserStatus::Confirmed
        };
        Self {
            user,
            hash,
            srp,
            status,
            temporary,
        }
    }
}

async fn write_password(
    app: &AppState,
    pool: &PoolId,
    new: NewPassword,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let NewPassword {
        user,
        hash,
        srp,
        status,
        temporary,
    } = new;
    let (p, sub) = (pool.clone(), user.sub.clone());
    app.sql
        .transaction(move |c| {
            user_rows::set_password(c, &p, &sub, &hash, status, now)?;
            user_rows::set_srp_verifier(c, &p, sub.as_str(), srp.as_deref())?;
            // A new password ends what the old one started.
            crate::store::sql::refresh_tokens::revoke_user(c, &p, sub.as_str(), now)?;
            Ok(())
        })
        .await?;
    app.pools.users_changed(pool);
    crate::sessions::end_all(app, pool, user.sub.as_str(), now).await?;
    let ctx = audit::Context {
        sub: Some(user.sub.as_str()),
        detail: if temporary { "temporary" } else { "" },
        ..Default::default()
    };
    audit::record(app, pool, audit::Kind::PasswordSet, ctx, now).await;
    Ok(User { status, ..user })
}

/// Confirms `sub` with the code they were mailed: the code used and the user confirmed, or
/// neither, even if the request is dropped between them. `Ok(None)`: the code is wrong, used
/// up or expired.
pub async fn confirm_with_code(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
    code: &str,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<Option<User>, AccountError> {
    let (a, p, s, c) = (
        app.for_background(),
        pool.clone(),
        sub.to_owned(),
        code.to_owned(),
    );
    let work = async move {
        if !codes::verify(&a, &p, codes::Purpose::Confirm, &s, &c, ttl).await? {
            return Ok(None);
        }
        confirm(&a, &p, &s, now).await.map(Some)
    };
    app.background.finish("confirming a sign-up", work).await
}

/// Marks a user CONFIRMED with a verified email (the emailed code came back, or an admin said so).
pub async fn confirm(
    app: &AppState,
    pool: &PoolId,
    who: &str,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let user = find(app, pool, who).await?;
    let (p, sub) = (pool.clone(), user.sub.clone());
    app.sql
        .run(move |c| user_rows::confirm(c, &p, &sub, now))
        .await?;
    app.pools.users_changed(pool);
    audit::record(
        app,
        pool,
        audit::Kind::Confirmed,
        audit::Context {
            sub: Some(user.sub.as_str()),
            ..Default::default()
        },
        now,
    )
    .await;
    Ok(User {
        status: UserStatus::Confirmed,
        email_verified: user.email.is_some(),
        ..user
    })
}

/// Who changes attributes: the user themselves (only what the pool lets users write) or an
/// administrator (anything but an immutable attribute that already has a value).
#[derive(Debug, Clone, Copy)]
pub enum Writer<'a> {
    User { ip: Option<&'a str> },
    Admin,
}

/// May `by` set (or remove) `name`, which the user `had` a value for?
fn may_change(pool: &Pool, name: &str, had: bool, by: Writer<'_>) -> Result<(), AccountError> {
    let settings = &pool.settings;
    if had && settings.custom(name).is_some_and(|c| !c.mutable) {
        return Err(invalid(
            "attributes",
            format!("{name} cannot be changed once set"),
        ));
    }
    if matches!(by, Writer::User { .. }) && !settings.user_may_write(name) {
        let name: String = name.chars().take(40).filter(|c| !c.is_control()).collect();
        return Err(invalid(
            "attributes",
            format!("{name} can only be changed by an administrator"),
        ));
    }
    Ok(())
}

/// Changes attributes: `Some(v)` sets, `None` (or an empty value) removes. The result is checked
/// as a whole against the standard formats and the pool's custom schema; changes are audited by
/// name (never by value).
pub async fn update_attributes(
    app: &AppState,
    pool: &Pool,
    who: &str,
    changes: BTreeMap<String, Option<String>>,
    by: Writer<'_>,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let user = find(app, &pool.id, who).await?;
    let ip = match by {
        Writer::User { ip } => ip,
        Writer::Admin => None,
    };
    let mut merged = user.attributes.clone();
    if let Some(p) = &user.phone_number {
        merged.insert("phone_number".into(), p.clone());
    }
    let mut changed = Vec::new();
    for (k, v) in changes {
        let v = v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if v.is_none() && merged.contains_key(&k) && pool.settings.required_attributes.contains(&k)
        {
            return Err(invalid(
                "attributes",
                format!("{k} is required in this pool and cannot be removed"),
            ));
        }
        if merged.get(&k) != v.as_ref() {
            may_change(pool, &k, merged.contains_key(&k), by)?;
            changed.push(k.clone());
            match v {
                Some(v) => merged.insert(k, v),
                None => merged.remove(&k),
            };
        }
    }
    if changed.is_empty() {
        return Ok(user);
    }
    check_attributes(pool, &merged)?;
    let phone = merged.remove("phone_number");
    let phone_changed = phone != user.phone_number;
    let (p, sub, attrs, ph) = (
        pool.id.clone(),
        user.sub.clone(),
        merged.clone(),
        phone.clone(),
    );
    app.sql
        .run(move |c| {
            user_rows::set_attributes(c, &p, &sub, &attrs, ph.as_deref(), phone_changed, now)
        })
        .await?;
    app.pools.users_changed(&pool.id);
    let detail = changed.join(" ");
    let ctx = audit::Context {
        sub: Some(user.sub.as_str()),
        ip,
        detail: &detail,
        ..Default::default()
    };
    audit::record(app, &pool.id, audit::Kind::AttributesChanged, ctx, now).await;
    Ok(User {
        phone_number_verified: user.phone_number_verified && !phone_changed,
        phone_number: phone,
        attributes: merged,
        ..user
    })
}

/// Sets a user's email: verified when the code sent to it came back or an admin says so.
pub async fn set_email(
    app: &AppState,
    pool: &PoolId,
    who: &str,
    email: &str,
    verified: bool,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    check_email(email)?;
    let user = find(app, pool, who).await?;
    let (p, sub, e, norm) = (
        pool.clone(),
        user.sub.clone(),
        email.to_string(),
        normalize_identifier(email),
    );
    app.sql
        .run(move |c| user_rows::set_email(c, &p, &sub, &e, &norm, verified, now))
        .await?;
    app.pools.users_changed(pool);
    let ctx = audit::Context {
        sub: Some(user.sub.as_str()),
        ip,
        detail: if verified { "verified" } else { "unverified" },
        ..Default::default()
    };
    audit::record(app, pool, audit::Kind::EmailChanged, ctx, now).await;
    Ok(User {
        email: Some(email.to_string()),
        email_verified: verified,
        ..user
    })
}

/// An administrator resets a password (Cognito's AdminResetUserPassword): the user becomes
/// RESET_REQUIRED, their refresh tokens are revoked and sessions ended; the caller mails a code.
pub async fn require_reset(
    app: &AppState,
    pool: &PoolId,
    who: &str,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let (a, p, w) = (app.for_background(), pool.clone(), who.to_owned());
    let work = async move { require_reset_now(&a, &p, &w, now).await };
    app.background.finish("requiring a reset", work).await
}

async fn require_reset_now(
    app: &AppState,
    pool: &PoolId,
    who: &str,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let user = find(app, pool, who).await?;
    let (p, sub) = (pool.clone(), user.sub.clone());
    app.sql
        .transaction(move |c| {
            user_rows::set_status(c, &p, &sub, UserStatus::ResetRequired, now)?;
            crate::store::sql::refresh_tokens::revoke_user(c, &p, sub.as_str(), now)?;
            Ok(())
        })
        .await?;
    app.pools.users_changed(pool);
    crate::sessions::end_all(app, pool, user.sub.as_str(), now).await?;
    let ctx = audit::Context {
        sub: Some(user.sub.as_str()),
        detail: "reset required by an administrator",
        ..Default::default()
    };
    audit::record(app, pool, audit::Kind::PasswordReset, ctx, now).await;
    Ok(User {
        status: UserStatus::ResetRequired,
        ..user
    })
}

pub async fn delete(
    app: &AppState,
    pool: &PoolId,
    who: &str,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let user = find(app, pool, who).await?;
    let (p, sub) = (pool.clone(), user.sub.clone());
    app.sql
        .transaction(move |c| {
            crate::store::sql::refresh_tokens::revoke_user(c, &p, sub.as_str(), now)?;
            user_rows::delete(c, &p, &sub)
        })
        .await?;
    app.pools.users_changed(pool);
    audit::record(
        app,
        pool,
        audit::Kind::Deleted,
        audit::Context {
            sub: Some(user.sub.as_str()),
            ..Default::default()
        },
        now,
    )
    .await;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_normalize() {
        assert_eq!(normalize_identifier(" Alice "), "alice");
        assert_eq!(normalize_identifier("ｂｏｂ"), "bob"); // fullwidth → ASCII under NFKC
        assert!(check_username("a b").is_err());
        assert!(check_username("ok.user").is_ok());
        assert!(check_username("bob@example.com").is_err());
        assert!(
            check_username("a\u{00a8}b").is_err(),
            "NFKC turns the diaeresis into a space"
        );
        assert!(check_username("0190a9e2-7b1c-7cc2-9a57-1c1f3e5a9b10").is_err());
        assert!(check_email("a@b.co").is_ok());
        assert!(check_email("a@b").is_err());
        assert!(check_email("a b@c.de").is_err());
    }
}
