//! Logout: OIDC RP-Initiated Logout 1.0 (`id_token_hint`, `post_logout_redirect_uri`, `state`)
//! and Cognito's form (`client_id` + `logout_uri`). Redirects only to URIs registered as the
//! client's logout URIs.

use chrono::{DateTime, Utc};
use serde_json::Value;
use url::Url;

use super::params::Params;
use super::tokens::verify_id_token_hint;
use crate::pools::PoolRuntime;

/// Where to go once the session has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterLogout {
    Redirect(String),
    /// Show the signed-out page.
    Page,
    /// Show an error (the session has still ended).
    Error(String),
}

/// OIDC RP-Initiated Logout §2: without an `id_token_hint` of the signed-in user, the OP asks
/// the user first (a GET from anywhere must not end the session). Cognito's `client_id` +
/// `logout_uri` form signs out directly, as Cognito does, when the URI is registered.
pub fn needs_confirmation(
    tenant: &PoolRuntime,
    p: &Params,
    session_sub: &str,
    now: DateTime<Utc>,
) -> bool {
    if let Some(hint) = p.get("id_token_hint") {
        return verify_id_token_hint(tenant, hint, now)
            .is_none_or(|c| c.get("sub").and_then(Value::as_str) != Some(session_sub));
    }
    let cognito = p.get("post_logout_redirect_uri").is_none()
        && matches!(after_logout(tenant, p, now), AfterLogout::Redirect(_));
    !cognito
}

/// The `sid` of a valid `id_token_hint` of this pool: the session the relying party means.
pub fn hinted_sid(tenant: &PoolRuntime, p: &Params, now: DateTime<Utc>) -> Option<String> {
    let claims = verify_id_token_hint(tenant, p.get("id_token_hint")?, now)?;
    claims
        .get("sid")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The parameters to carry through the confirmation form.
pub fn carried(p: &Params) -> Vec<(String, String)> {
    [
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
        "client_id",
        "logout_uri",
    ]
    .iter()
    .filter_map(|k| p.get(k).map(|v| (k.to_string(), v.to_string())))
    .collect()
}

pub fn after_logout(tenant: &PoolRuntime, p: &Params, now: DateTime<Utc>) -> AfterLogout {
    let hinted = match p.get("id_token_hint") {
        Some(h) => match verify_id_token_hint(tenant, h, now) {
            Some(claims) => claims
                .get("aud")
                .and_then(Value::as_str)
                .map(str::to_string),
            None => {
                return AfterLogout::Error(
                    "The id_token_hint is not a valid ID token of this pool.".into(),
                );
            }
        },
        None => None,
    };
    let client_id = match (hinted, p.get("client_id")) {
        (Some(a), Some(b)) if a != b => {
            return AfterLogout::Error("client_id does not match the id_token_hint.".into());
        }
        (Some(a), _) => Some(a),
        (None, b) => b.map(str::to_string),
    };
    let (target, with_state) = match (p.get("post_logout_redirect_uri"), p.get("logout_uri")) {
        (Some(u), _) => (u, true),
        (None, Some(u)) => (u, false),
        (None, None) => return AfterLogout::Page,
    };
    let Some(client) = client_id.and_then(|id| tenant.clients.get(&id).cloned()) else {
        return AfterLogout::Error(
            "A logout redirect needs a client_id or an id_token_hint of a known client.".into(),
        );
    };
    if !client.logout_uris.iter().any(|u| u == target) {
        return AfterLogout::Error(
            "That sign-out address is not registered for this application.".into(),
        );
    }
    let Ok(mut url) = Url::parse(target) else {
        return AfterLogout::Page;
    };
    if let (true, Some(state)) = (with_state, p.get("state")) {
        url.query_pairs_mut().append_pair("state", state);
    }
    AfterLogout::Redirect(url.to_string())
}
