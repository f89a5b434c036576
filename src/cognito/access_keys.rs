//! Access keys for the Cognito API's administrative operations (`tessera access-key
//! create|list|delete`), and the SigV4 check of a signed call. The secret is shown once and
//! stored sealed with the master key: verifying a signature needs the secret itself.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::ApiError;
use crate::clock::RandomExt;
use crate::crypto::sigv4::{self, Expect, SigV4Error};
use crate::ids::Secret;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::access_keys::{self as rows, AccessKey};

/// The signing service name clients use for the user-pool API.
pub const SERVICE: &str = "cognito-idp";
/// The SigV4 service name of the Cognito Identity (identity pools) API.
pub const IDENTITY_SERVICE: &str = "cognito-identity";
/// How far a request's time may be from ours (AWS's own bound).
const MAX_SKEW: TimeDelta = TimeDelta::minutes(5);
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// A new key with its secret, shown exactly once.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: AccessKey,
    #[serde(serialize_with = "expose")]
    pub secret_access_key: Secret,
}

fn expose<S: serde::Serializer>(s: &Secret, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose())
}

#[derive(Debug, thiserror::Error)]
pub enum AccessKeyError {
    #[error("no access key {0:?}")]
    NotFound(String),
    #[error("cannot seal the secret: {0}")]
    Seal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn context(id: &str) -> String {
    format!("access-key/{id}")
}

/// Creates a key: an id like AWS's (`AKIA` and 16 upper-case letters and digits) and a
/// 40-character secret.
pub async fn create(
    app: &AppState,
    description: &str,
    now: DateTime<Utc>,
) -> Result<CreatedKey, AccessKeyError> {
    let id = format!(
        "AKIA{}",
        app.random
            .string_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    );
    let secret = Secret::new(app.random.string_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    ));
    let sealed = app
        .master_key
        .seal(
            secret.expose().as_bytes(),
            &context(&id),
            app.random.as_ref(),
        )
        .map_err(|e| AccessKeyError::Seal(e.to_string()))?;
    let key = AccessKey {
        access_key_id: id,
        secret_sealed: sealed,
        description: description.to_string(),
        created_at: now,
        last_used_at: None,
    };
    let row = key.clone();
    app.sql.run(move |c| rows::insert(c, &row)).await?;
    Ok(CreatedKey {
        key,
        secret_access_key: secret,
    })
}

pub async fn list(app: &AppState) -> Result<Vec<AccessKey>, AccessKeyError> {
    Ok(app.sql.run(rows::list).await?)
}

pub async fn delete(app: &AppState, id: &str) -> Result<(), AccessKeyError> {
    let i = id.to_string();
    if app.sql.run(move |c| rows::delete(c, &i)).await? {
        Ok(())
    } else {
        Err(AccessKeyError::NotFound(id.to_string()))
    }
}

/// Checks that `raw` is signed by a known access key for this service and region; returns
/// the key's id.
pub async fn authenticate(
    app: &AppState,
    service: &str,
    raw: &sigv4::Request<'_>,
    authorization: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let header = authorization.ok_or(SigV4Error::Missing)?;
    let auth = sigv4::parse_authorization(header)?;
    let id = auth.access_key_id.clone();
    let key = app
        .sql
        .run(move |c| rows::find(c, &id))
        .await?
        .ok_or_else(|| {
            ApiError::unrecognized_client("The security token included in the request is invalid.")
        })?;
    let secret = app
        .master_key
        .unseal(&key.secret_sealed, &context(&key.access_key_id))
        .map_err(ApiError::internal)?;
    let secret = String::from_utf8(secret).map_err(ApiError::internal)?;
    let expect = Expect {
        region: &app.config.region,
        service,
        must_sign: &["x-amz-target"],
        now,
        max_skew: MAX_SKEW,
    };
    sigv4::verify(raw, &auth, &secret, &expect)?;
    if key.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY) {
        let id = key.access_key_id.clone();
        if let Err(e) = app.sql.run(move |c| rows::touch(c, &id, now)).await {
            tracing::warn!(error = %e, "cannot record an access key's use");
        }
    }
    Ok(key.access_key_id)
}
