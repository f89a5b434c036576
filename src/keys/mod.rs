//! Signing keys per issuer (each user pool, and the identity issuer): generation (RS256
//! default, ES256), sealing at rest, rotation, status.

pub mod issuer;
pub mod ring;

use chrono::{DateTime, TimeDelta, Utc};
use josekit::jwk::Jwk;
use serde::Serialize;

use crate::clock::RandomExt;
use crate::config::KeyAlgorithm;
use crate::crypto::CryptoError;
use crate::ids::{Kid, PoolId};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::keys::{self as key_rows, StoredKey};

pub use issuer::IssuerKeys;
pub use ring::{KeyRing, LiveKey};

/// Whose keys: a user pool's, or the identity issuer's (stored under [`issuer::OWNER`]).
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    Pool(&'a PoolId),
    Identity,
}

impl Owner<'_> {
    /// The `signing_keys.pool_id` of this owner's keys.
    pub fn id(&self) -> PoolId {
        match self {
            Owner::Pool(p) => (*p).clone(),
            Owner::Identity => PoolId::new(issuer::OWNER),
        }
    }

    /// Stores `insert` and deletes `gone` in one transaction (a pool's version moves with its
    /// keys), then reloads this instance's cache of the owner.
    async fn change(
        &self,
        app: &AppState,
        insert: Option<StoredKey>,
        gone: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<usize, KeyError> {
        let (owner, pool) = (self.id(), matches!(self, Owner::Pool(_)));
        let n = app
            .sql
            .transaction(move |c| {
                if let Some(k) = &insert {
                    key_rows::insert(c, k)?;
                }
                let n = if gone.is_empty() {
                    0
                } else {
                    key_rows::delete(c, &owner, &gone)?
                };
                if pool {
                    crate::store::sql::pools::bump_version(c, &owner, now)?;
                }
                Ok(n)
            })
            .await?;
        match self {
            Owner::Pool(p) => app.pools.reload_after_change(app, p).await,
            Owner::Identity => app.identity_keys.reload_after_change(app).await,
        }
        Ok(n)
    }

    /// How long a retired key stays published: the longest token it may have signed
    /// (identity tokens for developers live up to a day).
    fn retention(&self, app: &AppState) -> TimeDelta {
        let longest = match self {
            Owner::Pool(_) => app.config.max_token_lifetime_secs,
            Owner::Identity => app
                .config
                .max_token_lifetime_secs
                .max(issuer::LONGEST_TOKEN_SECS),
        };
        secs(longest)
    }
}

/// Errors about signing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("stored key {0} is unusable: {1}")]
    Corrupt(String, String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the pool has no key {0}")]
    NotFound(String),
}

/// Where a key is in its life, at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Published, not yet signing.
    Pending,
    /// The pool's signer.
    Active,
    /// No longer signing; published until tokens it signed have expired.
    Retired,
    /// No longer published.
    Expired,
}

/// What `keys list` shows.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: Kid,
    pub alg: String,
    pub status: KeyStatus,
    pub created_at: DateTime<Utc>,
    pub active_from: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub published: bool,
}

fn sealing_context(pool: &PoolId, kid: &Kid) -> String {
    format!("signing-key/{pool}/{kid}")
}

fn gen_err(e: impl std::fmt::Display) -> KeyError {
    KeyError::Generate(e.to_string())
}

/// Generates a key pair and seals its private half. Nothing is stored yet.
pub fn generate(
    app: &AppState,
    pool: &PoolId,
    alg: KeyAlgorithm,
    now: DateTime<Utc>,
    active_from: DateTime<Utc>,
) -> Result<StoredKey, KeyError> {
    // Letters and digits only (128+ bits): a kid starting with `-` reads as an option on a
    // command line (`tessera keys revoke KID`).
    let kid = Kid::new(app.random.string_from(crate::clock::BASE62, 22));
    let (mut private, mut public): (Jwk, Jwk) = match alg {
        KeyAlgorithm::RS256 => {
            let kp = josekit::jws::RS256
                .generate_key_pair(2048)
                .map_err(gen_err)?;
            (kp.to_jwk_private_key(), kp.to_jwk_public_key())
        }
        KeyAlgorithm::ES256 => {
            let kp = josekit::jws::ES256.generate_key_pair().map_err(gen_err)?;
            (kp.to_jwk_private_key(), kp.to_jwk_public_key())
        }
    };
    for jwk in [&mut private, &mut public] {
        jwk.set_key_id(kid.as_str());
        jwk.set_algorithm(alg.as_str());
        jwk.set_key_use("sig");
    }
    let private_json = serde_json::to_vec(private.as_ref()).map_err(gen_err)?;
    let sealed = app.master_key.seal(
        &private_json,
        &sealing_context(pool, &kid),
        app.random.as_ref(),
    )?;
    Ok(StoredKey {
        pool_id: pool.clone(),
        kid,
        alg: alg.as_str().to_string(),
        private_jwk_sealed: sealed,
        public_jwk: serde_json::to_string(public.as_ref()).map_err(gen_err)?,
        created_at: now,
        active_from,
    })
}

/// Adds a new key to the pool: published at once, signing after the configured delay (or at
/// once when `immediate`, e.g. after a compromise).
pub async fn rotate(
    app: &AppState,
    pool: &PoolId,
    now: DateTime<Utc>,
    immediate: bool,
) -> Result<KeyInfo, KeyError> {
    rotate_for(app, Owner::Pool(pool), now, immediate).await
}

/// [`rotate`] for any owner.
pub async fn rotate_for(
    app: &AppState,
    owner: Owner<'_>,
    now: DateTime<Utc>,
    immediate: bool,
) -> Result<KeyInfo, KeyError> {
    let delay = if immediate {
        TimeDelta::zero()
    } else {
        secs(app.config.key_activation_delay_secs)
    };
    let key = generate(app, &owner.id(), app.config.key_algorithm, now, now + delay)?;
    let kid = key.kid.clone();
    owner.change(app, Some(key), Vec::new(), now).await?;
    list_for(app, owner, now)
        .await?
        .into_iter()
        .find(|i| i.kid == kid)
        .ok_or_else(|| KeyError::Store(StoreError::Corrupt("rotated key vanished".into())))
}

/// What `keys revoke` did.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub kid: Kid,
    /// The key that signs from now on, when the revoked one was the signer.
    pub replaced_by: Option<KeyInfo>,
}

/// Revokes a key (its private half leaked): deleted, so it leaves the JWKS and every token it
/// signed is refused from now on (this instance at once, the others at their next refresh).
/// When it was the signer, a new key signs from `now` (a retired key never signs again).
pub async fn revoke(
    app: &AppState,
    pool: &PoolId,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<Revoked, KeyError> {
    let revoked = revoke_for(app, Owner::Pool(pool), kid, now).await?;
    let detail = match &revoked.replaced_by {
        Some(k) => format!("key {kid} revoked; {} signs from now", k.kid),
        None => format!("key {kid} revoked"),
    };
    let ctx = crate::audit::Context {
        detail: &detail,
        ..Default::default()
    };
    crate::audit::record(app, pool, crate::audit::Kind::KeyRevoked, ctx, now).await;
    Ok(revoked)
}

/// [`revoke`] for any owner (only a pool's revocation is audited: audit events are per pool).
pub async fn revoke_for(
    app: &AppState,
    owner: Owner<'_>,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<Revoked, KeyError> {
    let infos = list_for(app, owner, now).await?;
    let Some(info) = infos.iter().find(|i| i.kid.as_str() == kid) else {
        return Err(KeyError::NotFound(kid.to_string()));
    };
    let replacement = match info.status {
        KeyStatus::Active => Some(generate(
            app,
            &owner.id(),
            app.config.key_algorithm,
            now,
            now,
        )?),
        _ => None,
    };
    let new_kid = replacement.as_ref().map(|k| k.kid.clone());
    owner
        .change(app, replacement, vec![kid.to_string()], now)
        .await?;
    tracing::warn!(owner = %owner.id(), kid, "signing key revoked");
    let replaced_by = match new_kid {
        Some(k) => list_for(app, owner, now)
            .await?
            .into_iter()
            .find(|i| i.kid == k),
        None => None,
    };
    Ok(Revoked {
        kid: info.kid.clone(),
        replaced_by,
    })
}

/// Every key of the pool with its status at `now`.
pub async fn list(
    app: &AppState,
    pool: &PoolId,
    now: DateTime<Utc>,
) -> Result<Vec<KeyInfo>, KeyError> {
    list_for(app, Owner::Pool(pool), now).await
}

/// [`list`] for any owner.
pub async fn list_for(
    app: &AppState,
    owner: Owner<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<KeyInfo>, KeyError> {
    let o = owner.id();
    let stored = app.sql.run(move |c| key_rows::list(c, &o)).await?;
    Ok(lifecycle(&stored, now, owner.retention(app)))
}

/// Deletes the owner's expired keys (no longer published: every token they signed has
/// expired); returns how many.
pub async fn delete_expired(
    app: &AppState,
    owner: Owner<'_>,
    now: DateTime<Utc>,
) -> Result<usize, KeyError> {
    let kids: Vec<String> = list_for(app, owner, now)
        .await?
        .into_iter()
        .filter(|i| i.status == KeyStatus::Expired)
        .map(|i| i.kid.to_string())
        .collect();
    if kids.is_empty() {
        return Ok(0);
    }
    owner.change(app, None, kids, now).await
}

pub(crate) fn secs(s: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// Status of each key (sorted by `active_from`) at `now`: a key retires when the next key
/// activates, and stays published for `retention` after that.
pub fn lifecycle(keys: &[StoredKey], now: DateTime<Utc>, retention: TimeDelta) -> Vec<KeyInfo> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            let retired_at = keys[i + 1..]
                .iter()
                .map(|n| n.active_from)
                .find(|t| *t <= now);
            let status = match retired_at {
                _ if k.active_from > now => KeyStatus::Pending,
                None => KeyStatus::Active,
                Some(t) if t + retention > now => KeyStatus::Retired,
                Some(_) => KeyStatus::Expired,
            };
            KeyInfo {
                kid: k.kid.clone(),
                alg: k.alg.clone(),
                status,
                created_at: k.created_at,
                active_from: k.active_from,
                retired_at,
                published: status != KeyStatus::Expired,
            }
        })
        .collect()
}

/// Opens a stored key for signing.
pub fn unseal(app: &AppState, k: &StoredKey) -> Result<Jwk, KeyError> {
    let plain = app
        .master_key
        .unseal(&k.private_jwk_sealed, &sealing_context(&k.pool_id, &k.kid))?;
    Jwk::from_bytes(plain).map_err(|e| KeyError::Corrupt(k.kid.to_string(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, active_from: i64) -> StoredKey {
        StoredKey {
            pool_id: PoolId::new("local_AAAAAAAAA"),
            kid: Kid::new(kid),
            alg: "RS256".into(),
            private_jwk_sealed: String::new(),
            public_jwk: String::new(),
            created_at: DateTime::from_timestamp(active_from, 0).unwrap(),
            active_from: DateTime::from_timestamp(active_from, 0).unwrap(),
        }
    }

    fn statuses(keys: &[StoredKey], now: i64) -> Vec<KeyStatus> {
        lifecycle(
            keys,
            DateTime::from_timestamp(now, 0).unwrap(),
            TimeDelta::seconds(100),
        )
        .into_iter()
        .map(|i| i.status)
        .collect()
    }

    #[test]
    fn rotation_lifecycle() {
        use KeyStatus::*;
        let keys = [key("a", 0), key("b", 50)];
        assert_eq!(statuses(&keys, 10), [Active, Pending]);
        assert_eq!(statuses(&keys, 50), [Retired, Active]);
        assert_eq!(statuses(&keys, 149), [Retired, Active]);
        assert_eq!(statuses(&keys, 150), [Expired, Active]);
    }
}
