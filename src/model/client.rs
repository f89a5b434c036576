//! An app client's stored settings: allowed grant types and per-client policy.

use serde::{Deserialize, Serialize};

/// OAuth grant types a client may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
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
}

/// The name of the pool's own sign-in among a client's identity providers.
pub const COGNITO: &str = "COGNITO";

impl ClientSettings {
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
        }
    }
}
