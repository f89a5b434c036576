//! An app client's stored settings: allowed grant types and per-client policy.

use serde::{Deserialize, Serialize};

/// OAuth grant types a client may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8693 token exchange into an identity pool's identity token.
    TokenExchange,
}

/// Per-client settings with defaults (token lifetimes in seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSettings {
    pub access_token_ttl: u64,
    pub id_token_ttl: u64,
    pub refresh_token_ttl: u64,
    /// PKCE is required unless a legacy confidential client opts out.
    pub require_pkce: bool,
    /// Every sign-in for this client needs a second factor (as if it sent the MFA `acr_values`).
    pub require_mfa: bool,
    /// Where its users may sign in (Cognito's SupportedIdentityProviders): `COGNITO` for the
    /// pool's own password form, and the names of the pool's upstream identity providers.
    pub identity_providers: Vec<String>,
    /// The attributes this client's tokens and userinfo may carry (Cognito's ReadAttributes);
    /// `None` is every attribute the scopes grant. `email` covers `email_verified`,
    /// `phone_number` covers `phone_number_verified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_attributes: Option<Vec<String>>,
    /// The attributes this client's users may set on themselves through it (Cognito's
    /// WriteAttributes); `None` is what the pool lets users write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_attributes: Option<Vec<String>>,
    /// A resource server of the pool: may introspect every client's access tokens (others
    /// see only tokens issued to themselves).
    pub introspect_any: bool,
    /// Cognito's behaviour: a refresh token with every code exchange. Otherwise (OIDC Core
    /// §11) one only when the `offline_access` scope was granted. Clients stored before this
    /// setting existed read it as on, so they keep what they had.
    pub always_refresh_token: bool,
    /// OIDC Back-Channel Logout 1.0: where a logout token is POSTed when a session in which
    /// this client received tokens ends (https, or http on loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Browser origins beyond those of the redirect URIs that may call token, userinfo and
    /// revocation (CORS), as `scheme://host[:port]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// The Cognito API sign-in flows this client may use (Cognito's ExplicitAuthFlows:
    /// `ALLOW_USER_SRP_AUTH`, `ALLOW_USER_PASSWORD_AUTH`, `ALLOW_ADMIN_USER_PASSWORD_AUTH`,
    /// `ALLOW_REFRESH_TOKEN_AUTH`). Cognito's default: SRP and refresh.
    pub explicit_auth_flows: Vec<String>,
}

/// The ExplicitAuthFlows values Tessera implements.
pub const AUTH_FLOWS: &[&str] = &[
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
];

/// The browser origin (`scheme://host[:port]`) of a URL, if it has one.
pub fn origin_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The name of the pool's own sign-in among a client's identity providers.
pub const COGNITO: &str = "COGNITO";

impl ClientSettings {
    /// May this client's tokens and userinfo carry the attribute `name`?
    pub fn may_read(&self, name: &str) -> bool {
        self.read_attributes
            .as_ref()
            .is_none_or(|list| list.iter().any(|a| a == name))
    }

    /// Is `name` in this client's write list (when it has one)? The pool's rules apply too.
    pub fn may_write(&self, name: &str) -> bool {
        self.write_attributes
            .as_ref()
            .is_none_or(|list| list.iter().any(|a| a == name))
    }

    /// May this client use the Cognito API sign-in flow `flow` (e.g. `ALLOW_USER_SRP_AUTH`)?
    pub fn allows_flow(&self, flow: &str) -> bool {
        self.explicit_auth_flows.iter().any(|f| f == flow)
    }

    /// May this client's users sign in with `provider` (`COGNITO` for the password form)?
    pub fn allows(&self, provider: &str) -> bool {
        self.identity_providers.iter().any(|p| p == provider)
    }
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            access_token_ttl: 3600,
            id_token_ttl: 3600,
            refresh_token_ttl: 30 * 86_400,
            require_pkce: true,
            require_mfa: false,
            identity_providers: vec![COGNITO.to_string()],
            read_attributes: None,
            write_attributes: None,
            introspect_any: false,
            always_refresh_token: true,
            backchannel_logout_uri: None,
            allowed_origins: Vec::new(),
            explicit_auth_flows: vec![
                "ALLOW_USER_SRP_AUTH".to_string(),
                "ALLOW_REFRESH_TOKEN_AUTH".to_string(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_stored_before_always_refresh_token_keep_their_refresh_tokens() {
        let old: ClientSettings = serde_json::from_str(r#"{"access_token_ttl": 600}"#).unwrap();
        assert!(old.always_refresh_token);
        assert_eq!(old.access_token_ttl, 600);
    }
}
