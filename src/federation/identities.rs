//! Upstream identities and local users: who a federated sign-in is (a linked user, a new
//! `EXTERNAL_PROVIDER` user, or an existing account that must first be proven), and linking
//! and unlinking, with audit events.

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;

use super::{FederationError, Provider, UpstreamUser};
use crate::accounts::normalize_identifier;
use crate::audit;
use crate::clock::RandomExt;
use crate::ids::{PoolId, Sub};
use crate::model::{UserStatus, attributes};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::federation::{self as rows, LinkedIdentity};
use crate::store::sql::groups::{self, Group};
use crate::store::sql::pools::Pool;
use crate::store::sql::users::{self, NewUser, User};

/// Who a federated sign-in is.
#[derive(Debug)]
pub enum Resolution {
    /// A user linked to the identity (just now, for a new user): sign in.
    SignIn(Box<User>),
    /// A local account holds the email: the person must sign in to it before the identity is
    /// linked (never a second account, never a silent link).
    ProveOwnership(Box<User>),
    /// The linked user is disabled.
    Disabled,
}

/// Finds or creates the local user of an upstream identity, re-applying mapped attributes.
pub async fn resolve(
    app: &AppState,
    pool: &Pool,
    provider: &Provider,
    upstream: &UpstreamUser,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Resolution, FederationError> {
    let (pid, name, subject) = (
        pool.id.clone(),
        provider.name.clone(),
        upstream.subject.clone(),
    );
    let linked = app
        .sql
        .run(move |c| rows::find_link(c, &pid, &name, &subject))
        .await?;
    if let Some(link) = linked {
        let Some(user) = users::find_enabled(&app.sql, &pool.id, &link.sub).await? else {
            return Ok(Resolution::Disabled);
        };
        let user = refresh_attributes(app, pool, provider, upstream, user, now).await?;
        return Ok(Resolution::SignIn(Box::new(user)));
    }
    if let Some(local) = local_with_email(app, &pool.id, upstream).await? {
        if pool.settings.auto_link_verified_email && upstream.email_verified && local.email_verified
        {
            link(
                app,
                &pool.id,
                &provider.name,
                &upstream.subject,
                local.sub.as_str(),
                ip,
                now,
            )
            .await?;
            return Ok(Resolution::SignIn(Box::new(local)));
        }
        return Ok(Resolution::ProveOwnership(Box::new(local)));
    }
    let user = create_user(app, pool, provider, upstream, ip, now).await?;
    Ok(Resolution::SignIn(Box::new(user)))
}

async fn local_with_email(
    app: &AppState,
    pool: &PoolId,
    upstream: &UpstreamUser,
) -> Result<Option<User>, FederationError> {
    let Some(email) = upstream.email.as_deref() else {
        return Ok(None);
    };
    let (pool, norm) = (pool.clone(), normalize_identifier(email));
    let found = app
        .sql
        .run(move |c| users::find_by_identifier(c, &pool, &norm))
        .await?;
    Ok(found.filter(|u| {
        u.email.as_deref().map(normalize_identifier) == Some(normalize_identifier(email))
    }))
}

/// The mapped attributes that pass the pool's rules (a provider's odd value is dropped, not
/// fatal: the person still signs in).
fn mapped_attributes(
    pool: &Pool,
    provider: &Provider,
    upstream: &UpstreamUser,
) -> std::collections::BTreeMap<String, String> {
    upstream
        .mapped(&provider.mapping)
        .into_iter()
        .filter(|(k, v)| {
            let one = std::collections::BTreeMap::from([(k.clone(), v.clone())]);
            attributes::check(&pool.settings.custom_attributes, &one).is_ok()
        })
        .collect()
}

/// Mapped attributes are re-applied at every federated sign-in (Cognito's behaviour).
async fn refresh_attributes(
    app: &AppState,
    pool: &Pool,
    provider: &Provider,
    upstream: &UpstreamUser,
    user: User,
    now: DateTime<Utc>,
) -> Result<User, FederationError> {
    let mapped = mapped_attributes(pool, provider, upstream);
    let mut merged = user.attributes.clone();
    let phone = match mapped.get("phone_number") {
        Some(p) => Some(p.clone()),
        None => user.phone_number.clone(),
    };
    merged.extend(mapped.into_iter().filter(|(k, _)| k != "phone_number"));
    if merged == user.attributes && phone == user.phone_number {
        return Ok(user);
    }
    let phone_changed = phone != user.phone_number;
    let (pid, sub, m, p) = (
        pool.id.clone(),
        user.sub.clone(),
        merged.clone(),
        phone.clone(),
    );
    app.sql
        .run(move |c| users::set_attributes(c, &pid, &sub, &m, p.as_deref(), phone_changed, now))
        .await?;
    app.pools.users_changed(&pool.id);
    Ok(User {
        attributes: merged,
        phone_number: phone,
        ..user
    })
}

/// A new `EXTERNAL_PROVIDER` user named `{Provider}_{subject}`, linked, in the group
/// `{pool_id}_{Provider}` (as Cognito does).
async fn create_user(
    app: &AppState,
    pool: &Pool,
    provider: &Provider,
    upstream: &UpstreamUser,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<User, FederationError> {
    let mut attributes = mapped_attributes(pool, provider, upstream);
    let username: String = format!("{}_{}", provider.name, upstream.subject)
        .nfkc()
        .collect();
    let email = upstream
        .email
        .clone()
        .filter(|e| crate::accounts::check_email(e).is_ok());
    let new = NewUser {
        sub: Sub::new(app.random.uuid_v7(now)),
        username_norm: normalize_identifier(&username),
        username,
        email_norm: email.as_deref().map(normalize_identifier),
        email_verified: email.is_some() && upstream.email_verified,
        email,
        phone_number: attributes.remove("phone_number"),
        phone_number_verified: false,
        status: UserStatus::ExternalProvider,
        password_hash: None,
        attributes,
        srp_verifier: None,
    };
    let group = Group {
        name: format!("{}_{}", pool.id, provider.name),
        description: format!("Users who signed in with {}", provider.name),
        precedence: 0,
        created_at: now,
        role_arn: None,
    };
    let (pid, name, subject) = (
        pool.id.clone(),
        provider.name.clone(),
        upstream.subject.clone(),
    );
    let user = app
        .sql
        .transaction(move |c| {
            let user = users::insert(c, &pid, new, now)?;
            rows::link(c, &pid, &name, &subject, user.sub.as_str(), now)?;
            if !groups::exists(c, &pid, &group.name)? {
                groups::insert(c, &pid, &group)?;
            }
            groups::add_member(c, &pid, &group.name, user.sub.as_str())?;
            Ok(user)
        })
        .await?;
    let (kind, sub) = (audit::Kind::FederatedUserCreated, user.sub.as_str());
    record(app, &pool.id, kind, sub, ip, &provider.name, now).await;
    Ok(user)
}

/// Links `(provider, subject)` to the user `sub`.
pub async fn link(
    app: &AppState,
    pool: &PoolId,
    provider: &str,
    subject: &str,
    sub: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), FederationError> {
    linked(app, pool, (provider, subject), sub, None, ip, now).await
}

/// Links like [`link`] unless the user already has `max` linked identities
/// (`FederationError::TooManyLinks`): counted and written in one transaction, so a burst of
/// links cannot pass `max`.
pub async fn link_at_most(
    app: &AppState,
    pool: &PoolId,
    identity: (&str, &str),
    sub: &str,
    max: usize,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), FederationError> {
    linked(app, pool, identity, sub, Some(max), ip, now).await
}

async fn linked(
    app: &AppState,
    pool: &PoolId,
    (provider, subject): (&str, &str),
    sub: &str,
    max: Option<usize>,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), FederationError> {
    let (pid, p, s, u) = (
        pool.clone(),
        provider.to_string(),
        subject.to_string(),
        sub.to_string(),
    );
    app.sql
        .run(move |c| match max {
            Some(max) => rows::link_at_most(c, &pid, (&p, &s), &u, max, now),
            None => rows::link(c, &pid, &p, &s, &u, now),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => FederationError::Config(format!(
                "that {provider} identity is already linked to a user"
            )),
            StoreError::AtLimit(_) => FederationError::TooManyLinks(max.unwrap_or_default()),
            other => other.into(),
        })?;
    app.pools.users_changed(pool);
    record(
        app,
        pool,
        audit::Kind::IdentityLinked,
        sub,
        ip,
        provider,
        now,
    )
    .await;
    Ok(())
}

/// Unlinks `sub`'s identity at `provider`, unless it is the user's last way to sign in (no
/// password and no other identity).
pub async fn unlink(
    app: &AppState,
    pool: &PoolId,
    provider: &str,
    sub: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), FederationError> {
    let (pid, u) = (pool.clone(), sub.to_string());
    let (user, linked) = app
        .sql
        .run(move |c| Ok((users::find(c, &pid, &u)?, rows::of_user(c, &pid, &u)?)))
        .await?;
    let user = user.ok_or_else(|| FederationError::NotFound(sub.to_string()))?;
    if !linked.iter().any(|l| l.provider == provider) {
        return Err(FederationError::NotFound(provider.to_string()));
    }
    if user.password_hash.is_none() && linked.len() <= 1 {
        return Err(FederationError::Config(
            "that is the user's only way to sign in".into(),
        ));
    }
    let (pid, p, u) = (pool.clone(), provider.to_string(), sub.to_string());
    app.sql.run(move |c| rows::unlink(c, &pid, &p, &u)).await?;
    app.pools.users_changed(pool);
    record(
        app,
        pool,
        audit::Kind::IdentityUnlinked,
        sub,
        ip,
        provider,
        now,
    )
    .await;
    Ok(())
}

/// An audit event about `sub` and an identity provider.
pub async fn record(
    app: &AppState,
    pool: &PoolId,
    kind: audit::Kind,
    sub: &str,
    ip: Option<&str>,
    provider: &str,
    now: DateTime<Utc>,
) {
    let detail = format!("provider {provider}");
    let ctx = audit::Context {
        sub: Some(sub),
        ip,
        detail: &detail,
        ..Default::default()
    };
    audit::record(app, pool, kind, ctx, now).await;
}

/// The link of the upstream identity `(provider, subject)`, if any.
pub async fn find(
    app: &AppState,
    pool: &PoolId,
    provider: &str,
    subject: &str,
) -> Result<Option<LinkedIdentity>, FederationError> {
    let (pid, p, s) = (pool.clone(), provider.to_string(), subject.to_string());
    Ok(app
        .sql
        .run(move |c| rows::find_link(c, &pid, &p, &s))
        .await?)
}

/// The identities linked to `sub`.
pub async fn of_user(
    app: &AppState,
    pool: &PoolId,
    sub: &str,
) -> Result<Vec<LinkedIdentity>, FederationError> {
    let (pid, u) = (pool.clone(), sub.to_string());
    Ok(app.sql.run(move |c| rows::of_user(c, &pid, &u)).await?)
}
