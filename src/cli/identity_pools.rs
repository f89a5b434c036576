//! `tessera identity-pool ...`: identity pools (guests, trusted providers, default roles and
//! role mappings), created, shown, changed, listed and deleted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::admin::emit;
use crate::error::Error;
use crate::identity::{self, IdentityError};
use crate::model::IdentityPoolSettings;
use crate::model::identity_pool::{Broker, PrincipalTagMap, RoleMapping, UserPoolProvider};
use crate::state::AppState;
use crate::store::sql::identity_pools::IdentityPool;

#[derive(Debug, Subcommand)]
pub enum IdentityPoolCmd {
    /// Create an identity pool (prints its id, `{region}:{uuid}`).
    Create(PoolArgs),
    /// Show an identity pool's configuration.
    Show { id: String },
    /// Change an identity pool: the options given replace what was set.
    Update(PoolArgs),
    /// List identity pools.
    List {
        #[arg(long, default_value_t = identity::MAX_PAGE)]
        limit: i64,
        /// Start after this pool id (the last one of the previous page).
        #[arg(long)]
        after: Option<String>,
    },
    /// Delete an identity pool and every identity in it.
    Delete { id: String },
    /// The identity issuer's signing keys (`{public_url}/identity`, shared by every identity
    /// pool): list, rotate, revoke.
    #[command(subcommand)]
    Keys(IssuerKeysCmd),
}

#[derive(Debug, Subcommand)]
pub enum IssuerKeysCmd {
    /// List the identity issuer's keys with their status.
    List,
    /// Add a key: published now, signing after the activation delay (`--now`: at once).
    Rotate {
        #[arg(long)]
        now: bool,
    },
    /// Revoke a key (its private half leaked): tokens it signed are refused from now on.
    Revoke {
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Debug, Args)]
pub struct PoolArgs {
    /// The identity pool to update.
    #[arg(value_name = "ID")]
    target: Option<String>,
    /// The pool's name (required to create).
    #[arg(long)]
    name: Option<String>,
    /// Guests (no login) get identities and the unauthenticated role.
    #[arg(long)]
    allow_unauthenticated: Option<bool>,
    /// Identity tokens may be handed to clients (GetOpenIdToken, token exchange).
    #[arg(long)]
    allow_classic_flow: Option<bool>,
    /// A social provider and the app id its tokens must be for, `KEY=APP_ID`
    /// (accounts.google.com, graph.facebook.com, www.amazon.com, appleid.apple.com; repeatable).
    #[arg(long = "login-provider", value_name = "KEY=APP_ID")]
    login_providers: Vec<String>,
    /// A user pool of this server and one of its clients whose tokens are accepted,
    /// `POOL_ID:CLIENT_ID` (repeatable).
    #[arg(long = "user-pool", value_name = "POOL_ID:CLIENT_ID")]
    user_pools: Vec<String>,
    /// Check every user-pool login against the user pool (signed out, disabled, deleted).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    server_side_token_check: bool,
    /// Another OpenID provider whose ID tokens are accepted, with the client ids they must be
    /// for (their `azp`, or `aud`): `ISSUER_URL=CLIENT_ID[,CLIENT_ID...]` (repeatable).
    #[arg(long = "oidc-issuer", value_name = "URL=CLIENT_IDS")]
    oidc_issuers: Vec<String>,
    /// The provider name of logins your backend vouches for (fixed once set).
    #[arg(long)]
    developer_provider: Option<String>,
    /// A default role, `authenticated=ROLE` or `unauthenticated=ROLE` (repeatable).
    #[arg(long = "role", value_name = "WHICH=ROLE")]
    roles: Vec<String>,
    /// Role mappings as Cognito's `RoleMappings` JSON:
    /// `{"KEY": {"Type": "Rules", "AmbiguousRoleResolution": "Deny",
    /// "RulesConfiguration": {"Rules": [...]}}}`.
    #[arg(long, value_name = "JSON")]
    role_mappings: Option<String>,
    /// Session tags from a provider's logins, `PROVIDER=TAG:CLAIM[,TAG:CLAIM...]`, or
    /// `PROVIDER=defaults` for Cognito's (`client` from `aud`, `username` from `sub`); any
    /// map puts the tags claim (with `auth_type`) in every token of the pool (repeatable).
    #[arg(long = "principal-tags", value_name = "PROVIDER=TAGS")]
    principal_tags: Vec<String>,
    /// The credentials broker: the STS `GetCredentialsForIdentity` sends
    /// `AssumeRoleWithWebIdentity` to (`https://sts.amazonaws.com`, or an S3-compatible
    /// store's); `none` removes it.
    #[arg(long, value_name = "URL")]
    sts_endpoint: Option<String>,
    /// How long the broker's credentials last (900 to 43200 seconds).
    #[arg(long, value_name = "SECONDS")]
    credentials_seconds: Option<u32>,
    /// A session policy (JSON) the broker sends for guests, scoping their role down.
    #[arg(long, value_name = "JSON")]
    guest_session_policy: Option<String>,
}

pub async fn run(
    app: &AppState,
    cmd: IdentityPoolCmd,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    match cmd {
        IdentityPoolCmd::Create(args) => {
            let name = args
                .name
                .clone()
                .ok_or_else(|| Error::Usage("--name is required".into()))?;
            let settings = settings(app, &args, IdentityPoolSettings::default()).await?;
            let made = identity::create(app, &name, settings, now).await?;
            show(&made, json)
        }
        IdentityPoolCmd::Show { id } => show(&identity::find(app, &id).await?, json),
        IdentityPoolCmd::Update(args) => {
            let id = args
                .target
                .clone()
                .ok_or_else(|| Error::Usage("name the identity pool to update".into()))?;
            let current = identity::find(app, &id).await?;
            let name = args.name.clone().unwrap_or(current.name);
            let settings = settings(app, &args, current.settings).await?;
            show(
                &identity::update(app, &id, &name, settings, now).await?,
                json,
            )
        }
        IdentityPoolCmd::List { limit, after } => {
            let pools = identity::list(app, after.as_deref(), limit).await?;
            emit(json, &pools, || {
                pools
                    .iter()
                    .map(|p| format!("{}\t{}", p.id, p.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        IdentityPoolCmd::Delete { id } => {
            identity::delete(app, &id).await?;
            emit(json, &serde_json::json!({ "deleted": id }), || {
                format!("deleted identity pool {id}")
            })
        }
        IdentityPoolCmd::Keys(cmd) => issuer_keys(app, cmd, json, now).await,
    }
}

async fn issuer_keys(
    app: &AppState,
    cmd: IssuerKeysCmd,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    use crate::keys::{self, Owner};
    let line =
        |k: &keys::KeyInfo| format!("{}\t{}\t{:?}\t{}", k.kid, k.alg, k.status, k.active_from);
    match cmd {
        IssuerKeysCmd::List => {
            let list = keys::list_for(app, Owner::Identity, now).await?;
            emit(json, &list, || {
                list.iter().map(line).collect::<Vec<_>>().join("\n")
            })
        }
        IssuerKeysCmd::Rotate { now: at_once } => {
            let k = keys::rotate_for(app, Owner::Identity, now, at_once).await?;
            emit(json, &k, || line(&k))
        }
        IssuerKeysCmd::Revoke { kid } => {
            let r = keys::revoke_for(app, Owner::Identity, &kid, now).await?;
            emit(json, &r, || format!("revoked {}", r.kid))
        }
    }
}

fn show(p: &IdentityPool, json: bool) -> Result<(), Error> {
    emit(json, p, || {
        let s = &p.settings;
        let list = |v: Vec<String>| {
            if v.is_empty() {
                "-".into()
            } else {
                v.join(", ")
            }
        };
        format!(
            "id:               {}\nname:             {}\nguests:           {}\nclassic flow:     {}\nlogin providers:  {}\nuser pools:       {}\nOIDC issuers:     {}\ndeveloper:        {}\nroles:            {}\nrole mappings:    {}\nprincipal tags:   {}\nbroker:           {}",
            p.id,
            p.name,
            s.allow_unauthenticated,
            s.allow_classic_flow,
            list(
                s.supported_login_providers
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect()
            ),
            list(
                s.user_pools
                    .iter()
                    .map(|u| format!("{} ({})", u.provider_name, u.client_id))
                    .collect()
            ),
            list(
                s.openid_issuers
                    .iter()
                    .map(|i| {
                        let ids = s
                            .openid_audiences
                            .get(i)
                            .map(|v| v.join(","))
                            .unwrap_or_default();
                        format!("{i}={ids}")
                    })
                    .collect()
            ),
            s.developer_provider_name.as_deref().unwrap_or("-"),
            list(s.roles.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            list(s.role_mappings.keys().cloned().collect()),
            list(s.principal_tags.keys().cloned().collect()),
            s.broker.as_ref().map_or("-".to_string(), |b| format!(
                "{} ({} s)",
                b.sts_endpoint, b.duration_seconds
            )),
        )
    })
}

/// `KEY=VALUE` pairs of a repeatable flag.
fn pairs(flag: &str, raw: &[String]) -> Result<BTreeMap<String, String>, Error> {
    raw.iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(Error::Usage(format!("--{flag} {p:?}: expected KEY=VALUE"))),
        })
        .collect()
}

/// The settings the flags describe on top of `base`.
async fn settings(
    app: &AppState,
    args: &PoolArgs,
    mut s: IdentityPoolSettings,
) -> Result<IdentityPoolSettings, Error> {
    if let Some(v) = args.allow_unauthenticated {
        s.allow_unauthenticated = v;
    }
    if let Some(v) = args.allow_classic_flow {
        s.allow_classic_flow = v;
    }
    if !args.login_providers.is_empty() {
        s.supported_login_providers = pairs("login-provider", &args.login_providers)?;
    }
    if !args.user_pools.is_empty() {
        s.user_pools = Vec::new();
        for raw in &args.user_pools {
            s.user_pools
                .push(user_pool(app, raw, args.server_side_token_check).await?);
        }
    }
    if !args.oidc_issuers.is_empty() {
        s.openid_issuers.clear();
        s.openid_audiences.clear();
        for raw in &args.oidc_issuers {
            let (issuer, ids) = raw.split_once('=').unwrap_or((raw.as_str(), ""));
            let ids: Vec<String> = ids
                .split(',')
                .filter(|i| !i.is_empty())
                .map(str::to_string)
                .collect();
            if ids.is_empty() {
                return Err(Error::Usage(format!(
                    "--oidc-issuer {raw:?}: expected ISSUER_URL=CLIENT_ID[,CLIENT_ID...]"
                )));
            }
            s.openid_issuers.push(issuer.to_string());
            s.openid_audiences.insert(issuer.to_string(), ids);
        }
    }
    if let Some(d) = &args.developer_provider {
        s.developer_provider_name = Some(d.clone());
    }
    if !args.roles.is_empty() {
        s.roles = pairs("role", &args.roles)?;
    }
    if let Some(raw) = &args.role_mappings {
        s.role_mappings = serde_json::from_str::<BTreeMap<String, RoleMapping>>(raw)
            .map_err(|e| Error::Usage(format!("--role-mappings: {e}")))?;
    }
    for (provider, raw) in pairs("principal-tags", &args.principal_tags)? {
        s.principal_tags.insert(provider, tag_map(&raw)?);
    }
    broker(args, &mut s);
    Ok(s)
}

/// `defaults` or `TAG:CLAIM[,TAG:CLAIM...]`.
fn tag_map(raw: &str) -> Result<PrincipalTagMap, Error> {
    if raw == "defaults" {
        return Ok(PrincipalTagMap {
            use_defaults: true,
            tags: BTreeMap::new(),
        });
    }
    let tags = raw
        .split(',')
        .map(|p| match p.split_once(':') {
            Some((t, c)) if !t.is_empty() && !c.is_empty() => Ok((t.to_string(), c.to_string())),
            _ => Err(Error::Usage(format!(
                "--principal-tags {raw:?}: expected TAG:CLAIM pairs or defaults"
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok(PrincipalTagMap {
        use_defaults: false,
        tags,
    })
}

fn broker(args: &PoolArgs, s: &mut IdentityPoolSettings) {
    match args.sts_endpoint.as_deref() {
        Some("none") => s.broker = None,
        Some(url) => {
            s.broker.get_or_insert_with(Broker::default).sts_endpoint = url.to_string();
        }
        None => {}
    }
    if let Some(b) = s.broker.as_mut() {
        if let Some(d) = args.credentials_seconds {
            b.duration_seconds = d;
        }
        if let Some(p) = &args.guest_session_policy {
            b.guest_session_policy = Some(p.clone()).filter(|p| !p.is_empty());
        }
    }
}

/// `POOL_ID:CLIENT_ID` of this server: the pool and client must exist; the provider name is
/// the pool's issuer without its scheme.
async fn user_pool(
    app: &AppState,
    raw: &str,
    server_side_token_check: bool,
) -> Result<UserPoolProvider, Error> {
    let (pool, client) = raw
        .split_once(':')
        .ok_or_else(|| Error::Usage(format!("--user-pool {raw:?}: expected POOL_ID:CLIENT_ID")))?;
    let pool = crate::pools::resolve(app, pool).await?;
    crate::clients::find(app, &pool.id, client).await?;
    let issuer = format!("{}/{}", app.config.public_base(), pool.id);
    let provider_name = issuer
        .split_once("://")
        .map_or(issuer.clone(), |(_, rest)| rest.to_string());
    Ok(UserPoolProvider {
        provider_name,
        client_id: client.to_string(),
        server_side_token_check,
    })
}

impl From<IdentityError> for Error {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Store(s) => Error::Store(s),
            other => Error::Usage(other.to_string()),
        }
    }
}
