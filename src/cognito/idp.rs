//! A pool's identity providers through the API (SigV4-signed): `CreateIdentityProvider`,
//! `DescribeIdentityProvider`, `UpdateIdentityProvider`, `DeleteIdentityProvider`,
//! `ListIdentityProviders`, `GetIdentityProviderByIdentifier`, and the links between upstream
//! identities and users (`AdminLinkProviderForUser`, `AdminDisableProviderForUser`). The same
//! providers and links as `tessera idp` and the hosted pages; the client secret is written,
//! never read back (Cognito returns it; a sealed secret stays sealed here).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::admin::{find, pool};
use super::wire::epoch;
use super::{ApiError, Ctx, input};
use crate::accounts;
use crate::federation::providers::{self, COGNITO, Provider, ProviderSpec};
use crate::federation::{FederationError, identities};
use crate::ids::Secret;
use crate::model::{ProviderKind, ProviderSettings, UserStatus};
use crate::pools::PoolRuntime;
use crate::store::StoreError;
use crate::store::sql::federation::ProviderRecord;

/// Cognito's limit on identities linked to one user.
const MAX_LINKS: usize = 5;
/// The attribute that names an upstream user by its subject (Cognito's, for every non-SAML
/// provider).
const SUBJECT_ATTRIBUTE: &str = "Cognito_Subject";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderInput {
    user_pool_id: String,
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    provider_type: Option<String>,
    #[serde(default)]
    provider_details: Option<HashMap<String, String>>,
    #[serde(default)]
    attribute_mapping: Option<HashMap<String, String>>,
    #[serde(default)]
    idp_identifiers: Option<Vec<String>>,
    #[serde(default)]
    idp_identifier: Option<String>,
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

/// `ProviderUserIdentifierType`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderUser {
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    provider_attribute_name: Option<String>,
    #[serde(default)]
    provider_attribute_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LinkInput {
    user_pool_id: String,
    #[serde(default)]
    destination_user: Option<ProviderUser>,
    #[serde(default)]
    source_user: Option<ProviderUser>,
    #[serde(default)]
    user: Option<ProviderUser>,
}

/// The operations this module answers.
pub(super) const OPS: &[&str] = &[
    "CreateIdentityProvider",
    "DescribeIdentityProvider",
    "UpdateIdentityProvider",
    "DeleteIdentityProvider",
    "ListIdentityProviders",
    "GetIdentityProviderByIdentifier",
    "AdminLinkProviderForUser",
    "AdminDisableProviderForUser",
];

pub async fn dispatch(ctx: &Ctx<'_>, op: &str, body: Value) -> Result<Value, ApiError> {
    match op {
        "AdminLinkProviderForUser" => return link(ctx, input(body)?).await,
        "AdminDisableProviderForUser" => return disable(ctx, input(body)?).await,
        _ => {}
    }
    let p: ProviderInput = input(body)?;
    let tenant = pool(ctx, &p.user_pool_id)?;
    let (app, id) = (ctx.app, &tenant.pool.id);
    match op {
        "ListIdentityProviders" => list(ctx, &tenant, &p).await,
        "GetIdentityProviderByIdentifier" => {
            let wanted = required(&p.idp_identifier, "IdpIdentifier")?.to_ascii_lowercase();
            let all = providers::list(app, id).await?;
            let found = all
                .iter()
                .find(|r| r.settings.identifiers.contains(&wanted))
                .ok_or_else(|| {
                    ApiError::resource_not_found(format!("Identifier {wanted} does not exist."))
                })?;
            Ok(json!({ "IdentityProvider": provider_type(ctx, found)? }))
        }
        "CreateIdentityProvider" => {
            let name = required(&p.provider_name, "ProviderName")?.to_string();
            let kind = kind_of(required(&p.provider_type, "ProviderType")?)?;
            let spec = spec(&p, ProviderSettings::default(), Some(name), Some(kind))?;
            let made = providers::create(app, id, spec, ctx.now).await?;
            Ok(json!({ "IdentityProvider": provider_type(ctx, &made)? }))
        }
        _ => {
            let name = required(&p.provider_name, "ProviderName")?;
            match op {
                "DescribeIdentityProvider" => {
                    let found = providers::find(app, id, name).await?;
                    Ok(json!({ "IdentityProvider": provider_type(ctx, &found)? }))
                }
                "UpdateIdentityProvider" => {
                    let current = providers::find(app, id, name).await?;
                    let spec = spec(&p, current.settings, None, None)?;
                    let changed = providers::update(app, id, name, spec, ctx.now).await?;
                    Ok(json!({ "IdentityProvider": provider_type(ctx, &changed)? }))
                }
                "DeleteIdentityProvider" => {
                    providers::delete(app, id, name, ctx.now).await?;
                    Ok(json!({}))
                }
                _ => Err(ApiError::unknown_operation(format!(
                    "{op} is not supported"
                ))),
            }
        }
    }
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_parameter(format!("Missing required parameter {name}")))
}

fn kind_of(provider_type: &str) -> Result<ProviderKind, ApiError> {
    match provider_type {
        "Google" => Ok(ProviderKind::Google),
        "Facebook" => Ok(ProviderKind::Facebook),
        "LoginWithAmazon" => Ok(ProviderKind::Amazon),
        "OIDC" => Ok(ProviderKind::Oidc),
        "SAML" | "SignInWithApple" => Err(ApiError::invalid_parameter(format!(
            "ProviderType {provider_type} is not supported by this server (Google, Facebook, LoginWithAmazon and OIDC are)"
        ))),
        other => Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{other}' at 'providerType' failed to satisfy constraint"
        ))),
    }
}

/// What `ProviderDetails`, `AttributeMapping` and `IdpIdentifiers` set on top of `base` (an
/// update changes only the keys it gives, as Cognito merges details).
fn spec(
    p: &ProviderInput,
    mut settings: ProviderSettings,
    name: Option<String>,
    kind: Option<ProviderKind>,
) -> Result<ProviderSpec, ApiError> {
    let mut client_id = None;
    let mut client_secret = None;
    for (key, value) in p.provider_details.iter().flatten() {
        let value = value.trim().to_string();
        match key.as_str() {
            "client_id" => client_id = Some(value),
            "client_secret" => client_secret = Some(Secret::new(value)),
            // Facebook's are comma-separated, the others' space-separated.
            "authorize_scopes" => {
                settings.scopes = value
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "oidc_issuer" => settings.issuer = Some(value),
            "authorize_url" => settings.authorize_url = Some(value),
            "token_url" => settings.token_url = Some(value),
            "attributes_url" => settings.userinfo_url = Some(value),
            // Accepted for compatibility: keys come from the issuer's discovery document,
            // attributes are read with GET, and the Graph API version is Tessera's.
            "jwks_uri" | "attributes_request_method" | "api_version" => {}
            other => {
                return Err(ApiError::invalid_parameter(format!(
                    "ProviderDetails: unknown key {other}"
                )));
            }
        }
    }
    if let Some(mapping) = &p.attribute_mapping {
        settings.mapping = mapping
            .iter()
            .map(|(a, c)| (a.clone(), c.clone()))
            .collect();
    }
    if let Some(ids) = &p.idp_identifiers {
        settings.identifiers = ids.clone();
    }
    Ok(ProviderSpec {
        name,
        kind,
        client_id,
        client_secret,
        settings,
    })
}

/// `IdentityProviderType`: the provider as it signs users in (the type's defaults filled in),
/// without its secret.
fn provider_type(ctx: &Ctx<'_>, r: &ProviderRecord) -> Result<Value, ApiError> {
    let resolved = Provider::resolve(ctx.app, r)?;
    let mut details = Map::new();
    details.insert("client_id".into(), json!(resolved.client_id));
    let separator = if r.kind == ProviderKind::Facebook {
        ","
    } else {
        " "
    };
    details.insert(
        "authorize_scopes".into(),
        json!(resolved.scopes.join(separator)),
    );
    let urls = [
        ("oidc_issuer", &resolved.issuer),
        ("authorize_url", &resolved.authorize_url),
        ("token_url", &resolved.token_url),
        ("attributes_url", &resolved.userinfo_url),
    ];
    for (key, url) in urls {
        if let Some(u) = url {
            details.insert(key.into(), json!(u.as_str().trim_end_matches('/')));
        }
    }
    if r.kind == ProviderKind::Oidc {
        details.insert("attributes_request_method".into(), json!("GET"));
    }
    Ok(json!({
        "UserPoolId": r.pool_id.as_str(),
        "ProviderName": r.name,
        "ProviderType": r.kind.cognito_type(),
        "ProviderDetails": details,
        "AttributeMapping": resolved.mapping,
        "IdpIdentifiers": r.settings.identifiers,
        "CreationDate": epoch(r.created_at),
        "LastModifiedDate": epoch(r.updated_at),
    }))
}

/// `ListIdentityProviders`: by name; `NextToken` is the last name of the previous page.
async fn list(ctx: &Ctx<'_>, tenant: &PoolRuntime, p: &ProviderInput) -> Result<Value, ApiError> {
    let limit = match p.max_results {
        None => 60,
        Some(n @ 1..=60) => n as usize,
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "MaxResults must be between 1 and 60",
            ));
        }
    };
    let mut all = providers::list(ctx.app, &tenant.pool.id).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let after = p.next_token.as_deref().unwrap_or_default();
    let rest: Vec<&ProviderRecord> = all.iter().filter(|r| r.name.as_str() > after).collect();
    let page: Vec<Value> = rest
        .iter()
        .take(limit)
        .map(|r| {
            json!({
                "ProviderName": r.name,
                "ProviderType": r.kind.cognito_type(),
                "CreationDate": epoch(r.created_at),
                "LastModifiedDate": epoch(r.updated_at),
            })
        })
        .collect();
    let mut out = json!({ "Providers": page });
    if rest.len() > limit {
        out["NextToken"] = json!(rest[limit - 1].name);
    }
    Ok(out)
}

/// A `ProviderUserIdentifierType` naming an upstream identity: its provider and subject.
fn upstream_identity<'a>(
    tenant: &PoolRuntime,
    u: &'a Option<ProviderUser>,
    member: &str,
) -> Result<(&'a str, &'a str), ApiError> {
    let u = u.as_ref().ok_or_else(|| {
        ApiError::invalid_parameter(format!("Missing required parameter {member}"))
    })?;
    let provider = required(&u.provider_name, &format!("{member}.ProviderName"))?;
    if u.provider_attribute_name.as_deref() != Some(SUBJECT_ATTRIBUTE) {
        return Err(ApiError::invalid_parameter(format!(
            "{member}.ProviderAttributeName must be {SUBJECT_ATTRIBUTE} (no SAML providers here)"
        )));
    }
    let subject = required(
        &u.provider_attribute_value,
        &format!("{member}.ProviderAttributeValue"),
    )?;
    if !tenant.providers.iter().any(|p| p.name == provider) {
        return Err(ApiError::resource_not_found(format!(
            "Identity provider {provider} does not exist."
        )));
    }
    Ok((provider, subject))
}

/// `AdminLinkProviderForUser`: the upstream identity signs in as the existing user from now on.
async fn link(ctx: &Ctx<'_>, l: LinkInput) -> Result<Value, ApiError> {
    let tenant = pool(ctx, &l.user_pool_id)?;
    let destination = l
        .destination_user
        .as_ref()
        .ok_or_else(|| ApiError::invalid_parameter("Missing required parameter DestinationUser"))?;
    if !destination
        .provider_name
        .as_deref()
        .is_some_and(|n| n.eq_ignore_ascii_case(COGNITO))
    {
        return Err(ApiError::invalid_parameter(
            "DestinationUser.ProviderName must be Cognito (a user of the pool)",
        ));
    }
    let username = required(
        &destination.provider_attribute_value,
        "DestinationUser.ProviderAttributeValue",
    )?;
    let (provider, subject) = upstream_identity(&tenant, &l.source_user, "SourceUser")?;
    let user = find(ctx, &tenant, username).await?;
    if user.status == UserStatus::ExternalProvider {
        return Err(ApiError::invalid_parameter(
            "DestinationUser must be a user of the pool, not a federated user",
        ));
    }
    let (app, id, sub) = (ctx.app, &tenant.pool.id, user.sub.as_str());
    if identities::find(app, id, provider, subject)
        .await?
        .is_some()
    {
        return Err(ApiError::invalid_parameter(
            "Merging is not currently supported, provide a SourceUser that has not been linked or exists as a user to link",
        ));
    }
    let identity = (provider, subject);
    identities::link_at_most(app, id, identity, sub, MAX_LINKS, ctx.ip, ctx.now).await?;
    Ok(json!({}))
}

/// `AdminDisableProviderForUser`: a link to a pool user is removed; a user the provider itself
/// created (EXTERNAL_PROVIDER) is disabled and signed out everywhere, so the identity cannot
/// sign in until an administrator enables it again.
async fn disable(ctx: &Ctx<'_>, l: LinkInput) -> Result<Value, ApiError> {
    let tenant = pool(ctx, &l.user_pool_id)?;
    let (provider, subject) = upstream_identity(&tenant, &l.user, "User")?;
    let (app, id) = (ctx.app, &tenant.pool.id);
    let linked = identities::find(app, id, provider, subject)
        .await?
        .ok_or_else(|| ApiError::user_not_found("User does not exist."))?;
    let user = accounts::find(app, id, &linked.sub).await?;
    if user.status == UserStatus::ExternalProvider {
        accounts::set_enabled(app, id, &linked.sub, false, ctx.now).await?;
        super::self_service::sign_out_everywhere(ctx, &tenant, &linked.sub).await?;
    } else {
        identities::unlink(app, id, provider, &linked.sub, ctx.ip, ctx.now).await?;
    }
    Ok(json!({}))
}

impl From<FederationError> for ApiError {
    fn from(e: FederationError) -> Self {
        match e {
            FederationError::Config(m) => ApiError::invalid_parameter(m),
            FederationError::NotFound(name) => {
                ApiError::resource_not_found(format!("Identity provider {name} does not exist."))
            }
            FederationError::NameTaken(name) => ApiError::duplicate_provider(format!(
                "A provider with the name {name} already exists in this user pool."
            )),
            FederationError::TooManyLinks(max) => ApiError::limit_exceeded(format!(
                "A user can have at most {max} linked identities."
            )),
            FederationError::Store(StoreError::NotFound(_)) => {
                ApiError::user_not_found("User does not exist.")
            }
            FederationError::Store(s) => s.into(),
            other => ApiError::internal(other),
        }
    }
}
