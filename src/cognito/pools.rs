//! User pools through the API (SigV4-signed): `CreateUserPool`, `DescribeUserPool`,
//! `UpdateUserPool`, `DeleteUserPool`, `ListUserPools`, `SetUserPoolMfaConfig`,
//! `GetUserPoolMfaConfig`. The same pools as `tessera pool`; the settings Cognito and Tessera
//! share are mapped both ways (password policy, MFA, admin-only sign-up, email as username).

use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::pool;
use super::wire::epoch;
use super::{ApiError, Ctx, input};
use crate::model::{MfaMode, PoolSettings, SignInIdentifier};
use crate::pools::{self, PoolError};
use crate::store::sql::pools::Pool;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PasswordPolicyIn {
    minimum_length: Option<usize>,
    require_uppercase: Option<bool>,
    require_lowercase: Option<bool>,
    require_numbers: Option<bool>,
    require_symbols: Option<bool>,
    temporary_password_validity_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PoliciesIn {
    password_policy: Option<PasswordPolicyIn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct AdminCreateUserConfigIn {
    allow_admin_create_user_only: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PoolIn {
    user_pool_id: Option<String>,
    pool_name: Option<String>,
    policies: Option<PoliciesIn>,
    mfa_configuration: Option<String>,
    username_attributes: Option<Vec<String>>,
    admin_create_user_config: Option<AdminCreateUserConfigIn>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn pool_error(e: PoolError) -> ApiError {
    match e {
        PoolError::NotFound(id) => {
            ApiError::resource_not_found(format!("User pool {id} does not exist."))
        }
        PoolError::InvalidName(m) => ApiError::invalid_parameter(format!("Invalid PoolName: {m}")),
        PoolError::NameTaken(n) => ApiError::invalid_parameter(format!(
            "A user pool named {n} already exists (pool names are unique in Tessera)"
        )),
        PoolError::InvalidSettings(m) => ApiError::invalid_parameter(m),
        PoolError::Store(s) => s.into(),
        PoolError::Keys(k) => ApiError::internal(k),
    }
}

fn mfa_name(m: MfaMode) -> &'static str {
    match m {
        MfaMode::Off => "OFF",
        MfaMode::Optional => "OPTIONAL",
        MfaMode::Required => "ON",
    }
}

fn mfa_mode(s: &str) -> Result<MfaMode, ApiError> {
    match s {
        "OFF" => Ok(MfaMode::Off),
        "OPTIONAL" => Ok(MfaMode::Optional),
        "ON" => Ok(MfaMode::Required),
        other => Err(ApiError::invalid_parameter(format!(
            "MfaConfiguration must be OFF, ON or OPTIONAL, not {other}"
        ))),
    }
}

/// `UserPoolType`.
fn pool_type(p: &Pool) -> Value {
    let s = &p.settings;
    let pp = &s.password_policy;
    let mut v = json!({
        "Id": p.id.as_str(),
        "Name": p.name,
        "Arn": format!("arn:aws:cognito-idp:{}:000000000000:userpool/{}", p.id.as_str().split('_').next().unwrap_or("local"), p.id),
        "CreationDate": epoch(p.created_at),
        "LastModifiedDate": epoch(p.updated_at),
        "MfaConfiguration": mfa_name(s.mfa),
        "Policies": { "PasswordPolicy": {
            "MinimumLength": pp.min_length,
            "RequireUppercase": pp.require_uppercase,
            "RequireLowercase": pp.require_lowercase,
            "RequireNumbers": pp.require_digit,
            "RequireSymbols": pp.require_symbol,
            "TemporaryPasswordValidityDays": pp.temporary_password_validity_days,
        }},
        "AdminCreateUserConfig": { "AllowAdminCreateUserOnly": s.admin_only_signup },
    });
    if s.sign_in_identifier == SignInIdentifier::Email {
        v["UsernameAttributes"] = json!(["email"]);
    } else if s.sign_in_identifier == SignInIdentifier::UsernameOrEmail {
        v["AliasAttributes"] = json!(["email"]);
    }
    v
}

/// Applies what the input sets to `s`.
fn apply(s: &mut PoolSettings, i: &PoolIn) -> Result<(), ApiError> {
    if let Some(pp) = i.policies.as_ref().and_then(|p| p.password_policy.as_ref()) {
        let p = &mut s.password_policy;
        p.min_length = pp.minimum_length.unwrap_or(p.min_length);
        p.require_uppercase = pp.require_uppercase.unwrap_or(p.require_uppercase);
        p.require_lowercase = pp.require_lowercase.unwrap_or(p.require_lowercase);
        p.require_digit = pp.require_numbers.unwrap_or(p.require_digit);
        p.temporary_password_validity_days = pp
            .temporary_password_validity_days
            .unwrap_or(p.temporary_password_validity_days);
        p.require_symbol = pp.require_symbols.unwrap_or(p.require_symbol);
    }
    if let Some(m) = &i.mfa_configuration {
        s.mfa = mfa_mode(m)?;
    }
    if let Some(a) = i
        .admin_create_user_config
        .as_ref()
        .and_then(|c| c.allow_admin_create_user_only)
    {
        s.admin_only_signup = a;
    }
    Ok(())
}

pub async fn dispatch(ctx: &Ctx<'_>, op: &str, body: Value) -> Result<Value, ApiError> {
    let i: PoolIn = input(body)?;
    let app = ctx.app;
    if op == "CreateUserPool" {
        let name = i
            .pool_name
            .as_deref()
            .ok_or_else(|| ApiError::invalid_parameter("Missing required parameter PoolName"))?;
        let mut settings = PoolSettings::default();
        apply(&mut settings, &i)?;
        match i.username_attributes.as_deref() {
            None | Some([]) => {}
            Some([one]) if one == "email" => settings.sign_in_identifier = SignInIdentifier::Email,
            Some(other) => {
                return Err(ApiError::invalid_parameter(format!(
                    "UsernameAttributes {other:?} is not supported (only [\"email\"])"
                )));
            }
        }
        settings.check().map_err(ApiError::invalid_parameter)?;
        let made = pools::create(app, name, ctx.now)
            .await
            .map_err(pool_error)?;
        let made = pools::update_settings(app, &made.id, settings, ctx.now)
            .await
            .map_err(pool_error)?;
        return Ok(json!({ "UserPool": pool_type(&made) }));
    }
    if op == "ListUserPools" {
        let max = match i.max_results {
            Some(n @ 1..=60) => n as usize,
            _ => {
                return Err(ApiError::invalid_parameter(
                    "MaxResults must be between 1 and 60",
                ));
            }
        };
        let mut all = pools::list(app).await.map_err(pool_error)?;
        all.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        let after = i.next_token.unwrap_or_default();
        let rest: Vec<&Pool> = all
            .iter()
            .filter(|p| p.id.as_str() > after.as_str())
            .collect();
        let page: Vec<Value> = rest
            .iter()
            .take(max)
            .map(|p| json!({"Id": p.id.as_str(), "Name": p.name, "CreationDate": epoch(p.created_at), "LastModifiedDate": epoch(p.updated_at)}))
            .collect();
        let mut out = json!({ "UserPools": page });
        if rest.len() > max {
            out["NextToken"] = json!(rest[max - 1].id.as_str());
        }
        return Ok(out);
    }
    let id = i
        .user_pool_id
        .as_deref()
        .ok_or_else(|| ApiError::invalid_parameter("Missing required parameter UserPoolId"))?;
    let tenant = pool(ctx, id)?;
    let current = tenant.pool.clone();
    match op {
        "DescribeUserPool" => Ok(json!({ "UserPool": pool_type(&current) })),
        "UpdateUserPool" | "SetUserPoolMfaConfig" => {
            let mut settings = current.settings.clone();
            apply(&mut settings, &i)?;
            let updated = pools::update_settings(app, &current.id, settings, ctx.now)
                .await
                .map_err(pool_error)?;
            if op == "UpdateUserPool" {
                Ok(json!({}))
            } else {
                Ok(mfa_config(&updated))
            }
        }
        "GetUserPoolMfaConfig" => Ok(mfa_config(&current)),
        "DeleteUserPool" => {
            pools::delete(app, &current.id).await.map_err(pool_error)?;
            Ok(json!({}))
        }
        _ => Err(ApiError::unknown_operation(format!(
            "{op} is not supported"
        ))),
    }
}

fn mfa_config(p: &Pool) -> Value {
    json!({
        "MfaConfiguration": mfa_name(p.settings.mfa),
        "SoftwareTokenMfaConfiguration": { "Enabled": p.settings.mfa != MfaMode::Off },
    })
}
