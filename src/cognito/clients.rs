//! App clients through the API (SigV4-signed): `CreateUserPoolClient` (with `GenerateSecret`,
//! `ExplicitAuthFlows`, `AllowedOAuthFlows`, `CallbackURLs`, `SupportedIdentityProviders`,
//! token validity), `DescribeUserPoolClient` (with the secret), `UpdateUserPoolClient`,
//! `DeleteUserPoolClient`, `ListUserPoolClients`. The same clients as `tessera client`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::pool;
use super::wire::epoch;
use super::{ApiError, Ctx, input};
use crate::clients::{self, ClientChanges, ClientError, ClientSpec};
use crate::ids::PoolId;
use crate::model::GrantType;
use crate::state::AppState;
use crate::store::sql::clients::Client;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Units {
    access_token: Option<String>,
    id_token: Option<String>,
    refresh_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ClientIn {
    user_pool_id: String,
    client_id: Option<String>,
    client_name: Option<String>,
    generate_secret: bool,
    explicit_auth_flows: Option<Vec<String>>,
    #[serde(rename = "AllowedOAuthFlows")]
    allowed_oauth_flows: Option<Vec<String>>,
    #[serde(rename = "AllowedOAuthScopes")]
    allowed_oauth_scopes: Option<Vec<String>>,
    #[serde(rename = "CallbackURLs")]
    callback_urls: Option<Vec<String>>,
    #[serde(rename = "LogoutURLs")]
    logout_urls: Option<Vec<String>>,
    supported_identity_providers: Option<Vec<String>>,
    read_attributes: Option<Vec<String>>,
    write_attributes: Option<Vec<String>>,
    access_token_validity: Option<u64>,
    id_token_validity: Option<u64>,
    refresh_token_validity: Option<u64>,
    token_validity_units: Option<Units>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn client_error(e: ClientError) -> ApiError {
    match e {
        ClientError::Invalid(m) => ApiError::invalid_parameter(m),
        ClientError::NotFound(id) => {
            ApiError::resource_not_found(format!("User pool client {id} does not exist."))
        }
        ClientError::Store(s) => s.into(),
    }
}

/// Seconds of `n` in `unit` (Cognito's defaults: hours for access and ID, days for refresh).
fn seconds(
    n: Option<u64>,
    unit: Option<&str>,
    default_unit: &str,
) -> Result<Option<u64>, ApiError> {
    let Some(n) = n else { return Ok(None) };
    let per = match unit.unwrap_or(default_unit) {
        "seconds" => 1,
        "minutes" => 60,
        "hours" => 3600,
        "days" => 86_400,
        other => {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid TokenValidityUnits {other}"
            )));
        }
    };
    Ok(Some(n.saturating_mul(per)))
}

fn grants(flows: &[String]) -> Result<Vec<GrantType>, ApiError> {
    let mut out = Vec::new();
    for f in flows {
        match f.as_str() {
            "code" => out.extend([GrantType::AuthorizationCode, GrantType::RefreshToken]),
            "client_credentials" => out.push(GrantType::ClientCredentials),
            "implicit" => {
                return Err(ApiError::invalid_parameter(
                    "The implicit flow is not offered (OAuth 2.0 Security BCP): use code with PKCE",
                ));
            }
            other => {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid AllowedOAuthFlows {other}"
                )));
            }
        }
    }
    Ok(out)
}

/// `UserPoolClientType`; the secret only when `with_secret`.
fn client_type(app: &AppState, c: &Client, with_secret: bool) -> Value {
    let s = &c.settings;
    let mut flows: Vec<&str> = Vec::new();
    if c.grant_types.contains(&GrantType::AuthorizationCode) {
        flows.push("code");
    }
    if c.grant_types.contains(&GrantType::ClientCredentials) {
        flows.push("client_credentials");
    }
    let mut v = json!({
        "UserPoolId": c.pool_id.as_str(),
        "ClientId": c.client_id.as_str(),
        "ClientName": c.name,
        "CreationDate": epoch(c.created_at),
        "LastModifiedDate": epoch(c.updated_at),
        "AccessTokenValidity": s.access_token_ttl,
        "IdTokenValidity": s.id_token_ttl,
        "RefreshTokenValidity": s.refresh_token_ttl,
        "TokenValidityUnits": {"AccessToken": "seconds", "IdToken": "seconds", "RefreshToken": "seconds"},
        "ExplicitAuthFlows": s.explicit_auth_flows,
        "SupportedIdentityProviders": s.identity_providers,
        "CallbackURLs": c.redirect_uris,
        "LogoutURLs": c.logout_uris,
        "AllowedOAuthFlows": flows,
        "AllowedOAuthScopes": c.scopes,
        "AllowedOAuthFlowsUserPoolClient": !flows.is_empty(),
    });
    if let Some(r) = &s.read_attributes {
        v["ReadAttributes"] = json!(r);
    }
    if let Some(w) = &s.write_attributes {
        v["WriteAttributes"] = json!(w);
    }
    if with_secret && let Some(secret) = clients::plain_secret(app, c) {
        v["ClientSecret"] = json!(secret.expose());
    }
    v
}

/// Token lifetimes the input sets, in seconds.
struct Ttls {
    access: Option<u64>,
    id: Option<u64>,
    refresh: Option<u64>,
}

fn ttls(i: &ClientIn) -> Result<Ttls, ApiError> {
    let units = i.token_validity_units.as_ref();
    let unit = |f: fn(&Units) -> &Option<String>| units.and_then(|u| f(u).as_deref());
    Ok(Ttls {
        access: seconds(i.access_token_validity, unit(|u| &u.access_token), "hours")?,
        id: seconds(i.id_token_validity, unit(|u| &u.id_token), "hours")?,
        refresh: seconds(i.refresh_token_validity, unit(|u| &u.refresh_token), "days")?,
    })
}

pub async fn dispatch(ctx: &Ctx<'_>, op: &str, body: Value) -> Result<Value, ApiError> {
    let i: ClientIn = input(body)?;
    let tenant = pool(ctx, &i.user_pool_id)?;
    let (app, id, now) = (ctx.app, &tenant.pool.id, ctx.now);
    match op {
        "CreateUserPoolClient" => create(ctx, id, i).await,
        "ListUserPoolClients" => list(ctx, id, i).await,
        _ => {
            let cid = i.client_id.clone().ok_or_else(|| {
                ApiError::invalid_parameter("Missing required parameter ClientId")
            })?;
            match op {
                "DescribeUserPoolClient" => {
                    let c = clients::find(app, id, &cid).await.map_err(client_error)?;
                    Ok(json!({ "UserPoolClient": client_type(app, &c, true) }))
                }
                "DeleteUserPoolClient" => {
                    clients::delete(app, id, &cid, now)
                        .await
                        .map_err(client_error)?;
                    Ok(json!({}))
                }
                "UpdateUserPoolClient" => update(ctx, id, &cid, i).await,
                _ => Err(ApiError::unknown_operation(format!(
                    "{op} is not supported"
                ))),
            }
        }
    }
}

async fn create(ctx: &Ctx<'_>, pool: &PoolId, i: ClientIn) -> Result<Value, ApiError> {
    let t = ttls(&i)?;
    let name = i
        .client_name
        .ok_or_else(|| ApiError::invalid_parameter("Missing required parameter ClientName"))?;
    let mut grant_types = grants(&i.allowed_oauth_flows.unwrap_or_default())?;
    if grant_types.is_empty() {
        // An API-only client: sign-in through InitiateAuth, refresh through it too.
        grant_types.push(GrantType::RefreshToken);
    }
    let spec = ClientSpec {
        name,
        public: !i.generate_secret,
        grant_types,
        redirect_uris: i.callback_urls.unwrap_or_default(),
        logout_uris: i.logout_urls.unwrap_or_default(),
        scopes: i.allowed_oauth_scopes.unwrap_or_default(),
        explicit_auth_flows: i.explicit_auth_flows.unwrap_or_default(),
        identity_providers: i.supported_identity_providers.unwrap_or_default(),
        read_attributes: i.read_attributes,
        write_attributes: i.write_attributes,
        access_token_ttl: t.access,
        id_token_ttl: t.id,
        refresh_token_ttl: t.refresh,
        // Cognito returns a refresh token with every code exchange.
        always_refresh_token: true,
        ..Default::default()
    };
    let made = clients::create(ctx.app, pool, spec, ctx.now)
        .await
        .map_err(client_error)?;
    Ok(json!({ "UserPoolClient": client_type(ctx.app, &made.client, true) }))
}

async fn list(ctx: &Ctx<'_>, pool: &PoolId, i: ClientIn) -> Result<Value, ApiError> {
    let max = match i.max_results {
        None => 60,
        Some(n @ 1..=60) => n as usize,
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "MaxResults must be between 1 and 60",
            ));
        }
    };
    let mut all = clients::list(ctx.app, pool).await.map_err(client_error)?;
    all.sort_by(|a, b| a.client_id.as_str().cmp(b.client_id.as_str()));
    let after = i.next_token.unwrap_or_default();
    let rest: Vec<&Client> = all
        .iter()
        .filter(|c| c.client_id.as_str() > after.as_str())
        .collect();
    let page: Vec<Value> = rest
        .iter()
        .take(max)
        .map(|c| json!({"ClientId": c.client_id.as_str(), "UserPoolId": pool.as_str(), "ClientName": c.name}))
        .collect();
    let mut out = json!({ "UserPoolClients": page });
    if rest.len() > max {
        out["NextToken"] = json!(rest[max - 1].client_id.as_str());
    }
    Ok(out)
}

async fn update(ctx: &Ctx<'_>, pool: &PoolId, cid: &str, i: ClientIn) -> Result<Value, ApiError> {
    let t = ttls(&i)?;
    let changes = ClientChanges {
        name: i.client_name,
        redirect_uris: i.callback_urls.unwrap_or_default(),
        logout_uris: i.logout_urls.unwrap_or_default(),
        scopes: i.allowed_oauth_scopes.unwrap_or_default(),
        identity_providers: i.supported_identity_providers.unwrap_or_default(),
        explicit_auth_flows: i.explicit_auth_flows,
        read_attributes: i.read_attributes,
        write_attributes: i.write_attributes,
        access_token_ttl: t.access,
        id_token_ttl: t.id,
        refresh_token_ttl: t.refresh,
        ..Default::default()
    };
    let c = clients::update(ctx.app, pool, cid, changes, ctx.now)
        .await
        .map_err(client_error)?;
    Ok(json!({ "UserPoolClient": client_type(ctx.app, &c, true) }))
}
