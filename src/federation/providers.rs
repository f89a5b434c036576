//! A pool's identity providers: operator administration (names, kinds, endpoints, sealed
//! client secrets) and the resolved configuration a sign-in uses, with each kind's documented
//! defaults filled in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use url::Url;

use super::FederationError;
use super::upstream::check_url;
use crate::ids::{PoolId, Secret};
use crate::model::{ProviderKind, ProviderSettings};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::federation::{self as rows, ProviderRecord};

/// The Graph API version Facebook calls are pinned to.
pub const FACEBOOK_GRAPH: &str = "v21.0";
/// The reserved name of the pool's own sign-in (Cognito's).
pub const COGNITO: &str = "COGNITO";

/// A provider ready for a sign-in: defaults applied, secret unsealed.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    /// OpenID kinds: the issuer whose discovery document is used.
    pub issuer: Option<Url>,
    pub authorize_url: Option<Url>,
    pub token_url: Option<Url>,
    pub userinfo_url: Option<Url>,
    pub mapping: BTreeMap<String, String>,
}

/// What an operator gives to create or change a provider.
#[derive(Debug, Clone, Default)]
pub struct ProviderSpec {
    pub name: Option<String>,
    pub kind: Option<ProviderKind>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub settings: ProviderSettings,
}

fn sealing_context(pool: &PoolId, name: &str) -> String {
    format!("idp-secret:{pool}:{name}")
}

fn defaults(
    kind: ProviderKind,
) -> (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
) {
    match kind {
        ProviderKind::Google => (
            &["openid", "email", "profile"],
            &[
                ("email", "email"),
                ("email_verified", "email_verified"),
                ("name", "name"),
                ("given_name", "given_name"),
                ("family_name", "family_name"),
                ("picture", "picture"),
                ("locale", "locale"),
            ],
        ),
        ProviderKind::Oidc => (
            &["openid", "email", "profile"],
            &[
                ("email", "email"),
                ("email_verified", "email_verified"),
                ("name", "name"),
                ("given_name", "given_name"),
                ("family_name", "family_name"),
            ],
        ),
        ProviderKind::Facebook => (
            &["public_profile", "email"],
            &[
                ("email", "email"),
                ("name", "name"),
                ("given_name", "first_name"),
                ("family_name", "last_name"),
            ],
        ),
        ProviderKind::Amazon => (&["profile"], &[("email", "email"), ("name", "name")]),
    }
}

/// The kind's documented endpoints: (issuer, authorize, token, userinfo).
fn endpoints(kind: ProviderKind) -> [Option<String>; 4] {
    let graph = |p: &str| Some(format!("https://graph.facebook.com/{FACEBOOK_GRAPH}{p}"));
    match kind {
        ProviderKind::Google => [Some("https://accounts.google.com".into()), None, None, None],
        ProviderKind::Oidc => [None, None, None, None],
        ProviderKind::Facebook => [
            None,
            Some(format!(
                "https://www.facebook.com/{FACEBOOK_GRAPH}/dialog/oauth"
            )),
            graph("/oauth/access_token"),
            graph("/me"),
        ],
        ProviderKind::Amazon => [
            None,
            Some("https://www.amazon.com/ap/oa".into()),
            Some("https://api.amazon.com/auth/o2/token".into()),
            Some("https://api.amazon.com/user/profile".into()),
        ],
    }
}

fn parse_url(
    what: &str,
    raw: Option<&String>,
    default: Option<String>,
) -> Result<Option<Url>, FederationError> {
    let Some(raw) = raw.cloned().or(default) else {
        return Ok(None);
    };
    let url = Url::parse(&raw).map_err(|e| FederationError::Config(format!("{what}: {e}")))?;
    check_url(&url)?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(FederationError::Config(format!(
            "{what}: no fragment or credentials"
        )));
    }
    Ok(Some(url))
}

impl Provider {
    /// Resolves a stored provider: the kind's defaults where the operator set nothing, the
    /// secret unsealed.
    pub fn resolve(app: &AppState, record: &ProviderRecord) -> Result<Self, FederationError> {
        let s = &record.settings;
        let [issuer, authorize, token, userinfo] = endpoints(record.kind);
        let (scopes, mapping) = defaults(record.kind);
        let secret = app.master_key.unseal(
            &record.client_secret_sealed,
            &sealing_context(&record.pool_id, &record.name),
        )?;
        let secret = String::from_utf8(secret)
            .map_err(|_| FederationError::Config("client secret is not text".into()))?;
        let provider = Self {
            name: record.name.clone(),
            kind: record.kind,
            client_id: record.client_id.clone(),
            client_secret: Secret::new(secret),
            scopes: match s.scopes.is_empty() {
                true => scopes.iter().map(|x| x.to_string()).collect(),
                false => s.scopes.clone(),
            },
            issuer: parse_url("issuer", s.issuer.as_ref(), issuer)?,
            authorize_url: parse_url("authorize URL", s.authorize_url.as_ref(), authorize)?,
            token_url: parse_url("token URL", s.token_url.as_ref(), token)?,
            userinfo_url: parse_url("userinfo URL", s.userinfo_url.as_ref(), userinfo)?,
            mapping: match s.mapping.is_empty() {
                true => mapping
                    .iter()
                    .map(|(a, c)| (a.to_string(), c.to_string()))
                    .collect(),
                false => s.mapping.clone(),
            },
        };
        provider.check()?;
        Ok(provider)
    }

    /// Each kind has what it needs to run a sign-in.
    fn check(&self) -> Result<(), FederationError> {
        let missing = |what: &str| {
            Err(FederationError::Config(format!(
                "{} needs {what}",
                self.kind.as_str()
            )))
        };
        match self.kind {
            ProviderKind::Google | ProviderKind::Oidc if self.issuer.is_none() => {
                missing("--issuer")
            }
            ProviderKind::Facebook | ProviderKind::Amazon
                if self.authorize_url.is_none()
                    || self.token_url.is_none()
                    || self.userinfo_url.is_none() =>
            {
                missing("authorize, token and userinfo URLs")
            }
            _ => Ok(()),
        }
    }
}

/// Cognito's rules for provider names, plus ours: 1 to 32 characters, no spaces, not starting
/// with `_`, not the reserved `COGNITO`; the social kinds keep their fixed names.
fn check_name(kind: ProviderKind, name: &str) -> Result<(), FederationError> {
    let bad = |why: &str| Err(FederationError::Config(format!("name {name:?}: {why}")));
    if let Some(fixed) = kind.default_name()
        && name != fixed
    {
        return bad(&format!("a {} provider is named {fixed}", kind.as_str()));
    }
    if name.is_empty() || name.chars().count() > 32 {
        return bad("1 to 32 characters");
    }
    if name.starts_with('_') || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("no spaces, and not starting with _");
    }
    if name.eq_ignore_ascii_case(COGNITO) {
        return bad("COGNITO is the pool's own sign-in");
    }
    Ok(())
}

/// Home-realm identifiers are email domains.
fn check_settings(s: &ProviderSettings) -> Result<(), FederationError> {
    for d in &s.identifiers {
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !ok {
            return Err(FederationError::Config(format!(
                "identifier {d:?} is not an email domain"
            )));
        }
    }
    if s.scopes
        .iter()
        .any(|x| x.is_empty() || x.contains(char::is_whitespace))
    {
        return Err(FederationError::Config("scopes are single words".into()));
    }
    Ok(())
}

/// Creates a provider; its secret is sealed with the master key.
pub async fn create(
    app: &AppState,
    pool: &PoolId,
    spec: ProviderSpec,
    now: DateTime<Utc>,
) -> Result<ProviderRecord, FederationError> {
    let kind = spec
        .kind
        .ok_or_else(|| FederationError::Config("a provider type is required".into()))?;
    let name = match (spec.name, kind.default_name()) {
        (Some(n), _) => n,
        (None, Some(fixed)) => fixed.to_string(),
        (None, None) => {
            return Err(FederationError::Config(
                "an oidc provider needs --name".into(),
            ));
        }
    };
    check_name(kind, &name)?;
    let (Some(client_id), Some(secret)) = (spec.client_id, spec.client_secret) else {
        return Err(FederationError::Config(
            "a client id and secret are required".into(),
        ));
    };
    let mut settings = spec.settings;
    settings.identifiers = settings
        .identifiers
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    check_settings(&settings)?;
    let record = ProviderRecord {
        pool_id: pool.clone(),
        client_secret_sealed: app.master_key.seal(
            secret.expose().as_bytes(),
            &sealing_context(pool, &name),
            app.random.as_ref(),
        )?,
        name,
        kind,
        client_id,
        settings,
        created_at: now,
        updated_at: now,
    };
    Provider::resolve(app, &record)?;
    let (row, pool2) = (record.clone(), pool.clone());
    app.sql
        .transaction(move |c| {
            rows::insert(c, &row)?;
            crate::store::sql::pools::bump_version(c, &pool2, now)
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => FederationError::NameTaken(record.name.clone()),
            other => other.into(),
        })?;
    app.pools.reload_after_change(app, pool).await;
    Ok(record)
}

/// Changes what `spec` sets (client id, secret, settings); the name and kind stay.
pub async fn update(
    app: &AppState,
    pool: &PoolId,
    name: &str,
    spec: ProviderSpec,
    now: DateTime<Utc>,
) -> Result<ProviderRecord, FederationError> {
    let mut record = find(app, pool, name).await?;
    if let Some(id) = spec.client_id {
        record.client_id = id;
    }
    if let Some(secret) = spec.client_secret {
        record.client_secret_sealed = app.master_key.seal(
            secret.expose().as_bytes(),
            &sealing_context(pool, &record.name),
            app.random.as_ref(),
        )?;
    }
    let mut settings = spec.settings;
    settings.identifiers = settings
        .identifiers
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    check_settings(&settings)?;
    record.settings = settings;
    record.updated_at = now;
    Provider::resolve(app, &record)?;
    let (row, pool2) = (record.clone(), pool.clone());
    app.sql
        .transaction(move |c| {
            rows::update(c, &row)?;
            crate::store::sql::pools::bump_version(c, &pool2, now)
        })
        .await?;
    app.pools.reload_after_change(app, pool).await;
    Ok(record)
}

pub async fn list(app: &AppState, pool: &PoolId) -> Result<Vec<ProviderRecord>, FederationError> {
    let pool = pool.clone();
    Ok(app.sql.run(move |c| rows::list(c, &pool)).await?)
}

pub async fn find(
    app: &AppState,
    pool: &PoolId,
    name: &str,
) -> Result<ProviderRecord, FederationError> {
    list(app, pool)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| FederationError::NotFound(name.to_string()))
}

/// Deletes a provider and the identities linked through it.
pub async fn delete(
    app: &AppState,
    pool: &PoolId,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), FederationError> {
    let (pool2, name2) = (pool.clone(), name.to_string());
    let deleted = app
        .sql
        .transaction(move |c| {
            let deleted = rows::delete(c, &pool2, &name2)?;
            crate::store::sql::pools::bump_version(c, &pool2, now)?;
            Ok(deleted)
        })
        .await?;
    if !deleted {
        return Err(FederationError::NotFound(name.to_string()));
    }
    app.pools.reload_after_change(app, pool).await;
    Ok(())
}
