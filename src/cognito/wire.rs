//! Cognito's shapes on the wire: attribute lists, `UserType`, `AuthenticationResultType`,
//! timestamps as epoch seconds, and `SECRET_HASH`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use super::ApiError;
use crate::clients;
use crate::oidc::token::TokenResponse;
use crate::state::AppState;
use crate::store::sql::clients::Client;
use crate::store::sql::users::User;

/// `AttributeType`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attribute {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// A `Date` member: epoch seconds (fractions allowed).
pub fn epoch(t: DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

/// The user's attributes as Cognito lists them.
pub fn attributes(user: &User) -> Value {
    let mut out = vec![json!({"Name": "sub", "Value": user.sub.to_string()})];
    if let Some(e) = &user.email {
        out.push(json!({"Name": "email", "Value": e}));
        out.push(json!({"Name": "email_verified", "Value": user.email_verified.to_string()}));
    }
    if let Some(p) = &user.phone_number {
        out.push(json!({"Name": "phone_number", "Value": p}));
        out.push(json!({"Name": "phone_number_verified", "Value": user.phone_number_verified.to_string()}));
    }
    for (k, v) in &user.attributes {
        out.push(json!({"Name": k, "Value": v}));
    }
    Value::Array(out)
}

/// `UserType` (ListUsers) with the attribute member named `member`
/// (`Attributes`, or `UserAttributes` for AdminGetUser).
pub fn user(user: &User, member: &str) -> Value {
    let mut v = json!({
        "Username": user.username,
        "UserCreateDate": epoch(user.created_at),
        "UserLastModifiedDate": epoch(user.updated_at),
        "Enabled": user.enabled,
        "UserStatus": user.status.as_str(),
    });
    if let Some(o) = v.as_object_mut() {
        o.insert(member.to_string(), attributes(user));
    }
    v
}

/// An attribute list as a map; a name given twice is refused.
pub fn attribute_map(list: &[Attribute]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut map = BTreeMap::new();
    for a in list {
        let value = a.value.clone().unwrap_or_default();
        if map.insert(a.name.clone(), value).is_some() {
            return Err(ApiError::invalid_parameter(format!(
                "Duplicate attribute: {}",
                a.name
            )));
        }
    }
    Ok(map)
}

/// `AuthenticationResultType`.
pub fn auth_result(t: &TokenResponse) -> Value {
    let mut v = json!({
        "AccessToken": t.access_token,
        "ExpiresIn": t.expires_in,
        "TokenType": "Bearer",
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(id) = &t.id_token {
            o.insert("IdToken".into(), json!(id));
        }
        if let Some(r) = &t.refresh_token {
            o.insert("RefreshToken".into(), json!(r));
        }
    }
    json!({ "AuthenticationResult": v, "ChallengeParameters": {} })
}

/// Checks `SECRET_HASH = Base64(HMAC-SHA256(secret, username + client_id))` for a client with
/// a secret; a public client needs none.
pub fn check_secret_hash(
    app: &AppState,
    client: &Client,
    username: &str,
    presented: Option<&str>,
) -> Result<(), ApiError> {
    if client.is_public() {
        return Ok(());
    }
    let Some(presented) = presented else {
        return Err(ApiError::not_authorized(format!(
            "Client {} is configured with secret but SECRET_HASH was not received",
            client.client_id
        )));
    };
    let Some(secret) = clients::plain_secret(app, client) else {
        return Err(ApiError::not_authorized(
            "This client's secret predates the Cognito API; an operator must rotate it \
             (tessera client rotate-secret) before SECRET_HASH can be checked.",
        ));
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes()) else {
        return Err(ApiError::internal("HMAC key"));
    };
    mac.update(username.as_bytes());
    mac.update(client.client_id.as_str().as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    if crate::crypto::ct_eq(expected.as_bytes(), presented.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::not_authorized(format!(
            "Client {} secret hash does not match.",
            client.client_id
        )))
    }
}
