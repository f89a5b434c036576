//! `tessera idp ...`: a pool's upstream identity providers (Google, Facebook, Login with
//! Amazon, any OpenID provider), and the redirect URI to register at each.

use std::collections::BTreeMap;
use std::io::BufRead;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::PoolArg;
use super::admin::{emit, pool};
use crate::error::Error;
use crate::federation::providers::{self, ProviderSpec};
use crate::federation::{FederationError, callback_url};
use crate::ids::Secret;
use crate::model::{ProviderKind, ProviderSettings};
use crate::state::AppState;
use crate::store::sql::federation::ProviderRecord;

#[derive(Debug, Subcommand)]
pub enum IdpCmd {
    /// Add a provider; prints the redirect URI to register at it.
    Create(IdpArgs),
    List {
        #[command(flatten)]
        pool: PoolArg,
    },
    /// Show a provider's configuration (never its secret) and its redirect URI.
    Show {
        #[command(flatten)]
        pool: PoolArg,
        name: String,
    },
    /// Change a provider: the options given replace what was set (the name and type stay).
    Update(IdpArgs),
    /// Remove a provider and unlink every identity it signed in.
    Delete {
        #[command(flatten)]
        pool: PoolArg,
        name: String,
    },
}

/// `--type` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    Google,
    Facebook,
    Amazon,
    Oidc,
}

impl From<KindArg> for ProviderKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Google => ProviderKind::Google,
            KindArg::Facebook => ProviderKind::Facebook,
            KindArg::Amazon => ProviderKind::Amazon,
            KindArg::Oidc => ProviderKind::Oidc,
        }
    }
}

#[derive(Debug, Args)]
pub struct IdpArgs {
    #[command(flatten)]
    pool: PoolArg,
    /// The provider to update (or `--name`).
    #[arg(value_name = "NAME")]
    target: Option<String>,
    /// The provider type (create only).
    #[arg(long = "type", value_enum)]
    kind: Option<KindArg>,
    /// The provider name (default for the social types: Google, Facebook, LoginWithAmazon;
    /// required for oidc, and to name the provider to update).
    #[arg(long)]
    name: Option<String>,
    /// The client (app) id registered at the provider.
    #[arg(long)]
    client_id: Option<String>,
    /// The client secret (visible in the process list; prefer --client-secret-stdin).
    #[arg(long, conflicts_with = "client_secret_stdin")]
    client_secret: Option<String>,
    /// Read the client secret from the first line of standard input.
    #[arg(long)]
    client_secret_stdin: bool,
    /// Scopes to ask for, space-separated (default: the type's).
    #[arg(long)]
    scopes: Option<String>,
    /// OpenID issuer (discovery); Google's by default.
    #[arg(long)]
    issuer: Option<String>,
    #[arg(long)]
    authorize_url: Option<String>,
    #[arg(long)]
    token_url: Option<String>,
    #[arg(long)]
    userinfo_url: Option<String>,
    /// Attribute mapping `ATTRIBUTE=CLAIM` (repeatable; default: the type's).
    #[arg(long = "map", value_name = "ATTR=CLAIM")]
    map: Vec<String>,
    /// Email domain whose users go straight to this provider (repeatable).
    #[arg(long = "identifier", value_name = "DOMAIN")]
    identifiers: Vec<String>,
}

/// A provider as shown: its configuration and the redirect URI to register.
#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    provider: &'a ProviderRecord,
    redirect_uri: String,
}

pub async fn run(app: &AppState, cmd: IdpCmd, json: bool, now: DateTime<Utc>) -> Result<(), Error> {
    match cmd {
        IdpCmd::Create(args) => {
            let p = pool(app, &args.pool.pool).await?;
            let created = providers::create(app, &p.id, spec(args, None)?, now).await?;
            show(app, &created, json)
        }
        IdpCmd::List { pool: which } => {
            let p = pool(app, &which.pool).await?;
            let list = providers::list(app, &p.id).await?;
            emit(json, &list, || {
                list.iter()
                    .map(|x| format!("{}\t{}\t{}", x.name, x.kind.as_str(), x.client_id))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        IdpCmd::Show { pool: which, name } => {
            let p = pool(app, &which.pool).await?;
            show(app, &providers::find(app, &p.id, &name).await?, json)
        }
        IdpCmd::Update(args) => {
            let p = pool(app, &args.pool.pool).await?;
            let name = args
                .target
                .clone()
                .or_else(|| args.name.clone())
                .ok_or_else(|| Error::Usage("name the provider to update".into()))?;
            let current = providers::find(app, &p.id, &name).await?;
            let spec = spec(args, Some(current.settings))?;
            show(
                app,
                &providers::update(app, &p.id, &name, spec, now).await?,
                json,
            )
        }
        IdpCmd::Delete { pool: which, name } => {
            let p = pool(app, &which.pool).await?;
            providers::delete(app, &p.id, &name, now).await?;
            emit(json, &serde_json::json!({ "deleted": name }), || {
                format!("deleted identity provider {name}")
            })
        }
    }
}

fn show(app: &AppState, provider: &ProviderRecord, json: bool) -> Result<(), Error> {
    let issuer = format!("{}/{}", app.config.public_base(), provider.pool_id);
    let shown = Shown {
        provider,
        redirect_uri: callback_url(&issuer),
    };
    emit(json, &shown, || {
        let s = &provider.settings;
        let or_default = |v: &Option<String>| v.clone().unwrap_or_else(|| "(default)".into());
        format!(
            "name:         {}\ntype:         {}\nclient_id:    {}\nscopes:       {}\nissuer:       {}\nmapping:      {}\nidentifiers:  {}\nredirect URI: {}  (register this at the provider)",
            provider.name,
            provider.kind.as_str(),
            provider.client_id,
            if s.scopes.is_empty() {
                "(default)".into()
            } else {
                s.scopes.join(" ")
            },
            or_default(&s.issuer),
            if s.mapping.is_empty() {
                "(default)".into()
            } else {
                s.mapping
                    .iter()
                    .map(|(a, c)| format!("{a}={c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            s.identifiers.join(", "),
            shown.redirect_uri
        )
    })
}

/// The spec the flags describe; on update, `base` holds the settings the flags change.
fn spec(args: IdpArgs, base: Option<ProviderSettings>) -> Result<ProviderSpec, Error> {
    let mut settings = base.unwrap_or_default();
    if let Some(scopes) = args.scopes {
        settings.scopes = scopes.split_whitespace().map(str::to_string).collect();
    }
    settings.issuer = args.issuer.or(settings.issuer);
    settings.authorize_url = args.authorize_url.or(settings.authorize_url);
    settings.token_url = args.token_url.or(settings.token_url);
    settings.userinfo_url = args.userinfo_url.or(settings.userinfo_url);
    if !args.map.is_empty() {
        settings.mapping = parse_mapping(&args.map)?;
    }
    if !args.identifiers.is_empty() {
        settings.identifiers = args.identifiers;
    }
    let client_secret = match (args.client_secret, args.client_secret_stdin) {
        (Some(s), _) => Some(Secret::new(s)),
        (None, true) => Some(secret_from_stdin()?),
        (None, false) => None,
    };
    Ok(ProviderSpec {
        name: args.name,
        kind: args.kind.map(Into::into),
        client_id: args.client_id,
        client_secret,
        settings,
    })
}

fn parse_mapping(raw: &[String]) -> Result<BTreeMap<String, String>, Error> {
    raw.iter()
        .map(|m| match m.split_once('=') {
            Some((a, c)) if !a.trim().is_empty() && !c.trim().is_empty() => {
                Ok((a.trim().to_string(), c.trim().to_string()))
            }
            _ => Err(Error::Usage(format!(
                "--map {m:?}: expected ATTRIBUTE=CLAIM"
            ))),
        })
        .collect()
}

fn secret_from_stdin() -> Result<Secret, Error> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("cannot read the secret from standard input: {e}")))?;
    let secret = line.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(Error::Usage(
            "--client-secret-stdin: standard input held no secret".into(),
        ));
    }
    Ok(Secret::new(secret))
}

impl From<FederationError> for Error {
    fn from(e: FederationError) -> Self {
        Error::Federation(e)
    }
}
