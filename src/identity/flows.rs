//! What an identity is handed: the identity token of `GetOpenIdToken` (Cognito's basic flow),
//! of `GetOpenIdTokenForDeveloperIdentity` (a backend vouching for its user), and of an RFC 8693
//! exchange; each proves the caller's logins, settles the identity (links, merges), chooses
//! the role and signs. The credentials broker builds on [`authenticate`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::identities::{Verified, logins_mismatch, settle, verify};
use super::token::{self, DEFAULT_DEVELOPER_SECS, Grant, MAX_DEVELOPER_SECS, TOKEN_SECS};
use super::{IdentityError, find, well_formed_id};
use crate::model::identity_pool::{MAX_PRINCIPAL_TAGS, RoleRefused, resolve_role};
use crate::state::AppState;
use crate::store::sql::identity_pools::{self as rows, IdentityPool, Login};

/// An identity token handed out, with what it says.
#[derive(Debug, Clone)]
pub struct Issued {
    pub identity_id: String,
    pub token: String,
    pub claims: Map<String, Value>,
}

/// A caller of an identity: its pool, the identity its logins settled on, and those logins
/// (none: a guest).
#[derive(Debug, Clone)]
pub struct Caller {
    pub pool: IdentityPool,
    pub identity_id: String,
    pub logins: Vec<Verified>,
}

impl Caller {
    /// The role the pool's configuration gives this caller (the first login's mapping, or
    /// the default role of its kind).
    pub fn role(&self) -> Result<String, RoleRefused> {
        match self.logins.first() {
            Some(l) => resolve_role(&self.pool.settings, Some(&l.mapping_key), &l.claims),
            None => resolve_role(&self.pool.settings, None, &Value::Null),
        }
    }
}

/// The pool of identity `id`.
pub(super) async fn pool_of(app: &AppState, id: &str) -> Result<IdentityPool, IdentityError> {
    if !well_formed_id(id) {
        return Err(IdentityError::NoIdentity(id.to_string()));
    }
    let key = id.to_string();
    let pool_id = app
        .sql
        .run(move |c| rows::pool_of_identity(c, &key))
        .await?
        .ok_or_else(|| IdentityError::NoIdentity(id.to_string()))?;
    find(app, &pool_id).await
}

/// Proves who calls for identity `id` with `logins`: none, a guest identity of a pool that
/// allows guests; otherwise logins verified and settled on `id` (linked; merged with
/// identities that own them, whose survivor is the identity from then on).
pub async fn authenticate(
    app: &AppState,
    id: &str,
    logins: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Caller, IdentityError> {
    authenticate_in(app, pool_of(app, id).await?, id, logins, now).await
}

/// [`authenticate`] with identity `id`'s pool already loaded (by [`pool_of`]).
pub(super) async fn authenticate_in(
    app: &AppState,
    pool: IdentityPool,
    id: &str,
    logins: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Caller, IdentityError> {
    if logins.is_empty() {
        let (p, i) = (pool.id.clone(), id.to_string());
        let identity = app
            .sql
            .run(move |c| rows::find_identity(c, &p, &i))
            .await?
            .ok_or_else(|| IdentityError::NoIdentity(id.to_string()))?;
        if !identity.logins.is_empty() {
            return Err(logins_mismatch());
        }
        if !pool.settings.allow_unauthenticated {
            return Err(IdentityError::NotAuthorized(
                "Unauthenticated access is not supported for this identity pool.".into(),
            ));
        }
        return Ok(Caller {
            pool,
            identity_id: id.to_string(),
            logins: Vec::new(),
        });
    }
    let verified = verify(app, &pool, logins, now).await?;
    let identity_id = settle(app, &pool, Some(id), &verified, false, now).await?;
    Ok(Caller {
        pool,
        identity_id,
        logins: verified,
    })
}

/// Signs the identity token of `caller` for `ttl_secs`, naming the role when one resolves.
pub async fn issue(
    app: &AppState,
    caller: &Caller,
    extra_tags: &BTreeMap<String, String>,
    ttl_secs: i64,
    now: DateTime<Utc>,
) -> Result<Issued, IdentityError> {
    let role = caller.role().ok();
    issue_as(app, caller, role.as_deref(), extra_tags, ttl_secs, now).await
}

/// [`issue`] naming `role` (the one about to be assumed, say).
pub(super) async fn issue_as(
    app: &AppState,
    caller: &Caller,
    role: Option<&str>,
    extra_tags: &BTreeMap<String, String>,
    ttl_secs: i64,
    now: DateTime<Utc>,
) -> Result<Issued, IdentityError> {
    let grant = Grant {
        pool: &caller.pool,
        identity_id: &caller.identity_id,
        logins: &caller.logins,
        role,
        extra_tags,
        ttl_secs,
    };
    let (token, claims) = token::mint(app, &grant, now).await?;
    Ok(Issued {
        identity_id: caller.identity_id.clone(),
        token,
        claims,
    })
}

/// Refuses to hand identity tokens to clients of a pool whose basic (classic) flow is off:
/// there only the broker uses them (a token in a client's hands could be taken to any STS
/// whose trust policy is too broad, the risk the basic flow carries).
fn classic_flow_allowed(pool: &IdentityPool) -> Result<(), IdentityError> {
    if pool.settings.allow_classic_flow {
        Ok(())
    } else {
        Err(IdentityError::Invalid(
            "Basic (classic) flow is not enabled for this identity pool; use GetCredentialsForIdentity.".into(),
        ))
    }
}

/// `GetOpenIdToken`: the identity token of identity `id` for the caller of `logins`.
pub async fn open_id_token(
    app: &AppState,
    id: &str,
    logins: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Issued, IdentityError> {
    // Refused before anything is linked or merged.
    let pool = pool_of(app, id).await?;
    classic_flow_allowed(&pool)?;
    let caller = authenticate_in(app, pool, id, logins, now).await?;
    issue(app, &caller, &BTreeMap::new(), TOKEN_SECS, now).await
}

/// What `GetOpenIdTokenForDeveloperIdentity` asks.
#[derive(Debug, Clone, Default)]
pub struct DeveloperRequest {
    pub pool_id: String,
    pub identity_id: Option<String>,
    /// Must hold the pool's developer provider name with the backend's user id; may hold
    /// other providers' tokens (verified as ever).
    pub logins: BTreeMap<String, String>,
    pub principal_tags: BTreeMap<String, String>,
    pub token_duration: Option<i64>,
}

/// `GetOpenIdTokenForDeveloperIdentity` (signed: the backend vouches for its user id): finds,
/// links or makes the identity of the developer login and signs its token.
pub async fn developer_token(
    app: &AppState,
    req: &DeveloperRequest,
    now: DateTime<Utc>,
) -> Result<Issued, IdentityError> {
    let pool = find(app, &req.pool_id).await?;
    let ttl = req.token_duration.unwrap_or(DEFAULT_DEVELOPER_SECS);
    if !(1..=MAX_DEVELOPER_SECS).contains(&ttl) {
        return Err(IdentityError::Invalid(format!(
            "TokenDuration is 1 to {MAX_DEVELOPER_SECS} seconds"
        )));
    }
    check_tags(&req.principal_tags)?;
    let Some(dev) = pool.settings.developer_provider_name.clone() else {
        return Err(IdentityError::NotAuthorized(
            "This identity pool has no developer provider (DeveloperProviderName).".into(),
        ));
    };
    let Some(user) = req.logins.get(&dev) else {
        return Err(IdentityError::Invalid(format!(
            "Logins must hold the developer provider {dev}"
        )));
    };
    if user.is_empty() || user.len() > 128 || user.chars().any(char::is_control) {
        return Err(IdentityError::Invalid(
            "the developer user identifier is 1 to 128 printable characters".into(),
        ));
    }
    let others: BTreeMap<String, String> = req
        .logins
        .iter()
        .filter(|(k, _)| **k != dev)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut verified = vec![developer_login(app, &pool, &dev, user)];
    verified.extend(verify(app, &pool, &others, now).await?);
    let given = req.identity_id.as_deref();
    let identity_id = settle(app, &pool, given, &verified, true, now).await?;
    let caller = Caller {
        pool,
        identity_id,
        logins: verified,
    };
    issue(app, &caller, &req.principal_tags, ttl, now).await
}

/// A developer's user, vouched for by its backend (Cognito's `amr` entry for it is
/// `{provider}:{region}:{pool guid}:{user}`).
fn developer_login(app: &AppState, pool: &IdentityPool, dev: &str, user: &str) -> Verified {
    let guid = pool.id.split_once(':').map_or("", |(_, g)| g);
    Verified {
        login: Login {
            provider: dev.to_string(),
            subject: user.to_string(),
        },
        mapping_key: dev.to_string(),
        claims: Value::Object(Map::new()),
        amr: format!("{dev}:{}:{guid}:{user}", app.config.region),
    }
}

fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), IdentityError> {
    if tags.len() > MAX_PRINCIPAL_TAGS {
        return Err(IdentityError::Invalid(format!(
            "PrincipalTags holds at most {MAX_PRINCIPAL_TAGS} tags"
        )));
    }
    let bad = tags.iter().any(|(k, v)| {
        k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") || k == "auth_type"
    });
    if bad {
        return Err(IdentityError::Invalid(
            "a principal tag is 1 to 128 characters (not aws: nor auth_type), its value at most 256"
                .into(),
        ));
    }
    Ok(())
}

/// The engine of an RFC 8693 exchange: a token of provider `key` (an ID token or JWT)
/// becomes the identity token of its identity in `pool`. Guests cannot exchange.
pub async fn exchange(
    app: &AppState,
    pool: &IdentityPool,
    key: &str,
    subject_token: &str,
    now: DateTime<Utc>,
) -> Result<Issued, IdentityError> {
    let pool = pool.clone();
    classic_flow_allowed(&pool)?;
    let logins = BTreeMap::from([(key.to_string(), subject_token.to_string())]);
    let verified = verify(app, &pool, &logins, now).await?;
    let identity_id = settle(app, &pool, None, &verified, false, now).await?;
    let caller = Caller {
        pool,
        identity_id,
        logins: verified,
    };
    issue(app, &caller, &BTreeMap::new(), TOKEN_SECS, now).await
}
