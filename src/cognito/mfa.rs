//! TOTP through the API: `AssociateSoftwareToken` and `VerifySoftwareToken` (with an access
//! token, or with the session of an `MFA_SETUP` challenge), `SetUserMFAPreference` and
//! `AdminSetUserMFAPreference`. The authenticator is the hosted account page's own
//! (`mfa::begin_enrollment` / `confirm_enrollment`), with its throttling.

use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{find, pool};
use super::self_service::token_user;
use super::signin::{new_session, take_session};
use super::{ApiError, Ctx};
use crate::mfa::{self, MfaError};
use crate::model::MfaMode;
use crate::pools::PoolRuntime;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenOrSession {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    user_code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Settings {
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Preference {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    software_token_mfa_settings: Option<Settings>,
}

fn mfa_error(e: MfaError) -> ApiError {
    match e {
        MfaError::Store(s) => s.into(),
        MfaError::TooManyAttempts => ApiError::too_many_failed_attempts(e.to_string()),
        MfaError::NoPendingEnrollment => ApiError::invalid_parameter(e.to_string()),
        other => ApiError::enable_software_token_mfa(other.to_string()),
    }
}

fn offered(tenant: &PoolRuntime) -> Result<(), ApiError> {
    if tenant.pool.settings.mfa == MfaMode::Off {
        return Err(ApiError::invalid_parameter(
            "MFA is switched off in this user pool",
        ));
    }
    Ok(())
}

pub async fn associate(ctx: &Ctx<'_>, i: TokenOrSession) -> Result<Value, ApiError> {
    if let Some(token) = &i.access_token {
        let (tenant, user, _) = token_user(ctx, token).await?;
        offered(&tenant)?;
        let e = mfa::begin_enrollment(
            ctx.app,
            &tenant.pool.id,
            &tenant.pool.name,
            user.sub.as_str(),
            &user.username,
            ctx.now,
        )
        .await
        .map_err(mfa_error)?;
        return Ok(json!({ "SecretCode": e.secret_base32 }));
    }
    let (tenant, pending) = take_session(ctx, i.session.as_deref()).await?;
    if pending.challenge != "MFA_SETUP" {
        return Err(ApiError::not_authorized("Invalid session for the user."));
    }
    let e = mfa::begin_enrollment(
        ctx.app,
        &tenant.pool.id,
        &tenant.pool.name,
        &pending.sub,
        &pending.username,
        ctx.now,
    )
    .await
    .map_err(mfa_error)?;
    let session = new_session(ctx, &tenant, &pending).await?;
    Ok(json!({ "SecretCode": e.secret_base32, "Session": session }))
}

pub async fn verify(ctx: &Ctx<'_>, i: TokenOrSession) -> Result<Value, ApiError> {
    let code = i
        .user_code
        .as_deref()
        .ok_or_else(|| ApiError::invalid_parameter("Missing required parameter UserCode"))?;
    if let Some(token) = &i.access_token {
        let (tenant, user, _) = token_user(ctx, token).await?;
        mfa::confirm_enrollment(ctx.app, &tenant.pool.id, user.sub.as_str(), code, ctx.now)
            .await
            .map_err(mfa_error)?;
        return Ok(json!({ "Status": "SUCCESS" }));
    }
    let (tenant, mut pending) = take_session(ctx, i.session.as_deref()).await?;
    if pending.challenge != "MFA_SETUP" {
        return Err(ApiError::not_authorized("Invalid session for the user."));
    }
    mfa::confirm_enrollment(ctx.app, &tenant.pool.id, &pending.sub, code, ctx.now)
        .await
        .map_err(mfa_error)?;
    pending.mfa_ready = true;
    let session = new_session(ctx, &tenant, &pending).await?;
    Ok(json!({ "Status": "SUCCESS", "Session": session }))
}

/// `SetUserMFAPreference` (access token) and `AdminSetUserMFAPreference` (signed): enabling
/// needs a verified authenticator; disabling removes it, unless the pool requires MFA.
pub async fn preference(ctx: &Ctx<'_>, p: Preference, admin: bool) -> Result<Value, ApiError> {
    // The user's own call names them by access token only; the signed one by pool and name.
    let (tenant, sub) = match (&p.access_token, &p.user_pool_id, &p.username) {
        (Some(token), _, _) if !admin => {
            let (tenant, user, _) = token_user(ctx, token).await?;
            (tenant, user.sub.to_string())
        }
        (_, Some(pool_id), Some(username)) if admin => {
            let tenant = pool(ctx, pool_id)?;
            let user = find(ctx, &tenant, username).await?;
            (tenant, user.sub.to_string())
        }
        _ => {
            return Err(ApiError::invalid_parameter(
                "AccessToken (SetUserMFAPreference), or UserPoolId and Username \
                 (AdminSetUserMFAPreference), are required",
            ));
        }
    };
    let Some(settings) = p.software_token_mfa_settings else {
        return Ok(json!({}));
    };
    let enrolled = mfa::is_enrolled(ctx.app, &tenant.pool.id, &sub)
        .await
        .map_err(mfa_error)?;
    if settings.enabled && !enrolled {
        return Err(ApiError::invalid_parameter(
            "User has not verified software token mfa",
        ));
    }
    if !settings.enabled && enrolled {
        if tenant.pool.settings.mfa == MfaMode::Required {
            return Err(ApiError::invalid_parameter(
                "MFA is required in this user pool and cannot be turned off",
            ));
        }
        mfa::reset(ctx.app, &tenant.pool.id, &sub, ctx.now)
            .await
            .map_err(mfa_error)?;
    }
    Ok(json!({}))
}
