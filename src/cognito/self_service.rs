//! What a user does for themselves through the API: `SignUp`, `ConfirmSignUp`,
//! `ResendConfirmationCode`, `ForgotPassword`, `ConfirmForgotPassword` (by client id), and
//! `GetUser`, `ChangePassword`, `UpdateUserAttributes`, `GetUserAttributeVerificationCode`,
//! `VerifyUserAttribute`, `DeleteUserAttributes`, `DeleteUser`, `GlobalSignOut`,
//! `RevokeToken` (by access or refresh token).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::signin::{client_of, within_rate};
use super::wire::{self, Attribute, attribute_map, check_secret_hash};
use super::{ApiError, Ctx};
use crate::accounts::codes::{self, Purpose};
use crate::accounts::email_change::{self, EmailChangeError};
use crate::accounts::signin::{Checked, check_current_password};
use crate::accounts::{self, AccountError, NewUserSpec};
use crate::crypto::sha256_hex;
use crate::ids::Secret;
use crate::login::recovery::RESET_TTL;
use crate::login::signup::CONFIRM_TTL;
use crate::model::UserStatus;
use crate::model::pool::RateCategory;
use crate::oidc::introspect::{active_access_token, signed_out};
use crate::pools::PoolRuntime;
use crate::store::sql::users::User;
use crate::store::sql::{refresh_tokens, users};

/// Codes mailed per user (confirmation resends, password resets) in [`MAIL_WINDOW`].
const MAX_MAILS: i64 = 5;
const MAIL_WINDOW: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignUp {
    client_id: String,
    username: String,
    password: String,
    #[serde(default)]
    secret_hash: Option<String>,
    #[serde(default)]
    user_attributes: Vec<Attribute>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ByUsername {
    client_id: String,
    username: String,
    #[serde(default)]
    secret_hash: Option<String>,
    #[serde(default)]
    confirmation_code: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WithToken {
    access_token: String,
    #[serde(default)]
    previous_password: Option<String>,
    #[serde(default)]
    proposed_password: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAttributes {
    access_token: String,
    user_attributes: Vec<Attribute>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyAttribute {
    access_token: String,
    attribute_name: String,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteAttributes {
    access_token: String,
    user_attribute_names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeToken {
    token: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

fn delivery(email: &str) -> Value {
    json!({
        "Destination": crate::mail::masked(email),
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    })
}

/// Counts one mail for `what` of `sub`; over [`MAX_MAILS`] in the window is refused (the
/// count is reserved before the mail is sent).
async fn mail_budget(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    what: &str,
    sub: &str,
) -> Result<(), ApiError> {
    let key = format!("{}:api-mail:{what}:{sub}", tenant.pool.id);
    if ctx.app.kv.incr(&key, MAIL_WINDOW).await? > MAX_MAILS {
        return Err(ApiError::limit_exceeded(
            "Attempt limit exceeded, please try after some time.",
        ));
    }
    Ok(())
}

async fn send_code(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    p: Purpose,
    user: &User,
    email: &str,
    ttl: Duration,
) {
    if let Err(e) = codes::send(
        ctx.app,
        &tenant.pool,
        p,
        user.sub.as_str(),
        email,
        ttl,
        ctx.now,
    )
    .await
    {
        tracing::warn!(pool = %tenant.pool.id, error = %e, "cannot send a code");
    }
}

pub async fn sign_up(ctx: &Ctx<'_>, s: SignUp) -> Result<Value, ApiError> {
    let (tenant, client) = client_of(ctx, &s.client_id)?;
    check_secret_hash(ctx.app, &client, &s.username, s.secret_hash.as_deref())?;
    if tenant.pool.settings.admin_only_signup {
        return Err(ApiError::not_authorized(
            "SignUp is not permitted for this user pool",
        ));
    }
    let mut attributes = attribute_map(&s.user_attributes)?;
    if let Some(name) = attributes.keys().find(|a| !client.settings.may_write(a)) {
        return Err(ApiError::not_authorized(format!(
            "A client attempted to write unauthorized attribute {name}"
        )));
    }
    within_rate(ctx, &tenant, RateCategory::UserCreation).await?;

    let email = attributes.remove("email");
    let spec = NewUserSpec {
        username: s.username,
        email: email.clone(),
        password: Secret::new(s.password),
        attributes,
        temporary_password: false,
        self_signup: true,
    };
    let user = accounts::create(ctx.app, &tenant.pool, spec, ctx.now).await?;
    let mut out = json!({ "UserConfirmed": false, "UserSub": user.sub.to_string() });
    if let Some(e) = &email {
        send_code(ctx, &tenant, Purpose::Confirm, &user, e, CONFIRM_TTL).await;
        out["CodeDeliveryDetails"] = delivery(e);
    }
    Ok(out)
}

pub async fn confirm_sign_up(ctx: &Ctx<'_>, c: ByUsername) -> Result<Value, ApiError> {
    let (tenant, client) = client_of(ctx, &c.client_id)?;
    within_rate(ctx, &tenant, RateCategory::UserCreation).await?;
    check_secret_hash(ctx.app, &client, &c.username, c.secret_hash.as_deref())?;
    let code = c.confirmation_code.ok_or_else(|| {
        ApiError::invalid_parameter("Missing required parameter ConfirmationCode")
    })?;
    // As Cognito with PreventUserExistenceErrors: an unknown or already confirmed user gets
    // the answer a wrong code gets.
    let mismatch =
        || ApiError::code_mismatch("Invalid verification code provided, please try again.");
    let user = match accounts::find(ctx.app, &tenant.pool.id, &c.username).await {
        Ok(u) if u.status == UserStatus::Unconfirmed => u,
        Ok(_) | Err(AccountError::NotFound(_)) => return Err(mismatch()),
        Err(e) => return Err(e.into()),
    };
    let (pool, sub) = (&tenant.pool.id, user.sub.as_str());
    match accounts::confirm_with_code(ctx.app, pool, sub, &code, CONFIRM_TTL, ctx.now).await? {
        Some(_) => Ok(json!({})),
        None => Err(mismatch()),
    }
}

pub async fn resend_code(ctx: &Ctx<'_>, c: ByUsername) -> Result<Value, ApiError> {
    let (tenant, client) = client_of(ctx, &c.client_id)?;
    within_rate(ctx, &tenant, RateCategory::UserCreation).await?;
    check_secret_hash(ctx.app, &client, &c.username, c.secret_hash.as_deref())?;
    // An unknown or already confirmed user gets the answer a waiting one gets, and nothing is
    // sent (no user enumeration; Cognito still tells these apart).
    let user = match accounts::find(ctx.app, &tenant.pool.id, &c.username).await {
        Ok(u) => u,
        Err(AccountError::NotFound(_)) => return Ok(decoy(ctx, &c.username)),
        Err(e) => return Err(e.into()),
    };
    let email = match (&user.email, user.status) {
        (Some(e), UserStatus::Unconfirmed) => e.clone(),
        _ => return Ok(decoy(ctx, &c.username)),
    };
    mail_budget(ctx, &tenant, "confirm", user.sub.as_str()).await?;
    send_code(ctx, &tenant, Purpose::Confirm, &user, &email, CONFIRM_TTL).await;
    Ok(json!({ "CodeDeliveryDetails": delivery(&email) }))
}

/// The answer for a user no code is sent to, indistinguishable from a real one: a name that
/// is an address is masked as its own would be; otherwise a made-up masked address that is
/// the same for every call with that name.
fn decoy(ctx: &Ctx<'_>, username: &str) -> Value {
    if username.contains('@') {
        return json!({ "CodeDeliveryDetails": delivery(username) });
    }
    const DOMAINS: [&str; 6] = [
        "gmail.com",
        "outlook.com",
        "yahoo.com",
        "icloud.com",
        "hotmail.com",
        "proton.me",
    ];
    let mac = ctx
        .app
        .master_key
        .mac("api-decoy-destination", username.as_bytes());
    let pick = mac
        .bytes()
        .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize));
    let letter = char::from(b'a' + (pick % 26) as u8);
    let domain = DOMAINS[(pick / 26) % DOMAINS.len()];
    json!({ "CodeDeliveryDetails": delivery(&format!("{letter}@{domain}")) })
}

pub async fn forgot_password(ctx: &Ctx<'_>, c: ByUsername) -> Result<Value, ApiError> {
    let (tenant, client) = client_of(ctx, &c.client_id)?;
    within_rate(ctx, &tenant, RateCategory::AccountRecovery).await?;
    check_secret_hash(ctx.app, &client, &c.username, c.secret_hash.as_deref())?;
    // As Cognito with PreventUserExistenceErrors (its default), and further: an unknown user,
    // and one without a verified address, get the answer a known one gets, and nothing is sent.
    let user = match accounts::find(ctx.app, &tenant.pool.id, &c.username).await {
        Ok(u) => u,
        Err(AccountError::NotFound(_)) => return Ok(decoy(ctx, &c.username)),
        Err(e) => return Err(e.into()),
    };
    let email = match (
        &user.email,
        user.email_verified || user.status == UserStatus::ResetRequired,
    ) {
        (Some(e), true) if user.enabled => e.clone(),
        _ => return Ok(decoy(ctx, &c.username)),
    };
    mail_budget(ctx, &tenant, "reset", user.sub.as_str()).await?;
    send_code(ctx, &tenant, Purpose::Reset, &user, &email, RESET_TTL).await;
    Ok(json!({ "CodeDeliveryDetails": delivery(&email) }))
}

pub async fn confirm_forgot_password(ctx: &Ctx<'_>, c: ByUsername) -> Result<Value, ApiError> {
    let (tenant, client) = client_of(ctx, &c.client_id)?;
    within_rate(ctx, &tenant, RateCategory::AccountRecovery).await?;
    check_secret_hash(ctx.app, &client, &c.username, c.secret_hash.as_deref())?;
    let (Some(code), Some(password)) = (c.confirmation_code, c.password) else {
        return Err(ApiError::invalid_parameter(
            "ConfirmationCode and Password are required",
        ));
    };
    let password = Secret::new(password);
    crate::accounts::policy::check(&tenant.pool.settings.password_policy, &password)
        .map_err(AccountError::Policy)?;
    let mismatch =
        || ApiError::code_mismatch("Invalid verification code provided, please try again.");
    let user = match accounts::find(ctx.app, &tenant.pool.id, &c.username).await {
        Ok(u) => u,
        Err(AccountError::NotFound(_)) => return Err(mismatch()),
        Err(e) => return Err(e.into()),
    };
    let (pool, now) = (&tenant.pool, ctx.now);
    match accounts::reset_password(ctx.app, pool, user, &code, &password, RESET_TTL, now).await? {
        Some(_) => Ok(json!({})),
        None => Err(mismatch()),
    }
}

/// The pool and live user of an access token with Cognito's API scope.
pub(crate) async fn token_user(
    ctx: &Ctx<'_>,
    token: &str,
) -> Result<(Arc<PoolRuntime>, Arc<User>, Map<String, Value>), ApiError> {
    let invalid = || ApiError::not_authorized("Invalid Access Token");
    let payload = token.split('.').nth(1).ok_or_else(invalid)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload).map_err(|_| invalid())?;
    let pool = claims
        .get("iss")
        .and_then(Value::as_str)
        .and_then(|iss| iss.rsplit('/').next())
        .ok_or_else(invalid)?;
    let tenant = ctx.app.pools.get(pool).ok_or_else(invalid)?;
    let claims = active_access_token(ctx.app, &tenant, token, ctx.now)
        .await
        .map_err(|e| match e.code {
            crate::oidc::error::ErrorCode::ServerError => ApiError::from(e),
            _ => ApiError::not_authorized("Access Token has been revoked"),
        })?;
    let scoped = claims
        .get("scope")
        .and_then(Value::as_str)
        .is_some_and(|s| s.split(' ').any(|x| x == "aws.cognito.signin.user.admin"));
    if !scoped {
        return Err(ApiError::not_authorized(
            "Access Token does not have required scopes",
        ));
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = crate::oidc::introspect::enabled_user(ctx.app, &tenant, sub)
        .await?
        .ok_or_else(|| ApiError::not_authorized("User is disabled."))?;
    if signed_out(&user, &claims) {
        return Err(ApiError::not_authorized("Access Token has been revoked"));
    }
    Ok((tenant, user, claims))
}

pub async fn get_user(ctx: &Ctx<'_>, w: WithToken) -> Result<Value, ApiError> {
    let (_, user, _) = token_user(ctx, &w.access_token).await?;
    Ok(json!({
        "Username": user.username,
        "UserAttributes": wire::attributes(&user),
    }))
}

pub async fn change_password(ctx: &Ctx<'_>, w: WithToken) -> Result<Value, ApiError> {
    let (tenant, user, _) = token_user(ctx, &w.access_token).await?;
    let (Some(previous), Some(proposed)) = (w.previous_password, w.proposed_password) else {
        return Err(ApiError::invalid_parameter(
            "PreviousPassword and ProposedPassword are required",
        ));
    };
    let proposed = Secret::new(proposed);
    crate::accounts::policy::check(&tenant.pool.settings.password_policy, &proposed)
        .map_err(AccountError::Policy)?;
    match check_current_password(ctx.app, &tenant.pool.id, &user, &previous, ctx.ip, ctx.now)
        .await?
    {
        Checked::Ok(_) => {}
        Checked::Failed => return Err(ApiError::not_authorized("Incorrect username or password.")),
        Checked::Locked => {
            return Err(ApiError::limit_exceeded(
                "Attempt limit exceeded, please try after some time.",
            ));
        }
    }
    accounts::set_password(
        ctx.app,
        &tenant.pool,
        user.sub.as_str(),
        &proposed,
        false,
        ctx.now,
    )
    .await?;
    Ok(json!({}))
}

/// Ends everything the user holds: refresh tokens, SSO sessions, and access tokens issued
/// until now (refused at GetUser, userinfo and introspection).
pub(crate) async fn sign_out_everywhere(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    sub: &str,
) -> Result<(), ApiError> {
    let (app, pool, sub, now) = (
        ctx.app.for_background(),
        tenant.pool.id.clone(),
        sub.to_string(),
        ctx.now,
    );
    // Tokens revoked and sessions ended, or neither: runs to its end if the request is dropped.
    let work = async move {
        let (p, s) = (pool.clone(), sub.clone());
        app.sql
            .transaction(move |c| {
                refresh_tokens::revoke_user(c, &p, &s, now)?;
                users::revoke_tokens(c, &p, &s, now)
            })
            .await?;
        app.pools.users_changed(&pool);
        crate::sessions::end_all(&app, &pool, &sub, now).await?;
        Ok(())
    };
    ctx.app
        .background
        .finish("signing out everywhere", work)
        .await
}

pub async fn global_sign_out(ctx: &Ctx<'_>, w: WithToken) -> Result<Value, ApiError> {
    let (tenant, user, _) = token_user(ctx, &w.access_token).await?;
    sign_out_everywhere(ctx, &tenant, user.sub.as_str()).await?;
    Ok(json!({}))
}

pub async fn revoke_token(ctx: &Ctx<'_>, r: RevokeToken) -> Result<Value, ApiError> {
    let (tenant, client) = client_of(ctx, &r.client_id)?;
    if !client.is_public() {
        let ok = r
            .client_secret
            .as_deref()
            .is_some_and(|s| crate::clients::secret_matches(&client, &Secret::new(s)));
        if !ok {
            return Err(ApiError::not_authorized(
                "Client secret is missing or wrong.",
            ));
        }
    }
    let (pool, hash) = (tenant.pool.id.clone(), sha256_hex(r.token.as_bytes()));
    let row = ctx
        .app
        .sql
        .run(move |c| refresh_tokens::find(c, &pool, &hash))
        .await?;
    match row {
        Some(t) if t.client_id == client.client_id.as_str() => {
            crate::oidc::introspect::revoke_family(ctx.app, &tenant, &t.family_id, ctx.now).await?;
            Ok(json!({}))
        }
        Some(_) => Err(ApiError::unsupported_token_type_or_client()),
        None => Ok(json!({})),
    }
}

impl ApiError {
    fn unsupported_token_type_or_client() -> Self {
        Self::not_authorized("The token was not issued to this client.")
    }
}

pub async fn delete_attributes(ctx: &Ctx<'_>, d: DeleteAttributes) -> Result<Value, ApiError> {
    let (tenant, user, _) = token_user(ctx, &d.access_token).await?;
    let changes = d
        .user_attribute_names
        .into_iter()
        .map(|k| (k, None))
        .collect();
    let by = accounts::Writer::User { ip: ctx.ip };
    accounts::update_attributes(
        ctx.app,
        &tenant.pool,
        user.sub.as_str(),
        changes,
        by,
        ctx.now,
    )
    .await?;
    Ok(json!({}))
}

/// The user deletes their own account.
pub async fn delete_user(ctx: &Ctx<'_>, w: WithToken) -> Result<Value, ApiError> {
    let (tenant, user, _) = token_user(ctx, &w.access_token).await?;
    accounts::delete(ctx.app, &tenant.pool.id, user.sub.as_str(), ctx.now).await?;
    Ok(json!({}))
}

fn email_change_error(e: EmailChangeError) -> ApiError {
    match e {
        EmailChangeError::Invalid(a) | EmailChangeError::Account(a) => a.into(),
        EmailChangeError::Same => ApiError::invalid_parameter(e.to_string()),
        EmailChangeError::TooMany => ApiError::limit_exceeded(e.to_string()),
        EmailChangeError::Mail => ApiError::code_delivery_failure(e.to_string()),
        EmailChangeError::NothingPending => ApiError::expired_code(e.to_string()),
        EmailChangeError::WrongCode => {
            ApiError::code_mismatch("Invalid verification code provided, please try again.")
        }
        EmailChangeError::Taken => {
            ApiError::alias_exists("An account with the given email already exists.")
        }
        EmailChangeError::Store(s) => s.into(),
    }
}

/// Only the email can be verified here (phone numbers are not verified by Tessera).
fn email_only(name: &str) -> Result<(), ApiError> {
    if name == "email" {
        Ok(())
    } else {
        Err(ApiError::invalid_parameter(format!(
            "Only email can be verified, not {name}"
        )))
    }
}

/// Changes the user's attributes; a new email waits for its code (the old one stays
/// until then), as on the account page.
pub async fn update_attributes(ctx: &Ctx<'_>, u: UpdateAttributes) -> Result<Value, ApiError> {
    let (tenant, user, claims) = token_user(ctx, &u.access_token).await?;
    let mut changes = attribute_map(&u.user_attributes)?;
    let client = claims
        .get("client_id")
        .and_then(Value::as_str)
        .and_then(|c| tenant.clients.get(c));
    if let Some(name) = changes
        .keys()
        .find(|a| client.is_some_and(|c| !c.settings.may_write(a)))
    {
        return Err(ApiError::not_authorized(format!(
            "A client attempted to write unauthorized attribute {name}"
        )));
    }
    changes.remove("email_verified");
    let email = changes.remove("email");
    if !changes.is_empty() {
        let by = accounts::Writer::User { ip: ctx.ip };
        let set = changes.into_iter().map(|(k, v)| (k, Some(v))).collect();
        accounts::update_attributes(ctx.app, &tenant.pool, user.sub.as_str(), set, by, ctx.now)
            .await?;
    }
    let Some(email) = email else {
        return Ok(json!({}));
    };
    email_change::request(ctx.app, &tenant.pool, &user, &email, ctx.now)
        .await
        .map_err(email_change_error)?;
    Ok(json!({ "CodeDeliveryDetailsList": [delivery(&email)] }))
}

/// Sends a code for the pending new email, or for the current one while unverified.
pub async fn attribute_code(ctx: &Ctx<'_>, v: VerifyAttribute) -> Result<Value, ApiError> {
    email_only(&v.attribute_name)?;
    let (tenant, user, _) = token_user(ctx, &v.access_token).await?;
    let pending = email_change::pending(ctx.app, &tenant.pool.id, user.sub.as_str()).await?;
    let target = pending
        .or_else(|| user.email.clone().filter(|_| !user.email_verified))
        .ok_or_else(|| ApiError::invalid_parameter("The email is already verified."))?;
    email_change::request(ctx.app, &tenant.pool, &user, &target, ctx.now)
        .await
        .map_err(email_change_error)?;
    Ok(json!({ "CodeDeliveryDetails": delivery(&target) }))
}

pub async fn verify_attribute(ctx: &Ctx<'_>, v: VerifyAttribute) -> Result<Value, ApiError> {
    email_only(&v.attribute_name)?;
    let (tenant, user, _) = token_user(ctx, &v.access_token).await?;
    let code = v
        .code
        .ok_or_else(|| ApiError::invalid_parameter("Missing required parameter Code"))?;
    email_change::confirm(
        ctx.app,
        &tenant.pool.id,
        user.sub.as_str(),
        &code,
        ctx.ip,
        ctx.now,
    )
    .await
    .map_err(email_change_error)?;
    Ok(json!({}))
}
