//! Token sets for a signed-in user: access token, ID token (with `openid`), and a refresh token
//! in a rotation family (when the client may refresh). Shared by the code and refresh grants.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::TokenResponse;
use crate::clock::RandomExt;
use crate::crypto::sha256_hex;
use crate::model::GrantType;
use crate::oidc::claims;
use crate::oidc::error::OAuthError;
use crate::oidc::tokens::{AccessClaims, IdClaims, access_token, id_token};
use crate::pools::{PoolRuntime, Subject};
use crate::state::AppState;
use crate::store::sql::clients::Client;
use crate::store::sql::federation::{self, LinkedIdentity};
use crate::store::sql::groups;
use crate::store::sql::refresh_tokens::RefreshToken;
use crate::store::sql::users::{self, User};

/// What the grant decided to issue.
pub struct UserGrant<'a> {
    pub user: &'a User,
    /// The user's groups by precedence (`cognito:groups`).
    pub groups: &'a [String],
    /// The roles of those groups, by precedence (`cognito:roles`, `cognito:preferred_role`).
    pub roles: &'a [String],
    /// The upstream identities linked to the user (Cognito's `identities` claim).
    pub identities: &'a [LinkedIdentity],
    pub client: &'a Client,
    /// Scope of the access and ID tokens.
    pub scope: &'a str,
    /// Scope of the refresh token: a refresh that narrows `scope` keeps this whole (RFC 6749 §6).
    pub refresh_scope: &'a str,
    /// The access token's id, chosen early so a code replay can deny it before it exists.
    pub jti: String,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub amr: &'a [String],
    /// The SSO session the sign-in belongs to (OIDC `sid`).
    pub sid: Option<&'a str>,
    /// The refresh family and its absolute expiry (see [`new_family`]).
    pub family: (String, DateTime<Utc>),
}

/// The tokens plus what a later revocation needs to know.
pub struct Issued {
    pub response: TokenResponse,
    /// The refresh token row to store (the caller writes it in its own transaction).
    pub refresh: Option<RefreshToken>,
}

/// The token's user, if still allowed to sign in, with their groups and linked identities:
/// from the pool's memory, or read in one round trip (see [`PoolRuntime::subject`] for how
/// it is kept fresh).
pub async fn load_user(
    app: &AppState,
    tenant: &PoolRuntime,
    sub: &str,
) -> Result<Arc<Subject>, OAuthError> {
    let (pool, owned) = (tenant.pool.id.clone(), sub.to_string());
    let load = app.sql.run(move |c| {
        let Some(user) = users::find(c, &pool, &owned)?.filter(|u| u.enabled) else {
            return Ok(None);
        };
        let (groups, roles) = groups::with_roles_of_user(c, &pool, &owned)?;
        let identities = federation::of_user(c, &pool, &owned)?;
        Ok(Some(Subject {
            user: Arc::new(user),
            groups,
            roles,
            identities,
        }))
    });
    tenant
        .subject(sub, load)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user can no longer sign in"))
}

/// Cognito's `identities` claim (and the user attribute of that name): the upstream identities
/// linked to the user, the first being the one it was created with.
pub(crate) fn identities_claim(tenant: &PoolRuntime, linked: &[LinkedIdentity]) -> Value {
    let entries = linked.iter().enumerate().map(|(i, l)| {
        let provider = tenant.providers.iter().find(|p| p.name == l.provider);
        json!({
            "userId": l.subject,
            "providerName": l.provider,
            "providerType": provider.map_or("OIDC", |p| p.kind.cognito_type()),
            "issuer": provider.and_then(|p| p.settings.issuer.clone()),
            "primary": (i == 0).to_string(),
            "dateCreated": l.created_at.timestamp_millis().to_string(),
        })
    });
    Value::Array(entries.collect())
}

/// A new refresh family id and its absolute expiry (rotation never extends it).
pub fn new_family(app: &AppState, client: &Client, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let lifetime =
        TimeDelta::seconds(i64::try_from(client.settings.refresh_token_ttl).unwrap_or(2_592_000));
    (app.random.token(16), now + lifetime)
}

/// Access token lifetime for `client`, never beyond the key retention window.
pub fn access_ttl(app: &AppState, client: &Client) -> i64 {
    ttl(
        client.settings.access_token_ttl,
        app.config.max_token_lifetime_secs,
    )
}

fn ttl(secs: u64, max: u64) -> i64 {
    i64::try_from(secs.min(max)).unwrap_or(3600)
}

pub fn user_tokens(
    app: &AppState,
    tenant: &PoolRuntime,
    g: UserGrant<'_>,
    now: DateTime<Utc>,
) -> Result<Issued, OAuthError> {
    let max = app.config.max_token_lifetime_secs;
    let (access_ttl, id_ttl) = (
        access_ttl(app, g.client),
        ttl(g.client.settings.id_token_ttl, max),
    );
    let jti = g.jti;
    let access = access_token(
        tenant,
        &AccessClaims {
            sub: g.user.sub.as_str(),
            client_id: g.client.client_id.as_str(),
            scope: g.scope,
            jti: &jti,
            ttl_secs: access_ttl,
            auth_time: Some(g.auth_time),
            username: Some(&g.user.username),
            groups: g.groups,
            origin: Some(&g.family.0),
        },
        now,
    )?;
    let scopes: Vec<&str> = g.scope.split(' ').collect();
    let id = if scopes.contains(&"openid") {
        let c = IdClaims {
            client_id: g.client.client_id.as_str(),
            username: &g.user.username,
            groups: g.groups,
            roles: g.roles,
            nonce: g.nonce,
            auth_time: g.auth_time,
            amr: g.amr,
            sid: g.sid,
            access_token: &access,
            ttl_secs: id_ttl,
        };
        let mut user_claims = claims::for_scopes(g.user, &scopes, &g.client.settings);
        if !g.identities.is_empty() {
            user_claims.insert("identities".into(), identities_claim(tenant, g.identities));
        }
        Some(id_token(tenant, &c, user_claims, now)?)
    } else {
        None
    };
    // OIDC Core §11: a refresh token when offline_access was granted, or always for a client
    // set up the Cognito way.
    let offline = g.client.settings.always_refresh_token
        || g.refresh_scope.split(' ').any(|s| s == "offline_access");
    let (refresh_token, refresh) =
        if offline && g.client.grant_types.contains(&GrantType::RefreshToken) {
            let token = app.random.token(32);
            let (family_id, expires_at) = g.family;
            let row = RefreshToken {
                token_hash: sha256_hex(token.as_bytes()),
                family_id,
                sub: g.user.sub.to_string(),
                client_id: g.client.client_id.to_string(),
                scope: g.refresh_scope.to_string(),
                auth_time: g.auth_time,
                amr: g.amr.to_vec(),
                issued_at: now,
                expires_at,
                used_at: None,
                revoked_at: None,
                sid: g.sid.map(str::to_string),
            };
            (Some(token), Some(row))
        } else {
            (None, None)
        };
    Ok(Issued {
        response: TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: access_ttl,
            refresh_token,
            id_token: id,
            scope: g.scope.to_string(),
            issued_token_type: None,
        },
        refresh,
    })
}
