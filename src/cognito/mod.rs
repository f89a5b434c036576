//! The Cognito user-pool API (AWS JSON 1.1, `X-Amz-Target:
//! AWSCognitoIdentityProviderService.<Operation>`): reads the operation, checks the SigV4
//! signature of administrative ones, and calls the same services as the hosted pages and the
//! CLI. The Cognito Identity API (identity pools, `AWSCognitoIdentityService.*`) shares this
//! edge (`identity_api`). The HTTP edge is `http::cognito`; this module knows no actix type.

pub mod access_keys;
mod admin;
mod clients;
mod error;
mod groups;
mod identity_api;
mod idp;
mod mfa;
mod pools;
mod self_service;
mod signin;
mod srp_auth;
mod wire;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use error::ApiError;

use crate::crypto::sigv4;
use crate::state::AppState;

/// The service name in `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

/// One API request as it arrived.
pub struct Request<'a> {
    /// `X-Amz-Target`.
    pub target: Option<&'a str>,
    /// The pieces a SigV4 signature covers (method, path, query, headers, body).
    pub raw: sigv4::Request<'a>,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The caller's address (throttling, audit).
    pub ip: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// What an operation runs with.
pub(crate) struct Ctx<'a> {
    pub app: &'a AppState,
    pub ip: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Operations any caller may make without signing (as in Cognito): the user-facing ones,
/// authorized by a client id, a code or an access token.
const UNSIGNED: &[&str] = &[
    "SignUp",
    "ConfirmSignUp",
    "ResendConfirmationCode",
    "InitiateAuth",
    "RespondToAuthChallenge",
    "GetUser",
    "GlobalSignOut",
    "RevokeToken",
    "ChangePassword",
    "ForgotPassword",
    "ConfirmForgotPassword",
    "DeleteUserAttributes",
    "DeleteUser",
    "AssociateSoftwareToken",
    "VerifySoftwareToken",
    "SetUserMFAPreference",
    "UpdateUserAttributes",
    "GetUserAttributeVerificationCode",
    "VerifyUserAttribute",
];

/// Handles one call; the answer is the operation's output object.
pub async fn handle(app: &AppState, req: Request<'_>) -> Result<Value, ApiError> {
    if let Some(op) = req
        .target
        .and_then(|t| t.strip_prefix(identity_api::TARGET_PREFIX))
        .filter(|op| !op.is_empty())
    {
        return Box::pin(identity_api::handle(app, &req, op)).await;
    }
    let operation = req
        .target
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .filter(|op| !op.is_empty())
        .ok_or_else(|| {
            ApiError::unknown_operation(format!("X-Amz-Target must be {TARGET_PREFIX}<Operation>"))
        })?;
    let known = [
        UNSIGNED,
        ADMIN_OPS,
        POOL_OPS,
        CLIENT_OPS,
        GROUP_OPS,
        idp::OPS,
    ];
    if !known.iter().any(|list| list.contains(&operation)) {
        return Err(ApiError::unknown_operation(format!(
            "{operation} is not an operation of this service"
        )));
    }
    let body: Value = serde_json::from_slice(req.raw.body)
        .map_err(|_| ApiError::serialization("The request body is not valid JSON."))?;
    if !body.is_object() {
        return Err(ApiError::serialization(
            "The request body must be a JSON object.",
        ));
    }
    if !UNSIGNED.contains(&operation) {
        access_keys::authenticate(
            app,
            access_keys::SERVICE,
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
    dispatch(&ctx, operation, body).await
}

/// The signed user operations `dispatch` answers itself or through `admin` (the unsigned ones
/// are [`UNSIGNED`]; pool, client and group operations are listed below).
const ADMIN_OPS: &[&str] = &[
    "AdminSetUserMFAPreference",
    "AdminInitiateAuth",
    "AdminRespondToAuthChallenge",
    "AdminDeleteUserAttributes",
    "AdminResetUserPassword",
    "AdminCreateUser",
    "AdminGetUser",
    "AdminDeleteUser",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminConfirmSignUp",
    "AdminSetUserPassword",
    "AdminUpdateUserAttributes",
    "AdminUserGlobalSignOut",
    "ListUsers",
];

/// The operations `pools` answers.
const POOL_OPS: &[&str] = &[
    "CreateUserPool",
    "DescribeUserPool",
    "UpdateUserPool",
    "DeleteUserPool",
    "ListUserPools",
    "SetUserPoolMfaConfig",
    "GetUserPoolMfaConfig",
];

/// The operations `clients` answers.
const CLIENT_OPS: &[&str] = &[
    "CreateUserPoolClient",
    "DescribeUserPoolClient",
    "UpdateUserPoolClient",
    "DeleteUserPoolClient",
    "ListUserPoolClients",
];

/// The operations `groups` answers.
const GROUP_OPS: &[&str] = &[
    "CreateGroup",
    "GetGroup",
    "UpdateGroup",
    "DeleteGroup",
    "ListGroups",
    "AdminAddUserToGroup",
    "AdminRemoveUserFromGroup",
    "AdminListGroupsForUser",
    "ListUsersInGroup",
];

/// Each operation's future is boxed: a call holds its own operation's state, not the largest
/// of them all for as long as it waits, e.g. for its password check (the sub-dispatchers box
/// their largest in turn: `admin::dispatch` its AdminCreateUser).
async fn dispatch(ctx: &Ctx<'_>, op: &str, body: Value) -> Result<Value, ApiError> {
    match op {
        "SignUp" => Box::pin(self_service::sign_up(ctx, input(body)?)).await,
        "ConfirmSignUp" => Box::pin(self_service::confirm_sign_up(ctx, input(body)?)).await,
        "ResendConfirmationCode" => Box::pin(self_service::resend_code(ctx, input(body)?)).await,
        "ForgotPassword" => Box::pin(self_service::forgot_password(ctx, input(body)?)).await,
        "ConfirmForgotPassword" => {
            Box::pin(self_service::confirm_forgot_password(ctx, input(body)?)).await
        }
        "GetUser" => Box::pin(self_service::get_user(ctx, input(body)?)).await,
        "ChangePassword" => Box::pin(self_service::change_password(ctx, input(body)?)).await,
        "GlobalSignOut" => Box::pin(self_service::global_sign_out(ctx, input(body)?)).await,
        "RevokeToken" => Box::pin(self_service::revoke_token(ctx, input(body)?)).await,
        "DeleteUserAttributes" => {
            Box::pin(self_service::delete_attributes(ctx, input(body)?)).await
        }
        "DeleteUser" => Box::pin(self_service::delete_user(ctx, input(body)?)).await,
        "UpdateUserAttributes" => {
            Box::pin(self_service::update_attributes(ctx, input(body)?)).await
        }
        "GetUserAttributeVerificationCode" => {
            Box::pin(self_service::attribute_code(ctx, input(body)?)).await
        }
        "VerifyUserAttribute" => Box::pin(self_service::verify_attribute(ctx, input(body)?)).await,
        "AssociateSoftwareToken" => Box::pin(mfa::associate(ctx, input(body)?)).await,
        "VerifySoftwareToken" => Box::pin(mfa::verify(ctx, input(body)?)).await,
        "SetUserMFAPreference" => Box::pin(mfa::preference(ctx, input(body)?, false)).await,
        "AdminSetUserMFAPreference" => Box::pin(mfa::preference(ctx, input(body)?, true)).await,
        "InitiateAuth" => Box::pin(signin::initiate_auth(ctx, input(body)?)).await,
        "RespondToAuthChallenge" => Box::pin(signin::respond_to_challenge(ctx, input(body)?)).await,
        "AdminInitiateAuth" => Box::pin(signin::admin_initiate_auth(ctx, input(body)?)).await,
        "AdminRespondToAuthChallenge" => {
            Box::pin(signin::admin_respond_to_challenge(ctx, input(body)?)).await
        }
        _ if GROUP_OPS.contains(&op) => Box::pin(groups::dispatch(ctx, op, body)).await,
        _ if POOL_OPS.contains(&op) => Box::pin(pools::dispatch(ctx, op, body)).await,
        _ if CLIENT_OPS.contains(&op) => Box::pin(clients::dispatch(ctx, op, body)).await,
        _ if idp::OPS.contains(&op) => Box::pin(idp::dispatch(ctx, op, body)).await,
        _ => Box::pin(admin::dispatch(ctx, op, body)).await,
    }
}

/// The operation's input: a missing or mistyped member is `InvalidParameterException`, as
/// Cognito's validation answers it.
pub(crate) fn input<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body)
        .map_err(|e| ApiError::invalid_parameter(format!("1 validation error detected: {e}")))
}
