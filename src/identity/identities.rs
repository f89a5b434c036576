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
    /// The token's claims (role rules and principal tags read them).
    pub claims: Value,
    /// Its entry in the identity token's `amr` (Cognito's provider-qualified subject).
    pub amr: String,
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
        if let Some(issuer) = openid_issuer(pool, key) {
            let audiences = openid_audiences(pool, &issuer);
            out.push(openid_login(app, key, &issuer, &audiences, token, now).await?);
            continue;
        }
        if let Some(app_id) = pool.settings.supported_login_providers.get(key) {
            match key.as_str() {
                super::social::FACEBOOK => {
                    out.push(super::social::facebook(app, app_id, token).await?);
                    continue;
                }
                super::social::AMAZON => {
                    out.push(super::social::amazon(app, app_id, token).await?);
                    continue;
                }
                _ => {}
            }
        }
        let known = pool.settings.supported_login_providers.contains_key(key)
            || pool.settings.developer_provider_name.as_ref() == Some(key);
        return Err(IdentityError::NotAuthorized(if known {
            format!(
                "Logins from {key} are not taken here (Sign in with Apple is not supported; a developer's logins go through GetOpenIdTokenForDeveloperIdentity)."
            )
        } else {
            "Token is not from a supported provider of this identity pool.".to_string()
        }));
    }
    Ok(out)
}

/// Google's and Apple's issuers: their logins are ID tokens like any OpenID provider's, for
/// the app id `SupportedLoginProviders` names.
const OPENID_SOCIAL: &[&str] = &["accounts.google.com", "appleid.apple.com"];

/// The issuer URL of an OpenID login key: one of the pool's issuers, Google or Apple.
fn openid_issuer(pool: &IdentityPool, key: &str) -> Option<String> {
    if OPENID_SOCIAL.contains(&key) && pool.settings.supported_login_providers.contains_key(key) {
        return Some(format!("https://{key}"));
    }
    pool.settings
        .openid_issuers
        .iter()
        .find(|i| strip_scheme(i) == key)
        .cloned()
}

fn openid_audiences(pool: &IdentityPool, issuer: &str) -> Vec<String> {
    let s = &pool.settings;
    let key = strip_scheme(issuer);
    match s.supported_login_providers.get(key) {
        Some(app) if OPENID_SOCIAL.contains(&key) => vec![app.clone()],
        _ => s.openid_audiences.get(issuer).cloned().unwrap_or_default(),
    }
}

/// An ID token of another OpenID provider (Google, or one of the pool's issuers), verified
/// against its discovery document and keys, for one of the pool's client ids for it.
async fn openid_login(
    app: &AppState,
    key: &str,
    issuer: &str,
    audiences: &[String],
    token: &str,
    now: DateTime<Utc>,
) -> Result<Verified, IdentityError> {
    use crate::federation::FederationError;
    if audiences.is_empty() {
        return Err(IdentityError::Configuration(format!(
            "No client ids are set for {key}: every login from it is refused."
        )));
    }
    let claims = crate::federation::verify_login(&app.federation, issuer, audiences, token, now)
        .await
        .map_err(|e| match e {
            FederationError::Rejected(why) => {
                tracing::info!(provider = %key, why, "identity pool login refused");
                IdentityError::NotAuthorized("Invalid login token.".into())
            }
            other => IdentityError::External(format!("{key}: {other}")),
        })?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| IdentityError::NotAuthorized("Invalid login token.".into()))?
        .to_string();
    Ok(Verified {
        login: Login {
            provider: key.to_string(),
            subject: sub.clone(),
        },
        mapping_key: key.to_string(),
        amr: format!("{key}:OIDC:{sub}"),
        claims: Value::Object(claims),
    })
}

/// Does `pool` take logins from provider `key` at all?
pub fn trusts(pool: &IdentityPool, key: &str) -> bool {
    let s = &pool.settings;
    s.user_pools.iter().any(|p| p.provider_name == key)
        || s.supported_login_providers.contains_key(key)
        || s.openid_issuers.iter().any(|i| strip_scheme(i) == key)
        || s.developer_provider_name.as_deref() == Some(key)
}

/// The login key of an issuer URL: the URL without its scheme (Cognito's convention).
pub fn strip_scheme(url: &str) -> &str {
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
    let claims = tenant.verify_id_token(token, now).ok_or_else(invalid)?;
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
        let load = crate::store::sql::users::find_enabled(&app.sql, &tenant.pool.id, &sub);
        let user = tenant.enabled_user(&sub, load).await?;
        let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
        if user.is_none_or(|u| u.signed_out_since(iat)) {
            return Err(IdentityError::NotAuthorized(
                "Invalid login token. The user is signed out, disabled or deleted.".into(),
            ));
        }
    }
    Ok(Verified {
        login: Login {
            provider: key.to_string(),
            subject: sub.clone(),
        },
        mapping_key: format!("{key}:{aud}"),
        amr: format!("{key}:CognitoSignIn:{sub}"),
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
    settle(app, pool, None, &verified, false, now).await
}

/// The identity `verified` logins belong to, starting from `given` (a cached guest id, say):
/// identities owning any of the logins are merged into the first owner (the one returned),
/// the rest of the logins are linked to it. All in one transaction. A `given` identity with
/// logins must own one of `verified` unless the caller is `vouched` for (a developer's backend).
pub async fn settle(
    app: &AppState,
    pool: &IdentityPool,
    given: Option<&str>,
    verified: &[Verified],
    vouched: bool,
    now: DateTime<Utc>,
) -> Result<String, IdentityError> {
    let p = pool.id.clone();
    let logins: Vec<Login> = verified.iter().map(|v| v.login.clone()).collect();
    let fresh = new_id(app);
    let given = given.map(str::to_string);
    let settled = app
        .sql
        .transaction(move |c| {
            if let Some(g) = &given {
                let Some(identity) = rows::find_identity(c, &p, g)? else {
                    return Ok(Err(IdentityError::NoIdentity(g.clone())));
                };
                // A guest's id links to whoever signs in with it (Cognito's design); an
                // authenticated identity only to a caller who proves one of its logins.
                if !vouched
                    && !identity.logins.is_empty()
                    && !logins.iter().any(|l| identity.logins.contains(l))
                {
                    return Ok(Err(logins_mismatch()));
                }
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
            let mut merged = Vec::new();
            for other in others {
                rows::merge(c, &p, other, &survivor, now)?;
                tracing::info!(identity_pool = %p, from = %other, into = %survivor, "identities merged");
                merged.push(other.clone());
            }
            for l in &logins {
                if rows::owner_of(c, &p, l)?.is_none() {
                    rows::link(c, &p, &survivor, l, now)?;
                }
            }
            Ok(Ok((survivor, merged)))
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => IdentityError::Conflict(
                "The identity already has a login of that provider.".into(),
            ),
            other => other.into(),
        })?;
    let (survivor, merged) = settled?;
    if !merged.is_empty() {
        audit_merge(app, pool, verified, &merged, &survivor, now).await;
    }
    Ok(survivor)
}

/// A merge is irreversible: each user pool whose user's login caused it records it (identity
/// pools have no audit log of their own).
async fn audit_merge(
    app: &AppState,
    pool: &IdentityPool,
    verified: &[Verified],
    merged: &[String],
    survivor: &str,
    now: DateTime<Utc>,
) {
    let detail = format!(
        "identity pool {}: {} merged into {survivor}",
        pool.id,
        merged.join(", ")
    );
    for v in verified {
        let Some(tenant) = pool
            .settings
            .user_pools
            .iter()
            .any(|p| p.provider_name == v.login.provider)
            .then(|| v.login.provider.rsplit('/').next())
            .flatten()
            .and_then(|id| app.pools.get(id))
        else {
            continue;
        };
        let ctx = crate::audit::Context {
            sub: Some(&v.login.subject),
            detail: &detail,
            ..Default::default()
        };
        crate::audit::record(
            app,
            &tenant.pool.id,
            crate::audit::Kind::IdentitiesMerged,
            ctx,
            now,
        )
        .await;
    }
}

/// Cognito's answer when the logins given do not prove the identity.
pub fn logins_mismatch() -> IdentityError {
    IdentityError::NotAuthorized(
        "Logins don't match. Please include at least one valid login for this identity or identity pool.".into(),
    )
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
