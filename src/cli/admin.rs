//! Admin commands: each opens the state (migrating if needed), calls one service, prints the result.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::Serialize;

use super::{ClientCmd, Command, GroupCmd, KeysCmd, PasswordArg, PoolCmd, UserCmd};
use crate::accounts::attributes::{self, CustomAttribute};
use crate::accounts::{self, NewUserSpec};
use crate::clients::{self, ClientSpec};
use crate::config::Config;
use crate::error::Error;
use crate::ids::Secret;
use crate::keys;
use crate::pools;
use crate::state::{AppState, Deps};
use crate::store::sql::pools::Pool;

/// Prints `value` as JSON, or the human text. A closed pipe (`tessera ... | head`) is not an
/// error: the reader has what it wanted.
fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) -> Result<(), Error> {
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

async fn pool(st: &AppState, id_or_name: &str) -> Result<Pool, Error> {
    Ok(pools::resolve(st, id_or_name).await?)
}

pub async fn run(config: Config, command: Command, json: bool) -> Result<(), Error> {
    let (st, report) = AppState::open(config, Deps::default()).await?;
    let now = st.clock.now();
    match command {
        Command::Migrate => emit(json, &report, || {
            format!(
                "applied {} migration(s); {} known",
                report.applied.len(),
                report.total
            )
        }),
        Command::Pool(PoolCmd::Create { name }) => {
            let p = pools::create(&st, &name, now).await?;
            emit(json, &p, || p.id.to_string())
        }
        Command::Pool(PoolCmd::List) => {
            let list = pools::list(&st).await?;
            emit(json, &list, || {
                list.iter()
                    .map(|p| format!("{}\t{}", p.id, p.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        Command::Pool(PoolCmd::Update {
            pool: which,
            signup,
            password_min_length,
            password_require_lowercase,
            password_require_uppercase,
            password_require_digit,
            password_require_symbol,
            sign_in_identifier,
            required_attributes,
            custom_attributes,
            mfa,
        }) => {
            let p = pool(&st, &which).await?;
            let mut s = p.settings.clone();
            if let Some(m) = signup {
                s.admin_only_signup = matches!(m, super::SignupMode::AdminOnly);
            }
            let pp = &mut s.password_policy;
            if let Some(n) = password_min_length {
                if !(6..=256).contains(&n) {
                    return Err(Error::Usage(
                        "--password-min-length must be between 6 and 256".into(),
                    ));
                }
                pp.min_length = n;
            }
            pp.require_lowercase = password_require_lowercase.unwrap_or(pp.require_lowercase);
            pp.require_uppercase = password_require_uppercase.unwrap_or(pp.require_uppercase);
            pp.require_digit = password_require_digit.unwrap_or(pp.require_digit);
            pp.require_symbol = password_require_symbol.unwrap_or(pp.require_symbol);
            if let Some(m) = sign_in_identifier {
                s.sign_in_identifier = match m {
                    super::IdentifierMode::Username => pools::SignInIdentifier::Username,
                    super::IdentifierMode::Email => pools::SignInIdentifier::Email,
                    super::IdentifierMode::UsernameOrEmail => {
                        pools::SignInIdentifier::UsernameOrEmail
                    }
                };
            }
            if let Some(m) = mfa {
                s.mfa = match m {
                    super::MfaArg::Off => pools::MfaMode::Off,
                    super::MfaArg::Optional => pools::MfaMode::Optional,
                    super::MfaArg::Required => pools::MfaMode::Required,
                };
            }
            for spec in custom_attributes {
                let def = CustomAttribute::parse(&spec).map_err(Error::Usage)?;
                s.custom_attributes.retain(|c| c.name != def.name);
                s.custom_attributes.push(def);
            }
            if s.custom_attributes.len() > attributes::MAX_CUSTOM {
                return Err(Error::Usage(format!(
                    "at most {} custom attributes",
                    attributes::MAX_CUSTOM
                )));
            }
            if let Some(list) = required_attributes {
                let names: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .collect();
                for n in &names {
                    let known = attributes::STANDARD.contains(&n.as_str())
                        || n.strip_prefix("custom:")
                            .is_some_and(|c| s.custom_attributes.iter().any(|d| d.name == c));
                    if !known && n != "email" {
                        return Err(Error::Usage(format!(
                            "--required-attributes: {n:?} is not a standard attribute or a custom attribute of this pool"
                        )));
                    }
                }
                s.required_attributes = names.into_iter().filter(|n| n != "email").collect();
            }
            let updated = pools::update_settings(&st, &p.id, s, now).await?;
            emit(json, &updated, || format!("updated pool {}", updated.id))
        }
        Command::Pool(PoolCmd::Show { pool: which }) => {
            let p = pool(&st, &which).await?;
            let issuer = format!("{}/{}", st.config.public_base(), p.id);
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
        Command::Client(cmd) => client(&st, cmd, json, now).await,
        Command::User(cmd) => user(&st, cmd, json, now).await,
        Command::Keys(KeysCmd::List { pool: p }) => {
            let p = pool(&st, &p.pool).await?;
            let list = keys::list(&st, &p.id, now).await?;
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
        Command::Keys(KeysCmd::Rotate {
            pool: p,
            now: immediate,
        }) => {
            let p = pool(&st, &p.pool).await?;
            let k = keys::rotate(&st, &p.id, now, immediate).await?;
            emit(json, &k, || {
                format!(
                    "new key {} ({}) published; signs from {}",
                    k.kid, k.alg, k.active_from
                )
            })
        }
        Command::Group(cmd) => group(&st, cmd, json, now).await,
        Command::Events {
            pool: p,
            user,
            limit,
        } => {
            let p = pool(&st, &p.pool).await?;
            let sub = match user {
                Some(u) => Some(accounts::find(&st, &p.id, &u).await?.sub.to_string()),
                None => None,
            };
            let list = crate::audit::list(&st, &p.id, sub, limit.clamp(1, 10_000)).await?;
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
        Command::Serve | Command::Config => Err(Error::Usage("not an admin command".into())),
    }
}

async fn client(
    st: &AppState,
    cmd: ClientCmd,
    json: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    match cmd {
        ClientCmd::Create {
            pool: p,
            name,
            redirect_uris,
            logout_uris,
            public,
            grants,
            scopes,
            first_party,
            pkce_optional,
            require_mfa,
            access_token_ttl,
            id_token_ttl,
            refresh_token_ttl,
        } => {
            let p = pool(st, &p.pool).await?;
            let spec = ClientSpec {
                name,
                redirect_uris,
                logout_uris,
                public,
                grant_types: grants,
                scopes,
                first_party,
                pkce_optional,
                require_mfa,
                access_token_ttl,
                id_token_ttl,
                refresh_token_ttl,
            };
            let created = clients::create(st, &p.id, spec, now).await?;
            emit(json, &created, || match &created.client_secret {
                Some(s) => format!(
                    "client_id:     {}\nclient_secret: {}\n(the secret is shown only now; store it safely)",
                    created.client.client_id,
                    s.expose()
                ),
                None => format!(
                    "client_id:     {}\n(public client: no secret, PKCE required)",
                    created.client.client_id
                ),
            })
        }
        ClientCmd::List { pool: p } => {
            let p = pool(st, &p.pool).await?;
            let list = clients::list(st, &p.id).await?;
            emit(json, &list, || {
                list.iter()
                    .map(|c| {
                        format!(
                            "{}\t{}\t{}",
                            c.client_id,
                            c.name,
                            if c.is_public() {
                                "public"
                            } else {
                                "confidential"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        ClientCmd::Show { pool: p, client_id } => {
            let p = pool(st, &p.pool).await?;
            let c = clients::find(st, &p.id, &client_id).await?;
            emit(json, &c, || {
                serde_json::to_string_pretty(&c).unwrap_or_default()
            })
        }
        ClientCmd::Delete { pool: p, client_id } => {
            let p = pool(st, &p.pool).await?;
            clients::delete(st, &p.id, &client_id, now).await?;
            emit(json, &serde_json::json!({ "deleted": client_id }), || {
                format!("deleted client {client_id}")
            })
        }
    }
}

async fn user(
    st: &AppState,
    cmd: UserCmd,
    json: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    let show = |u: &crate::store::sql::users::User| {
        format!(
            "sub:      {}\nusername: {}\nemail:    {}\nstatus:   {}\nenabled:  {}",
            u.sub,
            u.username,
            u.email.as_deref().unwrap_or("-"),
            u.status.as_str(),
            u.enabled
        )
    };
    match cmd {
        UserCmd::Create {
            pool: p,
            username,
            email,
            password,
            attributes,
            temporary_password,
        } => {
            let p = pool(st, &p.pool).await?;
            let spec = NewUserSpec {
                username,
                email,
                password: read_password(password)?,
                attributes: parse_attributes(attributes)?,
                temporary_password,
                self_signup: false,
            };
            let u = accounts::create(st, &p, spec, now).await?;
            emit(json, &u, || show(&u))
        }
        UserCmd::List { pool: p, limit } => {
            let p = pool(st, &p.pool).await?;
            let list = accounts::list(st, &p.id, limit.clamp(1, 10_000)).await?;
            emit(json, &list, || {
                list.iter()
                    .map(|u| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            u.sub,
                            u.username,
                            u.status.as_str(),
                            if u.enabled { "enabled" } else { "disabled" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        UserCmd::Show { pool: p, user } => {
            let p = pool(st, &p.pool).await?;
            let u = accounts::find(st, &p.id, &user).await?;
            emit(json, &u, || show(&u))
        }
        UserCmd::Disable { pool: p, user } => {
            let p = pool(st, &p.pool).await?;
            let u = accounts::set_enabled(st, &p.id, &user, false, now).await?;
            emit(json, &u, || show(&u))
        }
        UserCmd::Enable { pool: p, user } => {
            let p = pool(st, &p.pool).await?;
            let u = accounts::set_enabled(st, &p.id, &user, true, now).await?;
            emit(json, &u, || show(&u))
        }
        UserCmd::Delete { pool: p, user } => {
            let p = pool(st, &p.pool).await?;
            let u = accounts::delete(st, &p.id, &user, now).await?;
            emit(json, &serde_json::json!({ "deleted": u.sub }), || {
                format!("deleted user {} ({})", u.username, u.sub)
            })
        }
        UserCmd::SetPassword {
            pool: p,
            user,
            password,
            temporary,
        } => {
            let p = pool(st, &p.pool).await?;
            let u =
                accounts::set_password(st, &p, &user, &read_password(password)?, temporary, now)
                    .await?;
            emit(json, &u, || show(&u))
        }
        UserCmd::Confirm { pool: p, user } => {
            let p = pool(st, &p.pool).await?;
            let found = accounts::find(st, &p.id, &user).await?;
            if found.status != accounts::UserStatus::Unconfirmed {
                return Err(Error::Usage(format!(
                    "the user is {}; only UNCONFIRMED users can be confirmed",
                    found.status.as_str()
                )));
            }
            let u = accounts::confirm(st, &p.id, found.sub.as_str(), now).await?;
            emit(json, &u, || show(&u))
        }
        UserCmd::ResetPassword {
            pool: p,
            user,
            temporary_password,
        } => {
            let p = pool(st, &p.pool).await?;
            if let Some(pw) = temporary_password {
                let stdin = pw == "-";
                let pw = read_password(PasswordArg {
                    password: (!stdin).then_some(pw),
                    password_stdin: stdin,
                })?;
                let u = accounts::set_password(st, &p, &user, &pw, true, now).await?;
                return emit(json, &u, || {
                    format!("{}\n(must choose a new password at next sign-in)", show(&u))
                });
            }
            let found = accounts::find(st, &p.id, &user).await?;
            let Some(email) = found.email.clone() else {
                return Err(Error::Usage(
                    "the user has no email for a reset code; use --temporary-password".into(),
                ));
            };
            let u = accounts::require_reset(st, &p.id, found.sub.as_str(), now).await?;
            accounts::codes::send(
                st,
                &p,
                accounts::codes::Purpose::Reset,
                u.sub.as_str(),
                &email,
                crate::oidc::recovery::RESET_TTL,
                now,
            )
            .await
            .map_err(|e| Error::Usage(format!("the reset code could not be mailed: {e}")))?;
            emit(json, &u, || {
                format!("{}\n(a reset code was sent to {email})", show(&u))
            })
        }
        UserCmd::SetAttribute {
            pool: p,
            user,
            attributes,
        } => {
            let p = pool(st, &p.pool).await?;
            let mut changes = BTreeMap::new();
            let mut email = None;
            for (k, v) in parse_attributes(attributes)? {
                if k == "email" {
                    email = Some(v);
                } else {
                    changes.insert(k, Some(v));
                }
            }
            let mut u = accounts::find(st, &p.id, &user).await?;
            if let Some(e) = email {
                u = accounts::set_email(st, &p.id, u.sub.as_str(), &e, true, None, now).await?;
            }
            if !changes.is_empty() {
                u = accounts::update_attributes(st, &p, u.sub.as_str(), changes, None, now).await?;
            }
            emit(json, &u, || show(&u))
        }
        UserCmd::MfaReset { pool: p, user } => {
            let p = pool(st, &p.pool).await?;
            let u = accounts::find(st, &p.id, &user).await?;
            let removed = crate::mfa::reset(st, &p.id, u.sub.as_str(), now).await?;
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
    }
}

async fn group(
    st: &AppState,
    cmd: GroupCmd,
    json: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    use crate::accounts::groups;
    match cmd {
        GroupCmd::Create {
            pool: p,
            name,
            description,
            precedence,
        } => {
            let p = pool(st, &p.pool).await?;
            let g = groups::create(st, &p.id, &name, &description, precedence, now).await?;
            emit(json, &g, || {
                format!("created group {} (precedence {})", g.name, g.precedence)
            })
        }
        GroupCmd::Delete { pool: p, name } => {
            let p = pool(st, &p.pool).await?;
            groups::delete(st, &p.id, &name).await?;
            emit(json, &serde_json::json!({ "deleted": name }), || {
                format!("deleted group {name}")
            })
        }
        GroupCmd::List { pool: p } => {
            let p = pool(st, &p.pool).await?;
            let list = groups::list(st, &p.id).await?;
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
            let p = pool(st, &p.pool).await?;
            groups::set_member(st, &p.id, &group, &user, true).await?;
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
            let p = pool(st, &p.pool).await?;
            groups::set_member(st, &p.id, &group, &user, false).await?;
            emit(
                json,
                &serde_json::json!({ "group": group, "removed": user }),
                || format!("removed {user} from {group}"),
            )
        }
    }
}
