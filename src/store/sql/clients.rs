//! App client rows: insert, find, list, delete. A secret is stored hashed (the OAuth check)
//! and sealed with the master key (SECRET_HASH and DescribeUserPoolClient need it in plain).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::app_clients;
use super::{DbConn, from_json, to_json};
use crate::ids::{ClientId, PoolId};
use crate::model::{ClientSettings, GrantType};
use crate::store::StoreError;

#[derive(Queryable, Insertable)]
#[diesel(table_name = app_clients)]
struct ClientRow {
    pool_id: String,
    client_id: String,
    name: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    logout_uris: String,
    grant_types: String,
    scopes: String,
    first_party: bool,
    settings: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    secret_sealed: Option<String>,
}

/// An app client (relying party) as stored. `secret_hash` is `None` for public clients.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Client {
    pub pool_id: PoolId,
    pub client_id: ClientId,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// The secret sealed with the master key (context [`secret_context`]); `None` for public
    /// clients and for secrets created before it was kept (rotate to get one).
    #[serde(skip)]
    pub secret_sealed: Option<String>,
    pub redirect_uris: Vec<String>,
    pub logout_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub settings: ClientSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

/// What a client's sealed secret is bound to: it cannot be moved to another client.
pub fn secret_context(pool: &PoolId, client_id: &ClientId) -> String {
    format!("client-secret/{pool}/{client_id}")
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            pool_id: PoolId::new(r.pool_id),
            client_id: ClientId::new(r.client_id),
            name: r.name,
            secret_hash: r.secret_hash,
            secret_sealed: r.secret_sealed,
            redirect_uris: from_json(&r.redirect_uris, "redirect_uris")?,
            logout_uris: from_json(&r.logout_uris, "logout_uris")?,
            grant_types: from_json(&r.grant_types, "grant_types")?,
            scopes: from_json(&r.scopes, "scopes")?,
            first_party: r.first_party,
            settings: from_json(&r.settings, "client settings")?,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

pub fn insert(c: &mut DbConn, cl: &Client) -> Result<(), StoreError> {
    let row = ClientRow {
        pool_id: cl.pool_id.to_string(),
        client_id: cl.client_id.to_string(),
        name: cl.name.clone(),
        secret_hash: cl.secret_hash.clone(),
        redirect_uris: to_json(&cl.redirect_uris)?,
        logout_uris: to_json(&cl.logout_uris)?,
        grant_types: to_json(&cl.grant_types)?,
        scopes: to_json(&cl.scopes)?,
        first_party: cl.first_party,
        settings: to_json(&cl.settings)?,
        created_at: cl.created_at.naive_utc(),
        updated_at: cl.updated_at.naive_utc(),
        secret_sealed: cl.secret_sealed.clone(),
    };
    diesel::insert_into(app_clients::table)
        .values(&row)
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "a client with that id"))?;
    Ok(())
}

/// Replaces what an operator may change (everything but the id, secret and creation time).
pub fn update(c: &mut DbConn, cl: &Client) -> Result<bool, StoreError> {
    let n = diesel::update(
        app_clients::table
            .filter(app_clients::pool_id.eq(cl.pool_id.as_str()))
            .filter(app_clients::client_id.eq(cl.client_id.as_str())),
    )
    .set((
        app_clients::name.eq(&cl.name),
        app_clients::redirect_uris.eq(to_json(&cl.redirect_uris)?),
        app_clients::logout_uris.eq(to_json(&cl.logout_uris)?),
        app_clients::grant_types.eq(to_json(&cl.grant_types)?),
        app_clients::scopes.eq(to_json(&cl.scopes)?),
        app_clients::first_party.eq(cl.first_party),
        app_clients::settings.eq(to_json(&cl.settings)?),
        app_clients::updated_at.eq(cl.updated_at.naive_utc()),
    ))
    .execute(c)?;
    Ok(n == 1)
}

pub fn find(c: &mut DbConn, pool: &PoolId, id: &str) -> Result<Option<Client>, StoreError> {
    app_clients::table
        .filter(app_clients::pool_id.eq(pool.as_str()))
        .filter(app_clients::client_id.eq(id))
        .first::<ClientRow>(c)
        .optional()?
        .map(Client::try_from)
        .transpose()
}

pub fn list(c: &mut DbConn, pool: &PoolId) -> Result<Vec<Client>, StoreError> {
    app_clients::table
        .filter(app_clients::pool_id.eq(pool.as_str()))
        .order(app_clients::created_at.asc())
        .load::<ClientRow>(c)?
        .into_iter()
        .map(Client::try_from)
        .collect()
}

/// Deletes a client; returns whether it existed.
pub fn delete(c: &mut DbConn, pool: &PoolId, id: &ClientId) -> Result<bool, StoreError> {
    let n = diesel::delete(
        app_clients::table
            .filter(app_clients::pool_id.eq(pool.as_str()))
            .filter(app_clients::client_id.eq(id.as_str())),
    )
    .execute(c)?;
    Ok(n > 0)
}

/// Replaces a client's secret (hash and sealed form); returns whether the client exists.
pub fn set_secret(
    c: &mut DbConn,
    pool: &PoolId,
    id: &ClientId,
    hash: &str,
    sealed: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        app_clients::table
            .filter(app_clients::pool_id.eq(pool.as_str()))
            .filter(app_clients::client_id.eq(id.as_str())),
    )
    .set((
        app_clients::secret_hash.eq(hash),
        app_clients::secret_sealed.eq(sealed),
        app_clients::updated_at.eq(now.naive_utc()),
    ))
    .execute(c)?;
    Ok(n == 1)
}
