//! An upstream identity provider's stored configuration: its kind, and the endpoints, scopes,
//! attribute mapping and home-realm identifiers an operator set (empty means the kind's
//! documented defaults, filled in by the federation service).

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The provider types Tessera can sign in with (Cognito's Google, Facebook, LoginWithAmazon
/// and OIDC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Google,
    Facebook,
    Amazon,
    Oidc,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Facebook => "facebook",
            Self::Amazon => "amazon",
            Self::Oidc => "oidc",
        }
    }

    /// Cognito's fixed provider name for the social kinds.
    pub fn default_name(self) -> Option<&'static str> {
        match self {
            Self::Google => Some("Google"),
            Self::Facebook => Some("Facebook"),
            Self::Amazon => Some("LoginWithAmazon"),
            Self::Oidc => None,
        }
    }

    /// Cognito's `providerType` in the `identities` claim.
    pub fn cognito_type(self) -> &'static str {
        match self {
            Self::Google => "Google",
            Self::Facebook => "Facebook",
            Self::Amazon => "LoginWithAmazon",
            Self::Oidc => "OIDC",
        }
    }
}

impl FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "google" => Ok(Self::Google),
            "facebook" => Ok(Self::Facebook),
            "amazon" => Ok(Self::Amazon),
            "oidc" => Ok(Self::Oidc),
            other => Err(format!("unknown provider type {other:?}")),
        }
    }
}

/// What an operator configured beyond the client id and secret. Empty fields take the kind's
/// defaults when the provider is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProviderSettings {
    /// Scopes to ask for; empty: the kind's defaults.
    pub scopes: Vec<String>,
    /// The OpenID issuer (discovery at `{issuer}/.well-known/openid-configuration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_url: Option<String>,
    /// Pool attribute -> upstream claim (Cognito's attribute mapping); empty: the kind's
    /// defaults.
    pub mapping: BTreeMap<String, String>,
    /// Email domains whose users go straight to this provider (home-realm discovery).
    pub identifiers: Vec<String>,
}
