//! Facebook and Login with Amazon logins of identity pools: access tokens, which only their
//! issuers can check. Each is asked, as Cognito asks them, which app the token belongs to (it
//! must be the pool's app id) and whose it is; a token they refuse is refused.

use serde_json::{Map, Value};
use url::Url;

use super::IdentityError;
use super::identities::Verified;
use crate::state::AppState;
use crate::store::sql::identity_pools::Login;

pub const FACEBOOK: &str = "graph.facebook.com";
pub const AMAZON: &str = "www.amazon.com";

/// A GET of `url` with the access token in the query: the JSON answer, refused (4xx) as a bad
/// login, failed otherwise as the provider's fault. The token never reaches a log or an error.
async fn ask(app: &AppState, url: &str, token: &str) -> Result<Value, IdentityError> {
    let external = |what: &str| IdentityError::External(format!("{what} did not answer properly"));
    let mut url = Url::parse(url).map_err(|_| external("the provider's API URL"))?;
    url.query_pairs_mut().append_pair("access_token", token);
    let req = openidconnect::http::Request::get(url.as_str())
        .header(openidconnect::http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|_| external("the provider"))?;
    let res = app
        .federation
        .upstream
        .send(req)
        .await
        .map_err(|e| IdentityError::External(e.to_string()))?;
    let status = res.status().as_u16();
    if (400..500).contains(&status) {
        return Err(IdentityError::NotAuthorized("Invalid login token.".into()));
    }
    if !res.status().is_success() {
        return Err(external("the provider"));
    }
    serde_json::from_slice(res.body()).map_err(|_| external("the provider"))
}

fn verified(provider: &str, subject: String, claims: Map<String, Value>) -> Verified {
    Verified {
        login: Login {
            provider: provider.to_string(),
            subject: subject.clone(),
        },
        mapping_key: provider.to_string(),
        amr: format!("{provider}:{subject}"),
        claims: Value::Object(claims),
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A Facebook access token of the app `app_id`: Graph's `/app` names the token's app, `/me`
/// its user.
pub async fn facebook(
    app: &AppState,
    app_id: &str,
    token: &str,
) -> Result<Verified, IdentityError> {
    let graph = app.config.facebook_graph_url.trim_end_matches('/');
    let owner = ask(app, &format!("{graph}/app"), token).await?;
    if text(&owner, "id").as_deref() != Some(app_id) {
        return Err(IdentityError::NotAuthorized(
            "Invalid login token. The token is for another app.".into(),
        ));
    }
    let me = ask(app, &format!("{graph}/me?fields=id"), token).await?;
    let user = text(&me, "id")
        .ok_or_else(|| IdentityError::NotAuthorized("Invalid login token.".into()))?;
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::String(user.clone()));
    claims.insert("aud".into(), Value::String(app_id.to_string()));
    Ok(verified(FACEBOOK, user, claims))
}

/// A Login with Amazon access token of the client (or app) `app_id`: `tokeninfo` names both
/// and the user.
pub async fn amazon(app: &AppState, app_id: &str, token: &str) -> Result<Verified, IdentityError> {
    let api = app.config.amazon_api_url.trim_end_matches('/');
    let info = ask(app, &format!("{api}/auth/o2/tokeninfo"), token).await?;
    let ours = [text(&info, "aud"), text(&info, "app_id")]
        .iter()
        .any(|id| id.as_deref() == Some(app_id));
    if !ours {
        return Err(IdentityError::NotAuthorized(
            "Invalid login token. The token is for another app.".into(),
        ));
    }
    let user = text(&info, "user_id")
        .ok_or_else(|| IdentityError::NotAuthorized("Invalid login token.".into()))?;
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::String(user.clone()));
    claims.insert("aud".into(), Value::String(app_id.to_string()));
    Ok(verified(AMAZON, user, claims))
}
