//! A pool's keys in memory: the current signer and the JWKS document, both chosen by time.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use josekit::jwk::Jwk;
use josekit::jws::{JwsSigner, JwsVerifier};
use serde_json::Value;

use super::{KeyError, KeyInfo, KeyStatus, lifecycle};
use crate::ids::Kid;
use crate::store::sql::keys::StoredKey;

/// A key ready to use: its public JWK (public members only) and, for signing, its signer.
pub struct LiveKey {
    pub kid: Kid,
    pub alg: String,
    pub public: Value,
    pub signer: Arc<dyn JwsSigner>,
    pub verifier: Arc<dyn JwsVerifier>,
}

impl std::fmt::Debug for LiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// Members a public JWK may carry; anything else (private parts above all) is dropped.
const PUBLIC_MEMBERS: &[&str] = &["kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"];

fn public_only(jwk: &Jwk) -> Value {
    Value::Object(
        jwk.as_ref()
            .iter()
            .filter(|(k, _)| PUBLIC_MEMBERS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn signer_for(alg: &str, jwk: &Jwk, kid: &Kid) -> Result<Arc<dyn JwsSigner>, KeyError> {
    let corrupt = |e: josekit::JoseError| KeyError::Corrupt(kid.to_string(), e.to_string());
    Ok(match alg {
        "RS256" => Arc::new(josekit::jws::RS256.signer_from_jwk(jwk).map_err(corrupt)?),
        "ES256" => Arc::new(josekit::jws::ES256.signer_from_jwk(jwk).map_err(corrupt)?),
        other => {
            return Err(KeyError::Corrupt(
                kid.to_string(),
                format!("unsupported alg {other}"),
            ));
        }
    })
}

/// The public JWK of a private one, labelled with the row's kid and alg.
fn derive_public(alg: &str, private: &Jwk, kid: &Kid) -> Result<Jwk, KeyError> {
    use josekit::jwk::KeyPair;
    let corrupt = |e: josekit::JoseError| KeyError::Corrupt(kid.to_string(), e.to_string());
    if private.key_id() != Some(kid.as_str()) || private.algorithm() != Some(alg) {
        return Err(KeyError::Corrupt(
            kid.to_string(),
            "sealed key does not match its row".into(),
        ));
    }
    let mut public = match alg {
        "RS256" => josekit::jwk::alg::rsa::RsaKeyPair::from_jwk(private)
            .map_err(corrupt)?
            .to_jwk_public_key(),
        "ES256" => josekit::jwk::alg::ec::EcKeyPair::from_jwk(private)
            .map_err(corrupt)?
            .to_jwk_public_key(),
        other => {
            return Err(KeyError::Corrupt(
                kid.to_string(),
                format!("unsupported alg {other}"),
            ));
        }
    };
    public.set_key_id(kid.as_str());
    public.set_algorithm(alg);
    public.set_key_use("sig");
    Ok(public)
}

fn verifier_for(alg: &str, public: &Value, kid: &Kid) -> Result<Arc<dyn JwsVerifier>, KeyError> {
    let corrupt = |e: josekit::JoseError| KeyError::Corrupt(kid.to_string(), e.to_string());
    let jwk = Jwk::from_map(public.as_object().cloned().unwrap_or_default()).map_err(corrupt)?;
    Ok(match alg {
        "RS256" => Arc::new(
            josekit::jws::RS256
                .verifier_from_jwk(&jwk)
                .map_err(corrupt)?,
        ),
        "ES256" => Arc::new(
            josekit::jws::ES256
                .verifier_from_jwk(&jwk)
                .map_err(corrupt)?,
        ),
        other => {
            return Err(KeyError::Corrupt(
                kid.to_string(),
                format!("unsupported alg {other}"),
            ));
        }
    })
}

/// All keys of one pool, ordered by activation time.
#[derive(Debug, Default)]
pub struct KeyRing {
    stored: Vec<StoredKey>,
    live: Vec<LiveKey>,
    retention: TimeDelta,
}

impl KeyRing {
    /// Builds the ring from stored keys and their unsealed private JWKs (same order).
    pub fn new(
        stored: Vec<StoredKey>,
        private: Vec<Jwk>,
        retention: TimeDelta,
    ) -> Result<Self, KeyError> {
        let live = stored
            .iter()
            .zip(private.iter())
            .map(|(k, jwk)| {
                // Publish what the sealed private key implies, not the unauthenticated
                // public_jwk column: a row edited in the database cannot plant a key.
                let public = public_only(&derive_public(&k.alg, jwk, &k.kid)?);
                Ok(LiveKey {
                    kid: k.kid.clone(),
                    alg: k.alg.clone(),
                    verifier: verifier_for(&k.alg, &public, &k.kid)?,
                    signer: signer_for(&k.alg, jwk, &k.kid)?,
                    public,
                })
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        Ok(Self {
            stored,
            live,
            retention,
        })
    }

    /// The key that signs at `now`: the most recently activated one.
    pub fn signer(&self, now: DateTime<Utc>) -> Option<&LiveKey> {
        self.stored
            .iter()
            .zip(&self.live)
            .rev()
            .find(|(k, _)| k.active_from <= now)
            .map(|(_, l)| l)
    }

    /// The JWKS document at `now` and the instant until which it stays the same.
    pub fn jwks(&self, now: DateTime<Utc>) -> (Value, Option<DateTime<Utc>>) {
        let keys: Vec<Value> = self
            .published_at(now)
            .map(|(_, l)| l.public.clone())
            .collect();
        (serde_json::json!({ "keys": keys }), self.next_change(now))
    }

    /// The next instant after `now` at which a key changes status (none: never, as things
    /// stand).
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        lifecycle(&self.stored, now, self.retention)
            .iter()
            .flat_map(|i| match i.status {
                KeyStatus::Pending => Some(i.active_from),
                KeyStatus::Retired => i.retired_at.map(|t| t + self.retention),
                _ => None,
            })
            // A pending key retires its predecessor when it activates, so its activation counts too.
            .min()
    }

    /// Algorithms of the keys published at `now` (for discovery): an expired key's is not.
    pub fn algorithms(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut algs: Vec<String> = self.published_at(now).map(|(i, _)| i.alg.clone()).collect();
        algs.sort();
        algs.dedup();
        algs
    }

    fn published_at(&self, now: DateTime<Utc>) -> impl Iterator<Item = (KeyInfo, &LiveKey)> {
        lifecycle(&self.stored, now, self.retention)
            .into_iter()
            .zip(&self.live)
            .filter(|(i, _)| i.published)
    }

    /// The key `kid` if it is published at `now` (verification of our own tokens).
    pub fn published(&self, kid: &str, now: DateTime<Utc>) -> Option<&LiveKey> {
        self.published_at(now)
            .find(|(_, l)| l.kid.as_str() == kid)
            .map(|(_, l)| l)
    }
}
