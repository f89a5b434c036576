//! App clients (relying parties): registration rules, redirect URI rules, secrets, and
//! administration.

pub mod redirect;

use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

use crate::clock::RandomExt;
use crate::crypto::sha256_hex;
use crate::ids::{ClientId, PoolId, Secret};
use crate::model::client::COGNITO;
use crate::model::{ClientSettings, GrantType};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::clients::{self as client_rows, Client};

/// What an operator asks for when registering a client.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub logout_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    /// Legacy confidential clients that cannot send PKCE (RFC 9700 still recommends it).
    pub pkce_optional: bool,
    /// Sign-ins for this client need MFA.
    pub require_mfa: bool,
    /// A resource server of the pool: may introspect every client's access tokens.
    pub introspect_any: bool,
    /// A refresh token with every code exchange, `offline_access` or not (as Cognito does).
    pub always_refresh_token: bool,
    /// OIDC Back-Channel Logout: where logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    /// Browser origins allowed besides those of the redirect URIs (CORS).
    pub allowed_origins: Vec<String>,
    /// Cognito API sign-in flows (`ALLOW_USER_PASSWORD_AUTH`...); empty: Cognito's default
    /// (SRP and refresh).
    pub explicit_auth_flows: Vec<String>,
    /// Token lifetimes in seconds; `None` keeps the defaults (1 h, 1 h, 30 days).
    pub access_token_ttl: Option<u64>,
    pub id_token_ttl: Option<u64>,
    pub refresh_token_ttl: Option<u64>,
    /// Where its users may sign in: `COGNITO` and names of the pool's identity providers;
    /// empty keeps the default (`COGNITO` only).
    pub identity_providers: Vec<String>,
    /// Attributes its tokens may carry (`None`: all the scopes grant).
    pub read_attributes: Option<Vec<String>>,
    /// Attributes its users may set through it (`None`: what the pool lets users write).
    pub write_attributes: Option<Vec<String>>,
}

/// A freshly created client with its secret, shown exactly once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: Client,
    #[serde(
        serialize_with = "expose_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_secret: Option<Secret>,
}

fn expose_secret<S: serde::Serializer>(s: &Option<Secret>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_str(s.expose()),
        None => ser.serialize_none(),
    }
}

/// Errors of client administration.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid client: {0}")]
    Invalid(String),
    #[error("no client {0:?} in this pool")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "phone", "offline_access"];

fn invalid(msg: impl Into<String>) -> ClientError {
    ClientError::Invalid(msg.into())
}

/// Checks a redirect or logout URI: absolute, no fragment; https, or http on loopback only,
/// or a private-use scheme for native apps (RFC 8252 §7.1).
pub fn check_redirect_uri(raw: &str) -> Result<(), ClientError> {
    if raw.len() > 2048 {
        return Err(invalid("redirect URI longer than 2048 characters"));
    }
    let u = Url::parse(raw)
        .map_err(|e| invalid(format!("redirect URI {raw:?} is not an absolute URL: {e}")))?;
    if u.fragment().is_some() {
        return Err(invalid(format!(
            "redirect URI {raw:?} must not have a fragment"
        )));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" if redirect::is_loopback(&u) => Ok(()),
        "http" => Err(invalid(format!(
            "redirect URI {raw:?}: http is allowed only on loopback; use https"
        ))),
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" | "ws" | "wss" => {
            Err(invalid(format!(
                "redirect URI {raw:?}: scheme {} is not allowed",
                u.scheme()
            )))
        }
        s if s.contains('.') => Ok(()), // reverse-domain private-use scheme
        s => Err(invalid(format!(
            "redirect URI {raw:?}: custom scheme {s:?} must be a reverse domain name (e.g. com.example.app)"
        ))),
    }
}

/// OIDC Back-Channel Logout §2.2: an absolute http(s) URL without a fragment; https unless
/// on loopback.
fn backchannel_uri(raw: Option<&str>) -> Result<Option<String>, ClientError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let bad = |why: &str| invalid(format!("back-channel logout URI {raw:?}: {why}"));
    let u = Url::parse(raw).map_err(|e| bad(&format!("not an absolute URL: {e}")))?;
    if raw.len() > 2048 || u.fragment().is_some() {
        return Err(bad("at most 2048 characters and no fragment"));
    }
    match u.scheme() {
        "https" => Ok(Some(raw.to_string())),
        "http" if redirect::is_loopback(&u) => Ok(Some(raw.to_string())),
        _ => Err(bad("https is required (http only on loopback)")),
    }
}

fn check_scope(s: &str) -> Result<(), ClientError> {
    // RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E
    let ok = !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("scope {s:?} is not a valid scope token")))
    }
}

/// Validates a spec and fills in defaults.
fn normalize(mut spec: ClientSpec) -> Result<ClientSpec, ClientError> {
    spec.name = spec.name.trim().to_string();
    if spec.name.is_empty()
        || spec.name.chars().count() > 128
        || spec.name.chars().any(char::is_control)
    {
        return Err(invalid("name must be 1 to 128 printable characters"));
    }
    if spec.grant_types.is_empty() {
        spec.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    }
    spec.grant_types.sort_by_key(|g| *g as u8);
    spec.grant_types.dedup();
    if spec.public && spec.pkce_optional {
        return Err(invalid("a public client must use PKCE"));
    }
    if spec.public && spec.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(invalid(
            "a public client cannot use client_credentials (it has no secret)",
        ));
    }
    let code = spec.grant_types.contains(&GrantType::AuthorizationCode);
    if code && spec.redirect_uris.is_empty() {
        return Err(invalid(
            "authorization_code needs at least one --redirect-uri",
        ));
    }
    // Without the code grant a refresh token comes only from the Cognito API's sign-in.
    let api_refresh = spec.explicit_auth_flows.is_empty()
        || spec
            .explicit_auth_flows
            .iter()
            .any(|f| f.ends_with("REFRESH_TOKEN_AUTH"));
    if !code && spec.grant_types.contains(&GrantType::RefreshToken) && !api_refresh {
        return Err(invalid(
            "refresh_token is only useful with authorization_code or ALLOW_REFRESH_TOKEN_AUTH",
        ));
    }
    if spec.redirect_uris.len() > 100 || spec.logout_uris.len() > 100 {
        return Err(invalid("at most 100 redirect and 100 logout URIs"));
    }
    for u in spec.redirect_uris.iter().chain(&spec.logout_uris) {
        check_redirect_uri(u)?;
    }
    spec.redirect_uris.dedup();
    if spec.scopes.is_empty() {
        spec.scopes = STANDARD_SCOPES.iter().map(|s| s.to_string()).collect();
    }
    for s in &spec.scopes {
        check_scope(s)?;
    }
    spec.scopes.sort();
    spec.scopes.dedup();
    Ok(spec)
}

/// The scopes a client may request that are not standard OIDC scopes (for client_credentials).
pub fn custom_scopes(client: &Client) -> Vec<&str> {
    client
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !STANDARD_SCOPES.contains(s))
        .collect()
}

/// Per-client settings from a spec; lifetimes bounded as Cognito bounds them.
fn settings_of(spec: &ClientSpec) -> Result<ClientSettings, ClientError> {
    let d = ClientSettings::default();
    let bounded = |v: Option<u64>, default: u64, min: u64, max: u64, what: &str| match v {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(_) => Err(invalid(format!(
            "{what} must be between {min} and {max} seconds"
        ))),
    };
    Ok(ClientSettings {
        access_token_ttl: bounded(
            spec.access_token_ttl,
            d.access_token_ttl,
            300,
            86_400,
            "access token lifetime",
        )?,
        id_token_ttl: bounded(
            spec.id_token_ttl,
            d.id_token_ttl,
            300,
            86_400,
            "ID token lifetime",
        )?,
        refresh_token_ttl: bounded(
            spec.refresh_token_ttl,
            d.refresh_token_ttl,
            3600,
            3650 * 86_400,
            "refresh token lifetime",
        )?,
        require_pkce: !spec.pkce_optional,
        require_mfa: spec.require_mfa,
        introspect_any: spec.introspect_any,
        always_refresh_token: spec.always_refresh_token,
        backchannel_logout_uri: backchannel_uri(spec.backchannel_logout_uri.as_deref())?,
        allowed_origins: origin_list(&spec.allowed_origins)?,
        explicit_auth_flows: auth_flows(&spec.explicit_auth_flows, d.explicit_auth_flows)?,
        identity_providers: match spec.identity_providers.is_empty() {
            true => d.identity_providers,
            false => spec.identity_providers.clone(),
        },
        read_attributes: attribute_list(spec.read_attributes.as_ref())?,
        write_attributes: attribute_list(spec.write_attributes.as_ref())?,
    })
}

/// ExplicitAuthFlows: known names only (a legacy name without `ALLOW_` is accepted), sorted,
/// unique; none given is the default.
fn auth_flows(given: &[String], default: Vec<String>) -> Result<Vec<String>, ClientError> {
    if given.is_empty() {
        return Ok(default);
    }
    let mut out = Vec::new();
    for f in given {
        let name = if f.starts_with("ALLOW_") {
            f.clone()
        } else {
            format!("ALLOW_{f}")
        };
        if !crate::model::client::AUTH_FLOWS.contains(&name.as_str()) {
            return Err(invalid(format!(
                "unknown auth flow {f:?} (one of {})",
                crate::model::client::AUTH_FLOWS.join(", ")
            )));
        }
        out.push(name);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Allowed origins: each `http(s)://host[:port]` and nothing more, kept in the serialised
/// form browsers send (`Origin`), sorted, unique.
fn origin_list(list: &[String]) -> Result<Vec<String>, ClientError> {
    let mut out = Vec::with_capacity(list.len());
    for given in list {
        let bad = || {
            invalid(format!(
                "allowed origin {given:?} must be scheme://host[:port]"
            ))
        };
        let url = url::Url::parse(given).map_err(|_| bad())?;
        let origin = url.origin();
        let o = origin.ascii_serialization();
        let lower = given.to_ascii_lowercase();
        if !matches!(url.scheme(), "http" | "https")
            || !origin.is_tuple()
            || (lower != o && lower != format!("{o}/"))
        {
            return Err(bad());
        }
        out.push(o);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A read or write list: standard attribute names, `email`, or `custom:NAME`; sorted, unique.
fn attribute_list(list: Option<&Vec<String>>) -> Result<Option<Vec<String>>, ClientError> {
    let Some(list) = list else { return Ok(None) };
    let mut out = Vec::with_capacity(list.len());
    for name in list {
        let custom_ok = name.strip_prefix("custom:").is_some_and(|c| {
            (1..=20).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        if !(custom_ok
            || name == "email"
            || crate::model::attributes::STANDARD.contains(&name.as_str()))
        {
            return Err(invalid(format!(
                "attribute {name:?} is not a standard attribute, email, or custom:NAME"
            )));
        }
        out.push(name.clone());
    }
    out.sort();
    out.dedup();
    Ok(Some(out))
}

/// A client with a write list must be able to write what its pool's sign-up requires
/// (Cognito refuses such a client too): otherwise its users could never sign up.
async fn check_writable(
    app: &AppState,
    pool: &PoolId,
    settings: &ClientSettings,
) -> Result<(), ClientError> {
    if settings.write_attributes.is_none() {
        return Ok(());
    }
    let p = pool.clone();
    let Some(found) = app
        .sql
        .run(move |c| crate::store::sql::pools::find(c, &p))
        .await?
    else {
        return Ok(());
    };
    let required = std::iter::once("email").chain(
        found
            .settings
            .required_attributes
            .iter()
            .map(String::as_str),
    );
    for name in required {
        if !settings.may_write(name) {
            return Err(invalid(format!(
                "the write attributes must include {name}: the pool's sign-up requires it"
            )));
        }
    }
    Ok(())
}

/// Each of a client's identity providers is `COGNITO` or a provider of the pool.
async fn check_providers(
    app: &AppState,
    pool: &PoolId,
    names: &[String],
) -> Result<(), ClientError> {
    let p = pool.clone();
    let known = app
        .sql
        .run(move |c| crate::store::sql::federation::list(c, &p))
        .await?;
    for name in names {
        if name != COGNITO && !known.iter().any(|k| &k.name == name) {
            return Err(invalid(format!(
                "identity provider {name:?} is not COGNITO or a provider of this pool"
            )));
        }
    }
    Ok(())
}

const CLIENT_ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Client secrets: 52 characters of this alphabet (~268 bits), matching the Cognito service
/// model's `[\w+]+` so AWS SDKs accept them.
const SECRET_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_LEN: usize = 52;

/// A new secret for `client_id`: the plain value (shown once), its hash and sealed form.
fn new_secret(
    app: &AppState,
    pool: &PoolId,
    client_id: &ClientId,
) -> Result<(Secret, String, String), ClientError> {
    let secret = Secret::new(app.random.string_from(SECRET_ALPHABET, SECRET_LEN));
    let sealed = app
        .master_key
        .seal(
            secret.expose().as_bytes(),
            &client_rows::secret_context(pool, client_id),
            app.random.as_ref(),
        )
        .map_err(|e| ClientError::Store(StoreError::Corrupt(e.to_string())))?;
    let hash = sha256_hex(secret.expose().as_bytes());
    Ok((secret, hash, sealed))
}

/// The plain secret of a confidential client, if it was kept sealed (clients created before
/// secrets were sealed have only the hash until rotated).
pub fn plain_secret(app: &AppState, client: &Client) -> Option<Secret> {
    let sealed = client.secret_sealed.as_deref()?;
    let context = client_rows::secret_context(&client.pool_id, &client.client_id);
    let plain = app.master_key.unseal(sealed, &context).ok()?;
    String::from_utf8(plain).ok().map(Secret::new)
}

/// Gives a confidential client a new secret (the old one stops working at once).
pub async fn rotate_secret(
    app: &AppState,
    pool: &PoolId,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<CreatedClient, ClientError> {
    let client = find(app, pool, client_id).await?;
    if client.is_public() {
        return Err(ClientError::Invalid(
            "a public client has no secret to rotate".into(),
        ));
    }
    let (secret, hash, sealed) = new_secret(app, pool, &client.client_id)?;
    let (p, id, h, s) = (
        pool.clone(),
        client.client_id.clone(),
        hash.clone(),
        sealed.clone(),
    );
    app.sql
        .transaction(move |c| {
            client_rows::set_secret(c, &p, &id, &h, &s, now)?;
            crate::store::sql::pools::bump_version(c, &p, now)
        })
        .await?;
    app.pools.reload_after_change(app, pool).await;
    Ok(CreatedClient {
        client: Client {
            secret_hash: Some(hash),
            secret_sealed: Some(sealed),
            updated_at: now,
            ..client
        },
        client_secret: Some(secret),
    })
}

/// Registers a client; a confidential client gets a secret, stored hashed and sealed.
pub async fn create(
    app: &AppState,
    pool: &PoolId,
    spec: ClientSpec,
    now: DateTime<Utc>,
) -> Result<CreatedClient, ClientError> {
    let spec = normalize(spec)?;
    let settings = settings_of(&spec)?;
    check_providers(app, pool, &settings.identity_providers).await?;
    check_writable(app, pool, &settings).await?;
    let client_id = ClientId::new(app.random.string_from(CLIENT_ID_ALPHABET, 26));
    let (secret, secret_hash, secret_sealed) = if spec.public {
        (None, None, None)
    } else {
        let (s, h, sealed) = new_secret(app, pool, &client_id)?;
        (Some(s), Some(h), Some(sealed))
    };
    let client = Client {
        pool_id: pool.clone(),
        client_id,
        name: spec.name,
        secret_hash,
        secret_sealed,
        redirect_uris: spec.redirect_uris,
        logout_uris: spec.logout_uris,
        grant_types: spec.grant_types,
        scopes: spec.scopes,
        first_party: spec.first_party,
        settings,
        created_at: now,
        updated_at: now,
    };
    let (row, p) = (client.clone(), pool.clone());
    app.sql
        .transaction(move |c| {
            client_rows::insert(c, &row)?;
            crate::store::sql::pools::bump_version(c, &p, now)
        })
        .await?;
    app.pools.reload_after_change(app, pool).await;
    Ok(CreatedClient {
        client,
        client_secret: secret,
    })
}

/// What `client update` may change; `None` (or an empty list) keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub logout_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub identity_providers: Vec<String>,
    pub first_party: Option<bool>,
    pub require_mfa: Option<bool>,
    pub introspect_any: Option<bool>,
    pub always_refresh_token: Option<bool>,
    /// `Some(uri)` sets the back-channel logout URI (an empty one removes it).
    pub backchannel_logout_uri: Option<String>,
    /// `Some(list)` replaces the allowed origins (an empty list: none beyond the redirect URIs).
    pub allowed_origins: Option<Vec<String>>,
    /// `Some(list)` replaces the Cognito API sign-in flows.
    pub explicit_auth_flows: Option<Vec<String>>,
    pub access_token_ttl: Option<u64>,
    pub id_token_ttl: Option<u64>,
    pub refresh_token_ttl: Option<u64>,
    /// `Some(list)` replaces the read list (an empty list: back to every attribute).
    pub read_attributes: Option<Vec<String>>,
    /// `Some(list)` replaces the write list (an empty list: back to the pool's rule).
    pub write_attributes: Option<Vec<String>>,
}

fn replace_if_given(current: &mut Vec<String>, given: Vec<String>) {
    if !given.is_empty() {
        *current = given;
    }
}

/// Changes a client under the same rules as registration; its id and secret stay.
pub async fn update(
    app: &AppState,
    pool: &PoolId,
    client_id: &str,
    changes: ClientChanges,
    now: DateTime<Utc>,
) -> Result<Client, ClientError> {
    let current = find(app, pool, client_id).await?;
    let s = &current.settings;
    let mut spec = ClientSpec {
        name: changes.name.unwrap_or_else(|| current.name.clone()),
        redirect_uris: current.redirect_uris.clone(),
        logout_uris: current.logout_uris.clone(),
        public: current.is_public(),
        grant_types: current.grant_types.clone(),
        scopes: current.scopes.clone(),
        first_party: changes.first_party.unwrap_or(current.first_party),
        pkce_optional: !s.require_pkce,
        require_mfa: changes.require_mfa.unwrap_or(s.require_mfa),
        introspect_any: changes.introspect_any.unwrap_or(s.introspect_any),
        always_refresh_token: changes
            .always_refresh_token
            .unwrap_or(s.always_refresh_token),
        backchannel_logout_uri: match changes.backchannel_logout_uri {
            Some(u) => Some(u).filter(|u| !u.is_empty()),
            None => s.backchannel_logout_uri.clone(),
        },
        allowed_origins: changes
            .allowed_origins
            .unwrap_or_else(|| s.allowed_origins.clone()),
        explicit_auth_flows: changes
            .explicit_auth_flows
            .unwrap_or_else(|| s.explicit_auth_flows.clone()),
        access_token_ttl: Some(changes.access_token_ttl.unwrap_or(s.access_token_ttl)),
        id_token_ttl: Some(changes.id_token_ttl.unwrap_or(s.id_token_ttl)),
        refresh_token_ttl: Some(changes.refresh_token_ttl.unwrap_or(s.refresh_token_ttl)),
        identity_providers: s.identity_providers.clone(),
        read_attributes: match changes.read_attributes {
            Some(l) => Some(l).filter(|l| !l.is_empty()),
            None => s.read_attributes.clone(),
        },
        write_attributes: match changes.write_attributes {
            Some(l) => Some(l).filter(|l| !l.is_empty()),
            None => s.write_attributes.clone(),
        },
    };
    replace_if_given(&mut spec.redirect_uris, changes.redirect_uris);
    replace_if_given(&mut spec.logout_uris, changes.logout_uris);
    replace_if_given(&mut spec.scopes, changes.scopes);
    replace_if_given(&mut spec.identity_providers, changes.identity_providers);
    let spec = normalize(spec)?;
    let settings = settings_of(&spec)?;
    check_providers(app, pool, &settings.identity_providers).await?;
    check_writable(app, pool, &settings).await?;
    let client = Client {
        name: spec.name,
        redirect_uris: spec.redirect_uris,
        logout_uris: spec.logout_uris,
        grant_types: spec.grant_types,
        scopes: spec.scopes,
        first_party: spec.first_party,
        settings,
        updated_at: now,
        ..current
    };
    let (row, p) = (client.clone(), pool.clone());
    app.sql
        .transaction(move |c| {
            client_rows::update(c, &row)?;
            crate::store::sql::pools::bump_version(c, &p, now)
        })
        .await?;
    app.pools.reload_after_change(app, pool).await;
    Ok(client)
}

pub async fn find(app: &AppState, pool: &PoolId, client_id: &str) -> Result<Client, ClientError> {
    let (p, id) = (pool.clone(), client_id.to_string());
    app.sql
        .run(move |c| client_rows::find(c, &p, &id))
        .await?
        .ok_or_else(|| ClientError::NotFound(client_id.to_string()))
}

pub async fn list(app: &AppState, pool: &PoolId) -> Result<Vec<Client>, ClientError> {
    let p = pool.clone();
    Ok(app.sql.run(move |c| client_rows::list(c, &p)).await?)
}

pub async fn delete(
    app: &AppState,
    pool: &PoolId,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ClientError> {
    let (p, id) = (pool.clone(), ClientId::new(client_id));
    let existed = app
        .sql
        .transaction(move |c| {
            let existed = client_rows::delete(c, &p, &id)?;
            crate::store::sql::pools::bump_version(c, &p, now)?;
            Ok(existed)
        })
        .await?;
    app.pools.reload_after_change(app, pool).await;
    if existed {
        Ok(())
    } else {
        Err(ClientError::NotFound(client_id.to_string()))
    }
}

/// Constant-time check of a presented secret against the stored hash.
pub fn secret_matches(client: &Client, presented: &Secret) -> bool {
    match &client.secret_hash {
        Some(h) => crate::crypto::ct_eq(
            h.as_bytes(),
            sha256_hex(presented.expose().as_bytes()).as_bytes(),
        ),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        assert!(check_redirect_uri("https://app.example.com/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:3000/cb").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("http://[::1]/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/cb").is_ok());
        assert!(check_redirect_uri("http://app.example.com/cb").is_err());
        assert!(check_redirect_uri("https://app.example.com/cb#x").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
        assert!(check_redirect_uri("/relative").is_err());
        assert!(check_redirect_uri("myapp:/cb").is_err());
    }

    #[test]
    fn spec_rules() {
        let base = ClientSpec {
            name: "web".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            ..Default::default()
        };
        let n = normalize(base.clone()).unwrap();
        assert_eq!(
            n.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert!(n.scopes.contains(&"openid".to_string()));
        let public_cc = ClientSpec {
            public: true,
            grant_types: vec![GrantType::ClientCredentials],
            ..base.clone()
        };
        assert!(normalize(public_cc).is_err());
        let no_uri = ClientSpec {
            redirect_uris: vec![],
            ..base.clone()
        };
        assert!(normalize(no_uri).is_err());
        let cc = ClientSpec {
            redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            ..base.clone()
        };
        assert!(normalize(cc).is_ok());
        let bad_scope = ClientSpec {
            scopes: vec!["a b".into()],
            ..base
        };
        assert!(normalize(bad_scope).is_err());
    }
}
