//! Sign-in through the API: `InitiateAuth` (`USER_PASSWORD_AUTH`, `REFRESH_TOKEN_AUTH`,
//! `USER_SRP_AUTH`, whose challenge is `srp_auth`),
//! `AdminInitiateAuth` (`ADMIN_USER_PASSWORD_AUTH`) and `RespondToAuthChallenge` (and its Admin form)
//! (`NEW_PASSWORD_REQUIRED`, `SOFTWARE_TOKEN_MFA`). The password check, lockout, MFA and
//! token issue are the hosted pages' own; a challenge's `Session` is a one-use KV entry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::wire::{auth_result, check_secret_hash};
use super::{ApiError, Ctx};
use crate::accounts::signin::{Checked, check_password};
use crate::accounts::{self, AccountError};
use crate::clock::RandomExt;
use crate::ids::Secret;
use crate::mfa::{self, MfaError, Verified};
use crate::model::pool::RateCategory;
use crate::model::{MfaMode, UserStatus};
use crate::oidc::token::{direct, refresh};
use crate::pools::PoolRuntime;
use crate::store::sql::clients::Client;
use crate::store::sql::users::User;

/// The scope of tokens the API issues: Cognito's API scope plus what an ID token carries.
pub const API_SCOPE: &str = "openid profile email phone aws.cognito.signin.user.admin";
/// How long a challenge's session lasts (Cognito's default AuthSessionValidity).
const SESSION_TTL: Duration = Duration::from_secs(180);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateAuth {
    auth_flow: String,
    #[serde(default)]
    auth_parameters: HashMap<String, String>,
    client_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminInitiateAuth {
    user_pool_id: String,
    auth_flow: String,
    #[serde(default)]
    auth_parameters: HashMap<String, String>,
    client_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RespondToAuthChallenge {
    challenge_name: String,
    client_id: String,
    #[serde(default)]
    challenge_responses: HashMap<String, String>,
    #[serde(default)]
    session: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminRespondToAuthChallenge {
    user_pool_id: String,
    #[serde(flatten)]
    respond: RespondToAuthChallenge,
}

/// What a challenge's session remembers.
#[derive(Serialize, Deserialize)]
pub(super) struct Pending {
    pub challenge: String,
    pub client_id: String,
    pub sub: String,
    pub username: String,
    pub amr: Vec<String>,
    /// MFA_SETUP: the authenticator was verified (VerifySoftwareToken) in this session.
    #[serde(default)]
    pub mfa_ready: bool,
}

/// The pool and client of `client_id`.
pub(crate) fn client_of(
    ctx: &Ctx<'_>,
    client_id: &str,
) -> Result<(Arc<PoolRuntime>, Arc<Client>), ApiError> {
    ctx.app.pools.by_client(client_id).ok_or_else(|| {
        ApiError::resource_not_found(format!("User pool client {client_id} does not exist."))
    })
}

pub(super) fn param<'a>(p: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    p.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid_parameter(format!("Missing required parameter {name}")))
}

/// The pool's request rate for `category` (Cognito's quotas), counted before the work.
pub(super) async fn within_rate(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    category: RateCategory,
) -> Result<(), ApiError> {
    let limits = &tenant.pool.settings.rate_limits;
    match crate::limits::rate(ctx.app, &tenant.pool.id, limits, category).await? {
        Ok(()) => Ok(()),
        Err(_) => Err(ApiError::too_many_requests("Too many requests")),
    }
}

fn require_flow(client: &Client, flow: &str, name: &str) -> Result<(), ApiError> {
    if client.settings.allows_flow(flow) {
        Ok(())
    } else {
        Err(ApiError::invalid_parameter(format!(
            "{name} flow not enabled for this client"
        )))
    }
}

pub async fn initiate_auth(ctx: &Ctx<'_>, i: InitiateAuth) -> Result<Value, ApiError> {
    let (tenant, client) = client_of(ctx, &i.client_id)?;
    match i.auth_flow.as_str() {
        "USER_PASSWORD_AUTH" => {
            require_flow(&client, "ALLOW_USER_PASSWORD_AUTH", "USER_PASSWORD_AUTH")?;
            password_auth(ctx, &tenant, &client, &i.auth_parameters).await
        }
        "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
            refresh_auth(ctx, &tenant, &client, &i.auth_parameters).await
        }
        "USER_SRP_AUTH" => {
            require_flow(&client, "ALLOW_USER_SRP_AUTH", "USER_SRP_AUTH")?;
            super::srp_auth::start(ctx, &tenant, &client, &i.auth_parameters).await
        }
        "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => Err(ApiError::invalid_parameter(
            "Initiate Auth method not supported: use AdminInitiateAuth for admin flows.",
        )),
        other => Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{other}' at 'authFlow' failed to satisfy constraint"
        ))),
    }
}

pub async fn admin_initiate_auth(ctx: &Ctx<'_>, i: AdminInitiateAuth) -> Result<Value, ApiError> {
    let (tenant, client) = client_of(ctx, &i.client_id)?;
    if tenant.pool.id.as_str() != i.user_pool_id {
        return Err(ApiError::resource_not_found(format!(
            "User pool client {} does not exist.",
            i.client_id
        )));
    }
    match i.auth_flow.as_str() {
        "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => {
            require_flow(
                &client,
                "ALLOW_ADMIN_USER_PASSWORD_AUTH",
                "ADMIN_USER_PASSWORD_AUTH",
            )?;
            password_auth(ctx, &tenant, &client, &i.auth_parameters).await
        }
        "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
            refresh_auth(ctx, &tenant, &client, &i.auth_parameters).await
        }
        other => Err(ApiError::invalid_parameter(format!(
            "Initiate Auth method not supported: {other}"
        ))),
    }
}

async fn password_auth(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    client: &Client,
    p: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let username = param(p, "USERNAME")?;
    let password = param(p, "PASSWORD")?;
    within_rate(ctx, tenant, RateCategory::SignIn).await?;
    check_secret_hash(
        ctx.app,
        client,
        username,
        p.get("SECRET_HASH").map(String::as_str),
    )?;
    let checked =
        check_password(ctx.app, &tenant.pool, username, password, ctx.ip, ctx.now).await?;
    let user = match checked {
        Checked::Ok(u) => *u,
        Checked::Failed => {
            return Err(ApiError::not_authorized("Incorrect username or password."));
        }
        Checked::Locked => {
            return Err(ApiError::not_authorized("Password attempts exceeded"));
        }
    };
    after_password(ctx, tenant, client, user, vec!["pwd".to_string()]).await
}

/// The password was right: the account's state decides what comes next.
pub(super) async fn after_password(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    client: &Client,
    user: User,
    amr: Vec<String>,
) -> Result<Value, ApiError> {
    match user.status {
        UserStatus::Unconfirmed => {
            return Err(ApiError::user_not_confirmed("User is not confirmed."));
        }
        UserStatus::ResetRequired => {
            return Err(ApiError::password_reset_required(
                "Password reset required for the user",
            ));
        }
        UserStatus::ForceChangePassword => {
            if accounts::temporary_password_expired(&tenant.pool, &user, ctx.now) {
                return Err(ApiError::not_authorized(
                    accounts::TEMPORARY_PASSWORD_EXPIRED,
                ));
            }
            return challenge(ctx, tenant, client, &user, "NEW_PASSWORD_REQUIRED", amr).await;
        }
        UserStatus::Confirmed | UserStatus::ExternalProvider => {}
    }
    let enrolled = tenant.pool.settings.mfa != MfaMode::Off
        && mfa::is_enrolled(ctx.app, &tenant.pool.id, user.sub.as_str())
            .await
            .map_err(mfa_error)?;
    if enrolled {
        return challenge(ctx, tenant, client, &user, "SOFTWARE_TOKEN_MFA", amr).await;
    }
    if tenant.pool.settings.mfa == MfaMode::Required {
        return challenge(ctx, tenant, client, &user, "MFA_SETUP", amr).await;
    }
    tokens(ctx, tenant, client, &user, &amr).await
}

async fn tokens(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    client: &Client,
    user: &User,
    amr: &[String],
) -> Result<Value, ApiError> {
    let issued = direct::issue(
        ctx.app,
        tenant,
        client,
        user.sub.as_str(),
        API_SCOPE,
        amr,
        ctx.now,
    )
    .await?;
    Ok(auth_result(&issued))
}

/// A session names its pool (`{pool_id}.{random}`): `AssociateSoftwareToken` and
/// `VerifySoftwareToken` get the session alone.
fn session_key(pool: &str, session: &str) -> String {
    format!("{pool}:api-session:{session}")
}

/// Stores `pending` under a new one-use session; returns the session.
pub(super) async fn new_session(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    pending: &Pending,
) -> Result<String, ApiError> {
    let session = format!("{}.{}", tenant.pool.id, ctx.app.random.token(32));
    let bytes = serde_json::to_vec(pending).map_err(ApiError::internal)?;
    ctx.app
        .kv
        .put(
            &session_key(tenant.pool.id.as_str(), &session),
            &bytes,
            SESSION_TTL,
        )
        .await?;
    Ok(session)
}

/// Takes (uses up) a session: its pool and what it remembers.
pub(super) async fn take_session(
    ctx: &Ctx<'_>,
    session: Option<&str>,
) -> Result<(Arc<PoolRuntime>, Pending), ApiError> {
    let expired = || ApiError::not_authorized("Invalid session for the user, session is expired.");
    let session = session
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(expired)?;
    let pool = session
        .split_once('.')
        .map(|(p, _)| p)
        .ok_or_else(expired)?;
    let tenant = ctx.app.pools.get(pool).ok_or_else(expired)?;
    let bytes = ctx.app.kv.take(&session_key(pool, session)).await?;
    let pending = bytes
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(expired)?;
    Ok((tenant, pending))
}

async fn challenge(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    client: &Client,
    user: &User,
    name: &str,
    amr: Vec<String>,
) -> Result<Value, ApiError> {
    let pending = Pending {
        challenge: name.to_string(),
        client_id: client.client_id.to_string(),
        sub: user.sub.to_string(),
        username: user.username.clone(),
        amr,
        mfa_ready: false,
    };
    let session = new_session(ctx, tenant, &pending).await?;
    let mut params = json!({ "USER_ID_FOR_SRP": user.username });
    if name == "NEW_PASSWORD_REQUIRED" {
        params["requiredAttributes"] = json!("[]");
        params["userAttributes"] =
            json!(serde_json::to_string(&user_attributes_json(user)).unwrap_or_default());
    }
    Ok(json!({
        "ChallengeName": name,
        "Session": session,
        "ChallengeParameters": params,
    }))
}

fn user_attributes_json(user: &User) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(e) = &user.email {
        m.insert("email".into(), json!(e));
    }
    for (k, v) in &user.attributes {
        m.insert(k.clone(), json!(v));
    }
    Value::Object(m)
}

/// `AdminRespondToAuthChallenge`: the same challenges, for a client of the named pool.
pub async fn admin_respond_to_challenge(
    ctx: &Ctx<'_>,
    r: AdminRespondToAuthChallenge,
) -> Result<Value, ApiError> {
    let (tenant, _) = client_of(ctx, &r.respond.client_id)?;
    if tenant.pool.id.as_str() != r.user_pool_id {
        return Err(ApiError::resource_not_found(format!(
            "User pool client {} does not exist.",
            r.respond.client_id
        )));
    }
    respond_to_challenge(ctx, r.respond).await
}

pub async fn respond_to_challenge(
    ctx: &Ctx<'_>,
    r: RespondToAuthChallenge,
) -> Result<Value, ApiError> {
    let (tenant, client) = client_of(ctx, &r.client_id)?;
    within_rate(ctx, &tenant, RateCategory::SignIn).await?;
    if r.challenge_name == "PASSWORD_VERIFIER" {
        return super::srp_auth::verify(ctx, &tenant, &client, &r.challenge_responses).await;
    }
    let (owner, pending) = take_session(ctx, r.session.as_deref()).await?;
    if owner.pool.id != tenant.pool.id || pending.client_id != client.client_id.as_str() {
        return Err(ApiError::not_authorized(
            "Invalid session for the user, session is expired.",
        ));
    }
    if pending.challenge != r.challenge_name {
        return Err(ApiError::invalid_parameter(format!(
            "The challenge {} does not match the session's challenge",
            r.challenge_name
        )));
    }
    let p = &r.challenge_responses;
    let username = param(p, "USERNAME")?;
    check_secret_hash(
        ctx.app,
        &client,
        username,
        p.get("SECRET_HASH").map(String::as_str),
    )?;
    let user = accounts::find(ctx.app, &tenant.pool.id, &pending.sub).await?;
    if !user.enabled {
        return Err(ApiError::not_authorized("User is disabled."));
    }
    match pending.challenge.as_str() {
        "NEW_PASSWORD_REQUIRED" => {
            let new = Secret::new(param(p, "NEW_PASSWORD")?);
            let user = accounts::set_password(
                ctx.app,
                &tenant.pool,
                user.sub.as_str(),
                &new,
                false,
                ctx.now,
            )
            .await
            .map_err(|e| match e {
                AccountError::Policy(m) => {
                    ApiError::invalid_password(format!("Password does not conform to policy: {m}"))
                }
                other => other.into(),
            })?;
            after_password(ctx, &tenant, &client, user, pending.amr).await
        }
        "MFA_SETUP" => {
            if !pending.mfa_ready {
                return Err(ApiError::invalid_parameter(
                    "Verify the software token (VerifySoftwareToken) before answering MFA_SETUP",
                ));
            }
            let mut amr = pending.amr;
            amr.extend(["mfa".to_string(), "otp".to_string()]);
            tokens(ctx, &tenant, &client, &user, &amr).await
        }
        "SOFTWARE_TOKEN_MFA" => {
            let code = param(p, "SOFTWARE_TOKEN_MFA_CODE")?;
            let verified = mfa::verify(ctx.app, &tenant.pool.id, user.sub.as_str(), code, ctx.now)
                .await
                .map_err(mfa_error)?;
            if verified == Verified::Invalid {
                return Err(ApiError::code_mismatch("Invalid code received for user"));
            }
            let mut amr = pending.amr;
            amr.push("mfa".to_string());
            amr.push("otp".to_string());
            tokens(ctx, &tenant, &client, &user, &amr).await
        }
        other => Err(ApiError::invalid_parameter(format!(
            "Unsupported challenge {other}"
        ))),
    }
}

fn mfa_error(e: MfaError) -> ApiError {
    match e {
        MfaError::Malformed(m) => ApiError::code_mismatch(m),
        MfaError::TooManyAttempts => ApiError::too_many_failed_attempts(e.to_string()),
        MfaError::Store(s) => s.into(),
        other => ApiError::code_mismatch(other.to_string()),
    }
}

async fn refresh_auth(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    client: &Client,
    p: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    require_flow(client, "ALLOW_REFRESH_TOKEN_AUTH", "REFRESH_TOKEN_AUTH")?;
    let token = param(p, "REFRESH_TOKEN")?;
    if !client.is_public() {
        // SECRET_HASH is over the token's user: USERNAME must name them (their username, or
        // their sub as Cognito's own users send it), so a hash made for someone else fails.
        let username = param(p, "USERNAME").unwrap_or_default();
        check_secret_hash(
            ctx.app,
            client,
            username,
            p.get("SECRET_HASH").map(String::as_str),
        )?;
        if let Some(sub) = refresh::owner(ctx.app, tenant, client, token, ctx.now).await? {
            let owner = match accounts::find(ctx.app, &tenant.pool.id, &sub).await {
                Ok(u) => u,
                Err(AccountError::NotFound(_)) => {
                    return Err(ApiError::not_authorized("Invalid Refresh Token"));
                }
                Err(e) => return Err(e.into()),
            };
            if owner.username != username && owner.sub.as_str() != username {
                return Err(ApiError::not_authorized(format!(
                    "Client {} secret hash does not match.",
                    client.client_id
                )));
            }
        }
    }
    let issued = refresh::redeem(ctx.app, tenant, client, token, None, ctx.now)
        .await
        .map_err(|e| {
            if e.code == crate::oidc::error::ErrorCode::ServerError {
                ApiError::from(e)
            } else {
                ApiError::not_authorized("Invalid Refresh Token")
            }
        })?;
    Ok(auth_result(&issued))
}
