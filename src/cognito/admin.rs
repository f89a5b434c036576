//! Administrative user operations (SigV4-signed): `AdminCreateUser`, `AdminGetUser`,
//! `AdminDeleteUser`, `AdminDisableUser`, `AdminEnableUser`, `AdminConfirmSignUp`,
//! `AdminSetUserPassword`, `AdminUpdateUserAttributes`, `AdminDeleteUserAttributes`,
//! `AdminResetUserPassword`, `AdminUserGlobalSignOut`, `ListUsers`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::self_service::sign_out_everywhere;
use super::wire::{self, Attribute, attribute_map};
use super::{ApiError, Ctx, input};
use crate::accounts::{self, AccountError, NewUserSpec, Writer};
use crate::clock::RandomExt;
use crate::ids::Secret;
use crate::model::UserStatus;
use crate::pools::PoolRuntime;
use crate::store::sql::users::User;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolUser {
    user_pool_id: String,
    username: String,
    #[serde(default)]
    user_attributes: Vec<Attribute>,
    #[serde(default)]
    temporary_password: Option<String>,
    #[serde(default)]
    message_action: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    permanent: bool,
    #[serde(default)]
    user_attribute_names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUsers {
    user_pool_id: String,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    pagination_token: Option<String>,
    #[serde(default)]
    filter: Option<String>,
}

pub async fn dispatch(ctx: &Ctx<'_>, op: &str, body: Value) -> Result<Value, ApiError> {
    if op == "ListUsers" {
        return list_users(ctx, input(body)?).await;
    }
    let u: PoolUser = input(body)?;
    let tenant = pool(ctx, &u.user_pool_id)?;
    if op == "AdminCreateUser" {
        // Boxed: the largest operation's state would size every other one here (an
        // AdminSetUserPassword waiting for its hash, say).
        return Box::pin(create_user(ctx, &tenant, u)).await;
    }
    let user = find(ctx, &tenant, &u.username).await?;
    let (app, pool, sub, now) = (ctx.app, &tenant.pool.id, user.sub.as_str(), ctx.now);
    match op {
        "AdminGetUser" => {
            let mut v = wire::user(&user, "UserAttributes");
            v["MFAOptions"] = json!([]);
            let linked = crate::federation::identities::of_user(app, pool, sub).await?;
            if let (false, Some(list)) = (linked.is_empty(), v["UserAttributes"].as_array_mut()) {
                let claim = crate::oidc::token::identities_claim(&tenant, &linked);
                list.push(json!({"Name": "identities", "Value": claim.to_string()}));
            }
            Ok(v)
        }
        "AdminDeleteUser" => {
            accounts::delete(app, pool, sub, now).await?;
            Ok(json!({}))
        }
        "AdminDisableUser" | "AdminEnableUser" => {
            let enable = op == "AdminEnableUser";
            accounts::set_enabled(app, pool, sub, enable, now).await?;
            if !enable {
                // As Cognito: disabling also revokes what the user holds.
                sign_out_everywhere(ctx, &tenant, sub).await?;
            }
            Ok(json!({}))
        }
        "AdminConfirmSignUp" => {
            accounts::confirm(app, pool, sub, now).await?;
            Ok(json!({}))
        }
        "AdminSetUserPassword" => {
            let pw = u.password.ok_or_else(|| {
                ApiError::invalid_parameter("Missing required parameter Password")
            })?;
            let temporary = !u.permanent;
            accounts::set_password(app, &tenant.pool, sub, &Secret::new(pw), temporary, now)
                .await?;
            Ok(json!({}))
        }
        "AdminUpdateUserAttributes" => {
            let attrs = attribute_map(&u.user_attributes)?
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect();
            accounts::update_attributes(app, &tenant.pool, sub, attrs, Writer::Admin, now).await?;
            Ok(json!({}))
        }
        "AdminDeleteUserAttributes" => {
            let changes = u
                .user_attribute_names
                .into_iter()
                .map(|k| (k, None))
                .collect();
            accounts::update_attributes(app, &tenant.pool, sub, changes, Writer::Admin, now)
                .await?;
            Ok(json!({}))
        }
        "AdminResetUserPassword" => {
            let email = user.email.clone().ok_or_else(|| {
                ApiError::invalid_parameter(
                    "Cannot reset password for the user as there is no registered/verified email",
                )
            })?;
            accounts::require_reset(app, pool, sub, now).await?;
            let sent = accounts::codes::send(
                app,
                &tenant.pool,
                accounts::codes::Purpose::Reset,
                sub,
                &email,
                crate::login::RESET_TTL,
                now,
            )
            .await;
            if let Err(e) = sent {
                tracing::warn!(pool = %pool, error = %e, "cannot mail a reset code");
            }
            Ok(json!({}))
        }
        "AdminUserGlobalSignOut" => {
            sign_out_everywhere(ctx, &tenant, sub).await?;
            Ok(json!({}))
        }
        _ => Err(ApiError::unknown_operation(format!(
            "{op} is not supported"
        ))),
    }
}

pub(super) fn pool(ctx: &Ctx<'_>, id: &str) -> Result<Arc<PoolRuntime>, ApiError> {
    ctx.app
        .pools
        .get(id)
        .ok_or_else(|| ApiError::resource_not_found(format!("User pool {id} does not exist.")))
}

pub(super) async fn find(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    username: &str,
) -> Result<User, ApiError> {
    accounts::find(ctx.app, &tenant.pool.id, username)
        .await
        .map_err(|e| match e {
            AccountError::NotFound(_) => ApiError::user_not_found("User does not exist."),
            other => other.into(),
        })
}

async fn create_user(ctx: &Ctx<'_>, tenant: &PoolRuntime, u: PoolUser) -> Result<Value, ApiError> {
    let mut attributes = attribute_map(&u.user_attributes)?;
    let email = attributes.remove("email");
    attributes.remove("email_verified");
    let suppress = match u.message_action.as_deref() {
        None => false,
        Some("SUPPRESS") => true,
        Some("RESEND") => return resend_invitation(ctx, tenant, u).await,
        Some(other) => {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid MessageAction {other}"
            )));
        }
    };
    let temporary = temporary_password(ctx, u.temporary_password);
    let spec = NewUserSpec {
        username: u.username,
        email: email.clone(),
        password: Secret::new(temporary.clone()),
        attributes,
        temporary_password: true,
        self_signup: false,
    };
    let user = accounts::create(ctx.app, &tenant.pool, spec, ctx.now).await?;
    if let (Some(to), false) = (&email, suppress) {
        invite(ctx, tenant, &user, to, &temporary).await;
    }
    Ok(json!({ "User": wire::user(&user, "Attributes") }))
}

/// The temporary password given, or a policy-proof one: letters, digits and a symbol.
fn temporary_password(ctx: &Ctx<'_>, given: Option<String>) -> String {
    given.unwrap_or_else(|| format!("{}Aa1!", ctx.app.random.token(12)))
}

/// `MessageAction: RESEND`: a user still waiting for their first sign-in gets a new temporary
/// password, mailed again (the old one stops working).
async fn resend_invitation(
    ctx: &Ctx<'_>,
    tenant: &PoolRuntime,
    u: PoolUser,
) -> Result<Value, ApiError> {
    let user = find(ctx, tenant, &u.username).await?;
    if user.status != UserStatus::ForceChangePassword {
        return Err(ApiError::unsupported_user_state(format!(
            "Resend not possible. {} status is not FORCE_CHANGE_PASSWORD",
            user.username
        )));
    }
    if user.email.is_none() && u.temporary_password.is_none() {
        // A new password nobody would learn: refuse before the old one stops working.
        return Err(ApiError::invalid_parameter(
            "The user has no email address to send the invitation to; give a TemporaryPassword",
        ));
    }
    let temporary = temporary_password(ctx, u.temporary_password);
    let user = accounts::set_password(
        ctx.app,
        &tenant.pool,
        user.sub.as_str(),
        &Secret::new(temporary.clone()),
        true,
        ctx.now,
    )
    .await?;
    if let Some(to) = &user.email {
        invite(ctx, tenant, &user, to, &temporary).await;
    }
    Ok(json!({ "User": wire::user(&user, "Attributes") }))
}

/// Mails the invitation with the temporary password; a failure is logged (the user exists).
async fn invite(ctx: &Ctx<'_>, tenant: &PoolRuntime, user: &User, to: &str, temporary: &str) {
    let intro = format!(
        "An account was created for you at {}. Your username is {} and your temporary password is below; you will choose a new one when you first sign in.",
        tenant.pool.name, user.username
    );
    let sent = ctx
        .app
        .mailer
        .send_code(
            to,
            "Your temporary password",
            &intro,
            temporary,
            &format!(
                "{} days",
                tenant
                    .pool
                    .settings
                    .password_policy
                    .temporary_password_validity_days
            ),
            ctx.now,
        )
        .await;
    if let Err(e) = sent {
        tracing::warn!(pool = %tenant.pool.id, error = %e, "cannot mail a temporary password");
    }
}

/// `ListUsers` with Cognito's filter grammar: `attribute = "value"` or `attribute ^= "prefix"`.
async fn list_users(ctx: &Ctx<'_>, l: ListUsers) -> Result<Value, ApiError> {
    let tenant = pool(ctx, &l.user_pool_id)?;
    let limit = match l.limit {
        None => 60,
        Some(n @ 1..=60) => n,
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "Limit must be between 1 and 60",
            ));
        }
    };
    let filter = l.filter.as_deref().map(parse_filter).transpose()?.flatten();
    let mut after = l.pagination_token.clone();
    let mut out: Vec<Value> = Vec::new();
    let mut next: Option<String> = None;
    // Keyset pages of the pool, filtered here. A call examines at most SCAN_PAGES pages; a
    // filter that matches little returns what it found with a token to go on from there.
    'pages: for scanned in 1..=SCAN_PAGES {
        let page = accounts::page(ctx.app, &tenant.pool.id, after.clone(), 200).await?;
        for user in &page.users {
            if filter.as_ref().is_none_or(|f| f.matches(user)) {
                if out.len() as i64 == limit {
                    next = previous_name(&out);
                    break 'pages;
                }
                out.push(wire::user(user, "Attributes"));
            }
        }
        match page.next {
            None => break,
            Some(position) if scanned == SCAN_PAGES => next = Some(position),
            Some(position) => after = Some(position),
        }
    }
    let mut v = json!({ "Users": out });
    if let Some(n) = next {
        v["PaginationToken"] = json!(n);
    }
    Ok(v)
}

/// Pages of 200 users one ListUsers call examines at most.
const SCAN_PAGES: usize = 50;

/// The pagination token after the last user listed: their username (the keyset position).
fn previous_name(out: &[Value]) -> Option<String> {
    out.last()
        .and_then(|u| u.get("Username"))
        .and_then(Value::as_str)
        .map(accounts::normalize_identifier)
}

struct Filter {
    attribute: String,
    value: String,
    prefix: bool,
}

const FILTERABLE: &[&str] = &[
    "username",
    "email",
    "phone_number",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "cognito:user_status",
    "status",
    "sub",
];

fn parse_filter(f: &str) -> Result<Option<Filter>, ApiError> {
    let f = f.trim();
    if f.is_empty() {
        return Ok(None);
    }
    let bad = || ApiError::invalid_parameter(format!("Invalid filter: {f}"));
    let (attribute, prefix, rest) = if let Some((a, r)) = f.split_once("^=") {
        (a, true, r)
    } else if let Some((a, r)) = f.split_once('=') {
        (a, false, r)
    } else {
        return Err(bad());
    };
    let attribute = attribute.trim().trim_matches('"').to_string();
    let rest = rest.trim();
    let value = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(bad)?
        .to_string();
    if !FILTERABLE.contains(&attribute.as_str()) {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid search attribute: {attribute}"
        )));
    }
    Ok(Some(Filter {
        attribute,
        value,
        prefix,
    }))
}

impl Filter {
    fn matches(&self, u: &User) -> bool {
        let have: Option<&str> = match self.attribute.as_str() {
            "username" => Some(&u.username),
            "email" => u.email.as_deref(),
            "phone_number" => u.phone_number.as_deref(),
            "sub" => Some(u.sub.as_str()),
            "cognito:user_status" => Some(u.status.as_str()),
            "status" => Some(if u.enabled { "Enabled" } else { "Disabled" }),
            other => u.attributes.get(other).map(String::as_str),
        };
        have.is_some_and(|h| {
            if self.prefix {
                h.starts_with(&self.value)
            } else {
                h == self.value
            }
        })
    }
}
