//! The credentials broker (`GetCredentialsForIdentity`, Cognito's enhanced flow done by
//! Tessera): the caller's logins are proved, the role chosen, an identity token minted for it
//! and traded at the pool's STS (`AssumeRoleWithWebIdentity`, AWS's Query API, which AWS STS
//! and S3-compatible stores speak) for temporary credentials. Tessera holds no credentials.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::IdentityError;
use super::flows::{Caller, authenticate_in, issue_as, pool_of};
use super::identities::strip_scheme;
use super::token::{self, TOKEN_SECS};
use crate::model::identity_pool::{Broker, RoleRefused};
use crate::state::AppState;

/// Temporary credentials from the STS.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_key: String,
    pub session_token: String,
    pub expiration: DateTime<Utc>,
}

/// `GetCredentialsForIdentity`: credentials for identity `id`, the caller proved by `logins`
/// (none: a guest), in the role the pool chooses or `custom_role` when the caller may take it.
pub async fn credentials(
    app: &AppState,
    id: &str,
    logins: &BTreeMap<String, String>,
    custom_role: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(String, Credentials), IdentityError> {
    if let Some(token) = identity_token_login(app, logins) {
        return with_identity_token(app, id, token, custom_role, now).await;
    }
    // Refused before anything is linked or merged.
    let pool = pool_of(app, id).await?;
    let Some(broker) = pool.settings.broker.clone() else {
        return Err(no_broker());
    };
    let caller = authenticate_in(app, pool, id, logins, now).await?;
    let role = role_for(&caller, custom_role)?;
    let none = BTreeMap::new();
    let web_token = issue_as(app, &caller, Some(&role), &none, TOKEN_SECS, now).await?;
    let guest = caller.logins.is_empty();
    let creds = assume_role(app, &broker, &role, &web_token.token, guest).await?;
    Ok((caller.identity_id, creds))
}

/// The keys under which an identity token of this server is itself the login (Cognito's
/// developer-authenticated enhanced flow: `{"cognito-identity.amazonaws.com": token}`).
fn identity_token_login<'a>(
    app: &AppState,
    logins: &'a BTreeMap<String, String>,
) -> Option<&'a str> {
    let issuer = token::issuer(app);
    let ours = strip_scheme(&issuer);
    match logins.iter().next() {
        Some((k, t))
            if logins.len() == 1 && (k == "cognito-identity.amazonaws.com" || k == ours) =>
        {
            Some(t.as_str())
        }
        _ => None,
    }
}

/// Credentials for an identity token this server signed for identity `id` (a developer's
/// token, say): its role, or the default role of its kind; the token itself goes to the STS.
async fn with_identity_token(
    app: &AppState,
    id: &str,
    token: &str,
    custom_role: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(String, Credentials), IdentityError> {
    let invalid = || IdentityError::NotAuthorized("Invalid login token.".into());
    let claims = token::verify(app, token, now).await.ok_or_else(invalid)?;
    if claims.get("sub").and_then(Value::as_str) != Some(id) {
        return Err(super::identities::logins_mismatch());
    }
    let pool_id = claims
        .get("aud")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    // The identity must still be there, in the token's pool (deleted identities get no
    // credentials).
    let pool = pool_of(app, id).await?;
    if pool.id != pool_id {
        return Err(IdentityError::NoIdentity(id.to_string()));
    }
    let Some(broker) = pool.settings.broker.clone() else {
        return Err(no_broker());
    };
    let guest = claims.get("auth_type").and_then(Value::as_str) != Some("authenticated");
    let which = if guest {
        "unauthenticated"
    } else {
        "authenticated"
    };
    let role = claims
        .get("role")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| pool.settings.roles.get(which).cloned())
        .ok_or_else(|| {
            IdentityError::Configuration(
                "Invalid identity pool configuration: no role is set for this kind of identity."
                    .into(),
            )
        })?;
    if custom_role.is_some_and(|c| c != role) {
        return Err(IdentityError::NotAuthorized(
            "CustomRoleArn is not a role this login may take.".into(),
        ));
    }
    let creds = assume_role(app, &broker, &role, token, guest).await?;
    Ok((id.to_string(), creds))
}

fn no_broker() -> IdentityError {
    IdentityError::Configuration(
        "This identity pool has no credentials broker (an STS endpoint); use GetOpenIdToken and trade the token yourself.".into(),
    )
}

/// The role to assume: `custom` only if the caller's own token names it (`cognito:roles`) or
/// it is the role the pool chooses anyway; otherwise the pool's choice.
fn role_for(caller: &Caller, custom: Option<&str>) -> Result<String, IdentityError> {
    let chosen = caller.role();
    let Some(custom) = custom else {
        return chosen.map_err(|e| match e {
            RoleRefused::Ambiguous => IdentityError::NotAuthorized(
                "The role mapping of this login chose no role, and it says Deny.".into(),
            ),
            RoleRefused::NoRole => IdentityError::Configuration(
                "Invalid identity pool configuration: no role is set for this kind of identity."
                    .into(),
            ),
        });
    };
    let in_token = caller
        .logins
        .first()
        .is_some_and(|l| match l.claims.get("cognito:roles") {
            Some(Value::Array(roles)) => roles.iter().any(|r| r.as_str() == Some(custom)),
            Some(Value::String(roles)) => roles.split(',').any(|r| r == custom),
            _ => false,
        });
    if in_token || chosen.as_deref() == Ok(custom) {
        Ok(custom.to_string())
    } else {
        Err(IdentityError::NotAuthorized(
            "CustomRoleArn is not a role this login may take.".into(),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleWithWebIdentityResponse {
    assume_role_with_web_identity_result: AssumeResult,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeResult {
    credentials: StsCredentials,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    error: StsError,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsError {
    code: String,
}

/// Calls `AssumeRoleWithWebIdentity` (unsigned: the token is the authentication) and reads
/// its XML answer. A refusal by the STS is the pool's configuration (its roles' trust
/// policies); a failure to answer is the STS's.
async fn assume_role(
    app: &AppState,
    broker: &Broker,
    role: &str,
    web_token: &str,
    guest: bool,
) -> Result<Credentials, IdentityError> {
    let url = Url::parse(&broker.sts_endpoint).map_err(|_| {
        IdentityError::Configuration("the broker's STS endpoint is not a URL".into())
    })?;
    let duration = broker.duration_seconds.to_string();
    let mut form = vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", broker.role_session_name.as_str()),
        ("WebIdentityToken", web_token),
        ("DurationSeconds", duration.as_str()),
    ];
    if guest && let Some(policy) = &broker.guest_session_policy {
        form.push(("Policy", policy.as_str()));
    }
    let (status, body) = app
        .federation
        .upstream
        .post_form_raw(&url, &form)
        .await
        .map_err(|e| IdentityError::External(format!("the STS did not answer: {e}")))?;
    let text = String::from_utf8_lossy(&body);
    if !(200..300).contains(&status) {
        let code = quick_xml::de::from_str::<ErrorResponse>(&text)
            .map(|e| e.error.code)
            .unwrap_or_else(|_| format!("HTTP {status}"));
        tracing::warn!(sts = %url.host_str().unwrap_or_default(), code, role, "the STS refused the identity token");
        return Err(if status >= 500 {
            IdentityError::External(format!("the STS failed ({code})"))
        } else {
            IdentityError::Configuration(format!(
                "Invalid identity pool configuration. Check assigned roles for this pool (the STS answered {code})."
            ))
        });
    }
    let parsed: AssumeRoleWithWebIdentityResponse = quick_xml::de::from_str(&text)
        .map_err(|_| IdentityError::External("the STS answered no credentials".into()))?;
    let c = parsed.assume_role_with_web_identity_result.credentials;
    let expiration = DateTime::parse_from_rfc3339(c.expiration.trim())
        .map_err(|_| IdentityError::External("the STS answered a bad expiration".into()))?
        .with_timezone(&Utc);
    Ok(Credentials {
        access_key_id: c.access_key_id,
        secret_key: c.secret_access_key,
        session_token: c.session_token,
        expiration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sts_answers() {
        let ok = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>local:1</SubjectFromWebIdentityToken>
    <Credentials>
      <SessionToken>tok</SessionToken>
      <SecretAccessKey>secret</SecretAccessKey>
      <Expiration>2026-12-06T12:00:00Z</Expiration>
      <AccessKeyId>ASIA1</AccessKeyId>
    </Credentials>
    <Provider>x</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#;
        let r: AssumeRoleWithWebIdentityResponse = quick_xml::de::from_str(ok).unwrap();
        let c = r.assume_role_with_web_identity_result.credentials;
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("ASIA1", "secret")
        );
        let err = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;
        let e: ErrorResponse = quick_xml::de::from_str(err).unwrap();
        assert_eq!(e.error.code, "AccessDenied");
    }
}
