//! Admin commands: each opens the state (migrating if needed), calls one service, prints the result.

use std::collections::BTreeMap;
use std::io::BufRead;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Command, GroupCmd, KeysCmd, PasswordArg, PoolCmd, PoolUpdate, SignupMode, UserCmd};
use crate::accounts::{self, NewUserSpec};
use crate::config::Config;
use crate::error::Error;
use crate::federation::identities;
use crate::ids::Secret;
use crate::keys;
use crate::model::attributes::{self, CustomAttribute};
use crate::model::pool::PASSWORD_MIN_LENGTH_RANGE;
use crate::model::{PasswordPolicy, PoolSettings, UserStatus};
use crate::pools;
use crate::state::{AppState, Deps};
use crate::store::sql::federation::LinkedIdentity;
use crate::store::sql::pools::Pool;
use crate::store::sql::users::User;

/// Prints `value` as JSON, or the human text. A closed pipe (`tessera ... | head`) is not an
/// error: the reader has what it wanted.
pub(super) fn emit<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> Result<(), Error> {
    let text = if json {
        serde_json::to_string_pretty(value).map_err(|e| Error::Startup(e.to_string()))?
    } else {
        human()
    };
    super::print_stdout(&format!("{text}\n"))
}

fn read_password(arg: PasswordArg) -> Result<Secret, Error> {
    if let Some(p) = arg.password {
        return Ok(Secret::new(p));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("cannot read the password from standard input: {e}")))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        return Err(Error::Usage(
            "--password-stdin: standard input held no password".into(),
        ));
    }
    Ok(Secret::new(pw))
}

fn parse_attributes(raw: Vec<String>) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for a in raw {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--attribute {a:?}: expected KEY=VALUE")))?;
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Error::Usage(format!("--attribute {k:?} given twice")));
        }
    }
    Ok(out)
}

pub(super) async fn pool(app: &AppState, id_or_name: &str) -> Result<Pool, Error> {
    Ok(pools::resolve(app, id_or_name).await?)
}

pub async fn run(config: Config, command: Command, json: bool) -> Result<(), Error> {
    let (app, report) = AppState::open(config, Deps::default()).await?;
    let now = app.clock.now();
    let done = match command {
        Command::Migrate => emit(json, &report, || {
            format!(
                "applied {} migration(s); {} known",
                report.applied.len(),
                report.total
            )
        }),
        Command::Pool(cmd) => pool_cmd(&app, cmd, json, now).await,
        Command::Client(cmd) => super::clients::run(&app, cmd, json, now).await,
        Command::User(cmd) => user_cmd(&app, cmd, json, now).await,
        Command::Keys(cmd) => keys_cmd(&app, cmd, json, now).await,
        Command::Group(cmd) => group_cmd(&app, cmd, json, now).await,
        Command::Idp(cmd) => super::idp::run(&app, cmd, json, now).await,
        Command::AccessKey(cmd) => super::clients::access_keys(&app, cmd, json, now).await,
        Command::IdentityPool(cmd) => super::identity_pools::run(&app, cmd, json, now).await,
        Command::Events {
            pool: p,
            user,
            limit,
        } => events(&app, &p.pool, user, limit, json).await,
        Command::Serve | Command::Config => Err(Error::Usage("not an admin command".into())),
    };
    // The audit rows the command recorded are written before the process exits.
    app.audit.flush().await;
    done
}

async fn pool_cmd(
    app: &AppState,
    cmd: PoolCmd,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    match cmd {
        PoolCmd::Create { name } => {
            let p = pools::create(app, &name, now).await?;
            emit(json, &p, || p.id.to_string())
        }
        PoolCmd::List => {
            let list = pools::list(app).await?;
            emit(json, &list, || {
                list.iter()
                    .map(|p| format!("{}\t{}", p.id, p.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        PoolCmd::Show { pool: which } => show_pool(app, &which, json).await,
        PoolCmd::Update(update) => update_pool(app, update, json, now).await,
    }
}

async fn show_pool(app: &AppState, id_or_name: &str, json: bool) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let issuer = format!("{}/{}", app.config.public_base(), p.id);
    #[derive(Serialize)]
    struct Shown<'a> {
        #[serde(flatten)]
        pool: &'a Pool,
        issuer: &'a str,
    }
    emit(
        json,
        &Shown {
            pool: &p,
            issuer: &issuer,
        },
        || {
            format!(
                "id:      {}\nname:    {}\nissuer:  {issuer}\ncreated: {}",
                p.id, p.name, p.created_at
            )
        },
    )
}

/// Applies the given flags to the pool's settings; the service checks the result again.
async fn update_pool(
    app: &AppState,
    update: PoolUpdate,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, &update.pool).await?;
    let mut settings = p.settings.clone();
    if let Some(mode) = update.signup {
        settings.admin_only_signup = matches!(mode, SignupMode::AdminOnly);
    }
    apply_password_flags(&mut settings.password_policy, &update)?;
    if let Some(mode) = update.sign_in_identifier {
        settings.sign_in_identifier = mode.into();
    }
    if let Some(mode) = update.mfa {
        settings.mfa = mode.into();
    }
    if let Some(on) = update.auto_link_verified_email {
        settings.auto_link_verified_email = on;
    }
    for spec in &update.rate_limits {
        settings.rate_limits.set(spec).map_err(Error::Usage)?;
    }
    if let Some(days) = update.unconfirmed_expiry_days {
        settings.unconfirmed_expiry_days = days;
    }
    if let Some(on) = update.srp {
        settings.srp = on;
    }
    define_custom_attributes(&mut settings, update.custom_attributes)?;
    if let Some(list) = update.required_attributes {
        settings.required_attributes = required_attribute_names(&settings, &list)?;
    }
    let updated = pools::update_settings(app, &p.id, settings, now).await?;
    emit(json, &updated, || format!("updated pool {}", updated.id))
}

/// `--password-*` flags; the ones not given keep their value.
fn apply_password_flags(policy: &mut PasswordPolicy, update: &PoolUpdate) -> Result<(), Error> {
    if let Some(n) = update.password_min_length {
        if !PASSWORD_MIN_LENGTH_RANGE.contains(&n) {
            return Err(Error::Usage(format!(
                "--password-min-length must be between {} and {}",
                PASSWORD_MIN_LENGTH_RANGE.start(),
                PASSWORD_MIN_LENGTH_RANGE.end()
            )));
        }
        policy.min_length = n;
    }
    let keep = |flag: Option<bool>, current: bool| flag.unwrap_or(current);
    policy.require_lowercase = keep(update.password_require_lowercase, policy.require_lowercase);
    policy.require_uppercase = keep(update.password_require_uppercase, policy.require_uppercase);
    policy.require_digit = keep(update.password_require_digit, policy.require_digit);
    policy.require_symbol = keep(update.password_require_symbol, policy.require_symbol);
    if let Some(days) = update.temporary_password_days {
        policy.temporary_password_validity_days = days;
    }
    Ok(())
}

/// `--custom-attribute` specs: each replaces a definition of the same name.
fn define_custom_attributes(settings: &mut PoolSettings, specs: Vec<String>) -> Result<(), Error> {
    for spec in specs {
        let def = CustomAttribute::parse(&spec).map_err(Error::Usage)?;
        settings.custom_attributes.retain(|c| c.name != def.name);
        settings.custom_attributes.push(def);
    }
    if settings.custom_attributes.len() > attributes::MAX_CUSTOM {
        return Err(Error::Usage(format!(
            "at most {} custom attributes",
            attributes::MAX_CUSTOM
        )));
    }
    Ok(())
}

/// `--required-attributes NAMES` (comma-separated; empty clears them) checked against the
/// pool's attributes. `email` is accepted and dropped: it is always asked for.
fn required_attribute_names(settings: &PoolSettings, list: &str) -> Result<Vec<String>, Error> {
    let names: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    for n in &names {
        if !settings.is_requirable(n) && n != "email" {
            return Err(Error::Usage(format!(
                "--required-attributes: {n:?} is not a standard attribute or a custom \
                 attribute of this pool"
            )));
        }
    }
    Ok(names.into_iter().filter(|n| n != "email").collect())
}

/// The human text of one user.
fn describe_user(u: &User) -> String {
    format!(
        "sub:      {}\nusername: {}\nemail:    {}\nstatus:   {}\nenabled:  {}",
        u.sub,
        u.username,
        u.email.as_deref().unwrap_or("-"),
        u.status.as_str(),
        u.enabled
    )
}

async fn user_cmd(
    app: &AppState,
    cmd: UserCmd,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    match cmd {
        UserCmd::Create {
            pool: p,
            username,
            email,
            password,
            attributes,
            temporary_password,
        } => {
            let p = pool(app, &p.pool).await?;
            let spec = NewUserSpec {
                username,
                email,
                password: read_password(password)?,
                attributes: parse_attributes(attributes)?,
                temporary_password,
                self_signup: false,
            };
            let u = accounts::create(app, &p, spec, now).await?;
            emit(json, &u, || describe_user(&u))
        }
        UserCmd::List {
            pool: p,
            limit,
            after,
        } => list_users(app, &p.pool, limit, after, json).await,
        UserCmd::Import {
            pool: p,
            file,
            dry_run,
        } => super::transfer::import(app, &p.pool, file, dry_run, json, now).await,
        UserCmd::Export {
            pool: p,
            output,
            with_password_hashes,
        } => super::transfer::export(app, &p.pool, output, with_password_hashes, json).await,
        UserCmd::CsvHeader { pool: p, extended } => {
            super::transfer::csv_header(app, &p.pool, extended, json).await
        }
        UserCmd::Show { pool: p, user } => show_user(app, &p.pool, &user, json).await,
        UserCmd::Disable { pool: p, user } => {
            set_user_enabled(app, &p.pool, &user, false, json, now).await
        }
        UserCmd::Enable { pool: p, user } => {
            set_user_enabled(app, &p.pool, &user, true, json, now).await
        }
        UserCmd::Delete { pool: p, user } => delete_user(app, &p.pool, &user, json, now).await,
        UserCmd::SetPassword {
            pool: p,
            user,
            password,
            temporary,
        } => {
            let p = pool(app, &p.pool).await?;
            let password = read_password(password)?;
            let u = accounts::set_password(app, &p, &user, &password, temporary, now).await?;
            emit(json, &u, || describe_user(&u))
        }
        UserCmd::Confirm { pool: p, user } => confirm_user(app, &p.pool, &user, json, now).await,
        UserCmd::ResetPassword {
            pool: p,
            user,
            temporary_password,
        } => reset_password(app, &p.pool, &user, temporary_password, json, now).await,
        UserCmd::SetAttribute {
            pool: p,
            user,
            attributes,
        } => set_user_attributes(app, &p.pool, &user, attributes, json, now).await,
        UserCmd::MfaReset { pool: p, user } => reset_mfa(app, &p.pool, &user, json, now).await,
        UserCmd::Link {
            pool: p,
            user,
            provider,
            subject,
        } => link_user(app, &p.pool, &user, &provider, Some(&subject), json, now).await,
        UserCmd::Unlink {
            pool: p,
            user,
            provider,
        } => link_user(app, &p.pool, &user, &provider, None, json, now).await,
        UserCmd::Consents {
            pool: p,
            user,
            revoke,
        } => consents(app, &p.pool, &user, revoke, json, now).await,
    }
}

/// Lists a user's consents, or takes one back.
async fn consents(
    app: &AppState,
    id_or_name: &str,
    user: &str,
    revoke: Option<String>,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let u = accounts::find(app, &p.id, user).await?;
    let sub = u.sub.as_str();
    if let Some(client_id) = revoke {
        let revoked = accounts::consents::revoke(app, &p.id, sub, &client_id, None, now).await?;
        if !revoked {
            return Err(Error::Usage(format!(
                "{} has not allowed {client_id}",
                u.username
            )));
        }
        let done = serde_json::json!({ "sub": sub, "revoked": client_id });
        return emit(json, &done, || {
            format!("{client_id} no longer has {}'s consent", u.username)
        });
    }
    let list = accounts::consents::list(app, &p.id, sub).await?;
    emit(json, &list, || {
        let lines: Vec<String> = list
            .iter()
            .map(|g| {
                let name = g.client_name.as_deref().unwrap_or("(deleted)");
                format!("{}\t{name}\t{}", g.client_id, g.scopes.join(" "))
            })
            .collect();
        match lines.is_empty() {
            true => format!("{} has allowed no application", u.username),
            false => lines.join("\n"),
        }
    })
}

/// A user with the upstream identities linked to them.
async fn show_user(app: &AppState, id_or_name: &str, user: &str, json: bool) -> Result<(), Error> {
    #[derive(Serialize)]
    struct Shown<'a> {
        #[serde(flatten)]
        user: &'a User,
        identities: Vec<LinkedIdentity>,
    }
    let p = pool(app, id_or_name).await?;
    let u = accounts::find(app, &p.id, user).await?;
    let identities = identities::of_user(app, &p.id, u.sub.as_str()).await?;
    let shown = Shown {
        user: &u,
        identities,
    };
    emit(json, &shown, || {
        let linked: Vec<String> = shown
            .identities
            .iter()
            .map(|i| format!("{}:{}", i.provider, i.subject))
            .collect();
        format!(
            "{}
linked:   {}",
            describe_user(&u),
            linked.join(", ")
        )
    })
}

/// `user link` (with a subject) and `user unlink`.
#[allow(clippy::too_many_arguments)]
async fn link_user(
    app: &AppState,
    id_or_name: &str,
    user: &str,
    provider: &str,
    subject: Option<&str>,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let u = accounts::find(app, &p.id, user).await?;
    let sub = u.sub.as_str();
    match subject {
        Some(subject) => {
            crate::federation::providers::find(app, &p.id, provider).await?;
            identities::link(app, &p.id, provider, subject, sub, None, now).await?;
        }
        None => identities::unlink(app, &p.id, provider, sub, None, now).await?,
    }
    let verb = if subject.is_some() {
        "linked"
    } else {
        "unlinked"
    };
    emit(
        json,
        &serde_json::json!({ verb: provider, "sub": sub }),
        || format!("{verb} {provider} for {}", u.username),
    )
}

async fn list_users(
    app: &AppState,
    id_or_name: &str,
    limit: i64,
    after: Option<String>,
    json: bool,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let page = accounts::page(app, &p.id, after, limit.clamp(1, 10_000)).await?;
    let value = serde_json::json!({ "users": page.users, "next": page.next });
    emit(json, &value, || {
        let mut lines: Vec<String> = page
            .users
            .iter()
            .map(|u| {
                format!(
                    "{}\t{}\t{}\t{}",
                    u.sub,
                    u.username,
                    u.status.as_str(),
                    if u.enabled { "enabled" } else { "disabled" }
                )
            })
            .collect();
        if let Some(next) = &page.next {
            lines.push(format!("next: {next}"));
        }
        lines.join("\n")
    })
}

async fn set_user_enabled(
    app: &AppState,
    id_or_name: &str,
    user: &str,
    enabled: bool,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let u = accounts::set_enabled(app, &p.id, user, enabled, now).await?;
    emit(json, &u, || describe_user(&u))
}

async fn delete_user(
    app: &AppState,
    id_or_name: &str,
    user: &str,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let u = accounts::delete(app, &p.id, user, now).await?;
    emit(json, &serde_json::json!({ "deleted": u.sub }), || {
        format!("deleted user {} ({})", u.username, u.sub)
    })
}

/// Confirms an UNCONFIRMED user without a code.
async fn confirm_user(
    app: &AppState,
    id_or_name: &str,
    user: &str,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let found = accounts::find(app, &p.id, user).await?;
    if found.status != UserStatus::Unconfirmed {
        return Err(Error::Usage(format!(
            "the user is {}; only UNCONFIRMED users can be confirmed",
            found.status.as_str()
        )));
    }
    let u = accounts::confirm(app, &p.id, found.sub.as_str(), now).await?;
    emit(json, &u, || describe_user(&u))
}

/// With a temporary password (`-` reads it from stdin), sets it; otherwise marks the user
/// RESET_REQUIRED and mails a reset code.
async fn reset_password(
    app: &AppState,
    id_or_name: &str,
    user: &str,
    temporary_password: Option<String>,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    if let Some(pw) = temporary_password {
        let stdin = pw == "-";
        let pw = read_password(PasswordArg {
            password: (!stdin).then_some(pw),
            password_stdin: stdin,
        })?;
        let u = accounts::set_password(app, &p, user, &pw, true, now).await?;
        return emit(json, &u, || {
            format!(
                "{}\n(must choose a new password at next sign-in)",
                describe_user(&u)
            )
        });
    }
    let found = accounts::find(app, &p.id, user).await?;
    let Some(email) = found.email.clone() else {
        return Err(Error::Usage(
            "the user has no email for a reset code; use --temporary-password".into(),
        ));
    };
    let u = accounts::require_reset(app, &p.id, found.sub.as_str(), now).await?;
    accounts::codes::send(
        app,
        &p,
        accounts::codes::Purpose::Reset,
        u.sub.as_str(),
        &email,
        crate::login::RESET_TTL,
        now,
    )
    .await
    .map_err(|e| Error::Usage(format!("the reset code could not be mailed: {e}")))?;
    emit(json, &u, || {
        format!("{}\n(a reset code was sent to {email})", describe_user(&u))
    })
}

/// `KEY=VALUE` sets and `KEY=` removes; `email=...` sets a verified email.
async fn set_user_attributes(
    app: &AppState,
    id_or_name: &str,
    user: &str,
    attributes: Vec<String>,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let mut changes = BTreeMap::new();
    let mut email = None;
    for (k, v) in parse_attributes(attributes)? {
        if k == "email" {
            email = Some(v);
        } else {
            changes.insert(k, Some(v));
        }
    }
    let mut u = accounts::find(app, &p.id, user).await?;
    if let Some(e) = email {
        u = accounts::set_email(app, &p.id, u.sub.as_str(), &e, true, None, now).await?;
    }
    if !changes.is_empty() {
        u = accounts::update_attributes(
            app,
            &p,
            u.sub.as_str(),
            changes,
            accounts::Writer::Admin,
            now,
        )
        .await?;
    }
    emit(json, &u, || describe_user(&u))
}

async fn reset_mfa(
    app: &AppState,
    id_or_name: &str,
    user: &str,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let u = accounts::find(app, &p.id, user).await?;
    let removed = crate::mfa::reset(app, &p.id, u.sub.as_str(), now).await?;
    emit(
        json,
        &serde_json::json!({ "sub": u.sub, "removed": removed }),
        || {
            if removed {
                format!("MFA removed for {}", u.username)
            } else {
                format!("{} had no MFA factor", u.username)
            }
        },
    )
}

async fn keys_cmd(
    app: &AppState,
    cmd: KeysCmd,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    match cmd {
        KeysCmd::List { pool: p } => {
            let p = pool(app, &p.pool).await?;
            let list = keys::list(app, &p.id, now).await?;
            emit(json, &list, || {
                list.iter()
                    .map(|k| {
                        format!(
                            "{}\t{}\t{:?}\tactive_from {}",
                            k.kid, k.alg, k.status, k.active_from
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        KeysCmd::Rotate {
            pool: p,
            now: immediate,
        } => {
            let p = pool(app, &p.pool).await?;
            let k = keys::rotate(app, &p.id, now, immediate).await?;
            emit(json, &k, || {
                format!(
                    "new key {} ({}) published; signs from {}",
                    k.kid, k.alg, k.active_from
                )
            })
        }
        KeysCmd::Revoke { pool: p, kid } => {
            let p = pool(app, &p.pool).await?;
            let r = keys::revoke(app, &p.id, &kid, now).await?;
            emit(json, &r, || match &r.replaced_by {
                Some(k) => format!("key {} revoked; new key {} signs from now", r.kid, k.kid),
                None => format!("key {} revoked", r.kid),
            })
        }
    }
}

/// The audit trail of a pool, or of one user (sub, username or email), newest first.
async fn events(
    app: &AppState,
    id_or_name: &str,
    user: Option<String>,
    limit: i64,
    json: bool,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let sub = match user {
        Some(u) => Some(accounts::find(app, &p.id, &u).await?.sub.to_string()),
        None => None,
    };
    let list = crate::audit::list(app, &p.id, sub, limit.clamp(1, 10_000)).await?;
    emit(json, &list, || {
        list.iter()
            .map(|e| {
                format!(
                    "{}\t{}\t{}\t{}",
                    e.at.and_utc().to_rfc3339(),
                    e.kind,
                    e.sub.as_deref().unwrap_or("-"),
                    e.detail
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

async fn group_cmd(
    app: &AppState,
    cmd: GroupCmd,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    use crate::accounts::groups;
    match cmd {
        GroupCmd::Create {
            pool: p,
            name,
            description,
            precedence,
            role_arn,
        } => {
            let p = pool(app, &p.pool).await?;
            let spec = groups::GroupSpec {
                description,
                precedence,
                role_arn,
            };
            let g = groups::create(app, &p.id, &name, spec, now).await?;
            emit(json, &g, || {
                format!("created group {} (precedence {})", g.name, g.precedence)
            })
        }
        GroupCmd::Delete { pool: p, name } => {
            let p = pool(app, &p.pool).await?;
            groups::delete(app, &p.id, &name).await?;
            emit(json, &serde_json::json!({ "deleted": name }), || {
                format!("deleted group {name}")
            })
        }
        GroupCmd::List { pool: p } => {
            let p = pool(app, &p.pool).await?;
            let list = groups::list(app, &p.id).await?;
            emit(json, &list, || {
                list.iter()
                    .map(|g| format!("{}\t{}\t{}", g.name, g.precedence, g.description))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        GroupCmd::AddUser {
            pool: p,
            group,
            user,
        } => {
            let p = pool(app, &p.pool).await?;
            groups::set_member(app, &p.id, &group, &user, true).await?;
            emit(
                json,
                &serde_json::json!({ "group": group, "added": user }),
                || format!("added {user} to {group}"),
            )
        }
        GroupCmd::RemoveUser {
            pool: p,
            group,
            user,
        } => {
            let p = pool(app, &p.pool).await?;
            groups::set_member(app, &p.id, &group, &user, false).await?;
            emit(
                json,
                &serde_json::json!({ "group": group, "removed": user }),
                || format!("removed {user} from {group}"),
            )
        }
    }
}
