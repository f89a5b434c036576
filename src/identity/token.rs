//! The identity token: a plain OIDC JWT from the identity issuer `{public_url}/identity` for one
//! identity of one identity pool (Cognito's OpenID token, verifiable by AWS STS, OpenBao or any
//! JWT consumer through the issuer's discovery document and JWKS), and those two documents.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use josekit::jws::JwsHeader;
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value, json};

use super::IdentityError;
use super::identities::Verified;
use crate::keys::KeyRing;
use crate::pools::StaticDoc;
use crate::state::AppState;
use crate::store::sql::identity_pools::IdentityPool;

/// Cognito's lifetime of a `GetOpenIdToken` token.
pub const TOKEN_SECS: i64 = 600;
/// Bounds of `GetOpenIdTokenForDeveloperIdentity`'s `TokenDuration` and its default.
pub const MAX_DEVELOPER_SECS: i64 = 86_400;
pub const DEFAULT_DEVELOPER_SECS: i64 = 900;
/// The claim AWS STS reads session tags from (and S3-compatible stores follow).
pub const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";

/// The identity issuer's URL.
pub fn issuer(app: &AppState) -> String {
    format!("{}/identity", app.config.public_base())
}

/// What one identity token says.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub pool: &'a IdentityPool,
    pub identity_id: &'a str,
    /// The logins this call proved; none: a guest.
    pub logins: &'a [Verified],
    /// The role the pool's mapping chose, when it chose one.
    pub role: Option<&'a str>,
    /// Tags the caller vouches for (a developer's `PrincipalTags`).
    pub extra_tags: &'a BTreeMap<String, String>,
    pub ttl_secs: i64,
}

/// `amr` as Cognito writes it: `unauthenticated`, or `authenticated` followed by, per login,
/// its provider and its provider-qualified subject.
fn amr(logins: &[Verified]) -> Vec<String> {
    if logins.is_empty() {
        return vec!["unauthenticated".into()];
    }
    let mut out = vec!["authenticated".to_string()];
    for l in logins {
        out.push(l.login.provider.clone());
        out.push(l.amr.clone());
    }
    out
}

/// The session tags of the token, when the pool maps any: always `auth_type`, then the claims
/// each login's provider maps (its map, or Cognito's defaults: `aud` as `client`, `sub` as
/// `username`), then the developer's.
fn tags(g: &Grant<'_>, auth_type: &str) -> Option<Value> {
    let maps = &g.pool.settings.principal_tags;
    if maps.is_empty() && g.extra_tags.is_empty() {
        return None;
    }
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    tags.insert("auth_type".into(), vec![auth_type.to_string()]);
    for l in g.logins {
        let Some(map) = maps.get(&l.login.provider) else {
            continue;
        };
        for (tag, claim) in map.effective() {
            let value = match l.claims.get(&claim) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => continue,
            };
            tags.insert(tag, vec![value]);
        }
    }
    for (k, v) in g.extra_tags {
        tags.insert(k.clone(), vec![v.clone()]);
    }
    Some(json!({ "principal_tags": tags, "transitive_tag_keys": [] }))
}

/// The claims of `g` at `now`, with id `jti`.
pub fn claims(app: &AppState, g: &Grant<'_>, jti: &str, now: DateTime<Utc>) -> Map<String, Value> {
    let iat = now.timestamp();
    let auth_type = if g.logins.is_empty() {
        "unauthenticated"
    } else {
        "authenticated"
    };
    let mut c = Map::new();
    c.insert("iss".into(), json!(issuer(app)));
    c.insert("sub".into(), json!(g.identity_id));
    c.insert("aud".into(), json!(g.pool.id));
    c.insert("iat".into(), json!(iat));
    c.insert("exp".into(), json!(iat + g.ttl_secs));
    c.insert("jti".into(), json!(jti));
    c.insert("token_use".into(), json!("identity"));
    c.insert("amr".into(), json!(amr(g.logins)));
    c.insert("auth_type".into(), json!(auth_type));
    if let Some(first) = g.logins.first() {
        c.insert("login_provider".into(), json!(first.login.provider));
    }
    if let Some(role) = g.role {
        c.insert("role".into(), json!(role));
    }
    if let Some(t) = tags(g, auth_type) {
        c.insert(TAGS_CLAIM.into(), t);
    }
    c
}

/// Signs an identity token for `g`; returns it with its claims.
pub async fn mint(
    app: &AppState,
    g: &Grant<'_>,
    now: DateTime<Utc>,
) -> Result<(String, Map<String, Value>), IdentityError> {
    let ring = app
        .identity_keys
        .ring(app)
        .await
        .map_err(|e| IdentityError::Upstream(format!("identity issuer keys: {e}")))?;
    let key = ring
        .keys
        .signer(now)
        .ok_or_else(|| IdentityError::Upstream("the identity issuer has no signing key".into()))?;
    let claims = claims(app, g, &uuid_of(app), now);
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(key.kid.as_str());
    let sign_err = |e: josekit::JoseError| IdentityError::Upstream(format!("signing: {e}"));
    let payload = JwtPayload::from_map(claims.clone()).map_err(sign_err)?;
    let token =
        jwt::encode_with_signer(&payload, &header, key.signer.as_ref()).map_err(sign_err)?;
    Ok((token, claims))
}

fn uuid_of(app: &AppState) -> String {
    let mut bytes = [0u8; 16];
    app.random.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The identity issuer's discovery document (what AWS IAM, OpenBao and other JWT consumers
/// read to find the JWKS): only what an issuer of ID tokens without end-user endpoints has.
fn discovery_body(app: &AppState, keys: &KeyRing, now: DateTime<Utc>) -> Bytes {
    let iss = issuer(app);
    let doc = json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": keys.algorithms(now),
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "jti", "amr", "auth_type",
            "login_provider", "role", "token_use", TAGS_CLAIM],
    });
    Bytes::from(doc.to_string())
}

/// `GET /identity/.well-known/openid-configuration`.
pub async fn discovery(app: &AppState) -> Result<StaticDoc, IdentityError> {
    let now = app.clock.now();
    let ring = app
        .identity_keys
        .ring(app)
        .await
        .map_err(|e| IdentityError::Upstream(format!("identity issuer keys: {e}")))?;
    Ok(ring.discovery(now, |keys| discovery_body(app, keys, now)))
}

/// `GET /identity/.well-known/jwks.json`.
pub async fn jwks(app: &AppState) -> Result<StaticDoc, IdentityError> {
    let ring = app
        .identity_keys
        .ring(app)
        .await
        .map_err(|e| IdentityError::Upstream(format!("identity issuer keys: {e}")))?;
    Ok(ring.jwks(app.clock.now()))
}

/// Verifies an identity token this issuer signed (signature by a published key, issuer,
/// `token_use`, expiry): its claims.
pub async fn verify(app: &AppState, token: &str, now: DateTime<Utc>) -> Option<Map<String, Value>> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let ring = app.identity_keys.ring(app).await.ok()?;
    let header = jwt::decode_header(token).ok()?;
    let kid = header.claim("kid").and_then(Value::as_str)?;
    let key = ring.keys.published(kid, now)?;
    let (payload, _) = jwt::decode_with_verifier(token, key.verifier.as_ref()).ok()?;
    let c = payload.claims_set().clone();
    let ok = c.get("iss").and_then(Value::as_str) == Some(issuer(app).as_str())
        && c.get("token_use").and_then(Value::as_str) == Some("identity")
        && c.get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|e| e > now.timestamp());
    ok.then_some(c)
}
