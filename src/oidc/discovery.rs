//! OpenID Provider Metadata (OIDC Discovery 1.0 §3) for one pool: only what really works.

use serde_json::{Value, json};

use crate::keys::KeyRing;

/// The discovery document of the pool whose issuer is `issuer`.
pub fn document(issuer: &str, keys: &KeyRing) -> Value {
    let mut algs = keys.algorithms();
    if algs.is_empty() {
        algs.push("RS256".into());
    }
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    })
}
