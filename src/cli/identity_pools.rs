//! `tessera identity-pool ...`: identity pools (guests, trusted providers, default roles and
//! role mappings), created, shown, changed, listed and deleted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::admin::emit;
use crate::error::Error;
use crate::identity::{self, IdentityError};
use crate::model::IdentityPoolSettings;
use crate::model::identity_pool::{RoleMapping, UserPoolProvider};
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
    /// Another OpenID provider's issuer whose ID tokens are accepted (repeatable).
    #[arg(long = "oidc-issuer", value_name = "URL")]
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
            "id:               {}\nname:             {}\nguests:           {}\nclassic flow:     {}\nlogin providers:  {}\nuser pools:       {}\nOIDC issuers:     {}\ndeveloper:        {}\nroles:            {}\nrole mappings:    {}",
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
            list(s.openid_issuers.clone()),
            s.developer_provider_name.as_deref().unwrap_or("-"),
            list(s.roles.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            list(s.role_mappings.keys().cloned().collect()),
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
        s.openid_issuers = args.oidc_issuers.clone();
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
    Ok(s)
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
