//! The command line: `serve`, `migrate`, `config`, and the admin commands for pools, clients,
//! users and keys (same binary, same database, no server needed; `--json` for scripts).

mod admin;
mod clients;
mod identity_pools;
mod idp;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::error::Error;
use crate::model::{GrantType, MfaMode, SignInIdentifier};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Self-hosted OpenID Connect provider with Cognito-style user pools"
)]
pub struct Cli {
    /// Configuration file (default: ./tessera.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Manage user pools.
    #[command(subcommand)]
    Pool(PoolCmd),
    /// Manage app clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Manage groups (`cognito:groups` in tokens).
    #[command(subcommand)]
    Group(GroupCmd),
    /// Manage upstream identity providers (Google, Facebook, Amazon, OpenID).
    #[command(subcommand)]
    Idp(idp::IdpCmd),
    /// Manage access keys for the Cognito API's signed operations (SigV4).
    #[command(subcommand)]
    AccessKey(AccessKeyCmd),
    /// Manage identity pools (stable identities and roles for users of any trusted provider).
    #[command(subcommand)]
    IdentityPool(identity_pools::IdentityPoolCmd),
    /// Show the audit trail, newest first.
    Events {
        #[command(flatten)]
        pool: PoolArg,
        /// Only this user (sub, username or email).
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    Create {
        #[command(flatten)]
        pool: PoolArg,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Lower comes first in `cognito:groups`.
        #[arg(long, default_value_t = 0)]
        precedence: i64,
        /// The role its members' ID tokens name (`cognito:roles`; the lowest precedence
        /// group's is `cognito:preferred_role`), for identity pools' Token role mappings.
        #[arg(long)]
        role_arn: Option<String>,
    },
    Delete {
        #[command(flatten)]
        pool: PoolArg,
        name: String,
    },
    List {
        #[command(flatten)]
        pool: PoolArg,
    },
    /// Add a user (sub, username or email) to a group.
    AddUser {
        #[command(flatten)]
        pool: PoolArg,
        group: String,
        user: String,
    },
    RemoveUser {
        #[command(flatten)]
        pool: PoolArg,
        group: String,
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoolCmd {
    /// Create a pool and its first signing key.
    Create {
        #[arg(long)]
        name: String,
    },
    List,
    Show {
        /// Pool id or name.
        pool: String,
    },
    /// Change pool settings (only the ones given).
    Update(PoolUpdate),
}

// `pool update`: the pool, then each setting to change (`None` / empty keeps it).
#[derive(Debug, Args)]
pub struct PoolUpdate {
    /// Pool id or name.
    pub pool: String,
    /// Who may create accounts.
    #[arg(long, value_enum)]
    pub signup: Option<SignupMode>,
    /// Minimum password length (6..256).
    #[arg(long)]
    pub password_min_length: Option<usize>,
    #[arg(long)]
    pub password_require_lowercase: Option<bool>,
    #[arg(long)]
    pub password_require_uppercase: Option<bool>,
    #[arg(long)]
    pub password_require_digit: Option<bool>,
    #[arg(long)]
    pub password_require_symbol: Option<bool>,
    /// Days an administrator's temporary password works (1..365; default 7).
    #[arg(long)]
    pub temporary_password_days: Option<u32>,
    /// What users sign in with.
    #[arg(long, value_enum)]
    pub sign_in_identifier: Option<IdentifierMode>,
    /// Standard attributes sign-up requires (comma-separated, e.g. `given_name,family_name`;
    /// an empty string clears them).
    #[arg(long, value_name = "NAMES")]
    pub required_attributes: Option<String>,
    /// Define a custom attribute `NAME:TYPE[:MIN:MAX][:writable][:immutable]` (TYPE string,
    /// number or boolean; for strings MIN/MAX bound the length; `writable` lets users set it
    /// on themselves, `immutable` allows no change once set). Repeatable; replaces a
    /// definition of the same name.
    #[arg(long = "custom-attribute", value_name = "SPEC")]
    pub custom_attributes: Vec<String>,
    /// Multi-factor authentication: off, optional, or required.
    #[arg(long, value_enum)]
    pub mfa: Option<MfaArg>,
    /// Link a first federated sign-in to the local account with the same email without a
    /// password, when both hold the email as verified (off by default).
    #[arg(long, value_name = "BOOL")]
    pub auto_link_verified_email: Option<bool>,
    /// A request rate, `CATEGORY=N` per second (user_creation, sign_in, account_recovery,
    /// token; 0 = no limit). Repeatable.
    #[arg(long = "rate-limit", value_name = "CATEGORY=N")]
    pub rate_limits: Vec<String>,
    /// Days after which UNCONFIRMED sign-ups are deleted (0 keeps them; default 7).
    #[arg(long, value_name = "DAYS")]
    pub unconfirmed_expiry_days: Option<u32>,
    /// Keep SRP verifiers for the Cognito API's USER_SRP_AUTH (default true). false drops
    /// those kept: a verifier is cheaper to attack offline than the password hash.
    #[arg(long, value_name = "BOOL")]
    pub srp: Option<bool>,
}

/// `--sign-in-identifier` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum IdentifierMode {
    /// The username only.
    Username,
    /// The email (no usernames; the stored username is the sub).
    Email,
    /// The username, or the verified email as an alias.
    UsernameOrEmail,
}

impl From<IdentifierMode> for SignInIdentifier {
    fn from(mode: IdentifierMode) -> Self {
        match mode {
            IdentifierMode::Username => SignInIdentifier::Username,
            IdentifierMode::Email => SignInIdentifier::Email,
            IdentifierMode::UsernameOrEmail => SignInIdentifier::UsernameOrEmail,
        }
    }
}

/// `--grant` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum GrantArg {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8693: trade a trusted provider's token for an identity pool's identity token.
    TokenExchange,
}

impl From<GrantArg> for GrantType {
    fn from(g: GrantArg) -> Self {
        match g {
            GrantArg::AuthorizationCode => GrantType::AuthorizationCode,
            GrantArg::RefreshToken => GrantType::RefreshToken,
            GrantArg::ClientCredentials => GrantType::ClientCredentials,
            GrantArg::TokenExchange => GrantType::TokenExchange,
        }
    }
}

/// `--mfa` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MfaArg {
    Off,
    Optional,
    Required,
}

impl From<MfaArg> for MfaMode {
    fn from(mode: MfaArg) -> Self {
        match mode {
            MfaArg::Off => MfaMode::Off,
            MfaArg::Optional => MfaMode::Optional,
            MfaArg::Required => MfaMode::Required,
        }
    }
}

/// Self-service sign-up or administrators only.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SignupMode {
    Open,
    AdminOnly,
}

#[derive(Debug, Args)]
pub struct PoolArg {
    /// Pool id or name.
    #[arg(long)]
    pub pool: String,
}

#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register a client; prints client_id and, for confidential clients, the secret (only now).
    Create(ClientCreate),
    List {
        #[command(flatten)]
        pool: PoolArg,
    },
    Show {
        #[command(flatten)]
        pool: PoolArg,
        client_id: String,
    },
    Delete {
        #[command(flatten)]
        pool: PoolArg,
        client_id: String,
    },
    /// Change a client: list options given replace the whole list; the id and secret stay.
    Update(ClientUpdate),
    /// Give a confidential client a new secret (printed only now; the old one stops working).
    RotateSecret {
        #[command(flatten)]
        pool: PoolArg,
        client_id: String,
    },
}

/// `tessera access-key ...`: keys for the Cognito API's signed (admin) operations.
#[derive(Debug, Subcommand)]
pub enum AccessKeyCmd {
    /// Create a key; prints its id and secret (the secret only now).
    Create {
        #[arg(long, default_value = "")]
        description: String,
    },
    List,
    Delete {
        access_key_id: String,
    },
}

// `client update`: what to change.
#[derive(Debug, Args)]
pub struct ClientUpdate {
    #[command(flatten)]
    pub pool: PoolArg,
    pub client_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    #[arg(long = "logout-uri", value_name = "URI")]
    pub logout_uris: Vec<String>,
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// COGNITO and identity provider names (repeatable).
    #[arg(long = "identity-provider", value_name = "NAME")]
    pub identity_providers: Vec<String>,
    #[arg(long, value_name = "BOOL")]
    pub first_party: Option<bool>,
    #[arg(long, value_name = "BOOL")]
    pub require_mfa: Option<bool>,
    /// A resource server of the pool: may introspect every client's access tokens.
    #[arg(long, value_name = "BOOL")]
    pub introspect_any: Option<bool>,
    /// A refresh token with every code exchange, offline_access or not (Cognito's way).
    #[arg(long, value_name = "BOOL")]
    pub always_refresh_token: Option<bool>,
    /// OIDC Back-Channel Logout URI (`''` removes it).
    #[arg(long, value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// Browser origins allowed besides the redirect URIs' (repeatable; replaces the list;
    /// `--allowed-origin ''` alone clears it).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Cognito API sign-in flows (repeatable; replaces the list).
    #[arg(long = "auth-flow", value_name = "FLOW")]
    pub auth_flows: Vec<String>,
    #[arg(long, value_name = "SECS")]
    pub access_token_ttl: Option<u64>,
    #[arg(long, value_name = "SECS")]
    pub id_token_ttl: Option<u64>,
    #[arg(long, value_name = "SECS")]
    pub refresh_token_ttl: Option<u64>,
    /// Attributes its tokens and userinfo may carry (repeatable; replaces the list;
    /// `--read-attribute ''` alone goes back to all).
    #[arg(long = "read-attribute", value_name = "NAME")]
    pub read_attributes: Vec<String>,
    /// Attributes its users may set through it (repeatable; replaces the list).
    #[arg(long = "write-attribute", value_name = "NAME")]
    pub write_attributes: Vec<String>,
}

// `client create`: the pool and the client's settings.
#[derive(Debug, Args)]
pub struct ClientCreate {
    #[command(flatten)]
    pub pool: PoolArg,
    #[arg(long)]
    pub name: String,
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    #[arg(long = "logout-uri", value_name = "URI")]
    pub logout_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    pub public: bool,
    #[arg(long = "grant", value_enum)]
    pub grants: Vec<GrantArg>,
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Skip the consent screen (the operator's own app).
    #[arg(long)]
    pub first_party: bool,
    /// Let a legacy confidential client skip PKCE (not recommended).
    #[arg(long)]
    pub pkce_optional: bool,
    /// Every sign-in for this client needs a second factor (the pool must offer MFA).
    #[arg(long)]
    pub require_mfa: bool,
    /// A resource server of the pool: may introspect every client's access tokens (others
    /// see only tokens issued to themselves).
    #[arg(long)]
    pub introspect_any: bool,
    /// Issue a refresh token with every code exchange, as Cognito does; without this, only
    /// when the `offline_access` scope is granted (OIDC Core §11).
    #[arg(long)]
    pub always_refresh_token: bool,
    /// OIDC Back-Channel Logout: a logout token is POSTed here when a session in which this
    /// client received tokens ends.
    #[arg(long, value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// A browser origin (`https://app.example`) that may call token, userinfo and revocation
    /// besides those of the redirect URIs (repeatable).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// A Cognito API sign-in flow this client may use (repeatable): ALLOW_USER_SRP_AUTH,
    /// ALLOW_USER_PASSWORD_AUTH, ALLOW_ADMIN_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH
    /// (default: SRP and refresh, as Cognito).
    #[arg(long = "auth-flow", value_name = "FLOW")]
    pub auth_flows: Vec<String>,
    /// Access token lifetime in seconds (300..86400, default 3600).
    #[arg(long, value_name = "SECS")]
    pub access_token_ttl: Option<u64>,
    /// ID token lifetime in seconds (300..86400, default 3600).
    #[arg(long, value_name = "SECS")]
    pub id_token_ttl: Option<u64>,
    /// Refresh token lifetime in seconds (3600..315360000, default 30 days).
    #[arg(long, value_name = "SECS")]
    pub refresh_token_ttl: Option<u64>,
    /// Where its users may sign in: COGNITO (the password form) and identity provider names
    /// (repeatable; default COGNITO only).
    #[arg(long = "identity-provider", value_name = "NAME")]
    pub identity_providers: Vec<String>,
    /// Attributes its tokens and userinfo may carry (repeatable; default all the scopes
    /// grant), Cognito's ReadAttributes.
    #[arg(long = "read-attribute", value_name = "NAME")]
    pub read_attributes: Vec<String>,
    /// Attributes its users may set on themselves through it (repeatable; default what the
    /// pool lets users write), Cognito's WriteAttributes.
    #[arg(long = "write-attribute", value_name = "NAME")]
    pub write_attributes: Vec<String>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct PasswordArg {
    /// The password (visible in the process list; prefer --password-stdin).
    #[arg(long)]
    pub password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    Create {
        #[command(flatten)]
        pool: PoolArg,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        password: PasswordArg,
        /// Standard or custom attribute, e.g. `given_name=Alice` or `custom:team=red`.
        #[arg(long = "attribute", value_name = "KEY=VALUE")]
        attributes: Vec<String>,
        /// The password is temporary: the user must choose a new one at first sign-in.
        #[arg(long)]
        temporary_password: bool,
    },
    /// List users in username order, a page at a time (`--after` the cursor a page ends with).
    List {
        #[command(flatten)]
        pool: PoolArg,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Start after this cursor (printed as `next:` after a full page).
        #[arg(long)]
        after: Option<String>,
    },
    /// Import users from Cognito's user-import CSV (see `csv-header`). The whole file is
    /// checked first; one bad line and nothing is written. Users without a
    /// `tessera:password_hash` arrive RESET_REQUIRED, as in Cognito; running it again adds
    /// only who is missing.
    Import {
        #[command(flatten)]
        pool: PoolArg,
        file: std::path::PathBuf,
        /// Check the file against the pool and say what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Export users as an import CSV (to standard output, or `--output FILE`). Federated-only
    /// and unconfirmed users are left out.
    Export {
        #[command(flatten)]
        pool: PoolArg,
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Add `tessera:sub` and `tessera:password_hash`, so users keep their subject and
        /// password in another Tessera. The file then holds password hashes: keep it secret.
        #[arg(long)]
        with_password_hashes: bool,
    },
    /// Print the CSV header `import` takes for this pool (Cognito's GetCSVHeader).
    CsvHeader {
        #[command(flatten)]
        pool: PoolArg,
        /// Add the `tessera:sub` and `tessera:password_hash` columns.
        #[arg(long)]
        extended: bool,
    },
    /// Show a user (by sub, username or email).
    Show {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
    },
    Disable {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
    },
    Enable {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
    },
    Delete {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
    },
    SetPassword {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
        #[command(flatten)]
        password: PasswordArg,
        /// Make the user choose a new password at next sign-in.
        #[arg(long)]
        temporary: bool,
    },
    /// Confirm a user's account (and email) without a code.
    Confirm {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
    },
    /// Reset a user's password: by default the user must choose a new one with a code sent by
    /// email (RESET_REQUIRED); with a temporary password, they must change it at next sign-in.
    ResetPassword {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
        /// Set this temporary password instead of mailing a code (`-` reads it from stdin).
        #[arg(long, value_name = "PASSWORD")]
        temporary_password: Option<String>,
    },
    /// Set (`KEY=VALUE`) or remove (`KEY=`) attributes; `email=...` sets a verified email.
    SetAttribute {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
        #[arg(value_name = "KEY=VALUE", required = true)]
        attributes: Vec<String>,
    },
    /// Remove a user's MFA factor and recovery codes (the user can enroll again).
    MfaReset {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
    },
    /// Link an upstream identity (provider and its subject) to a user.
    Link {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        subject: String,
    },
    /// Unlink a user's identity at a provider (never the user's last way to sign in).
    Unlink {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
        #[arg(long)]
        provider: String,
    },
    /// The applications a user allowed; `--revoke CLIENT_ID` takes one back (its refresh
    /// tokens for the user are revoked; it asks again at the next sign-in).
    Consents {
        #[command(flatten)]
        pool: PoolArg,
        user: String,
        #[arg(long, value_name = "CLIENT_ID")]
        revoke: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    List {
        #[command(flatten)]
        pool: PoolArg,
    },
    /// Add a key: published now, signing after `key_activation_delay_secs`.
    Rotate {
        #[command(flatten)]
        pool: PoolArg,
        /// Sign with the new key at once (after a compromise; caches may briefly miss it).
        #[arg(long)]
        now: bool,
    },
    /// Revoke a leaked key: gone from the JWKS at once, every token it signed refused; when it
    /// was signing, a new key signs from now.
    Revoke {
        #[command(flatten)]
        pool: PoolArg,
        /// The key id (`kid`), as `keys list` shows it (older ones may start with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// Writes to standard output; a reader that went away (broken pipe) ends output quietly.
pub(crate) fn print_stdout(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Usage(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

/// Log lines waiting for the writer thread at most. tracing-appender's default (128,000)
/// allocates and touches 4 MiB up front, a tenth of an idle server, for a backlog no pipe
/// needs; past this, lines are dropped.
const LOG_QUEUE_LINES: usize = 4096;

/// Logs to stderr through a background thread (a slow terminal or pipe never holds up a
/// request; under a flood, lines are dropped rather than queued without bound). The guard
/// flushes what is left when dropped, at exit.
fn init_logging(cfg: &Config, serving: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = if serving || std::env::var_os("TESSERA_LOG").is_some() {
        cfg.log.as_str()
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match cfg.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    guard
}

/// Parses arguments, runs the command, and reports errors as one line on stderr.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    let config = Config::load(cli.config.as_deref())?;
    let _log = init_logging(&config, matches!(cli.command, Command::Serve));
    match cli.command {
        Command::Serve => crate::server::serve(config).await,
        Command::Config => {
            print_stdout(&config.to_redacted_toml())?;
            Ok(())
        }
        other => admin::run(config, other, cli.json).await,
    }
}
