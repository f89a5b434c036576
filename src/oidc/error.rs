//! OAuth 2.0 / OIDC error codes, defined once; the public description is kept apart from the
//! private detail that only reaches the log.

/// Error codes of RFC 6749 §4.1.2.1 / §5.2, RFC 6750 §3.1 and OIDC Core §3.1.2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: "The request is missing a required parameter, includes an unsupported
    /// parameter value (other than grant type), repeats a parameter, ... or is otherwise malformed."
    InvalidRequest,
    /// RFC 6749 §5.2: "Client authentication failed (e.g., unknown client, no client
    /// authentication included, or unsupported authentication method)."
    InvalidClient,
    /// RFC 6749 §5.2: "The provided authorization grant ... or refresh token is invalid, expired,
    /// revoked, does not match the redirection URI ..., or was issued to another client."
    InvalidGrant,
    /// RFC 6749 §5.2: "The authenticated client is not authorized to use this authorization grant type."
    UnauthorizedClient,
    /// RFC 6749 §5.2: "The authorization grant type is not supported by the authorization server."
    UnsupportedGrantType,
    /// RFC 6749 §5.2: "The requested scope is invalid, unknown, malformed, or exceeds the scope
    /// granted by the resource owner."
    InvalidScope,
    /// RFC 6750 §3.1: "The access token provided is expired, revoked, malformed, or invalid."
    InvalidToken,
    /// RFC 6749 §4.1.2.1: "The resource owner or authorization server denied the request."
    AccessDenied,
    /// RFC 6749 §4.1.2.1: "The authorization server does not support obtaining an
    /// authorization code using this method."
    UnsupportedResponseType,
    /// OIDC Core §3.1.2.6: "The Authorization Server requires End-User authentication."
    LoginRequired,
    /// OIDC Core §3.1.2.6: "The Authorization Server requires End-User consent."
    ConsentRequired,
    /// OIDC Core §3.1.2.6: "The OP does not support use of the request parameter."
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: "The OP does not support use of the request_uri parameter."
    RequestUriNotSupported,
    /// RFC 6750 §3.1: "The request requires higher privileges than provided by the access token."
    InsufficientScope,
    /// OpenID Connect Core Error Code unmet_authentication_requirements: "The Authorization
    /// Server is unable to meet the requirements of the Relying Party for the authentication of
    /// the End-User."
    UnmetAuthenticationRequirements,
    /// RFC 8693 §2.2.2: "The authorization server is unwilling or unable to issue a token for
    /// all the target services indicated by the resource or audience parameters."
    InvalidTarget,
    /// RFC 6749 §4.1.2.1: "The authorization server encountered an unexpected condition."
    ServerError,
    /// RFC 6749 §4.1.2.1: "The authorization server is currently unable to handle the request
    /// due to a temporary overloading"; the request is shed, to be retried shortly.
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidToken => "invalid_token",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InvalidTarget => "invalid_target",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error: `description` is sent to the client, `detail` only logged.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    pub detail: Option<String>,
    /// Set on a rate limit (429) or a shed request (503): how many seconds to wait.
    pub retry_after: Option<u64>,
    /// The server shed the request (503), as opposed to the client going over a limit (429).
    pub overloaded: bool,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E only.
        let description = description
            .into()
            .chars()
            .map(|c| {
                if c == ' ' || c == '!' || (('#'..='~').contains(&c) && c != '\\') {
                    c
                } else {
                    '\''
                }
            })
            .collect();
        Self {
            code,
            description,
            detail: None,
            retry_after: None,
            overloaded: false,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }

    /// A failure on our side; the cause is logged, the client learns nothing more.
    /// Too much work at once: the request is shed, to be retried in a moment.
    pub fn busy(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            overloaded: true,
            ..Self::new(
                ErrorCode::TemporarilyUnavailable,
                "the server is busy; try again in a moment",
            )
        }
    }

    /// A rate limit was reached: 429 with `Retry-After: secs`.
    pub fn rate_limited(secs: u64) -> Self {
        Self {
            retry_after: Some(secs),
            ..Self::new(
                ErrorCode::TemporarilyUnavailable,
                "too many requests; slow down and try again later",
            )
        }
    }

    pub fn server(cause: impl std::fmt::Display) -> Self {
        Self {
            detail: Some(cause.to_string()),
            ..Self::new(
                ErrorCode::ServerError,
                "the server could not complete the request",
            )
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::server(e)
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}
