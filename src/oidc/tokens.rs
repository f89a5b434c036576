//! Signed tokens: JWT access tokens per RFC 9068 (`typ: at+jwt`) and verification of our own
//! tokens against the pool's published keys. Timestamps are whole seconds.

use chrono::{DateTime, Utc};
use josekit::jws::JwsHeader;
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value, json};

use super::error::{ErrorCode, OAuthError};
use crate::pools::{PoolRuntime, Verified};

/// Signs `claims` with the pool's current key; `typ` is the JOSE header type.
pub fn sign(
    tenant: &PoolRuntime,
    typ: &str,
    claims: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let key = tenant
        .keys
        .signer(now)
        .ok_or_else(|| OAuthError::server("the pool has no active signing key"))?;
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_key_id(key.kid.as_str());
    let payload = JwtPayload::from_map(claims).map_err(OAuthError::server)?;
    jwt::encode_with_signer(&payload, &header, key.signer.as_ref()).map_err(OAuthError::server)
}

/// What an access token carries.
#[derive(Debug, Clone)]
pub struct AccessClaims<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub jti: &'a str,
    pub ttl_secs: i64,
    pub auth_time: Option<i64>,
    pub username: Option<&'a str>,
    /// `cognito:groups`, by precedence; omitted when empty (as Cognito does).
    pub groups: &'a [String],
    /// The sign-in the token descends from (its refresh family): Cognito's `origin_jti` and
    /// `event_id`. Revoking the refresh token revokes every access token with it.
    pub origin: Option<&'a str>,
}

/// Mints an RFC 9068 access token. `aud` is the client: Tessera has no resource indicators yet.
pub fn access_token(
    tenant: &PoolRuntime,
    c: &AccessClaims<'_>,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let iat = now.timestamp();
    let mut claims = json!({
        "iss": tenant.issuer,
        "sub": c.sub,
        "aud": c.client_id,
        "client_id": c.client_id,
        "scope": c.scope,
        "jti": c.jti,
        "iat": iat,
        "exp": iat + c.ttl_secs,
        "token_use": "access",
    });
    if let Some(obj) = claims.as_object_mut() {
        if let Some(t) = c.auth_time {
            obj.insert("auth_time".into(), json!(t));
        }
        if !c.groups.is_empty() {
            obj.insert("cognito:groups".into(), json!(c.groups));
        }
        if let Some(u) = c.username {
            obj.insert("username".into(), json!(u));
        }
        if let Some(o) = c.origin {
            obj.insert("origin_jti".into(), json!(o));
            obj.insert("event_id".into(), json!(o));
        }
    }
    match claims {
        Value::Object(map) => sign(tenant, "at+jwt", map, now),
        _ => Err(OAuthError::server("claims are not an object")),
    }
}

fn invalid_token() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidToken,
        "the access token is invalid or expired",
    )
}

fn verify_own(
    tenant: &PoolRuntime,
    token: &str,
    now: DateTime<Utc>,
) -> Option<(Option<String>, Map<String, Value>)> {
    tenant.verify_own(token, now)
}

/// Verifies one of this pool's access tokens: signature by a published key, issuer, `typ`,
/// `token_use` and expiry at `now`. Returns its claims.
pub fn verify_access_token(
    tenant: &PoolRuntime,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, OAuthError> {
    let checked = tenant
        .verified(token, || {
            verify_own(tenant, token, now).and_then(|(typ, claims)| Verified::new(typ, &claims))
        })
        .ok_or_else(invalid_token)?;
    let claims = checked.claims().ok_or_else(invalid_token)?;
    let typ = &checked.typ;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(invalid_token)?;
    if typ.as_deref() != Some("at+jwt")
        || claims.get("token_use").and_then(Value::as_str) != Some("access")
        || exp <= now.timestamp()
    {
        return Err(invalid_token());
    }
    Ok(claims)
}

/// Verifies an ID token we issued, accepting expired ones (an `id_token_hint` at logout is
/// usually expired, OIDC RP-Initiated Logout §2).
pub fn verify_id_token_hint(
    tenant: &PoolRuntime,
    token: &str,
    now: DateTime<Utc>,
) -> Option<Map<String, Value>> {
    let (_, claims) = verify_own(tenant, token, now)?;
    (claims.get("token_use").and_then(Value::as_str) == Some("id")).then_some(claims)
}

/// OIDC Core §3.1.3.6: base64url of the left half of SHA-256 over the access token.
pub fn at_hash(access_token: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// What an ID token carries besides the user's scope-granted claims.
#[derive(Debug, Clone)]
pub struct IdClaims<'a> {
    pub client_id: &'a str,
    pub username: &'a str,
    pub groups: &'a [String],
    /// Roles of those groups by precedence (Cognito's `cognito:roles`; the first is
    /// `cognito:preferred_role`).
    pub roles: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub amr: &'a [String],
    /// The SSO session (OIDC Front-/Back-Channel Logout `sid`).
    pub sid: Option<&'a str>,
    pub access_token: &'a str,
    pub ttl_secs: i64,
}

/// Mints an ID token (OIDC Core §2) over `user_claims` (which hold `sub`).
pub fn id_token(
    tenant: &PoolRuntime,
    c: &IdClaims<'_>,
    mut user_claims: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let iat = now.timestamp();
    let fixed = json!({
        "iss": tenant.issuer,
        "aud": c.client_id,
        "iat": iat,
        "exp": iat + c.ttl_secs,
        "auth_time": c.auth_time,
        "amr": c.amr,
        "acr": super::authorize::acr_for(c.amr),
        "at_hash": at_hash(c.access_token),
        "token_use": "id",
        "cognito:username": c.username,
    });
    if let Value::Object(f) = fixed {
        user_claims.extend(f);
    }
    if !c.groups.is_empty() {
        user_claims.insert("cognito:groups".into(), json!(c.groups));
    }
    if let Some(first) = c.roles.first() {
        user_claims.insert("cognito:preferred_role".into(), json!(first));
        user_claims.insert("cognito:roles".into(), json!(c.roles));
    }
    if let Some(n) = c.nonce {
        user_claims.insert("nonce".into(), json!(n));
    }
    if let Some(sid) = c.sid {
        user_claims.insert("sid".into(), json!(sid));
    }
    sign(tenant, "JWT", user_claims, now)
}
