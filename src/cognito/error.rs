//! The Cognito API's one error type: an exception name from Cognito's service model, a
//! message, and the HTTP status (400 for everything the caller did, 500 only for our faults,
//! whose cause goes to the log, never to the body).

use crate::accounts::AccountError;
use crate::crypto::password::PasswordError;
use crate::crypto::sigv4::SigV4Error;
use crate::oidc::error::OAuthError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `__type`, e.g. `NotAuthorizedException`.
    pub kind: &'static str,
    pub message: String,
    pub status: u16,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

macro_rules! kinds {
    ($($fn:ident => $name:literal),* $(,)?) => {
        impl ApiError {
            $(
                pub fn $fn(message: impl Into<String>) -> Self {
                    Self { kind: $name, message: message.into(), status: 400 }
                }
            )*
        }
    };
}

kinds! {
    not_authorized => "NotAuthorizedException",
    invalid_parameter => "InvalidParameterException",
    resource_not_found => "ResourceNotFoundException",
    user_not_found => "UserNotFoundException",
    username_exists => "UsernameExistsException",
    code_mismatch => "CodeMismatchException",
    expired_code => "ExpiredCodeException",
    invalid_password => "InvalidPasswordException",
    user_not_confirmed => "UserNotConfirmedException",
    password_reset_required => "PasswordResetRequiredException",
    limit_exceeded => "LimitExceededException",
    too_many_requests => "TooManyRequestsException",
    too_many_failed_attempts => "TooManyFailedAttemptsException",
    alias_exists => "AliasExistsException",
    code_delivery_failure => "CodeDeliveryFailureException",
    group_exists => "GroupExistsException",
    duplicate_provider => "DuplicateProviderException",
    unsupported_user_state => "UnsupportedUserStateException",
    resource_conflict => "ResourceConflictException",
    invalid_identity_pool_configuration => "InvalidIdentityPoolConfigurationException",
    external_service => "ExternalServiceException",
    invalid_user_pool_configuration => "InvalidUserPoolConfigurationException",
    software_token_mfa_not_found => "SoftwareTokenMFANotFoundException",
    enable_software_token_mfa => "EnableSoftwareTokenMFAException",
    unsupported_operation => "UnsupportedOperationException",
    unknown_operation => "UnknownOperationException",
    serialization => "SerializationException",
    missing_authentication_token => "MissingAuthenticationTokenException",
    unrecognized_client => "UnrecognizedClientException",
    invalid_signature => "InvalidSignatureException",
    incomplete_signature => "IncompleteSignatureException",
}

impl ApiError {
    /// Our fault: logged with its cause, answered 500 without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "Cognito API request failed");
        Self {
            kind: "InternalErrorException",
            message: "An internal error occurred.".into(),
            status: 500,
        }
    }

    /// The JSON body AWS SDKs read.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "__type": self.kind, "message": self.message })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy { .. } => {
                Self::too_many_requests("Too many password checks at once; try again shortly.")
            }
            other => Self::internal(other),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid { field, msg } => {
                Self::invalid_parameter(format!("Invalid {field}: {msg}"))
            }
            AccountError::Policy(m) => {
                Self::invalid_password(format!("Password does not conform to policy: {m}"))
            }
            AccountError::NotFound(_) => Self::user_not_found("User does not exist."),
            AccountError::Exists => {
                Self::username_exists("An account with the given username or email already exists.")
            }
            AccountError::Password(p) => p.into(),
            AccountError::Store(s) => s.into(),
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        use crate::oidc::error::ErrorCode;
        match e.code {
            ErrorCode::ServerError => Self::internal(e.detail.unwrap_or(e.description)),
            ErrorCode::TemporarilyUnavailable => Self::too_many_requests(e.description),
            _ => Self::not_authorized(e.description),
        }
    }
}

impl From<SigV4Error> for ApiError {
    fn from(e: SigV4Error) -> Self {
        match e {
            SigV4Error::Missing => Self::missing_authentication_token(
                "This operation needs a request signed with an access key (AWS Signature Version 4).",
            ),
            SigV4Error::Malformed(_) => Self::incomplete_signature(e.to_string()),
            SigV4Error::Scope(_) | SigV4Error::Skew | SigV4Error::Mismatch => {
                Self::invalid_signature(e.to_string())
            }
        }
    }
}
