//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) as an ordered chain of
//! checks. Until the client and its redirect URI are proven, errors are shown on a page and
//! never redirected; after that they go back to the client with `state` (and `iss`, RFC 9207).

use serde::{Deserialize, Serialize};
use url::Url;

use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::pkce;
use crate::clients::redirect;
use crate::model::GrantType;
use crate::model::client::COGNITO;
use crate::pools::PoolRuntime;
use crate::store::sql::clients::Client;

/// How the authorization response travels back (OAuth 2.0 Multiple Response Types, Form Post).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// `prompt` values (OIDC Core §3.1.2.1); `select_account` is read as `login`: the sign-in
/// page is where a user picks another account.
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
    /// `identity_provider` (or the provider `idp_identifier` picked): sign in there directly;
    /// `COGNITO` forces the pool's own form.
    #[serde(default)]
    pub identity_provider: Option<String>,
}

/// Authentication context class of a password-only sign-in.
pub const ACR_PWD: &str = "urn:tessera:acr:pwd";
/// Authentication context class of a sign-in with a second factor.
pub const ACR_MFA: &str = "urn:tessera:acr:mfa";
/// Authentication context class of a sign-in at an upstream identity provider.
pub const ACR_FEDERATED: &str = "urn:tessera:acr:federated";
/// The `amr` value of a sign-in at an upstream identity provider.
pub const AMR_FEDERATED: &str = "fed";

/// The `acr` of a sign-in that used these methods (RFC 8176 `amr`).
pub fn acr_for(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "otp" || m == "mfa") {
        ACR_MFA
    } else if amr.iter().any(|m| m == AMR_FEDERATED) {
        ACR_FEDERATED
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
    tenant: &PoolRuntime,
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
    fields.push(("iss".into(), tenant.issuer.clone()));
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
    tenant: &PoolRuntime,
    req_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    e: &OAuthError,
) -> AuthorizeError {
    let params = vec![
        ("error", e.code.as_str().to_string()),
        ("error_description", e.description.clone()),
    ];
    AuthorizeError::Client(deliver(tenant, req_uri, mode, state, params))
}

fn bounded<'a>(p: &'a Params, name: &str, max: usize) -> Result<Option<&'a str>, OAuthError> {
    match p.get(name) {
        Some(v) if v.len() > max => Err(OAuthError::invalid_request(format!(
            "{name} is longer than {max} characters"
        ))),
        other => Ok(other),
    }
}

/// Runs the checks in order. Until the client and its redirect URI are proven, a failure is
/// shown on a page; after that it goes back to the client (a bad `response_mode` as a query).
pub fn validate(
    tenant: &PoolRuntime,
    p: &Params,
) -> Result<(std::sync::Arc<Client>, AuthRequest), AuthorizeError> {
    let client = registered_client(tenant, p)?;
    let redirect_uri = registered_redirect_uri(&client, p)?;
    let state = p.get("state");
    let mode = response_mode(p)
        .map_err(|e| client_error(tenant, redirect_uri, ResponseMode::Query, state, &e))?;
    let fail = |e: OAuthError| client_error(tenant, redirect_uri, mode, state, &e);
    check_state_length(state).map_err(fail)?;
    check_no_request_object(p).map_err(fail)?;
    check_response_type(p).map_err(fail)?;
    check_code_flow_allowed(&client).map_err(fail)?;
    let scopes = allowed_scopes(&client, p).map_err(fail)?;
    let code_challenge = pkce_challenge(&client, p).map_err(fail)?;
    let prompt = requested_prompt(p).map_err(fail)?;
    let max_age = requested_max_age(p).map_err(fail)?;
    let nonce = bounded(p, "nonce", 512).map_err(fail)?;
    let login_hint = bounded(p, "login_hint", 256).map_err(fail)?;
    let requires_mfa = requires_mfa(&client, p).map_err(fail)?;
    let identity_provider = chosen_provider(tenant, &client, p).map_err(fail)?;
    let req = AuthRequest {
        client_id: client.client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        response_mode: mode,
        scopes,
        state: state.map(str::to_string),
        nonce: nonce.map(str::to_string),
        code_challenge,
        prompt,
        max_age,
        login_hint: login_hint.map(str::to_string),
        requires_mfa,
        identity_provider,
    };
    Ok((client, req))
}

/// A page error: the client or its redirect URI is not proven, so nothing is redirected.
fn page_error(message: &str) -> AuthorizeError {
    AuthorizeError::Page(message.to_string())
}

/// Checks that `client_id` is present and names a client registered in this pool.
fn registered_client(
    tenant: &PoolRuntime,
    p: &Params,
) -> Result<std::sync::Arc<Client>, AuthorizeError> {
    let client_id = p
        .get("client_id")
        .ok_or_else(|| page_error("The request has no client_id."))?;
    tenant
        .clients
        .get(client_id)
        .cloned()
        .ok_or_else(|| page_error("The application that sent you here is not registered."))
}

/// Checks that `redirect_uri` is present and registered for `client`.
fn registered_redirect_uri<'p>(client: &Client, p: &'p Params) -> Result<&'p str, AuthorizeError> {
    let redirect_uri = p
        .get("redirect_uri")
        .ok_or_else(|| page_error("The request has no redirect_uri."))?;
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect::matches(r, redirect_uri))
    {
        return Err(page_error(
            "The redirect_uri is not registered for this application.",
        ));
    }
    Ok(redirect_uri)
}

/// Checks that `response_mode` is absent, `query` or `form_post`.
fn response_mode(p: &Params) -> Result<ResponseMode, OAuthError> {
    match p.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err(OAuthError::invalid_request(
            "response_mode must be query or form_post",
        )),
    }
}

/// Checks that `state` is at most 2048 characters.
fn check_state_length(state: Option<&str>) -> Result<(), OAuthError> {
    if state.is_some_and(|s| s.len() > 2048) {
        return Err(OAuthError::invalid_request(
            "state is longer than 2048 characters",
        ));
    }
    Ok(())
}

/// Checks that the request carries neither `request` nor `request_uri` (both unsupported).
fn check_no_request_object(p: &Params) -> Result<(), OAuthError> {
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
    Ok(())
}

/// Checks that `response_type` is present and is `code`.
fn check_response_type(p: &Params) -> Result<(), OAuthError> {
    match p.get("response_type") {
        Some("code") => Ok(()),
        None => Err(OAuthError::invalid_request(
            "missing parameter response_type",
        )),
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        )),
    }
}

/// Checks that `client` may use the authorization code flow.
fn check_code_flow_allowed(client: &Client) -> Result<(), OAuthError> {
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    Ok(())
}

/// Checks that `scope` is present, non-empty and allowed for `client`; returns it deduplicated.
fn allowed_scopes(client: &Client, p: &Params) -> Result<Vec<String>, OAuthError> {
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
    Ok(scopes)
}

/// Checks PKCE: S256 only, a well-formed challenge, and one at all for public clients or
/// clients that require it. Returns the challenge, if any.
fn pkce_challenge(client: &Client, p: &Params) -> Result<Option<String>, OAuthError> {
    match (p.get("code_challenge"), p.get("code_challenge_method")) {
        (Some(c), Some("S256")) if pkce::well_formed(c) => Ok(Some(c.to_string())),
        (Some(_), Some("S256")) => Err(OAuthError::invalid_request("code_challenge is malformed")),
        (Some(_), None | Some("plain")) | (None, Some("plain")) => Err(
            OAuthError::invalid_request("code_challenge_method must be S256"),
        ),
        (_, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        )),
        (None, None) if client.is_public() || client.settings.require_pkce => Err(
            OAuthError::invalid_request("PKCE is required: send code_challenge with method S256"),
        ),
        (None, None) => Ok(None),
    }
}

/// Checks that `prompt` holds only known values and that `none` stands alone.
fn requested_prompt(p: &Params) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    if let Some(raw) = p.get("prompt") {
        for v in raw.split(' ').filter(|s| !s.is_empty()) {
            match v {
                "none" => prompt.none = true,
                "login" | "select_account" => prompt.login = true,
                "consent" => prompt.consent = true,
                _ => return Err(OAuthError::invalid_request("unsupported prompt value")),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other values",
            ));
        }
    }
    Ok(prompt)
}

/// Checks that `max_age`, if present, is a non-negative integer.
fn requested_max_age(p: &Params) -> Result<Option<i64>, OAuthError> {
    match p.get("max_age") {
        None => Ok(None),
        Some(v) => Ok(Some(
            v.parse::<u32>()
                .map_err(|_| OAuthError::invalid_request("max_age must be a non-negative integer"))?
                .into(),
        )),
    }
}

/// The provider the request names with `identity_provider`, or picks by email domain with
/// `idp_identifier`; either must be enabled for the client (Cognito's rules).
fn chosen_provider(
    tenant: &PoolRuntime,
    client: &Client,
    p: &Params,
) -> Result<Option<String>, OAuthError> {
    let not_enabled =
        || OAuthError::invalid_request("the identity provider is not enabled for this application");
    if let Some(name) = bounded(p, "identity_provider", 64)? {
        let exists = name == COGNITO || tenant.providers.iter().any(|x| x.name == name);
        return match exists && client.settings.allows(name) {
            true => Ok(Some(name.to_string())),
            false => Err(not_enabled()),
        };
    }
    let Some(wanted) = bounded(p, "idp_identifier", 253)? else {
        return Ok(None);
    };
    let wanted = wanted
        .rsplit('@')
        .next()
        .unwrap_or(wanted)
        .to_ascii_lowercase();
    tenant
        .providers
        .iter()
        .find(|x| client.settings.allows(&x.name) && x.settings.identifiers.contains(&wanted))
        .map(|x| Some(x.name.clone()))
        .ok_or_else(not_enabled)
}

/// Whether the user must pass MFA: the client requires it, or `acr_values` (checked for
/// length only when the client does not already require it) names the MFA level.
fn requires_mfa(client: &Client, p: &Params) -> Result<bool, OAuthError> {
    Ok(client.settings.require_mfa
        || bounded(p, "acr_values", 1024)?.is_some_and(|v| v.split(' ').any(|a| a == ACR_MFA)))
}
