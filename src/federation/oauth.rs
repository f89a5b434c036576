//! The OAuth 2.0 social providers without OpenID ID tokens: Facebook (dialog, token, Graph
//! `/me` with explicit `fields` and `appsecret_proof`) and Login with Amazon (authorize,
//! token, `user/profile`, whose `user_id` is the subject). Both get state and PKCE S256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use super::{Federation, FederationError, Provider, RoundTrip, UpstreamUser, callback_url};
use crate::model::ProviderKind;

/// The Graph fields asked for: exactly what the default mapping reads.
const FACEBOOK_FIELDS: &str = "id,name,email,first_name,last_name";

fn endpoint<'a>(url: &'a Option<Url>, what: &str) -> Result<&'a Url, FederationError> {
    url.as_ref()
        .ok_or_else(|| FederationError::Config(format!("no {what} URL")))
}

pub fn authorize_url(
    provider: &Provider,
    issuer: &str,
    state: &str,
    trip: &RoundTrip,
) -> Result<String, FederationError> {
    let mut url = endpoint(&provider.authorize_url, "authorize")?.clone();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(trip.verifier.as_bytes()));
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &callback_url(issuer))
        .append_pair("scope", &provider.scopes.join(" "))
        .append_pair("state", state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url.to_string())
}

pub async fn redeem(
    federation: &Federation,
    provider: &Provider,
    issuer: &str,
    code: &str,
    trip: &RoundTrip,
) -> Result<UpstreamUser, FederationError> {
    let redirect = callback_url(issuer);
    let token = federation
        .upstream
        .post_form(
            endpoint(&provider.token_url, "token")?,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &redirect),
                ("client_id", &provider.client_id),
                ("client_secret", provider.client_secret.expose()),
                ("code_verifier", &trip.verifier),
            ],
        )
        .await?;
    let access = token
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            FederationError::Rejected("the token response has no access_token".into())
        })?;
    let profile = profile(federation, provider, access).await?;
    let id_claim = match provider.kind {
        ProviderKind::Amazon => "user_id",
        _ => "id",
    };
    let subject = match profile.get(id_claim) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(FederationError::Rejected(format!(
                "the profile has no {id_claim}"
            )));
        }
    };
    Ok(UpstreamUser::from_claims(
        subject,
        profile,
        &provider.mapping,
    ))
}

/// The user's profile: Graph `/me` (with `appsecret_proof`, so a leaked token is useless
/// without the app secret) or Amazon's `user/profile`.
async fn profile(
    federation: &Federation,
    provider: &Provider,
    access: &str,
) -> Result<serde_json::Map<String, Value>, FederationError> {
    let mut url = endpoint(&provider.userinfo_url, "userinfo")?.clone();
    if provider.kind == ProviderKind::Facebook {
        let mut mac = Hmac::<Sha256>::new_from_slice(provider.client_secret.expose().as_bytes())
            .map_err(|_| FederationError::Config("app secret".into()))?;
        mac.update(access.as_bytes());
        let proof: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        url.query_pairs_mut()
            .append_pair("fields", FACEBOOK_FIELDS)
            .append_pair("appsecret_proof", &proof);
    }
    match federation.upstream.get_json(&url, Some(access)).await? {
        Value::Object(map) => Ok(map),
        _ => Err(FederationError::Rejected(
            "the profile is not a JSON object".into(),
        )),
    }
}
