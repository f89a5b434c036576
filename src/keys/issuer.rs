//! The identity issuer's keys in memory (one issuer per deployment, beside the user pools):
//! loaded on first use (a first key made then), reloaded after a change here and by the cache
//! poll when another instance or the CLI changed them; its JWKS served from stored bytes.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{KeyError, KeyRing, Owner, generate, unseal};
use crate::model::{DocSlot, StaticDoc};
use crate::state::AppState;
use crate::store::sql::keys::{self as key_rows, StoredKey};

/// The `signing_keys.pool_id` of the identity issuer's keys: never a pool id (those hold `_`).
pub const OWNER: &str = "identity";

/// The longest identity token (a developer's, 24 hours): retired keys stay published as long.
pub const LONGEST_TOKEN_SECS: u64 = 86_400;

/// The identity issuer's keys as loaded.
#[derive(Debug)]
pub struct IssuerRing {
    pub keys: KeyRing,
    /// `(kid, active_from)` of the rows loaded: the poll reloads when they differ.
    loaded: Vec<(String, DateTime<Utc>)>,
    jwks: DocSlot,
    discovery: DocSlot,
}

impl IssuerRing {
    /// The JWKS document at `now`.
    pub fn jwks(&self, now: DateTime<Utc>) -> StaticDoc {
        self.jwks.get(now, || {
            let (value, until) = self.keys.jwks(now);
            (Bytes::from(value.to_string()), until)
        })
    }

    /// The discovery document at `now`, built by `build` (the identity module owns its content)
    /// when first asked for and again when a key changes status.
    pub fn discovery(
        &self,
        now: DateTime<Utc>,
        build: impl FnOnce(&KeyRing) -> Bytes,
    ) -> StaticDoc {
        self.discovery
            .get(now, || (build(&self.keys), self.keys.next_change(now)))
    }
}

/// This instance's copy of the identity issuer's keys; cheap to clone.
#[derive(Debug, Default, Clone)]
pub struct IssuerKeys {
    ring: Arc<RwLock<Option<Arc<IssuerRing>>>>,
}

fn signature(stored: &[StoredKey]) -> Vec<(String, DateTime<Utc>)> {
    stored
        .iter()
        .map(|k| (k.kid.to_string(), k.active_from))
        .collect()
}

impl IssuerKeys {
    fn current(&self) -> Option<Arc<IssuerRing>> {
        self.ring.read().ok()?.clone()
    }

    async fn stored(app: &AppState) -> Result<Vec<StoredKey>, KeyError> {
        let owner = Owner::Identity.id();
        Ok(app.sql.run(move |c| key_rows::list(c, &owner)).await?)
    }

    fn install(&self, app: &AppState, stored: Vec<StoredKey>) -> Result<Arc<IssuerRing>, KeyError> {
        let private = stored
            .iter()
            .map(|k| unseal(app, k))
            .collect::<Result<Vec<_>, _>>()?;
        let loaded = signature(&stored);
        let keys = KeyRing::new(stored, private, Owner::Identity.retention(app))?;
        let ring = Arc::new(IssuerRing {
            keys,
            loaded,
            jwks: DocSlot::default(),
            discovery: DocSlot::default(),
        });
        if let Ok(mut slot) = self.ring.write() {
            *slot = Some(ring.clone());
        }
        Ok(ring)
    }

    /// The keys, with one that signs at `now`: loaded on first use, and on a deployment that
    /// has none yet, a first key is made (active at once).
    pub async fn ring(&self, app: &AppState) -> Result<Arc<IssuerRing>, KeyError> {
        let now = app.clock.now();
        if let Some(r) = self.current()
            && r.keys.signer(now).is_some()
        {
            return Ok(r);
        }
        let mut stored = Self::stored(app).await?;
        let signs = |s: &[StoredKey]| s.iter().any(|k| k.active_from <= now);
        if !signs(&stored) {
            let key = generate(
                app,
                &Owner::Identity.id(),
                app.config.key_algorithm,
                now,
                now,
            )?;
            let row = key.clone();
            app.sql.run(move |c| key_rows::insert(c, &row)).await?;
            tracing::info!(kid = %key.kid, "identity issuer: first signing key made");
            stored = Self::stored(app).await?;
        }
        self.install(app, stored)
    }

    /// Reloads after a change this instance made (logged, not failed: the poll retries).
    pub async fn reload_after_change(&self, app: &AppState) {
        let reloaded = match Self::stored(app).await {
            Ok(stored) => self.install(app, stored).map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = reloaded {
            tracing::warn!(error = %e, "identity issuer keys: reload failed; the next refresh retries");
        }
    }

    /// The poll: reloads when the stored keys differ from those loaded. Nothing is loaded on
    /// an instance that never used the issuer.
    pub async fn refresh(&self, app: &AppState) -> Result<bool, KeyError> {
        let Some(current) = self.current() else {
            return Ok(false);
        };
        let stored = Self::stored(app).await?;
        if signature(&stored) == current.loaded {
            return Ok(false);
        }
        self.install(app, stored)?;
        Ok(true)
    }
}
