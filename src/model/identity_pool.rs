//! An identity pool's configuration (Cognito's `IdentityPool` and `SetIdentityPoolRoles`
//! shapes, stored as JSON) with Cognito's limits, and the role a login resolves to: default
//! roles, `Token` and `Rules` mappings, `AmbiguousRoleResolution`. Pure data and rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Cognito's limits (service model).
pub const MAX_LOGIN_PROVIDERS: usize = 10;
pub const MAX_RULES: usize = 25;
pub const MAX_RULE_VALUE: usize = 128;
pub const MAX_ROLE_MAPPINGS: usize = 10;

/// The public providers Cognito knows by these keys (`SupportedLoginProviders`).
pub const SOCIAL_PROVIDERS: &[&str] = &[
    "accounts.google.com",
    "graph.facebook.com",
    "www.amazon.com",
    "appleid.apple.com",
];

/// A user pool whose tokens the identity pool accepts (`CognitoIdentityProviders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPoolProvider {
    /// The user pool's issuer without its scheme (`{host}{/path}/{pool_id}`), as Cognito's
    /// `cognito-idp.{region}.amazonaws.com/{pool_id}`.
    pub provider_name: String,
    pub client_id: String,
    /// Ask the user pool, at every call, whether the user is still signed in (not deleted,
    /// disabled or signed out everywhere).
    #[serde(default = "yes")]
    pub server_side_token_check: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MappingType {
    Token,
    Rules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AmbiguousRoleResolution {
    AuthenticatedRole,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    NotEqual,
}

/// One rule of a `Rules` mapping: the first whose claim matches gives the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappingRule {
    pub claim: String,
    pub match_type: MatchType,
    pub value: String,
    #[serde(rename = "RoleARN")]
    pub role_arn: String,
}

/// `RulesConfigurationType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RulesConfiguration {
    #[serde(default)]
    pub rules: Vec<MappingRule>,
}

/// `RoleMapping` for one provider key (Cognito's wire shape, stored as is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleMapping {
    #[serde(rename = "Type")]
    pub kind: MappingType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_role_resolution: Option<AmbiguousRoleResolution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_configuration: Option<RulesConfiguration>,
}

/// What an identity pool accepts and hands out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct IdentityPoolSettings {
    /// Guests (no login) get identities and the unauthenticated role.
    pub allow_unauthenticated: bool,
    /// Identity tokens may be handed to clients (`GetOpenIdToken`, RFC 8693); off, only the
    /// credentials broker uses them.
    pub allow_classic_flow: bool,
    /// Social provider key -> the app (client) id tokens must be for.
    pub supported_login_providers: BTreeMap<String, String>,
    pub user_pools: Vec<UserPoolProvider>,
    /// Other OpenID providers' issuers (Cognito's `OpenIdConnectProviderARNs`); the login key
    /// is the issuer without its scheme.
    pub openid_issuers: Vec<String>,
    /// Issuer -> the client ids its ID tokens must be for (`azp`, or `aud`): the IAM OIDC
    /// provider's `ClientIDList` in Cognito. An issuer without any refuses every login.
    pub openid_audiences: BTreeMap<String, Vec<String>>,
    /// The key of logins your backend vouches for (`GetOpenIdTokenForDeveloperIdentity`);
    /// fixed once set, as in Cognito.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub developer_provider_name: Option<String>,
    /// `authenticated` / `unauthenticated` -> role.
    pub roles: BTreeMap<String, String>,
    /// Provider key (`{issuer}:{client_id}` for a user pool) -> how its logins choose a role.
    pub role_mappings: BTreeMap<String, RoleMapping>,
    /// Provider key -> which claims of its logins become session tags (Cognito's principal
    /// tag attribute maps). Any map turns the tags claim on for every token of the pool.
    pub principal_tags: BTreeMap<String, PrincipalTagMap>,
    /// Where `GetCredentialsForIdentity` trades identity tokens for credentials (Cognito's
    /// enhanced flow, done by Tessera); none: the call says so and clients use the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<Broker>,
}

/// Which claims of a provider's logins become session tags: Cognito's defaults (`aud` as
/// `client`, `sub` as `username`) when `use_defaults`, and `tags` (tag -> claim) over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PrincipalTagMap {
    pub use_defaults: bool,
    pub tags: BTreeMap<String, String>,
}

/// Cognito's bound on principal tags per provider.
pub const MAX_PRINCIPAL_TAGS: usize = 50;

impl PrincipalTagMap {
    /// Tag -> claim, defaults first.
    pub fn effective(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if self.use_defaults {
            out.insert("client".to_string(), "aud".to_string());
            out.insert("username".to_string(), "sub".to_string());
        }
        out.extend(self.tags.clone());
        out
    }

    fn check(&self) -> Result<(), Invalid> {
        if self.tags.len() > MAX_PRINCIPAL_TAGS {
            return Err(format!(
                "PrincipalTags holds at most {MAX_PRINCIPAL_TAGS} tags"
            ));
        }
        for (tag, claim) in &self.tags {
            if tag.is_empty() || tag.len() > 128 || claim.is_empty() || claim.len() > 256 {
                return Err("a principal tag is 1 to 128 characters, its claim 1 to 256".into());
            }
        }
        Ok(())
    }
}

/// An STS that takes `AssumeRoleWithWebIdentity` (AWS STS, or an S3-compatible store's):
/// Tessera sends it the identity token and the role, and hands back the credentials. Tessera
/// holds no credentials of its own for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Broker {
    /// The STS endpoint URL (`https://sts.amazonaws.com`, or the store's).
    pub sts_endpoint: String,
    /// Lifetime of the credentials asked for (STS allows 900 to 43,200 seconds).
    pub duration_seconds: u32,
    /// The session name (Cognito's is `CognitoIdentityCredentials`).
    pub role_session_name: String,
    /// A session policy sent for guests, scoping their role down further.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_session_policy: Option<String>,
}

impl Default for Broker {
    fn default() -> Self {
        Self {
            sts_endpoint: String::new(),
            duration_seconds: 3600,
            role_session_name: "CognitoIdentityCredentials".into(),
            guest_session_policy: None,
        }
    }
}

impl Broker {
    fn check(&self) -> Result<(), Invalid> {
        // Identity tokens travel to it: https, or http on this machine only.
        let ok = url::Url::parse(&self.sts_endpoint).is_ok_and(|u| match u.scheme() {
            "https" => u.host().is_some(),
            "http" => match u.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            },
            _ => false,
        });
        if !ok {
            return Err("the broker's STS endpoint is an https URL (http only on loopback)".into());
        }
        if !(900..=43_200).contains(&self.duration_seconds) {
            return Err("the broker's credentials last 900 to 43200 seconds".into());
        }
        if !name_ok(&self.role_session_name, 64, &['=', ',', '.', '@', '-']) {
            return Err("RoleSessionName is 1 to 64 of letters, digits, _ = , . @ -".into());
        }
        if self
            .guest_session_policy
            .as_ref()
            .is_some_and(|p| p.is_empty() || p.len() > 2048)
        {
            return Err("the guest session policy is 1 to 2048 characters".into());
        }
        Ok(())
    }
}

/// Why a configuration is refused.
pub type Invalid = String;

fn name_ok(s: &str, max: usize, extra: &[char]) -> bool {
    !s.is_empty()
        && s.chars().count() <= max
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || extra.contains(&c))
}

/// Cognito's `IdentityPoolName` pattern `[\w\s+=,.@-]+`, 1 to 128 characters.
pub fn check_pool_name(name: &str) -> Result<(), Invalid> {
    if name_ok(name, 128, &[' ', '+', '=', ',', '.', '@', '-']) {
        Ok(())
    } else {
        Err("IdentityPoolName must be 1 to 128 letters, digits, spaces or + = , . @ - _".into())
    }
}

impl IdentityPoolSettings {
    /// Cognito's limits and shapes, checked before anything is stored.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.supported_login_providers.len() > MAX_LOGIN_PROVIDERS {
            return Err(format!(
                "SupportedLoginProviders holds at most {MAX_LOGIN_PROVIDERS} providers"
            ));
        }
        for (key, app_id) in &self.supported_login_providers {
            if !SOCIAL_PROVIDERS.contains(&key.as_str()) {
                return Err(format!(
                    "SupportedLoginProviders: {key} is not one of {}",
                    SOCIAL_PROVIDERS.join(", ")
                ));
            }
            if app_id.trim().is_empty() || app_id.len() > 128 {
                return Err(format!("SupportedLoginProviders: {key} needs an app id"));
            }
        }
        for p in &self.user_pools {
            if p.provider_name.is_empty() || p.provider_name.contains("://") {
                return Err("CognitoIdentityProviders: ProviderName is the user pool's issuer without its scheme".into());
            }
            if !name_ok(&p.client_id, 128, &[]) {
                return Err("CognitoIdentityProviders: ClientId is a user pool client id".into());
            }
        }
        for issuer in &self.openid_issuers {
            let ok = url::Url::parse(issuer).is_ok_and(|u| {
                matches!(u.scheme(), "https" | "http") && u.host().is_some() && u.query().is_none()
            });
            if !ok {
                return Err(format!(
                    "OpenIdConnect issuer {issuer:?} is not an http(s) URL"
                ));
            }
        }
        for (issuer, ids) in &self.openid_audiences {
            if !self.openid_issuers.contains(issuer) {
                return Err(format!(
                    "client ids for {issuer}, which is not an OpenID issuer of the pool"
                ));
            }
            if ids.len() > 100 || ids.iter().any(|i| i.is_empty() || i.len() > 255) {
                return Err("an issuer takes at most 100 client ids of 1 to 255 characters".into());
            }
        }
        if let Some(d) = &self.developer_provider_name
            && !name_ok(d, 100, &['.', '-'])
        {
            return Err("DeveloperProviderName is 1 to 100 of letters, digits, _ . -".into());
        }
        for (which, role) in &self.roles {
            if which != "authenticated" && which != "unauthenticated" {
                return Err(format!(
                    "Roles: {which} is not authenticated or unauthenticated"
                ));
            }
            check_role(role)?;
        }
        if self.role_mappings.len() > MAX_ROLE_MAPPINGS {
            return Err(format!(
                "RoleMappings holds at most {MAX_ROLE_MAPPINGS} providers"
            ));
        }
        for (key, m) in &self.role_mappings {
            m.check().map_err(|e| format!("RoleMappings {key}: {e}"))?;
        }
        for (key, m) in &self.principal_tags {
            m.check().map_err(|e| format!("{key}: {e}"))?;
        }
        if let Some(b) = &self.broker {
            b.check()?;
        }
        Ok(())
    }
}

fn check_role(role: &str) -> Result<(), Invalid> {
    if role.is_empty() || role.len() > 2048 || role.chars().any(char::is_control) {
        return Err("a role is 1 to 2048 printable characters".into());
    }
    Ok(())
}

impl RoleMapping {
    /// The rules of a `Rules` mapping (none for `Token`).
    pub fn rules(&self) -> &[MappingRule] {
        self.rules_configuration
            .as_ref()
            .map_or(&[], |c| c.rules.as_slice())
    }

    fn check(&self) -> Result<(), Invalid> {
        if self.ambiguous_role_resolution.is_none() {
            return Err("AmbiguousRoleResolution is required".into());
        }
        match self.kind {
            MappingType::Token if !self.rules().is_empty() => {
                Err("a Token mapping takes no rules".into())
            }
            MappingType::Rules if self.rules().is_empty() || self.rules().len() > MAX_RULES => {
                Err(format!("a Rules mapping takes 1 to {MAX_RULES} rules"))
            }
            _ => self.rules().iter().try_for_each(|r| {
                if r.claim.is_empty() || r.claim.len() > 64 {
                    return Err("a rule's Claim is 1 to 64 characters".to_string());
                }
                if r.value.is_empty() || r.value.len() > MAX_RULE_VALUE {
                    return Err(format!(
                        "a rule's Value is 1 to {MAX_RULE_VALUE} characters"
                    ));
                }
                check_role(&r.role_arn)
            }),
        }
    }
}

/// Why no role was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleRefused {
    /// The mapping matched nothing (or, for `Token`, the token named no single role) and says
    /// `Deny`.
    Ambiguous,
    /// No role is configured for this kind of identity.
    NoRole,
}

/// The role of a login with `claims` from provider `key` (`None`: a guest), as Cognito chooses
/// it: the provider's mapping if there is one (first matching rule; the token's
/// `cognito:preferred_role`, or its one `cognito:roles`), else the default role; a mapping
/// that decides nothing falls back to the authenticated role or denies, as it says.
pub fn resolve_role(
    settings: &IdentityPoolSettings,
    key: Option<&str>,
    claims: &Value,
) -> Result<String, RoleRefused> {
    let default = |which: &str| {
        settings
            .roles
            .get(which)
            .cloned()
            .ok_or(RoleRefused::NoRole)
    };
    let Some(key) = key else {
        return default("unauthenticated");
    };
    let Some(mapping) = settings.role_mappings.get(key) else {
        return default("authenticated");
    };
    let chosen = match mapping.kind {
        MappingType::Rules => mapping
            .rules()
            .iter()
            .find(|r| rule_matches(r, claims.get(&r.claim)))
            .map(|r| r.role_arn.clone()),
        MappingType::Token => token_role(claims),
    };
    match (chosen, mapping.ambiguous_role_resolution) {
        (Some(role), _) => Ok(role),
        (None, Some(AmbiguousRoleResolution::AuthenticatedRole)) => default("authenticated"),
        (None, _) => Err(RoleRefused::Ambiguous),
    }
}

fn token_role(claims: &Value) -> Option<String> {
    if let Some(preferred) = claims.get("cognito:preferred_role").and_then(Value::as_str) {
        return Some(preferred.to_string());
    }
    match claims.get("cognito:roles") {
        Some(Value::Array(roles)) if roles.len() == 1 => roles[0].as_str().map(str::to_string),
        Some(Value::String(one)) if !one.is_empty() && !one.contains(',') => Some(one.clone()),
        _ => None,
    }
}

/// A claim that is absent matches no rule (`NotEqual` included, as Cognito skips it); an array
/// claim (`cognito:groups`) matches `Contains` when it holds the value.
fn rule_matches(rule: &MappingRule, claim: Option<&Value>) -> bool {
    let Some(claim) = claim else {
        return false;
    };
    let text = match claim {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let has = items
                .iter()
                .any(|i| i.as_str() == Some(rule.value.as_str()));
            return match rule.match_type {
                MatchType::Contains => has,
                MatchType::NotEqual => !has,
                _ => false,
            };
        }
        Value::Null => return false,
        other => other.to_string(),
    };
    match rule.match_type {
        MatchType::Equals => text == rule.value,
        MatchType::NotEqual => text != rule.value,
        MatchType::Contains => text.contains(&rule.value),
        MatchType::StartsWith => text.starts_with(&rule.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool_with(mapping: RoleMapping) -> IdentityPoolSettings {
        IdentityPoolSettings {
            roles: [
                ("authenticated".to_string(), "auth".to_string()),
                ("unauthenticated".to_string(), "guest".to_string()),
            ]
            .into(),
            role_mappings: [("idp".to_string(), mapping)].into(),
            ..Default::default()
        }
    }

    fn rule(claim: &str, m: MatchType, value: &str, role: &str) -> MappingRule {
        MappingRule {
            claim: claim.into(),
            match_type: m,
            value: value.into(),
            role_arn: role.into(),
        }
    }

    #[test]
    fn rules_take_the_first_match_and_skip_absent_claims() {
        let p = pool_with(RoleMapping {
            kind: MappingType::Rules,
            ambiguous_role_resolution: Some(AmbiguousRoleResolution::Deny),
            rules_configuration: Some(RulesConfiguration {
                rules: vec![
                    rule("dept", MatchType::NotEqual, "sales", "not-sales"),
                    rule("cognito:groups", MatchType::Contains, "admins", "admin"),
                    rule("email", MatchType::StartsWith, "ops@", "ops"),
                ],
            }),
        });
        assert_eq!(p.check(), Ok(()));
        let role = |c: Value| resolve_role(&p, Some("idp"), &c);
        assert_eq!(role(json!({"dept": "eng"})), Ok("not-sales".into()));
        assert_eq!(
            role(json!({"dept": "sales", "cognito:groups": ["x", "admins"]})),
            Ok("admin".into())
        );
        assert_eq!(role(json!({"email": "ops@example.com"})), Ok("ops".into()));
        assert_eq!(role(json!({})), Err(RoleRefused::Ambiguous));
        assert_eq!(resolve_role(&p, None, &json!({})), Ok("guest".into()));
        assert_eq!(
            resolve_role(&p, Some("other"), &json!({})),
            Ok("auth".into())
        );
    }

    #[test]
    fn token_mappings_use_the_preferred_or_only_role() {
        let p = pool_with(RoleMapping {
            kind: MappingType::Token,
            ambiguous_role_resolution: Some(AmbiguousRoleResolution::AuthenticatedRole),
            rules_configuration: None,
        });
        let role = |c: Value| resolve_role(&p, Some("idp"), &c);
        assert_eq!(
            role(json!({"cognito:preferred_role": "p", "cognito:roles": ["a", "b"]})),
            Ok("p".into())
        );
        assert_eq!(role(json!({"cognito:roles": ["only"]})), Ok("only".into()));
        assert_eq!(
            role(json!({"cognito:roles": ["a", "b"]})),
            Ok("auth".into())
        );
    }

    #[test]
    fn refuses_what_cognito_refuses() {
        let mut p = IdentityPoolSettings::default();
        p.supported_login_providers
            .insert("example.com".into(), "x".into());
        assert!(p.check().is_err());
        let mut p = IdentityPoolSettings::default();
        p.roles.insert("admin".into(), "r".into());
        assert!(p.check().is_err());
        let no_rules = pool_with(RoleMapping {
            kind: MappingType::Rules,
            ambiguous_role_resolution: Some(AmbiguousRoleResolution::Deny),
            rules_configuration: None,
        });
        assert!(no_rules.check().is_err());
        let no_resolution = pool_with(RoleMapping {
            kind: MappingType::Token,
            ambiguous_role_resolution: None,
            rules_configuration: None,
        });
        assert!(no_resolution.check().is_err());
        assert!(check_pool_name("my pool").is_ok());
        assert!(check_pool_name("bad/name").is_err());
    }
}
