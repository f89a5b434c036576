//! `tessera client ...`: register, change, list and delete a pool's app clients; and
//! `tessera access-key ...`, the credentials API clients sign with.

use chrono::{DateTime, Utc};

use super::admin::{emit, pool};
use super::{AccessKeyCmd, ClientCmd, ClientCreate};
use crate::clients::{self, ClientChanges, ClientSpec};
use crate::cognito::access_keys;
use crate::error::Error;
use crate::state::AppState;

pub(super) async fn run(
    app: &AppState,
    cmd: ClientCmd,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    match cmd {
        ClientCmd::Create(create) => create_client(app, create, json, now).await,
        ClientCmd::List { pool: p } => list_clients(app, &p.pool, json).await,
        ClientCmd::Show { pool: p, client_id } => {
            let p = pool(app, &p.pool).await?;
            let c = clients::find(app, &p.id, &client_id).await?;
            emit(json, &c, || {
                serde_json::to_string_pretty(&c).unwrap_or_default()
            })
        }
        ClientCmd::Update(u) => {
            let p = pool(app, &u.pool.pool).await?;
            let changes = ClientChanges {
                name: u.name,
                redirect_uris: u.redirect_uris,
                logout_uris: u.logout_uris,
                scopes: u.scopes,
                identity_providers: u.identity_providers,
                first_party: u.first_party,
                require_mfa: u.require_mfa,
                introspect_any: u.introspect_any,
                always_refresh_token: u.always_refresh_token,
                backchannel_logout_uri: u.backchannel_logout_uri,
                allowed_origins: list_arg(u.allowed_origins),
                explicit_auth_flows: list_arg(u.auth_flows),
                access_token_ttl: u.access_token_ttl,
                id_token_ttl: u.id_token_ttl,
                refresh_token_ttl: u.refresh_token_ttl,
                read_attributes: list_arg(u.read_attributes),
                write_attributes: list_arg(u.write_attributes),
            };
            let c = clients::update(app, &p.id, &u.client_id, changes, now).await?;
            emit(json, &c, || format!("updated client {}", c.client_id))
        }
        ClientCmd::RotateSecret { pool: p, client_id } => {
            let p = pool(app, &p.pool).await?;
            let rotated = clients::rotate_secret(app, &p.id, &client_id, now).await?;
            emit(json, &rotated, || {
                format!(
                    "client_id:     {}\nclient_secret: {}\n(the secret is shown only now; the old one no longer works)",
                    rotated.client.client_id,
                    rotated
                        .client_secret
                        .as_ref()
                        .map(|s| s.expose())
                        .unwrap_or_default()
                )
            })
        }
        ClientCmd::Delete { pool: p, client_id } => {
            let p = pool(app, &p.pool).await?;
            clients::delete(app, &p.id, &client_id, now).await?;
            emit(json, &serde_json::json!({ "deleted": client_id }), || {
                format!("deleted client {client_id}")
            })
        }
    }
}

/// A repeatable list option: not given is `None`; `''` entries are dropped (so `--x ''` alone
/// is an empty list).
fn list_arg(given: Vec<String>) -> Option<Vec<String>> {
    (!given.is_empty()).then(|| given.into_iter().filter(|s| !s.is_empty()).collect())
}

async fn create_client(
    app: &AppState,
    create: ClientCreate,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, &create.pool.pool).await?;
    let spec = ClientSpec {
        name: create.name,
        redirect_uris: create.redirect_uris,
        logout_uris: create.logout_uris,
        public: create.public,
        grant_types: create.grants.into_iter().map(Into::into).collect(),
        scopes: create.scopes,
        first_party: create.first_party,
        pkce_optional: create.pkce_optional,
        require_mfa: create.require_mfa,
        introspect_any: create.introspect_any,
        always_refresh_token: create.always_refresh_token,
        backchannel_logout_uri: create.backchannel_logout_uri,
        allowed_origins: create.allowed_origins,
        explicit_auth_flows: create.auth_flows,
        access_token_ttl: create.access_token_ttl,
        id_token_ttl: create.id_token_ttl,
        refresh_token_ttl: create.refresh_token_ttl,
        identity_providers: create.identity_providers,
        read_attributes: list_arg(create.read_attributes),
        write_attributes: list_arg(create.write_attributes),
    };
    let created = clients::create(app, &p.id, spec, now).await?;
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

async fn list_clients(app: &AppState, id_or_name: &str, json: bool) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let list = clients::list(app, &p.id).await?;
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

pub(super) async fn access_keys(
    app: &AppState,
    cmd: AccessKeyCmd,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    match cmd {
        AccessKeyCmd::Create { description } => {
            let k = access_keys::create(app, &description, now).await?;
            emit(json, &k, || {
                format!(
                    "access_key_id:     {}\nsecret_access_key: {}\n(the secret is shown only now; store it safely)",
                    k.key.access_key_id,
                    k.secret_access_key.expose()
                )
            })
        }
        AccessKeyCmd::List => {
            let list = access_keys::list(app).await?;
            emit(json, &list, || {
                list.iter()
                    .map(|k| {
                        let used = k
                            .last_used_at
                            .map_or("never used".to_string(), |t| format!("last used {t}"));
                        format!("{}\t{}\t{used}", k.access_key_id, k.description)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AccessKeyCmd::Delete { access_key_id } => {
            access_keys::delete(app, &access_key_id).await?;
            emit(
                json,
                &serde_json::json!({ "deleted": access_key_id }),
                || format!("deleted access key {access_key_id}"),
            )
        }
    }
}
