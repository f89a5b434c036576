//! OIDC Back-Channel Logout 1.0: when a session ends, a signed logout token is POSTed to each
//! client that received tokens in it and registered a `backchannel_logout_uri`. Delivery runs
//! in the background with bounded retries, so a slow or dead receiver never holds up the user.

use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::http;
use serde_json::{Map, Value, json};

use super::error::OAuthError;
use super::tokens::sign;
use crate::clock::RandomExt;
use crate::federation::upstream::Upstream;
use crate::pools::PoolRuntime;
use crate::sessions::Ended;
use crate::state::AppState;

/// The event member that makes a JWT a logout token (§2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid: long enough for the last retry.
const TOKEN_TTL_SECS: i64 = 120;

/// Waits before each attempt: at once, then twice more.
const ATTEMPTS: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(2),
    Duration::from_secs(10),
];

/// A logout token for `client_id` about the session `sid` of `sub` (§2.4): `typ` logout+jwt,
/// `iss`, `aud`, `iat`, `exp`, `jti`, `sub`, `sid`, `events`; never a `nonce`.
pub fn logout_token(
    tenant: &PoolRuntime,
    client_id: &str,
    ended: &Ended,
    jti: &str,
    now: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let iat = now.timestamp();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(tenant.issuer));
    claims.insert("aud".into(), json!(client_id));
    claims.insert("iat".into(), json!(iat));
    claims.insert("exp".into(), json!(iat + TOKEN_TTL_SECS));
    claims.insert("jti".into(), json!(jti));
    claims.insert("sub".into(), json!(ended.sub));
    if !ended.sid.is_empty() {
        claims.insert("sid".into(), json!(ended.sid));
    }
    claims.insert("events".into(), json!({ EVENT: {} }));
    sign(tenant, "logout+jwt", claims, now)
}

/// Tells every client of the ended session that registered a back-channel logout URI; returns
/// how many deliveries were started.
pub fn notify(app: &AppState, tenant: &PoolRuntime, ended: &Ended, now: DateTime<Utc>) -> usize {
    let mut started = 0;
    for client_id in &ended.clients {
        let Some(client) = tenant.clients.get(client_id) else {
            continue;
        };
        let Some(uri) = client.settings.backchannel_logout_uri.clone() else {
            continue;
        };
        let token = match logout_token(tenant, client_id, ended, &app.random.token(16), now) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(client_id = %client_id, error = %e, "logout token not signed");
                continue;
            }
        };
        let upstream = app.federation.upstream.clone();
        let client_id = client_id.clone();
        let work = async move { deliver(&upstream, &client_id, &uri, &token).await };
        if app.background.spawn("back-channel logout", work) {
            started += 1;
        }
    }
    started
}

/// POSTs `logout_token` (§2.5) until the receiver answers 2xx, refuses it (4xx: retrying
/// would not help), or the attempts run out.
async fn deliver(upstream: &Upstream, client_id: &str, uri: &str, token: &str) {
    let body = format!("logout_token={token}").into_bytes();
    let mut last = String::new();
    for wait in ATTEMPTS {
        tokio::time::sleep(wait).await;
        let request = http::Request::post(uri)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.clone());
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                return tracing::warn!(client_id, error = %e, "back-channel logout URI unusable");
            }
        };
        match upstream.send(request).await {
            Ok(res) if res.status().is_success() => {
                return tracing::info!(client_id, "back-channel logout delivered");
            }
            Ok(res) if res.status().is_client_error() => {
                let status = res.status().as_u16();
                let said: Value = serde_json::from_slice(res.body()).unwrap_or(Value::Null);
                let error = said
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                return tracing::warn!(
                    client_id,
                    status,
                    error,
                    "back-channel logout refused by the client"
                );
            }
            Ok(res) => last = format!("status {}", res.status().as_u16()),
            Err(e) => last = e.to_string(),
        }
    }
    tracing::warn!(client_id, error = %last, attempts = ATTEMPTS.len(), "back-channel logout not delivered");
}
