//! Per-instance cache of each pool's record, key ring, clients, discovery and JWKS documents, so
//! those endpoints never touch SQL. Reloaded by whoever changes a pool and by a poll of pool versions.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::PoolError;
use crate::ids::PoolId;
use crate::keys::{self, KeyRing};
use crate::model::client::origin_of;
use crate::state::AppState;
use crate::store::sql::clients::Client;
use crate::store::sql::federation::{self as idp_rows, ProviderRecord};
use crate::store::sql::pools::{self as pool_rows, Pool};
use crate::store::sql::users::User;

use super::remembered::{PoolMemory, Remembered};
pub use super::remembered::{Subject, Verified};
use crate::model::DocSlot;
pub use crate::model::StaticDoc;

/// Everything request handlers need about one pool.
#[derive(Debug)]
pub struct PoolRuntime {
    pub pool: Pool,
    pub issuer: String,
    pub keys: KeyRing,
    /// Filled on first use by the protocol layer, which owns the document's content.
    discovery: DocSlot,
    /// App clients by client_id (client changes bump the pool version, so this stays fresh).
    pub clients: HashMap<String, Arc<Client>>,
    /// Upstream identity providers by name (secrets still sealed).
    pub providers: Vec<ProviderRecord>,
    /// Browser origins that may call token, userinfo and revocation (CORS): those of every
    /// client's redirect URIs and its allowed origins.
    origins: HashSet<String>,
    jwks: DocSlot,
    /// Access tokens whose signature and header were checked (from their second check),
    /// enabled users read by userinfo and introspection, and the subjects the token endpoint
    /// issues tokens about, in the maps every pool shares ([`Remembered`]). The tokens are
    /// forgotten with this runtime, so a key rotation or revocation (which reloads the pool)
    /// forgets every one; expiry is still checked on each use. The users are forgotten whole
    /// by any write to the pool's users, their group memberships, its groups or the users'
    /// linked identities: at once on this instance ([`PoolCache::users_changed`]), within
    /// one refresh period on the others (the pool's users version, which those writes bump).
    memory: PoolMemory,
    /// Two independent random SipHash keys: a token's 128-bit cache key. Keyed, so nobody can
    /// aim a forged token at a remembered one (2^128 guesses), and ten times cheaper than
    /// SHA-256 over an 800-byte JWT where the CPU has no SHA instructions.
    verified_keys: (RandomState, RandomState),
}

impl PoolRuntime {
    /// The checked form of `token`: from memory, or from `check` (remembered when it passes
    /// for the second time: see [`super::remembered::TOKENS`]).
    pub fn verified(
        &self,
        token: &str,
        check: impl FnOnce() -> Option<Verified>,
    ) -> Option<Arc<Verified>> {
        let (a, b) = &self.verified_keys;
        let key = (u128::from(a.hash_one(token)) << 64) | u128::from(b.hash_one(token));
        if let Some(hit) = self.memory.token(key) {
            return Some(hit);
        }
        let fresh = Arc::new(check()?);
        self.memory.remember_token(key, fresh.clone());
        Some(fresh)
    }

    /// The enabled user `sub`: from memory, or read with `load` (remembered when found). A
    /// disabled or missing user is never remembered.
    pub async fn enabled_user<F, E>(&self, sub: &str, load: F) -> Result<Option<Arc<User>>, E>
    where
        F: Future<Output = Result<Option<User>, E>>,
    {
        self.memory.read_through(sub, load).await
    }

    /// The enabled user `sub` with their groups and identities: from memory, or read with
    /// `load` (remembered when found, the user also for [`Self::enabled_user`]). `load`
    /// answers `None` for a missing or disabled user, which is never remembered.
    pub async fn subject<F, E>(&self, sub: &str, load: F) -> Result<Option<Arc<Subject>>, E>
    where
        F: Future<Output = Result<Option<Subject>, E>>,
    {
        self.memory.read_through(sub, load).await
    }

    /// Checks a JWT's signature against this pool's published keys at `now` and its issuer;
    /// returns the header type and claims. Expiry and `token_use` are the caller's business.
    pub fn verify_own(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<(Option<String>, serde_json::Map<String, serde_json::Value>)> {
        use josekit::jwt;
        use serde_json::Value;
        if token.len() > 8 * 1024 {
            return None;
        }
        let header = jwt::decode_header(token).ok()?;
        let kid = header.claim("kid").and_then(Value::as_str)?;
        let typ = header
            .claim("typ")
            .and_then(Value::as_str)
            .map(str::to_string);
        let key = self.keys.published(kid, now)?;
        let (payload, _) = jwt::decode_with_verifier(token, key.verifier.as_ref()).ok()?;
        let claims = payload.claims_set().clone();
        (claims.get("iss").and_then(Value::as_str) == Some(self.issuer.as_str()))
            .then_some((typ, claims))
    }

    /// One of this pool's ID tokens, live at `now`: its claims.
    pub fn verify_id_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let (_, claims) = self.verify_own(token, now)?;
        let exp = claims.get("exp").and_then(serde_json::Value::as_i64)?;
        (claims.get("token_use").and_then(serde_json::Value::as_str) == Some("id")
            && exp > now.timestamp())
        .then_some(claims)
    }

    /// May a page of `origin` call this pool's token, userinfo and revocation endpoints?
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.contains(origin)
    }

    /// The serialised discovery document at `now`, built by `build` when first asked for and
    /// again when a key changes status (a reload replaces the whole runtime).
    pub fn discovery(
        &self,
        now: DateTime<Utc>,
        build: impl FnOnce(&Self, DateTime<Utc>) -> Bytes,
    ) -> StaticDoc {
        self.discovery
            .get(now, || (build(self, now), self.keys.next_change(now)))
    }

    /// The JWKS document at `now`, recomputed in memory only when a key changed status.
    pub fn jwks(&self, now: DateTime<Utc>) -> StaticDoc {
        self.jwks.get(now, || {
            let (value, until) = self.keys.jwks(now);
            (Bytes::from(value.to_string()), until)
        })
    }
}

/// Map from pool id to its runtime; cheap to clone.
#[derive(Debug, Default, Clone)]
pub struct PoolCache {
    /// foldhash, not SipHash: looked up on every request (SipHash was ~450 of a JWKS
    /// request's ~20k instructions), and its keys are pool ids the operator created, so
    /// nobody outside can fill it with colliding keys.
    map: Arc<RwLock<HashMap<PoolId, Arc<PoolRuntime>, foldhash::fast::RandomState>>>,
    /// What every pool's runtime remembers about users and tokens: one bound for all.
    remembered: Arc<Remembered>,
}

impl PoolCache {
    pub fn get(&self, id: &str) -> Option<Arc<PoolRuntime>> {
        self.map.read().ok()?.get(id).cloned()
    }

    /// The pool that has the client `client_id` (client ids are unique across pools), with
    /// the client.
    pub fn by_client(&self, client_id: &str) -> Option<(Arc<PoolRuntime>, Arc<Client>)> {
        let map = self.map.read().ok()?;
        map.values().find_map(|t| {
            t.clients
                .get(client_id)
                .map(|c| (Arc::clone(t), Arc::clone(c)))
        })
    }

    /// Entries every pool remembers together: (users, subjects, checked tokens).
    pub fn remembered(&self) -> (usize, usize, usize) {
        self.remembered.len()
    }

    pub fn ids(&self) -> Vec<PoolId> {
        self.map
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn insert(&self, tenant: PoolRuntime) {
        if let Ok(mut m) = self.map.write() {
            m.insert(tenant.pool.id.clone(), Arc::new(tenant));
        }
    }

    fn remove(&self, id: &PoolId) {
        if let Ok(mut m) = self.map.write() {
            m.remove(id);
        }
    }

    /// Loads one pool and its keys from SQL and replaces the cached entry.
    pub async fn reload(&self, app: &AppState, id: &PoolId) -> Result<(), PoolError> {
        let pid = id.clone();
        let loaded = app
            .sql
            .run(move |c| {
                let Some(pool) = pool_rows::find(c, &pid)? else {
                    return Ok(None);
                };
                let keys = crate::store::sql::keys::list(c, &pid)?;
                let clients = crate::store::sql::clients::list(c, &pid)?;
                let providers = idp_rows::list(c, &pid)?;
                Ok(Some((pool, keys, clients, providers)))
            })
            .await?;
        let Some((pool, stored, clients, providers)) = loaded else {
            self.remove(id);
            return Ok(());
        };
        let private = stored
            .iter()
            .map(|k| keys::unseal(app, k))
            .collect::<Result<Vec<_>, _>>()?;
        let ring = KeyRing::new(
            stored,
            private,
            keys::secs(app.config.max_token_lifetime_secs),
        )?;
        let issuer = format!("{}/{}", app.config.public_base(), pool.id);
        let users_version = pool.users_version;
        let now = app.clock.now();
        let origins = clients
            .iter()
            .flat_map(|c| {
                let redirects = c.redirect_uris.iter().filter_map(|u| origin_of(u));
                redirects.chain(c.settings.allowed_origins.iter().cloned())
            })
            .collect();
        let runtime = PoolRuntime {
            pool,
            issuer,
            keys: ring,
            origins,
            discovery: DocSlot::default(),
            clients: clients
                .into_iter()
                .map(|c| (c.client_id.to_string(), Arc::new(c)))
                .collect(),
            providers,
            memory: PoolMemory::new(self.remembered.clone(), users_version),
            verified_keys: (RandomState::new(), RandomState::new()),
            jwks: DocSlot::default(),
        };
        // Serialised now, not on the first request.
        runtime.jwks(now);
        self.insert(runtime);
        Ok(())
    }

    /// Drops the users cached for `id` after this instance changed one of them (the others
    /// see the pool's users version move at their next refresh).
    pub fn users_changed(&self, id: &PoolId) {
        if let Some(tenant) = self.get(id.as_str()) {
            tenant.memory.forget_users();
        }
    }

    /// Reloads after a change this instance made. The change is already committed, so a failed
    /// reload must not fail the caller (a new client's secret would be lost): it is logged, and
    /// the periodic refresh retries.
    pub async fn reload_after_change(&self, app: &AppState, id: &PoolId) {
        if let Err(e) = self.reload(app, id).await {
            tracing::warn!(pool = %id, error = %e, "pool cache reload failed; the next refresh retries");
        }
    }

    /// Compares every cached pool's version with the database and reloads what changed. A pool
    /// that fails to load keeps its previous entry and does not stop the others.
    pub async fn refresh(&self, app: &AppState) -> Result<RefreshReport, PoolError> {
        let versions = app.sql.run(pool_rows::versions).await?;
        let mut report = RefreshReport {
            pools: versions.len(),
            ..RefreshReport::default()
        };
        for (id, version, users_version) in &versions {
            let cached = self.get(id.as_str());
            if let Some(tenant) = &cached {
                tenant.memory.users_at(*users_version);
            }
            if cached.is_none_or(|tenant| tenant.pool.version != *version) {
                match self.reload(app, id).await {
                    Ok(()) => report.reloaded += 1,
                    Err(e) => {
                        tracing::error!(pool = %id, error = %e, "cannot load pool");
                        report.failed.push((id.clone(), e.to_string()));
                    }
                }
            }
        }
        for id in self.ids() {
            if !versions.iter().any(|(v, _, _)| *v == id) {
                self.remove(&id);
            }
        }
        Ok(report)
    }
}

/// What a refresh did.
#[derive(Debug, Default)]
pub struct RefreshReport {
    pub pools: usize,
    pub reloaded: usize,
    pub failed: Vec<(PoolId, String)>,
}
