//! Sign-in with upstream identity providers (Google, Facebook, Login with Amazon, any OpenID
//! provider): the providers a pool has, the round trip to them as an OAuth 2.0 / OpenID client
//! (RFC 9700 rules: state, PKCE, nonce, verified ID tokens), and the local users their
//! identities are linked to. No HTTP server types; the journey's `federated` step drives it.

pub mod identities;
mod oauth;
mod oidc;
pub use oidc::verify_login;
pub mod providers;
pub mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::crypto::CryptoError;
use crate::model::ProviderKind;
use crate::store::StoreError;

pub use providers::Provider;
pub use upstream::Upstream;

/// Errors of federation. `Upstream` and `Rejected` texts are safe to log (no tokens, codes or
/// secrets); pages show a generic sentence.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The provider could not be reached, was too slow, or answered garbage.
    #[error("identity provider failed: {0}")]
    Upstream(String),
    /// The provider answered, but what it said must not be trusted (bad ID token, wrong nonce,
    /// missing subject...).
    #[error("identity provider answer refused: {0}")]
    Rejected(String),
    /// A provider's configuration is wrong (operator input).
    #[error("invalid identity provider: {0}")]
    Config(String),
    #[error("no identity provider {0:?} in this pool")]
    NotFound(String),
    #[error("an identity provider named {0:?} already exists in this pool")]
    NameTaken(String),
    /// The user already has this many linked identities.
    #[error("a user can have at most {0} linked identities")]
    TooManyLinks(usize),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who the provider says the user is, after every check passed.
#[derive(Debug, Clone)]
pub struct UpstreamUser {
    /// The provider's stable id of the user (`sub`, Facebook's `id`, Amazon's `user_id`).
    pub subject: String,
    pub email: Option<String>,
    /// Only `true` when the provider said so (`email_verified`); never assumed.
    pub email_verified: bool,
    /// Everything the provider said about the user, for attribute mapping.
    pub claims: serde_json::Map<String, Value>,
}

impl UpstreamUser {
    /// Builds the user from the provider's claims: the email from the claim mapped to `email`
    /// (default `email`), verified only if the claim mapped to `email_verified` is true.
    pub fn from_claims(
        subject: String,
        claims: serde_json::Map<String, Value>,
        mapping: &BTreeMap<String, String>,
    ) -> Self {
        fn claim<'a>(mapping: &'a BTreeMap<String, String>, attr: &'a str) -> &'a str {
            mapping.get(attr).map_or(attr, String::as_str)
        }
        let email = claims
            .get(claim(mapping, "email"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string);
        let email_verified = match claims.get(claim(mapping, "email_verified")) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        Self {
            subject,
            email,
            email_verified,
            claims,
        }
    }

    /// The pool attributes the provider's mapping gives (strings, numbers and booleans only).
    pub fn mapped(&self, mapping: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        mapping
            .iter()
            .filter(|(attr, _)| !matches!(attr.as_str(), "email" | "email_verified" | "username"))
            .filter_map(|(attr, claim)| {
                let v = match self.claims.get(claim)? {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                (!v.is_empty()).then(|| (attr.clone(), v))
            })
            .collect()
    }
}

/// What is kept across the round trip to the provider (in the login transaction).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RoundTrip {
    pub provider: String,
    /// The OpenID `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the challenge that was sent.
    pub verifier: String,
}

/// Discovery documents (with their keys) by issuer, and when each was fetched.
type DiscoveryCache = HashMap<String, (DateTime<Utc>, oidc::Metadata)>;

/// The federation service's shared parts: the upstream HTTP client and the OpenID discovery
/// cache (documents and keys, refetched after an hour).
#[derive(Clone)]
pub struct Federation {
    pub upstream: Upstream,
    discovery: Arc<Mutex<DiscoveryCache>>,
    /// When each issuer's keys were last fetched again for an unknown key: at most once per
    /// [`oidc::MIN_REFETCH`], so tokens with made-up key ids cannot make us hammer a provider.
    refetched: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Federation")
    }
}

impl Federation {
    /// `timeout` bounds each upstream call.
    pub fn new(timeout: std::time::Duration) -> Result<Self, FederationError> {
        Ok(Self {
            upstream: Upstream::new(timeout)?,
            discovery: Arc::default(),
            refetched: Arc::default(),
        })
    }
}

/// The redirect URI registered at every provider: `{issuer}/oauth2/idpresponse` (Cognito's).
pub fn callback_url(issuer: &str) -> String {
    format!("{issuer}/oauth2/idpresponse")
}

/// Where the user's browser goes to sign in at `provider`, for this round trip.
pub async fn authorize_url(
    federation: &Federation,
    provider: &Provider,
    issuer: &str,
    state: &str,
    trip: &RoundTrip,
    now: DateTime<Utc>,
) -> Result<String, FederationError> {
    match provider.kind {
        ProviderKind::Google | ProviderKind::Oidc => {
            oidc::authorize_url(federation, provider, issuer, state, trip, now).await
        }
        ProviderKind::Facebook | ProviderKind::Amazon => {
            oauth::authorize_url(provider, issuer, state, trip)
        }
    }
}

/// Redeems the code the provider sent back and finds out who the user is.
pub async fn redeem(
    federation: &Federation,
    provider: &Provider,
    issuer: &str,
    code: &str,
    trip: &RoundTrip,
    now: DateTime<Utc>,
) -> Result<UpstreamUser, FederationError> {
    let user = match provider.kind {
        ProviderKind::Google | ProviderKind::Oidc => {
            oidc::redeem(federation, provider, issuer, code, trip, now).await?
        }
        ProviderKind::Facebook | ProviderKind::Amazon => {
            oauth::redeem(federation, provider, issuer, code, trip).await?
        }
    };
    if user.subject.is_empty() || user.subject.len() > 255 {
        return Err(FederationError::Rejected("no usable subject".into()));
    }
    Ok(user)
}
