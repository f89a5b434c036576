//! OpenID providers (Google, and any standard one) through the `openidconnect` crate as the
//! relying party: discovery and JWKS cached for an hour, the authorization request with state,
//! nonce and PKCE S256, and the code exchange whose ID token must pass every check (signature
//! by a published key, `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`; `alg: none` never).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{CoreClient, CoreIdToken, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError,
};

use super::{Federation, FederationError, Provider, RoundTrip, UpstreamUser, callback_url};

pub type Metadata = CoreProviderMetadata;

/// How long a discovery document and its keys are trusted before they are fetched again.
const DISCOVERY_TTL: TimeDelta = TimeDelta::hours(1);
/// How far in the future an ID token's `iat` may be (clock skew).
const MAX_SKEW: TimeDelta = TimeDelta::minutes(5);
/// The shortest time between two fetches of an issuer's keys for a key we do not know.
pub const MIN_REFETCH: TimeDelta = TimeDelta::seconds(30);

/// The provider's discovery document and keys, from the cache while fresh (unless `refetch`:
/// a token signed by a key the cached set does not know means the provider rotated).
async fn metadata(
    federation: &Federation,
    provider: &Provider,
    now: DateTime<Utc>,
    refetch: bool,
) -> Result<Metadata, FederationError> {
    let issuer = provider
        .issuer
        .as_ref()
        .ok_or_else(|| FederationError::Config("no issuer".into()))?;
    metadata_of(federation, issuer.as_str(), now, refetch).await
}

/// [`metadata`] of the issuer `issuer`.
async fn metadata_of(
    federation: &Federation,
    issuer: &str,
    now: DateTime<Utc>,
    refetch: bool,
) -> Result<Metadata, FederationError> {
    let key = issuer.trim_end_matches('/').to_string();
    // A refetch for an unknown key goes upstream at most once per MIN_REFETCH per issuer;
    // within it, the cached keys stand (and the token fails as it would).
    let refetch = refetch
        && match federation.refetched.lock() {
            Ok(mut last) => match last.get(&key) {
                Some(at) if now - *at < MIN_REFETCH && now >= *at => false,
                _ => {
                    last.insert(key.clone(), now);
                    true
                }
            },
            Err(_) => true,
        };
    if let Ok(cache) = federation.discovery.lock()
        && !refetch
        && let Some((at, doc)) = cache.get(&key)
        && now - *at < DISCOVERY_TTL
    {
        return Ok(doc.clone());
    }
    let issuer_url =
        IssuerUrl::new(key.clone()).map_err(|e| FederationError::Config(format!("issuer: {e}")))?;
    let upstream = federation.upstream.clone();
    let http = move |req| {
        let upstream = upstream.clone();
        async move { upstream.send(req).await }
    };
    let doc = Metadata::discover_async(issuer_url, &http)
        .await
        .map_err(|e| FederationError::Upstream(format!("discovery of {key}: {}", chain(&e))))?;
    if let Ok(mut cache) = federation.discovery.lock() {
        cache.insert(key, (now, doc.clone()));
    }
    Ok(doc)
}

/// The error and its causes on one line (the crate's errors nest the useful part).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client_for(provider: &Provider, doc: Metadata, issuer: &str) -> Result<Client, FederationError> {
    let redirect = RedirectUrl::new(callback_url(issuer))
        .map_err(|e| FederationError::Config(format!("redirect URI: {e}")))?;
    Ok(CoreClient::from_provider_metadata(
        doc,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(
            provider.client_secret.expose().to_string(),
        )),
    )
    .set_redirect_uri(redirect))
}

pub async fn authorize_url(
    federation: &Federation,
    provider: &Provider,
    issuer: &str,
    state: &str,
    trip: &RoundTrip,
    now: DateTime<Utc>,
) -> Result<String, FederationError> {
    let doc = metadata(federation, provider, now, false).await?;
    super::upstream::check_url(doc.authorization_endpoint().url())?;
    let client = client_for(provider, doc, issuer)?;
    let (state, nonce) = (state.to_string(), trip.nonce.clone());
    let verifier = PkceCodeVerifier::new(trip.verifier.clone());
    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        )
        .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
    for scope in provider.scopes.iter().filter(|s| s.as_str() != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    Ok(request.url().0.to_string())
}

pub async fn redeem(
    federation: &Federation,
    provider: &Provider,
    issuer: &str,
    code: &str,
    trip: &RoundTrip,
    now: DateTime<Utc>,
) -> Result<UpstreamUser, FederationError> {
    let doc = metadata(federation, provider, now, false).await?;
    let client = client_for(provider, doc, issuer)?;
    let upstream = federation.upstream.clone();
    let http = move |req| {
        let upstream = upstream.clone();
        async move { upstream.send(req).await }
    };
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| FederationError::Config(format!("token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(trip.verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| FederationError::Upstream(format!("code exchange: {}", chain(&e))))?;
    let id_token = openidconnect::TokenResponse::id_token(&token)
        .ok_or_else(|| FederationError::Rejected("the token response has no ID token".into()))?;
    let subject = match verified_subject(&client, id_token, trip, now) {
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            // Signed by a key published after the cached set: fetch the keys once more.
            let fresh = metadata(federation, provider, now, true).await?;
            verified_subject(&client_for(provider, fresh, issuer)?, id_token, trip, now)
        }
        other => other,
    }
    .map_err(|e| FederationError::Rejected(format!("ID token: {}", chain(&e))))?;
    // The token passed every check above; its payload is read again as plain JSON so that
    // the attribute mapping can name any claim.
    let payload = id_token
        .to_string()
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&p).ok())
        .ok_or_else(|| FederationError::Rejected("ID token payload".into()))?;
    Ok(UpstreamUser::from_claims(
        subject,
        payload,
        &provider.mapping,
    ))
}

/// The ID token's subject once its signature, `iss`, `aud`, `azp`, `exp`, `iat` and `nonce`
/// are verified against `client`'s keys and our clock.
fn verified_subject(
    client: &Client,
    id_token: &CoreIdToken,
    trip: &RoundTrip,
    now: DateTime<Utc>,
) -> Result<String, ClaimsVerificationError> {
    let verifier = client
        .id_token_verifier()
        .set_time_fn(move || now)
        .set_issue_time_verifier_fn(move |iat| match iat > now + MAX_SKEW {
            true => Err("issued in the future".into()),
            false => Ok(()),
        });
    let claims = id_token.claims(&verifier, &Nonce::new(trip.nonce.clone()))?;
    Ok(claims.subject().to_string())
}

/// Verifies an ID token presented as a login to an identity pool: signed by a key `issuer`
/// publishes (discovery and JWKS, cached; fetched again once for an unknown key), `iss`,
/// `exp`, `iat` (5 minutes of skew), and its `azp` (or, without one, an `aud`) among
/// `audiences`, as Cognito checks OpenID logins. Any nonce. Returns its claims.
pub async fn verify_login(
    federation: &Federation,
    issuer: &str,
    audiences: &[String],
    token: &str,
    now: DateTime<Utc>,
) -> Result<serde_json::Map<String, serde_json::Value>, FederationError> {
    use std::str::FromStr;
    let rejected = |why: &str| FederationError::Rejected(format!("ID token: {why}"));
    if token.len() > 16 * 1024 {
        return Err(rejected("too long"));
    }
    let id_token = CoreIdToken::from_str(token).map_err(|_| rejected("not a JWT"))?;
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|p| serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&p).ok())
        .ok_or_else(|| rejected("payload"))?;
    // The client the token is for: its azp, or else the one of its audiences we know.
    let azp = payload.get("azp").and_then(serde_json::Value::as_str);
    let auds: Vec<&str> = match payload.get("aud") {
        Some(serde_json::Value::String(a)) => vec![a.as_str()],
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => Vec::new(),
    };
    let client = match azp {
        Some(azp) => audiences.iter().find(|c| c.as_str() == azp),
        None => audiences.iter().find(|c| auds.contains(&c.as_str())),
    }
    .ok_or_else(|| rejected("it is not for a client this identity pool trusts"))?
    .clone();
    let check = |doc: Metadata| -> Result<(), ClaimsVerificationError> {
        let c = CoreClient::from_provider_metadata(doc, ClientId::new(client.clone()), None);
        let verifier = c
            .id_token_verifier()
            .set_other_audience_verifier_fn(|_| true)
            .set_time_fn(move || now)
            .set_issue_time_verifier_fn(move |iat| match iat > now + MAX_SKEW {
                true => Err("issued in the future".into()),
                false => Ok(()),
            });
        id_token
            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .map(|_| ())
    };
    let doc = metadata_of(federation, issuer, now, false).await?;
    match check(doc) {
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => check(metadata_of(federation, issuer, now, true).await?),
        other => other,
    }
    .map_err(|e| FederationError::Rejected(format!("ID token: {}", chain(&e))))?;
    Ok(payload)
}
