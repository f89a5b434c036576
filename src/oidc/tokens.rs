//! Signed tokens: JWT access tokens per RFC 9068 (`typ: at+jwt`) and verification of our own
//! tokens against the pool's published keys. Timestamps are whole seconds.

use chrono::{DateTime, Utc};
use josekit::jws::JwsHeader;
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value, json};

use super::error::{ErrorCode, OAuthError};
use crate::pools::PoolRuntime;

/// Signs `claims` with the pool's current key; `typ` is the JOSE header type.
pub fn sign(
    rt: &PoolRuntime,
    typ: &str,
    claims: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let key = rt
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
}

/// Mints an RFC 9068 access token. `aud` is the client: Tessera has no resource indicators yet.
pub fn access_token(
    rt: &PoolRuntime,
    c: &AccessClaims<'_>,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let iat = now.timestamp();
    let mut claims = json!({
        "iss": rt.issuer,
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
        if let Some(u) = c.username {
            obj.insert("username".into(), json!(u));
        }
    }
    match claims {
        Value::Object(map) => sign(rt, "at+jwt", map, now),
        _ => Err(OAuthError::server("claims are not an object")),
    }
}

fn invalid_token() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidToken,
        "the access token is invalid or expired",
    )
}

/// Verifies one of this pool's access tokens: signature by a published key, issuer, `typ`,
/// `token_use` and expiry at `now`. Returns its claims.
pub fn verify_access_token(
    rt: &PoolRuntime,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, OAuthError> {
    if token.len() > 8 * 1024 {
        return Err(invalid_token());
    }
    let header = jwt::decode_header(token).map_err(|_| invalid_token())?;
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .ok_or_else(invalid_token)?;
    if header.claim("typ").and_then(Value::as_str) != Some("at+jwt") {
        return Err(invalid_token());
    }
    let key = rt.keys.published(kid, now).ok_or_else(invalid_token)?;
    let (payload, _) =
        jwt::decode_with_verifier(token, key.verifier.as_ref()).map_err(|_| invalid_token())?;
    let claims = payload.claims_set().clone();
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(invalid_token)?;
    if claims.get("iss").and_then(Value::as_str) != Some(rt.issuer.as_str())
        || claims.get("token_use").and_then(Value::as_str) != Some("access")
        || exp <= now.timestamp()
    {
        return Err(invalid_token());
    }
    Ok(claims)
}
