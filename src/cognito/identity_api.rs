//! The Cognito Identity API (identity pools; `X-Amz-Target: AWSCognitoIdentityService.<Op>`),
//! on the same AWS JSON 1.1 edge as the user-pool API: `GetId`, `GetOpenIdToken`,
//! `GetCredentialsForIdentity` and `UnlinkIdentity` unsigned; pool administration, roles, tags,
//! developer tokens and identities SigV4-signed (service `cognito-identity`) with the same
//! access keys.
//! The identity service does the work; this module only speaks Cognito's shapes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::epoch;
use super::{ApiError, Ctx, Request, access_keys, input};
use crate::identity::identities::{self, MAX_LOGINS};
use crate::identity::{self, IdentityError, MAX_PAGE};
use crate::identity::{broker, flows};
use crate::model::IdentityPoolSettings;
use crate::model::identity_pool::{PrincipalTagMap, RoleMapping, UserPoolProvider};
use crate::state::AppState;
use crate::store::sql::identity_pools::{self as rows, IdentityPool};

/// The service name in `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";

/// Guests one address may create in [`GUEST_WINDOW`] (identities are rows: a flood of `GetId`
/// without logins must not fill the database).
const GUESTS_PER_ADDRESS: i64 = 30;
const GUEST_WINDOW: Duration = Duration::from_secs(60);
/// Unsigned calls one address may make in a minute: each may verify tokens upstream (fetch a
/// provider's keys, ask Facebook) or write, so a flood must not turn us into an amplifier.
/// An app calls a few times an hour (credentials last one).
const UNSIGNED_PER_ADDRESS: i64 = 120;

const UNSIGNED: &[&str] = &[
    "GetId",
    "GetOpenIdToken",
    "GetCredentialsForIdentity",
    "UnlinkIdentity",
];
const SIGNED: &[&str] = &[
    "CreateIdentityPool",
    "DescribeIdentityPool",
    "UpdateIdentityPool",
    "DeleteIdentityPool",
    "ListIdentityPools",
    "SetIdentityPoolRoles",
    "GetIdentityPoolRoles",
    "DescribeIdentity",
    "ListIdentities",
    "DeleteIdentities",
    "GetOpenIdTokenForDeveloperIdentity",
    "LookupDeveloperIdentity",
    "SetPrincipalTagAttributeMap",
    "GetPrincipalTagAttributeMap",
];

/// Handles one call of operation `op` (the target's suffix).
pub async fn handle(app: &AppState, req: &Request<'_>, op: &str) -> Result<Value, ApiError> {
    if !UNSIGNED.contains(&op) && !SIGNED.contains(&op) {
        return Err(ApiError::unknown_operation(format!(
            "{op} is not an operation of this service"
        )));
    }
    let body: Value = serde_json::from_slice(req.raw.body)
        .map_err(|_| ApiError::serialization("The request body is not valid JSON."))?;
    if !body.is_object() {
        return Err(ApiError::serialization(
            "The request body must be a JSON object.",
        ));
    }
    if UNSIGNED.contains(&op) {
        // Reserve before the work: the count goes up, then it is judged.
        let key = format!("identity-calls:{}", req.ip.unwrap_or("-"));
        if app.kv.incr(&key, GUEST_WINDOW).await? > UNSIGNED_PER_ADDRESS {
            return Err(ApiError::too_many_requests("Rate exceeded"));
        }
    } else {
        access_keys::authenticate(
            app,
            access_keys::IDENTITY_SERVICE,
            &req.raw,
            req.authorization,
            req.now,
        )
        .await?;
    }
    let ctx = Ctx {
        app,
        ip: req.ip,
        now: req.now,
    };
    dispatch(&ctx, op, body).await.map_err(|e| match e {
        Failure::Api(a) => a,
        Failure::Identity(i) => api_error(i),
    })
}

/// An operation's failure: already Cognito's, or the service's (mapped once, below).
enum Failure {
    Api(ApiError),
    Identity(IdentityError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<IdentityError> for Failure {
    fn from(e: IdentityError) -> Self {
        Self::Identity(e)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Api(e.into())
    }
}

fn api_error(e: IdentityError) -> ApiError {
    match e {
        IdentityError::Invalid(m) => ApiError::invalid_parameter(m),
        IdentityError::NotFound(id) => {
            ApiError::resource_not_found(format!("IdentityPool '{id}' not found."))
        }
        IdentityError::NoIdentity(id) => {
            ApiError::resource_not_found(format!("Identity '{id}' not found."))
        }
        IdentityError::NotAuthorized(m) => ApiError::not_authorized(m),
        IdentityError::Conflict(m) => ApiError::resource_conflict(m),
        IdentityError::Upstream(m) => ApiError::internal(m),
        IdentityError::Configuration(m) => ApiError::invalid_identity_pool_configuration(m),
        IdentityError::External(m) => ApiError::external_service(m),
        IdentityError::Store(s) => s.into(),
    }
}

/// `CognitoIdentityProvider`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderIn {
    provider_name: String,
    client_id: String,
    #[serde(default)]
    server_side_token_check: bool,
}

/// `IdentityPool` as Create/Update take it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolIn {
    #[serde(default)]
    identity_pool_id: Option<String>,
    identity_pool_name: String,
    allow_unauthenticated_identities: bool,
    #[serde(default)]
    allow_classic_flow: Option<bool>,
    #[serde(default)]
    supported_login_providers: BTreeMap<String, String>,
    #[serde(default)]
    developer_provider_name: Option<String>,
    #[serde(default, rename = "OpenIdConnectProviderARNs")]
    open_id_connect_provider_arns: Vec<String>,
    #[serde(default)]
    cognito_identity_providers: Vec<ProviderIn>,
    #[serde(default, rename = "SamlProviderARNs")]
    saml_provider_arns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ById {
    #[serde(default)]
    identity_pool_id: Option<String>,
    #[serde(default)]
    identity_id: Option<String>,
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    logins: BTreeMap<String, String>,
    #[serde(default)]
    roles: Option<BTreeMap<String, String>>,
    #[serde(default)]
    role_mappings: Option<BTreeMap<String, RoleMapping>>,
    #[serde(default)]
    identity_ids_to_delete: Vec<String>,
    #[serde(default)]
    logins_to_remove: Vec<String>,
    #[serde(default)]
    custom_role_arn: Option<String>,
    #[serde(default)]
    principal_tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    token_duration: Option<i64>,
    #[serde(default)]
    identity_provider_name: Option<String>,
    #[serde(default)]
    use_defaults: Option<bool>,
    #[serde(default)]
    developer_user_identifier: Option<String>,
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_parameter(format!("Missing required parameter {name}")))
}

/// An `OpenIdConnectProviderARNs` entry: an IAM OIDC provider ARN
/// (`arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH`) or, beyond Cognito, the issuer URL itself.
fn issuer_of(arn: &str) -> Result<String, ApiError> {
    if arn.starts_with("https://") || arn.starts_with("http://") {
        return Ok(arn.to_string());
    }
    arn.strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":oidc-provider/"))
        .map(|(_, host)| format!("https://{host}"))
        .ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "{arn} is not an OpenID Connect provider ARN or issuer URL"
            ))
        })
}

fn settings_of(p: &PoolIn, base: IdentityPoolSettings) -> Result<IdentityPoolSettings, ApiError> {
    if !p.saml_provider_arns.is_empty() {
        return Err(ApiError::invalid_parameter(
            "SAML providers are not supported by this server",
        ));
    }
    let issuers: Vec<String> = p
        .open_id_connect_provider_arns
        .iter()
        .map(|a| issuer_of(a))
        .collect::<Result<_, _>>()?;
    Ok(IdentityPoolSettings {
        allow_unauthenticated: p.allow_unauthenticated_identities,
        allow_classic_flow: p.allow_classic_flow.unwrap_or(base.allow_classic_flow),
        supported_login_providers: p.supported_login_providers.clone(),
        user_pools: p
            .cognito_identity_providers
            .iter()
            .map(|c| UserPoolProvider {
                provider_name: c.provider_name.clone(),
                client_id: c.client_id.clone(),
                server_side_token_check: c.server_side_token_check,
            })
            .collect(),
        openid_issuers: issuers.clone(),
        // Client ids are Tessera's (Cognito keeps them on the IAM provider): kept for the
        // issuers still listed.
        openid_audiences: base
            .openid_audiences
            .iter()
            .filter(|(i, _)| issuers.contains(i))
            .map(|(i, ids)| (i.clone(), ids.clone()))
            .collect(),
        developer_provider_name: p
            .developer_provider_name
            .clone()
            .or(base.developer_provider_name),
        ..base
    })
}

/// `IdentityPool` as Cognito answers it.
fn pool_type(p: &IdentityPool) -> Value {
    let s = &p.settings;
    let mut v = json!({
        "IdentityPoolId": p.id,
        "IdentityPoolName": p.name,
        "AllowUnauthenticatedIdentities": s.allow_unauthenticated,
        "AllowClassicFlow": s.allow_classic_flow,
        "SupportedLoginProviders": s.supported_login_providers,
        "OpenIdConnectProviderARNs": s.openid_issuers.iter().map(|i| {
            let host = i.split_once("://").map_or(i.as_str(), |(_, h)| h);
            format!("arn:aws:iam::000000000000:oidc-provider/{host}")
        }).collect::<Vec<_>>(),
        "CognitoIdentityProviders": s.user_pools.iter().map(|u| json!({
            "ProviderName": u.provider_name,
            "ClientId": u.client_id,
            "ServerSideTokenCheck": u.server_side_token_check,
        })).collect::<Vec<_>>(),
        "SamlProviderARNs": [],
        "IdentityPoolTags": {},
    });
    if let Some(d) = &s.developer_provider_name {
        v["DeveloperProviderName"] = json!(d);
    }
    v
}

async fn dispatch(ctx: &Ctx<'_>, op: &str, body: Value) -> Result<Value, Failure> {
    let app = ctx.app;
    match op {
        "CreateIdentityPool" => {
            let p: PoolIn = input(body)?;
            let settings = settings_of(&p, IdentityPoolSettings::default())?;
            let made = identity::create(app, &p.identity_pool_name, settings, ctx.now).await?;
            return Ok(pool_type(&made));
        }
        "UpdateIdentityPool" => {
            let p: PoolIn = input(body)?;
            let id = required(&p.identity_pool_id, "IdentityPoolId")?;
            let current = identity::find(app, id).await?;
            let settings = settings_of(&p, current.settings)?;
            let changed =
                identity::update(app, id, &p.identity_pool_name, settings, ctx.now).await?;
            return Ok(pool_type(&changed));
        }
        _ => {}
    }
    let b: ById = input(body)?;
    match op {
        "ListIdentityPools" => {
            let limit = match b.max_results {
                Some(n @ 1..=MAX_PAGE) => n,
                _ => {
                    return Err(ApiError::invalid_parameter(format!(
                        "MaxResults must be between 1 and {MAX_PAGE}"
                    ))
                    .into());
                }
            };
            let after = b.next_token.clone();
            let mut page = app
                .sql
                .run(move |c| rows::list(c, after.as_deref(), limit + 1))
                .await?;
            let next = page.len() > limit as usize;
            page.truncate(limit as usize);
            let mut out = json!({ "IdentityPools": page.iter().map(|p| json!({
                "IdentityPoolId": p.id, "IdentityPoolName": p.name,
            })).collect::<Vec<_>>() });
            if let (true, Some(last)) = (next, page.last()) {
                out["NextToken"] = json!(last.id);
            }
            Ok(out)
        }
        "DescribeIdentity" => describe_identity(ctx, required(&b.identity_id, "IdentityId")?).await,
        "UnlinkIdentity" => {
            let id = required(&b.identity_id, "IdentityId")?;
            let key = id.to_string();
            let pool = ctx
                .app
                .sql
                .run(move |c| rows::pool_of_identity(c, &key))
                .await?
                .ok_or_else(|| IdentityError::NoIdentity(id.to_string()))?;
            let pool = identity::find(app, &pool).await?;
            identities::unlink(app, &pool, id, &b.logins, &b.logins_to_remove, ctx.now).await?;
            Ok(json!({}))
        }
        "DeleteIdentities" => delete_identities(ctx, &b.identity_ids_to_delete).await,
        "GetOpenIdToken" => {
            let id = required(&b.identity_id, "IdentityId")?;
            check_logins(&b.logins)?;
            let issued = flows::open_id_token(app, id, &b.logins, ctx.now).await?;
            Ok(json!({ "IdentityId": issued.identity_id, "Token": issued.token }))
        }
        "GetCredentialsForIdentity" => {
            let id = required(&b.identity_id, "IdentityId")?;
            check_logins(&b.logins)?;
            let role = b.custom_role_arn.as_deref();
            let (id, c) = broker::credentials(app, id, &b.logins, role, ctx.now).await?;
            Ok(json!({
                "IdentityId": id,
                "Credentials": {
                    "AccessKeyId": c.access_key_id,
                    "SecretKey": c.secret_key,
                    "SessionToken": c.session_token,
                    "Expiration": epoch(c.expiration),
                },
            }))
        }
        _ => {
            let pool =
                identity::find(app, required(&b.identity_pool_id, "IdentityPoolId")?).await?;
            by_pool(ctx, op, pool, b).await
        }
    }
}

async fn by_pool(ctx: &Ctx<'_>, op: &str, pool: IdentityPool, b: ById) -> Result<Value, Failure> {
    let app = ctx.app;
    match op {
        "DescribeIdentityPool" => Ok(pool_type(&pool)),
        "DeleteIdentityPool" => {
            identity::delete(app, &pool.id).await?;
            Ok(json!({}))
        }
        "GetIdentityPoolRoles" => Ok(json!({
            "IdentityPoolId": pool.id,
            "Roles": pool.settings.roles,
            "RoleMappings": pool.settings.role_mappings,
        })),
        "SetIdentityPoolRoles" => {
            let roles = b
                .roles
                .ok_or_else(|| ApiError::invalid_parameter("Missing required parameter Roles"))?;
            let mut settings = pool.settings.clone();
            settings.roles = roles;
            settings.role_mappings = b.role_mappings.unwrap_or_default();
            identity::update(app, &pool.id, &pool.name, settings, ctx.now).await?;
            Ok(json!({}))
        }
        "GetId" => get_id(ctx, &pool, &b.logins).await,
        "GetOpenIdTokenForDeveloperIdentity" => {
            let req = flows::DeveloperRequest {
                pool_id: pool.id.clone(),
                identity_id: b.identity_id.clone(),
                logins: b.logins.clone(),
                principal_tags: b.principal_tags.clone().unwrap_or_default(),
                token_duration: b.token_duration,
            };
            let issued = flows::developer_token(app, &req, ctx.now).await?;
            Ok(json!({ "IdentityId": issued.identity_id, "Token": issued.token }))
        }
        "LookupDeveloperIdentity" => lookup_developer(ctx, &pool, &b).await,
        "SetPrincipalTagAttributeMap" | "GetPrincipalTagAttributeMap" => {
            principal_tags(ctx, op, pool, b).await
        }
        "ListIdentities" => list_identities(ctx, &pool, &b).await,
        _ => Err(ApiError::unknown_operation(format!("{op} is not supported")).into()),
    }
}

async fn get_id(
    ctx: &Ctx<'_>,
    pool: &IdentityPool,
    logins: &BTreeMap<String, String>,
) -> Result<Value, Failure> {
    check_logins(logins)?;
    if logins.is_empty() {
        // Reserve before the work: the count goes up, then it is judged.
        let key = format!("identity-guests:{}", ctx.ip.unwrap_or("-"));
        if ctx.app.kv.incr(&key, GUEST_WINDOW).await? > GUESTS_PER_ADDRESS {
            return Err(ApiError::too_many_requests("Rate exceeded").into());
        }
    }
    let id = identities::get_id(ctx.app, pool, logins, ctx.now).await?;
    Ok(json!({ "IdentityId": id }))
}

fn identity_description(i: &rows::Identity) -> Value {
    json!({
        "IdentityId": i.id,
        "Logins": i.logins.iter().map(|l| l.provider.clone()).collect::<Vec<_>>(),
        "CreationDate": epoch(i.created_at),
        "LastModifiedDate": epoch(i.updated_at),
    })
}

async fn describe_identity(ctx: &Ctx<'_>, id: &str) -> Result<Value, Failure> {
    let key = id.to_string();
    let found = ctx
        .app
        .sql
        .run(move |c| match rows::pool_of_identity(c, &key)? {
            Some(pool) => rows::find_identity(c, &pool, &key),
            None => Ok(None),
        })
        .await?
        .ok_or_else(|| IdentityError::NoIdentity(id.to_string()))?;
    Ok(identity_description(&found))
}

async fn list_identities(ctx: &Ctx<'_>, pool: &IdentityPool, b: &ById) -> Result<Value, Failure> {
    let limit = match b.max_results {
        Some(n @ 1..=MAX_PAGE) => n,
        _ => {
            return Err(ApiError::invalid_parameter(format!(
                "MaxResults must be between 1 and {MAX_PAGE}"
            ))
            .into());
        }
    };
    let (p, after) = (pool.id.clone(), b.next_token.clone());
    let page = ctx
        .app
        .sql
        .run(move |c| {
            let ids = rows::list_identities(c, &p, after.as_deref(), limit + 1)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(i) = rows::find_identity(c, &p, &id)? {
                    out.push(i);
                }
            }
            Ok(out)
        })
        .await?;
    let next = page.len() > limit as usize;
    let shown: Vec<&rows::Identity> = page.iter().take(limit as usize).collect();
    let mut out = json!({
        "IdentityPoolId": pool.id,
        "Identities": shown.iter().map(|i| identity_description(i)).collect::<Vec<_>>(),
    });
    if let (true, Some(last)) = (next, shown.last()) {
        out["NextToken"] = json!(last.id);
    }
    Ok(out)
}

async fn delete_identities(ctx: &Ctx<'_>, ids: &[String]) -> Result<Value, Failure> {
    if ids.is_empty() || ids.len() > MAX_PAGE as usize {
        return Err(ApiError::invalid_parameter(format!(
            "IdentityIdsToDelete holds 1 to {MAX_PAGE} identity ids"
        ))
        .into());
    }
    let list = ids.to_vec();
    let missing = ctx
        .app
        .sql
        .transaction(move |c| {
            let mut missing = Vec::new();
            for id in &list {
                match rows::pool_of_identity(c, id)? {
                    Some(pool) => {
                        rows::delete_identities(c, &pool, std::slice::from_ref(id))?;
                    }
                    None => missing.push(id.clone()),
                }
            }
            Ok(missing)
        })
        .await?;
    Ok(
        json!({ "UnprocessedIdentityIds": missing.iter().map(|id| json!({
        "IdentityId": id, "ErrorCode": "ResourceNotFound",
    })).collect::<Vec<_>>() }),
    )
}

fn check_logins(logins: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if logins.len() > MAX_LOGINS {
        return Err(ApiError::invalid_parameter(format!(
            "Logins holds at most {MAX_LOGINS} providers"
        )));
    }
    Ok(())
}

/// `Set`/`GetPrincipalTagAttributeMap`: which claims of a provider's logins become session
/// tags. Setting a map with no tags and no defaults removes it.
async fn principal_tags(
    ctx: &Ctx<'_>,
    op: &str,
    pool: IdentityPool,
    b: ById,
) -> Result<Value, Failure> {
    let provider = required(&b.identity_provider_name, "IdentityProviderName")?.to_string();
    if !identities::trusts(&pool, &provider) {
        return Err(ApiError::invalid_parameter(format!(
            "{provider} is not a provider of this identity pool"
        ))
        .into());
    }
    let map = if op == "SetPrincipalTagAttributeMap" {
        let map = PrincipalTagMap {
            use_defaults: b.use_defaults.unwrap_or(false),
            tags: b.principal_tags.clone().unwrap_or_default(),
        };
        let mut settings = pool.settings.clone();
        if map.use_defaults || !map.tags.is_empty() {
            settings
                .principal_tags
                .insert(provider.clone(), map.clone());
        } else {
            settings.principal_tags.remove(&provider);
        }
        identity::update(ctx.app, &pool.id, &pool.name, settings, ctx.now).await?;
        map
    } else {
        pool.settings
            .principal_tags
            .get(&provider)
            .cloned()
            .unwrap_or_default()
    };
    Ok(json!({
        "IdentityPoolId": pool.id,
        "IdentityProviderName": provider,
        "UseDefaults": map.use_defaults,
        "PrincipalTags": map.tags,
    }))
}

/// `LookupDeveloperIdentity`: the identity of a developer user id, or the developer user ids
/// of an identity.
async fn lookup_developer(ctx: &Ctx<'_>, pool: &IdentityPool, b: &ById) -> Result<Value, Failure> {
    let Some(dev) = pool.settings.developer_provider_name.clone() else {
        return Err(IdentityError::NotAuthorized(
            "This identity pool has no developer provider (DeveloperProviderName).".into(),
        )
        .into());
    };
    let (p, given, user) = (
        pool.id.clone(),
        b.identity_id.clone(),
        b.developer_user_identifier.clone(),
    );
    if given.is_none() && user.is_none() {
        return Err(ApiError::invalid_parameter(
            "IdentityId or DeveloperUserIdentifier is required",
        )
        .into());
    }
    let found = ctx
        .app
        .sql
        .run(move |c| {
            let id = match (&user, &given) {
                (Some(u), _) => {
                    let login = rows::Login {
                        provider: dev.clone(),
                        subject: u.clone(),
                    };
                    rows::owner_of(c, &p, &login)?
                }
                (None, Some(i)) => Some(i.clone()),
                (None, None) => None,
            };
            let Some(id) = id else { return Ok(None) };
            if given.as_ref().is_some_and(|g| *g != id) {
                return Ok(None);
            }
            Ok(rows::find_identity(c, &p, &id)?.map(|i| {
                let users: Vec<String> = i
                    .logins
                    .iter()
                    .filter(|l| l.provider == dev)
                    .map(|l| l.subject.clone())
                    .collect();
                (i.id, users)
            }))
        })
        .await?;
    let Some((id, users)) = found else {
        return Err(ApiError::resource_not_found("No identity matches.").into());
    };
    Ok(json!({ "IdentityId": id, "DeveloperUserIdentifierList": users }))
}
