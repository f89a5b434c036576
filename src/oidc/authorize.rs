//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) as an ordered chain of
//! checks. Until the client and its redirect URI are proven, errors are shown on a page and
//! never redirected; after that they go back to the client with `state` (and `iss`, RFC 9207).

use serde::{Deserialize, Serialize};
use url::Url;

use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::{pkce, redirect};
use crate::clients::GrantType;
use crate::pools::PoolRuntime;
use crate::store::sql::clients::Client;

/// How the authorization response travels back (OAuth 2.0 Multiple Response Types, Form Post).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// `prompt` values (OIDC Core §3.1.2.1); `select_account` is accepted and means nothing here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request, parked in the login transaction while the user acts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `acr_values` named the multi-factor level: the user must pass MFA (or the client gets
    /// `unmet_authentication_requirements`).
    #[serde(default)]
    pub requires_mfa: bool,
}

/// Authentication context class of a password-only sign-in.
pub const ACR_PWD: &str = "urn:tessera:acr:pwd";
/// Authentication context class of a sign-in with a second factor.
pub const ACR_MFA: &str = "urn:tessera:acr:mfa";

/// The `acr` of a sign-in that used these methods (RFC 8176 `amr`).
pub fn acr_for(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "otp" || m == "mfa") {
        ACR_MFA
    } else {
        ACR_PWD
    }
}

impl AuthRequest {
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }
}

/// Where an authorization response goes and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A 302 to this URL.
    Redirect(String),
    /// An auto-submitting HTML form posting `fields` to `action`.
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// Builds the response to the client: `params` plus `state` and `iss`.
pub fn deliver(
    rt: &PoolRuntime,
    redirect_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    params: Vec<(&str, String)>,
) -> Delivery {
    let mut fields: Vec<(String, String)> = params
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    if let Some(s) = state {
        fields.push(("state".into(), s.to_string()));
    }
    fields.push(("iss".into(), rt.issuer.clone()));
    match mode {
        ResponseMode::FormPost => Delivery::FormPost {
            action: redirect_uri.to_string(),
            fields,
        },
        ResponseMode::Query => {
            let mut url = match Url::parse(redirect_uri) {
                Ok(u) => u,
                // Registered URIs are validated absolute URLs; this cannot happen.
                Err(_) => return Delivery::Redirect(redirect_uri.to_string()),
            };
            url.query_pairs_mut().extend_pairs(fields);
            Delivery::Redirect(url.to_string())
        }
    }
}

/// Why an authorization request failed.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// Client or redirect URI not proven: show this message, never redirect.
    Page(String),
    /// Proven: send the error back to the client.
    Client(Delivery),
}

/// The error to send back to a proven redirect URI.
pub fn client_error(
    rt: &PoolRuntime,
    req_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    e: &OAuthError,
) -> AuthorizeError {
    let params = vec![
        ("error", e.code.as_str().to_string()),
        ("error_description", e.description.clone()),
    ];
    AuthorizeError::Client(deliver(rt, req_uri, mode, state, params))
}

fn bounded<'a>(p: &'a Params, name: &str, max: usize) -> Result<Option<&'a str>, OAuthError> {
    match p.get(name) {
        Some(v) if v.len() > max => Err(OAuthError::invalid_request(format!(
            "{name} is longer than {max} characters"
        ))),
        other => Ok(other),
    }
}

/// Runs the checks in order: client, redirect URI, response mode, response type, grant,
/// scope, PKCE, prompt, max_age.
pub fn validate(
    rt: &PoolRuntime,
    p: &Params,
) -> Result<(std::sync::Arc<Client>, AuthRequest), AuthorizeError> {
    let page = |m: &str| AuthorizeError::Page(m.to_string());
    let client_id = p
        .get("client_id")
        .ok_or_else(|| page("The request has no client_id."))?;
    let client = rt
        .clients
        .get(client_id)
        .cloned()
        .ok_or_else(|| page("The application that sent you here is not registered."))?;
    let redirect_uri = p
        .get("redirect_uri")
        .ok_or_else(|| page("The request has no redirect_uri."))?;
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect::matches(r, redirect_uri))
    {
        return Err(page(
            "The redirect_uri is not registered for this application.",
        ));
    }
    let state = p.get("state");
    let mode = match p.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => {
            let e = OAuthError::invalid_request("response_mode must be query or form_post");
            return Err(client_error(
                rt,
                redirect_uri,
                ResponseMode::Query,
                state,
                &e,
            ));
        }
    };
    let fail = |e: OAuthError| client_error(rt, redirect_uri, mode, state, &e);
    (|| -> Result<AuthRequest, OAuthError> {
        if state.is_some_and(|s| s.len() > 2048) {
            return Err(OAuthError::invalid_request(
                "state is longer than 2048 characters",
            ));
        }
        if p.get("request").is_some() {
            return Err(OAuthError::new(
                ErrorCode::RequestNotSupported,
                "request objects are not supported",
            ));
        }
        if p.get("request_uri").is_some() {
            return Err(OAuthError::new(
                ErrorCode::RequestUriNotSupported,
                "request_uri is not supported",
            ));
        }
        match p.get("response_type") {
            Some("code") => {}
            None => {
                return Err(OAuthError::invalid_request(
                    "missing parameter response_type",
                ));
            }
            Some(_) => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        if !client.grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client may not use the authorization code flow",
            ));
        }
        let raw_scope = p
            .get("scope")
            .ok_or_else(|| OAuthError::invalid_scope("scope is required"))?;
        let mut scopes: Vec<String> = Vec::new();
        for s in raw_scope.split(' ').filter(|s| !s.is_empty()) {
            if !client.scopes.iter().any(|c| c == s) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {:?} is not allowed for this client",
                    s.chars().take(64).collect::<String>()
                )));
            }
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_string());
            }
        }
        if scopes.is_empty() {
            return Err(OAuthError::invalid_scope("scope is required"));
        }
        let code_challenge = match (p.get("code_challenge"), p.get("code_challenge_method")) {
            (Some(c), Some("S256")) if pkce::well_formed(c) => Some(c.to_string()),
            (Some(_), Some("S256")) => {
                return Err(OAuthError::invalid_request("code_challenge is malformed"));
            }
            (Some(_), None | Some("plain")) | (None, Some("plain")) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256",
                ));
            }
            (_, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256",
                ));
            }
            (None, None) if client.is_public() || client.settings.require_pkce => {
                return Err(OAuthError::invalid_request(
                    "PKCE is required: send code_challenge with method S256",
                ));
            }
            (None, None) => None,
        };
        let mut prompt = Prompt::default();
        if let Some(raw) = p.get("prompt") {
            for v in raw.split(' ').filter(|s| !s.is_empty()) {
                match v {
                    "none" => prompt.none = true,
                    "login" => prompt.login = true,
                    "consent" => prompt.consent = true,
                    "select_account" => {}
                    _ => return Err(OAuthError::invalid_request("unsupported prompt value")),
                }
            }
            if prompt.none && (prompt.login || prompt.consent) {
                return Err(OAuthError::invalid_request(
                    "prompt=none cannot be combined with other values",
                ));
            }
        }
        let max_age = match p.get("max_age") {
            None => None,
            Some(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| {
                        OAuthError::invalid_request("max_age must be a non-negative integer")
                    })?
                    .into(),
            ),
        };
        Ok(AuthRequest {
            client_id: client.client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            response_mode: mode,
            scopes,
            state: state.map(str::to_string),
            nonce: bounded(p, "nonce", 512)?.map(str::to_string),
            code_challenge,
            prompt,
            max_age,
            login_hint: bounded(p, "login_hint", 256)?.map(str::to_string),
            requires_mfa: client.settings.require_mfa
                || bounded(p, "acr_values", 1024)?
                    .is_some_and(|v| v.split(' ').any(|a| a == ACR_MFA)),
        })
    })()
    .map(|req| (client.clone(), req))
    .map_err(fail)
}
