//! Identities of an identity pool: `GetId`'s engine. Logins are verified, never trusted (this
//! server's user pools against their own keys and, with `ServerSideTokenCheck`, their users);
//! a login finds its identity, a new one is made, and a login owned by another identity merges
//! the two, as Cognito does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{IdentityError, new_id};
use crate::model::identity_pool::UserPoolProvider;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::identity_pools::{self as rows, IdentityPool, Login};

/// Cognito's bound on the `Logins` map.
pub const MAX_LOGINS: usize = 10;

/// A login whose token checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    pub login: Login,
    /// The key of its role mapping (`{provider}:{client_id}` for a user pool).
    pub mapping_key: String,
    /// The token's claims (role rules read them).
    pub claims: Value,
}

/// Checks every login of `logins` (provider key -> token) against `pool`'s trusted providers.
pub async fn verify(
    app: &AppState,
    pool: &IdentityPool,
    logins: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Vec<Verified>, IdentityError> {
    if logins.len() > MAX_LOGINS {
        return Err(IdentityError::Invalid(format!(
            "Logins holds at most {MAX_LOGINS} providers"
        )));
    }
    let mut out = Vec::with_capacity(logins.len());
    for (key, token) in logins {
        let trusted: Vec<&UserPoolProvider> = pool
            .settings
            .user_pools
            .iter()
            .filter(|p| &p.provider_name == key)
            .collect();
        if !trusted.is_empty() {
            out.push(user_pool_login(app, key, &trusted, token, now).await?);
            continue;
        }
        let known = pool.settings.supported_login_providers.contains_key(key)
            || pool
                .settings
                .openid_issuers
                .iter()
                .any(|i| strip_scheme(i) == key)
            || pool.settings.developer_provider_name.as_ref() == Some(key);
        return Err(IdentityError::NotAuthorized(if known {
            format!("Logins from {key} cannot be verified by this server yet.")
        } else {
            "Token is not from a supported provider of this identity pool.".to_string()
        }));
    }
    Ok(out)
}

fn strip_scheme(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, rest)| rest)
}

/// An ID token of one of this server's user pools, for one of the clients the identity pool
/// trusts; with `ServerSideTokenCheck`, its user must still be enabled and signed in.
async fn user_pool_login(
    app: &AppState,
    key: &str,
    trusted: &[&UserPoolProvider],
    token: &str,
    now: DateTime<Utc>,
) -> Result<Verified, IdentityError> {
    let invalid = || IdentityError::NotAuthorized("Invalid login token.".into());
    let pool_id = key.rsplit('/').next().unwrap_or_default();
    let tenant = app.pools.get(pool_id).ok_or_else(invalid)?;
    let claims = crate::oidc::tokens::verify_id_token(&tenant, token, now).ok_or_else(invalid)?;
    let aud = claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let provider = trusted.iter().find(|p| p.client_id == aud).ok_or_else(|| {
        IdentityError::NotAuthorized("Invalid login token. Incorrect token audience.".into())
    })?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?
        .to_string();
    if provider.server_side_token_check {
        let user = crate::oidc::introspect::enabled_user(app, &tenant, &sub)
            .await
            .map_err(|e| IdentityError::Upstream(e.to_string()))?;
        let claims_map = claims.clone();
        if user.is_none_or(|u| crate::oidc::introspect::signed_out(&u, &claims_map)) {
            return Err(IdentityError::NotAuthorized(
                "Invalid login token. The user is signed out, disabled or deleted.".into(),
            ));
        }
    }
    Ok(Verified {
        login: Login {
            provider: key.to_string(),
            subject: sub,
        },
        mapping_key: format!("{key}:{aud}"),
        claims: Value::Object(claims),
    })
}

/// `GetId`: the identity of these logins (made if none has them; merged if several do), or a
/// new guest identity when there are none and the pool allows guests.
pub async fn get_id(
    app: &AppState,
    pool: &IdentityPool,
    logins: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<String, IdentityError> {
    if logins.is_empty() {
        if !pool.settings.allow_unauthenticated {
            return Err(IdentityError::NotAuthorized(
                "Unauthenticated access is not supported for this identity pool.".into(),
            ));
        }
        let (p, id) = (pool.id.clone(), new_id(app));
        let made = id.clone();
        app.sql
            .run(move |c| rows::create_identity(c, &p, &made, None, now))
            .await?;
        return Ok(id);
    }
    let verified = verify(app, pool, logins, now).await?;
    settle(app, pool, None, &verified, now).await
}

/// The identity `verified` logins belong to, starting from `given` (a cached guest id, say):
/// identities owning any of the logins are merged into the first owner (the one returned),
/// the rest of the logins are linked to it. All in one transaction.
pub async fn settle(
    app: &AppState,
    pool: &IdentityPool,
    given: Option<&str>,
    verified: &[Verified],
    now: DateTime<Utc>,
) -> Result<String, IdentityError> {
    let p = pool.id.clone();
    let logins: Vec<Login> = verified.iter().map(|v| v.login.clone()).collect();
    let fresh = new_id(app);
    let given = given.map(str::to_string);
    app.sql
        .transaction(move |c| {
            if let Some(g) = &given
                && rows::find_identity(c, &p, g)?.is_none()
            {
                return Ok(Err(IdentityError::NoIdentity(g.clone())));
            }
            let mut owners: Vec<String> = Vec::new();
            for l in &logins {
                if let Some(o) = rows::owner_of(c, &p, l)?
                    && !owners.contains(&o)
                {
                    owners.push(o);
                }
            }
            let survivor = match (owners.first(), &given) {
                (Some(o), _) => o.clone(),
                (None, Some(g)) => g.clone(),
                (None, None) => {
                    rows::create_identity(c, &p, &fresh, None, now)?;
                    fresh.clone()
                }
            };
            let others = owners
                .iter()
                .skip(1)
                .chain(given.iter())
                .filter(|o| **o != survivor);
            for other in others {
                rows::merge(c, &p, other, &survivor, now)?;
                tracing::info!(identity_pool = %p, from = %other, into = %survivor, "identities merged");
            }
            for l in &logins {
                if rows::owner_of(c, &p, l)?.is_none() {
                    rows::link(c, &p, &survivor, l, now)?;
                }
            }
            Ok(Ok(survivor))
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => IdentityError::Conflict(
                "The identity already has a login of that provider.".into(),
            ),
            other => other.into(),
        })?
}

/// `UnlinkIdentity`: removes the logins of `providers` from identity `id`, which the caller
/// proves with `logins` (each verified and linked to that identity). A login removed that is
/// seen again later makes a new identity, as in Cognito.
pub async fn unlink(
    app: &AppState,
    pool: &IdentityPool,
    id: &str,
    logins: &BTreeMap<String, String>,
    providers: &[String],
    now: DateTime<Utc>,
) -> Result<(), IdentityError> {
    if logins.is_empty() {
        return Err(IdentityError::NotAuthorized(
            "Logins must prove the identity.".into(),
        ));
    }
    if providers.len() > MAX_LOGINS {
        return Err(IdentityError::Invalid(format!(
            "LoginsToRemove holds at most {MAX_LOGINS} providers"
        )));
    }
    let verified = verify(app, pool, logins, now).await?;
    let (p, i) = (pool.id.clone(), id.to_string());
    let proven: Vec<Login> = verified.into_iter().map(|v| v.login).collect();
    let providers = providers.to_vec();
    app.sql
        .transaction(move |c| {
            if rows::find_identity(c, &p, &i)?.is_none() {
                return Ok(Err(IdentityError::NoIdentity(i.clone())));
            }
            for l in &proven {
                if rows::owner_of(c, &p, l)?.as_deref() != Some(i.as_str()) {
                    return Ok(Err(IdentityError::NotAuthorized(
                        "Logins do not belong to this identity.".into(),
                    )));
                }
            }
            for provider in &providers {
                rows::unlink(c, &p, &i, provider)?;
            }
            Ok(Ok(()))
        })
        .await?
}
