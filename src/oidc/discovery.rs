//! OpenID Provider Metadata (OIDC Discovery 1.0 §3) for one pool: only what really works.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::keys::KeyRing;
use crate::pools::{PoolRuntime, StaticDoc};

/// The pool's discovery document at `now`, serialised again only when a key changes status.
pub fn cached(tenant: &PoolRuntime, now: DateTime<Utc>) -> StaticDoc {
    tenant.discovery(now, |tenant, now| {
        Bytes::from(document(&tenant.issuer, &tenant.keys, now).to_string())
    })
}

/// The discovery document at `now` of the pool whose issuer is `issuer`.
pub fn document(issuer: &str, keys: &KeyRing, now: DateTime<Utc>) -> Value {
    let mut algs = keys.algorithms(now);
    if algs.is_empty() {
        algs.push("RS256".into());
    }
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userInfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
            super::token::exchange::GRANT],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile", "email", "phone", "offline_access"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "acr",
            "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
            "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at",
            "email", "email_verified", "phone_number", "phone_number_verified", "cognito:username",
        ],
        "acr_values_supported": [
            super::authorize::ACR_PWD,
            super::authorize::ACR_MFA,
            super::authorize::ACR_FEDERATED,
        ],
        // select_account is accepted and treated as login (as Keycloak does): the sign-in page
        // is where another account is chosen; it is not advertised as an account chooser.
        "prompt_values_supported": ["none", "login", "consent"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}
