//! User rows: identifiers are unique per pool on their normalized form.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::users;
use super::{DbConn, from_json, to_json};
use crate::ids::{PoolId, Sub};
use crate::model::SignInIdentifier;
use crate::model::UserStatus;
use crate::store::StoreError;

#[derive(Queryable, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
struct UserRow {
    pool_id: String,
    sub: String,
    username: String,
    username_norm: String,
    email: Option<String>,
    email_norm: Option<String>,
    email_verified: bool,
    phone_number: Option<String>,
    phone_number_verified: bool,
    status: String,
    enabled: bool,
    password_hash: Option<String>,
    attributes: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    tokens_revoked_at: Option<NaiveDateTime>,
    srp_verifier: Option<String>,
}

/// A user as stored. The password hash and SRP verifier never serialize, nor show in `Debug`.
#[derive(Clone, serde::Serialize)]
pub struct User {
    pub pool_id: PoolId,
    pub sub: Sub,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    pub status: UserStatus,
    pub enabled: bool,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Access tokens issued at or before this are refused (a global sign-out).
    #[serde(skip)]
    pub tokens_revoked_at: Option<DateTime<Utc>>,
    /// `salt_hex:verifier_hex` for SRP sign-in, when the pool keeps one.
    #[serde(skip)]
    pub srp_verifier: Option<String>,
}

impl User {
    /// Was a token issued at `iat` (seconds) revoked by a global sign-out since?
    pub fn signed_out_since(&self, iat: i64) -> bool {
        self.tokens_revoked_at.is_some_and(|t| iat <= t.timestamp())
    }
}

/// What `Debug` shows of a password hash or SRP verifier: whether there is one. Either can be
/// attacked offline, so neither may reach a log line through a `{:?}`.
struct Withheld<'a>(&'a Option<String>);

impl std::fmt::Debug for Withheld<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("pool_id", &self.pool_id)
            .field("sub", &self.sub)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("phone_number", &self.phone_number)
            .field("phone_number_verified", &self.phone_number_verified)
            .field("status", &self.status)
            .field("enabled", &self.enabled)
            .field("password_hash", &Withheld(&self.password_hash))
            .field("attributes", &self.attributes)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("tokens_revoked_at", &self.tokens_revoked_at)
            .field("srp_verifier", &Withheld(&self.srp_verifier))
            .finish()
    }
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("sub", &self.sub)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("phone_number", &self.phone_number)
            .field("phone_number_verified", &self.phone_number_verified)
            .field("status", &self.status)
            .field("password_hash", &Withheld(&self.password_hash))
            .field("attributes", &self.attributes)
            .field("srp_verifier", &Withheld(&self.srp_verifier))
            .finish_non_exhaustive()
    }
}

/// A user to create, with identifiers already normalized by `accounts`. `Debug` shows
/// neither the password hash nor the SRP verifier.
#[derive(Clone)]
pub struct NewUser {
    pub sub: Sub,
    pub username: String,
    pub username_norm: String,
    pub email: Option<String>,
    pub email_norm: Option<String>,
    pub email_verified: bool,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    pub status: UserStatus,
    pub password_hash: Option<String>,
    pub attributes: BTreeMap<String, String>,
    /// See [`User::srp_verifier`].
    pub srp_verifier: Option<String>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            status: r
                .status
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("user status {:?}", r.status)))?,
            attributes: from_json(&r.attributes, "user attributes")?,
            pool_id: PoolId::new(r.pool_id),
            sub: Sub::new(r.sub),
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            phone_number: r.phone_number,
            phone_number_verified: r.phone_number_verified,
            enabled: r.enabled,
            password_hash: r.password_hash,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            tokens_revoked_at: r.tokens_revoked_at.map(|t| t.and_utc()),
            srp_verifier: r.srp_verifier,
        })
    }
}

fn new_row(pool: &PoolId, u: &NewUser, now: DateTime<Utc>) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        pool_id: pool.to_string(),
        sub: u.sub.to_string(),
        username: u.username.clone(),
        username_norm: u.username_norm.clone(),
        email: u.email.clone(),
        email_norm: u.email_norm.clone(),
        email_verified: u.email_verified,
        phone_number: u.phone_number.clone(),
        phone_number_verified: u.phone_number_verified,
        status: u.status.as_str().to_string(),
        enabled: true,
        password_hash: u.password_hash.clone(),
        attributes: to_json(&u.attributes)?,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
        tokens_revoked_at: None,
        srp_verifier: u.srp_verifier.clone(),
    })
}

pub fn insert(
    c: &mut DbConn,
    pool: &PoolId,
    u: NewUser,
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    let row = new_row(pool, &u, now)?;
    diesel::insert_into(users::table)
        .values(&row)
        .execute(c)
        .map_err(|e| StoreError::conflict_on_unique(e, "a user with that username or email"))?;
    row.try_into()
}

/// Inserts a batch in one statement and returns how many rows were added. With
/// `skip_existing`, a user whose sub, username or verified email is taken is skipped (ON
/// CONFLICT DO NOTHING, which costs PostgreSQL a speculative insert per row); without, such a
/// row fails the whole batch with [`StoreError::Conflict`].
pub fn insert_many(
    c: &mut DbConn,
    pool: &PoolId,
    batch: &[NewUser],
    skip_existing: bool,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let rows = batch
        .iter()
        .map(|u| new_row(pool, u, now))
        .collect::<Result<Vec<_>, _>>()?;
    let conflict = |e| StoreError::conflict_on_unique(e, "a user with that username or email");
    Ok(match c {
        DbConn::Pg(pg) if skip_existing => diesel::insert_into(users::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .execute(pg)?,
        // COPY: no statement to parse with 15 parameters a row.
        DbConn::Pg(pg) => diesel::copy_from(users::table)
            .from_insertable(&rows)
            .execute(pg)
            .map_err(conflict)?,
        // SQLite takes no multi-row ON CONFLICT from diesel; one prepared statement per row
        // in one transaction is as fast there.
        DbConn::Sqlite(lite) => lite
            .transaction(|t| {
                rows.iter().try_fold(0, |n, r| {
                    let q = diesel::insert_or_ignore_into(users::table).values(r);
                    let k = if skip_existing {
                        q.execute(t)?
                    } else {
                        diesel::insert_into(users::table).values(r).execute(t)?
                    };
                    Ok::<_, diesel::result::Error>(n + k)
                })
            })
            .map_err(conflict)?,
    })
}

/// What of a batch about to be imported already exists in a pool.
#[derive(Debug, Default)]
pub struct Taken {
    /// Normalized usernames in use -> the sub of each.
    pub usernames: HashMap<String, String>,
    /// Normalized verified emails -> the normalized username holding each.
    pub emails: HashMap<String, String>,
    /// Subs in use -> the normalized username of each.
    pub subs: HashMap<String, String>,
}

/// Which of these normalized usernames, normalized emails (verified ones) and subs exist.
pub fn taken(
    c: &mut DbConn,
    pool: &PoolId,
    usernames: &[String],
    emails: &[String],
    subs: &[String],
) -> Result<Taken, StoreError> {
    let of_pool = || users::table.filter(users::pool_id.eq(pool.as_str()));
    let mut taken = Taken::default();
    if !usernames.is_empty() {
        taken.usernames = of_pool()
            .filter(users::username_norm.eq_any(usernames))
            .select((users::username_norm, users::sub))
            .load::<(String, String)>(c)?
            .into_iter()
            .collect();
    }
    if !emails.is_empty() {
        taken.emails = of_pool()
            .filter(users::email_verified.eq(true))
            .filter(users::email_norm.eq_any(emails))
            .select((users::email_norm.assume_not_null(), users::username_norm))
            .load::<(String, String)>(c)?
            .into_iter()
            .collect();
    }
    if !subs.is_empty() {
        taken.subs = of_pool()
            .filter(users::sub.eq_any(subs))
            .select((users::sub, users::username_norm))
            .load::<(String, String)>(c)?
            .into_iter()
            .collect();
    }
    Ok(taken)
}

/// A page of users and where the next one starts (`None` on the last page).
#[derive(Debug)]
pub struct Page {
    pub users: Vec<User>,
    pub next: Option<String>,
}

/// One page of a pool's users in normalized-username order, starting after the cursor
/// `after`: each page is a range scan of the username index, as fast at the millionth user as
/// at the first (no OFFSET).
pub fn page(
    c: &mut DbConn,
    pool: &PoolId,
    after: Option<&str>,
    limit: i64,
) -> Result<Page, StoreError> {
    let mut q = users::table
        .filter(users::pool_id.eq(pool.as_str()))
        .order(users::username_norm.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(users::username_norm.gt(after.to_string()));
    }
    let rows = q.load::<UserRow>(c)?;
    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit;
    let next = rows
        .last()
        .filter(|_| full)
        .map(|r| r.username_norm.clone());
    Ok(Page {
        users: rows
            .into_iter()
            .map(User::try_from)
            .collect::<Result<_, _>>()?,
        next,
    })
}

pub fn find(c: &mut DbConn, pool: &PoolId, sub: &str) -> Result<Option<User>, StoreError> {
    users::table
        .filter(users::pool_id.eq(pool.as_str()))
        .filter(users::sub.eq(sub))
        .first::<UserRow>(c)
        .optional()?
        .map(User::try_from)
        .transpose()
}

/// The user `sub` if it exists and is enabled: the one check every session, token and step
/// makes before acting for a user.
pub async fn find_enabled(
    sql: &super::SqlStore,
    pool: &PoolId,
    sub: &str,
) -> Result<Option<User>, StoreError> {
    let (pool, sub) = (pool.clone(), sub.to_string());
    Ok(sql
        .run(move |c| find(c, &pool, &sub))
        .await?
        .filter(|u| u.enabled))
}

/// Finds a user by normalized username, or by normalized email (the verified holder first).
pub fn find_by_identifier(
    c: &mut DbConn,
    pool: &PoolId,
    norm: &str,
) -> Result<Option<User>, StoreError> {
    let by_name = users::table
        .filter(users::pool_id.eq(pool.as_str()))
        .filter(users::username_norm.eq(norm))
        .first::<UserRow>(c)
        .optional()?;
    let row = match by_name {
        Some(r) => Some(r),
        None => users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::email_norm.eq(norm))
            .order((users::email_verified.desc(), users::created_at.asc()))
            .first::<UserRow>(c)
            .optional()?,
    };
    row.map(User::try_from).transpose()
}

/// The user whose verified email is `norm` (at most one: verified emails are unique).
pub fn verified_email_holder(
    c: &mut DbConn,
    pool: &PoolId,
    norm: &str,
) -> Result<Option<User>, StoreError> {
    users::table
        .filter(users::pool_id.eq(pool.as_str()))
        .filter(users::email_norm.eq(norm))
        .filter(users::email_verified.eq(true))
        .first::<UserRow>(c)
        .optional()?
        .map(User::try_from)
        .transpose()
}

/// Finds the user an identifier typed at sign-in names, under the pool's identifier setting.
/// An email names only the account that verified it (Cognito's alias rule): several
/// UNCONFIRMED sign-ups may name an address, and none of them signs in by it.
pub fn find_for_sign_in(
    c: &mut DbConn,
    pool: &PoolId,
    norm: &str,
    mode: SignInIdentifier,
) -> Result<Option<User>, StoreError> {
    let by_name = |c: &mut DbConn| {
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::username_norm.eq(norm))
            .first::<UserRow>(c)
            .optional()
    };
    let row = match mode {
        SignInIdentifier::Username => by_name(c)?,
        SignInIdentifier::Email => return verified_email_holder(c, pool, norm),
        SignInIdentifier::UsernameOrEmail => match by_name(c)? {
            Some(r) => Some(r),
            None => return verified_email_holder(c, pool, norm),
        },
    };
    row.map(User::try_from).transpose()
}

/// UNCONFIRMED users created before `before`, oldest first (at most `limit`).
pub fn unconfirmed_before(
    c: &mut DbConn,
    pool: &PoolId,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<User>, StoreError> {
    users::table
        .filter(users::pool_id.eq(pool.as_str()))
        .filter(users::status.eq(UserStatus::Unconfirmed.as_str()))
        .filter(users::created_at.lt(before.naive_utc()))
        .order(users::created_at.asc())
        .limit(limit)
        .load::<UserRow>(c)?
        .into_iter()
        .map(User::try_from)
        .collect()
}

/// Deletes `sub` if it is still UNCONFIRMED (a confirmation racing the expiry wins).
pub fn delete_unconfirmed(c: &mut DbConn, pool: &PoolId, sub: &Sub) -> Result<bool, StoreError> {
    let n = diesel::delete(
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::sub.eq(sub.as_str()))
            .filter(users::status.eq(UserStatus::Unconfirmed.as_str())),
    )
    .execute(c)?;
    changed(c, pool, n)
}

pub fn set_enabled(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &Sub,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::sub.eq(sub.as_str())),
    )
    .set((
        users::enabled.eq(enabled),
        users::updated_at.eq(now.naive_utc()),
    ))
    .execute(c)?;
    changed(c, pool, n)
}

pub fn set_password(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &Sub,
    hash: &str,
    status: UserStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::sub.eq(sub.as_str())),
    )
    .set((
        users::password_hash.eq(Some(hash)),
        users::status.eq(status.as_str()),
        users::updated_at.eq(now.naive_utc()),
    ))
    .execute(c)?;
    changed(c, pool, n)
}

/// CONFIRMED, and the email (if any) verified.
pub fn confirm(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &Sub,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::sub.eq(sub.as_str())),
    )
    .set((
        users::status.eq(UserStatus::Confirmed.as_str()),
        users::email_verified.eq(users::email.is_not_null()),
        users::updated_at.eq(now.naive_utc()),
    ))
    .execute(c)
    .map_err(|e| StoreError::conflict_on_unique(e, "a user with that email"))?;
    changed(c, pool, n)
}

/// Replaces the attribute map and the phone number (unverified again when it changed).
pub fn set_attributes(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &Sub,
    attributes: &BTreeMap<String, String>,
    phone_number: Option<&str>,
    phone_changed: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let target = users::table
        .filter(users::pool_id.eq(pool.as_str()))
        .filter(users::sub.eq(sub.as_str()));
    let json = to_json(attributes)?;
    let n = if phone_changed {
        diesel::update(target)
            .set((
                users::attributes.eq(json),
                users::phone_number.eq(phone_number),
                users::phone_number_verified.eq(false),
                users::updated_at.eq(now.naive_utc()),
            ))
            .execute(c)?
    } else {
        diesel::update(target)
            .set((
                users::attributes.eq(json),
                users::updated_at.eq(now.naive_utc()),
            ))
            .execute(c)?
    };
    changed(c, pool, n)
}

/// Sets the email (normalized form alongside); unique per pool.
pub fn set_email(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &Sub,
    email: &str,
    email_norm: &str,
    verified: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::sub.eq(sub.as_str())),
    )
    .set((
        users::email.eq(Some(email)),
        users::email_norm.eq(Some(email_norm)),
        users::email_verified.eq(verified),
        users::updated_at.eq(now.naive_utc()),
    ))
    .execute(c)
    .map_err(|e| StoreError::conflict_on_unique(e, "a user with that email"))?;
    changed(c, pool, n)
}

pub fn set_status(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &Sub,
    status: UserStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::sub.eq(sub.as_str())),
    )
    .set((
        users::status.eq(status.as_str()),
        users::updated_at.eq(now.naive_utc()),
    ))
    .execute(c)?;
    changed(c, pool, n)
}

pub fn delete(c: &mut DbConn, pool: &PoolId, sub: &Sub) -> Result<bool, StoreError> {
    let n = diesel::delete(
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::sub.eq(sub.as_str())),
    )
    .execute(c)?;
    changed(c, pool, n)
}

/// After a write of `n` rows to `pool`'s users: when any changed, bumps the pool's users
/// version (instances drop the users they cached) and says so.
fn changed(c: &mut DbConn, pool: &PoolId, n: usize) -> Result<bool, StoreError> {
    if n > 0 {
        super::pools::bump_users_version(c, pool)?;
    }
    Ok(n > 0)
}

/// A global sign-out: access tokens issued at or before `now` are refused from now on.
pub fn revoke_tokens(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let n = diesel::update(
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::sub.eq(sub)),
    )
    .set(users::tokens_revoked_at.eq(now.naive_utc()))
    .execute(c)?;
    changed(c, pool, n).map(|_| ())
}

/// Stores (or with `None` drops) a user's SRP verifier. Not a change the user cache needs to
/// see (SRP sign-in reads the row), so the pool's users version stays.
pub fn set_srp_verifier(
    c: &mut DbConn,
    pool: &PoolId,
    sub: &str,
    verifier: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(
        users::table
            .filter(users::pool_id.eq(pool.as_str()))
            .filter(users::sub.eq(sub)),
    )
    .set(users::srp_verifier.eq(verifier))
    .execute(c)?;
    Ok(())
}

/// Drops every SRP verifier of a pool (SRP switched off).
pub fn drop_srp_verifiers(c: &mut DbConn, pool: &PoolId) -> Result<usize, StoreError> {
    Ok(
        diesel::update(users::table.filter(users::pool_id.eq(pool.as_str())))
            .set(users::srp_verifier.eq(None::<String>))
            .execute(c)?,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A confirmed, enabled user `sub` of a test pool, with a password hash and SRP verifier.
    pub(crate) fn sample(sub: &str) -> User {
        let now = chrono::DateTime::UNIX_EPOCH;
        User {
            pool_id: PoolId::new("eu-west-1_test"),
            sub: Sub::new(sub),
            username: sub.to_string(),
            email: None,
            email_verified: false,
            phone_number: None,
            phone_number_verified: false,
            status: UserStatus::Confirmed,
            enabled: true,
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into()),
            attributes: Default::default(),
            created_at: now,
            updated_at: now,
            tokens_revoked_at: None,
            srp_verifier: Some("00ff:abcdef".into()),
        }
    }

    #[test]
    fn debug_withholds_the_password_hash_and_srp_verifier() {
        let user = sample("u");
        let shown = format!("{user:?}");
        assert!(shown.contains("username: \"u\""), "{shown}");
        assert!(shown.contains("password_hash: Some(..)"), "{shown}");
        assert!(
            !shown.contains("argon2id") && !shown.contains("abcdef"),
            "{shown}"
        );
        let new = NewUser {
            sub: user.sub.clone(),
            username: "u".into(),
            username_norm: "u".into(),
            email: None,
            email_norm: None,
            email_verified: false,
            phone_number: None,
            phone_number_verified: false,
            status: UserStatus::Confirmed,
            password_hash: user.password_hash.clone(),
            attributes: Default::default(),
            srp_verifier: None,
        };
        let shown = format!("{new:?}");
        assert!(shown.contains("srp_verifier: None"), "{shown}");
        assert!(!shown.contains("argon2id"), "{shown}");
    }
}
