//! Authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636): single use through an
//! atomic take; a replayed code revokes what its first redemption issued.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::TokenResponse;
use super::issue::{UserGrant, access_ttl, load_user, new_family, user_tokens};
use crate::clients::GrantType;
use crate::clock::RandomExt;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::code::{self, Redeemed};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::oidc::{introspect, pkce};
use crate::pools::PoolRuntime;
use crate::state::AppState;
use crate::store::sql::refresh_tokens;

pub async fn grant(
    st: &AppState,
    rt: &PoolRuntime,
    auth: &AuthenticatedClient,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let client = &auth.client;
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use authorization_code",
        ));
    }
    let presented = params.require("code")?;
    // What this redemption will issue is decided before the take, and recorded right after
    // it: a replay arriving while we are still signing can already revoke it.
    let (jti, family) = (st.random.token(16), new_family(st, client, now));
    let access_exp = now.timestamp() + access_ttl(st, client);
    let grant = match code::redeem(st, rt, presented).await? {
        Ok(g) => {
            let marker = Redeemed {
                family_id: Some(family.0.clone()),
                jti: jti.clone(),
                exp: access_exp,
            };
            let ttl = Duration::from_secs(
                u64::try_from(access_exp - now.timestamp())
                    .unwrap_or(60)
                    .max(60),
            );
            code::mark_redeemed(st, rt, presented, &marker, ttl).await?;
            g
        }
        Err(Some(first)) => {
            // A second redemption: someone else holds the code. Revoke what it bought.
            tracing::warn!(pool = %rt.pool.id, client_id = %client.client_id, "authorization code replayed; revoking its tokens");
            introspect::deny_access_token(st, rt, &first.jti, first.exp, now).await?;
            if let Some(family) = first.family_id {
                code::mark_replayed(st, rt, presented).await?;
                let pool = rt.pool.id.clone();
                st.sql
                    .run(move |c| refresh_tokens::revoke_family(c, &pool, &family, now))
                    .await?;
            }
            return Err(OAuthError::invalid_grant(
                "the authorization code has already been used",
            ));
        }
        Err(None) => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid or expired",
            ));
        }
    };
    if grant.client_id != client.client_id.as_str() {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if params.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&grant.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify(verifier, challenge) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent for a code issued without PKCE",
            ));
        }
        (None, None) => {}
    }
    let (user, groups) = load_user(st, rt, &grant.sub).await?;
    let issued = user_tokens(
        st,
        rt,
        UserGrant {
            user: &user,
            groups: &groups,
            client,
            scope: &grant.scope,
            refresh_scope: &grant.scope,
            jti,
            nonce: grant.nonce.as_deref(),
            auth_time: grant.auth_time,
            amr: &grant.amr,
            family: family.clone(),
        },
        now,
    )?;
    if let Some(row) = issued.refresh {
        let pool = rt.pool.id.clone();
        st.sql
            .run(move |c| refresh_tokens::insert(c, &pool, &row))
            .await?;
        // A replay that came while we were issuing found no rows to revoke: do it now. This
        // redemption still answers (exactly one of two wins), with tokens already revoked.
        if code::was_replayed(st, rt, presented).await? {
            let (pool, family_id) = (rt.pool.id.clone(), family.0);
            st.sql
                .run(move |c| refresh_tokens::revoke_family(c, &pool, &family_id, now))
                .await?;
        }
    }
    Ok(issued.response)
}
