//! Users in and out of a pool in bulk, as Cognito's user-import CSV: the columns `GetCSVHeader`
//! lists (in any order) and the pool's `custom:` attributes. Beyond Cognito, `tessera:sub`
//! keeps a user's subject and `tessera:password_hash` (see `crypto::schemes`) spares the
//! reset. An import is checked whole before anything is written, then written in batches
//! that skip whoever already exists, so running it again adds nothing.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;

use super::{check_email, check_username, normalize_identifier};
use crate::audit;
use crate::clock::RandomExt;
use crate::crypto::schemes;
use crate::ids::{PoolId, Sub};
use crate::model::{SignInIdentifier, UserStatus, attributes};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::sql::Backend;
use crate::store::sql::mfa;
use crate::store::sql::pools::Pool;
use crate::store::sql::users::{self as user_rows, NewUser, Taken, User};

/// The columns Cognito's `GetCSVHeader` returns, in its order.
pub const COGNITO_COLUMNS: [&str; 21] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
    "cognito:mfa_enabled",
    "cognito:username",
];
/// The user's subject, kept across the move (relying parties know users by it).
pub const SUB_COLUMN: &str = "tessera:sub";
/// A password hash in PHC form (or Django's): the user signs in with the same password.
pub const HASH_COLUMN: &str = "tessera:password_hash";
/// Rows per existence check and per INSERT.
const BATCH: usize = 1000;
/// Bad lines listed before "and N more".
const SHOWN_ERRORS: usize = 50;

/// Why an import or export stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("CSV header: {0}")]
    Header(String),
    #[error("{}", bad_lines(.errors, *.more))]
    Lines { errors: Vec<LineError>, more: u64 },
    #[error(
        "line {line}: {message}; the file changed after it was checked, {imported} user(s) \
         were imported before that line: fix the file and run the import again"
    )]
    Changed {
        line: u64,
        message: String,
        imported: u64,
    },
    #[error("writing the CSV: {0}")]
    Write(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One line the import refuses, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

fn bad_lines(errors: &[LineError], more: u64) -> String {
    let total = u64::try_from(errors.len()).unwrap_or(u64::MAX) + more;
    let mut s = format!("{total} bad line(s); nothing was imported");
    for e in errors {
        s.push_str(&format!("\n  line {}: {}", e.line, e.message));
    }
    if more > 0 {
        s.push_str(&format!("\n  ... and {more} more"));
    }
    s
}

/// What a column of the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Username,
    Email,
    EmailVerified,
    PhoneVerified,
    MfaEnabled,
    /// Cognito's `updated_at`: ignored on import (the row is new), written on export.
    UpdatedAt,
    Sub,
    Hash,
    /// A standard attribute (phone_number included) or one of the pool's `custom:` ones.
    Attribute,
}

/// The header Tessera writes for `pool`: Cognito's columns, the pool's custom attributes, and
/// with `extended` the sub and password hash.
pub fn header(pool: &Pool, extended: bool) -> Vec<String> {
    let mut h: Vec<String> = COGNITO_COLUMNS.iter().map(|c| c.to_string()).collect();
    h.extend(pool.settings.custom_attributes.iter().map(|c| c.claim()));
    if extended {
        h.extend([SUB_COLUMN.to_string(), HASH_COLUMN.to_string()]);
    }
    h
}

fn columns(
    pool: &Pool,
    header: &csv::StringRecord,
) -> Result<Vec<(Column, String)>, TransferError> {
    let mut cols: Vec<(Column, String)> = Vec::with_capacity(header.len());
    for raw in header {
        let name = raw.trim_start_matches('\u{feff}').trim();
        let kind = match name {
            "cognito:username" => Column::Username,
            "email" => Column::Email,
            "email_verified" => Column::EmailVerified,
            "phone_number_verified" => Column::PhoneVerified,
            "cognito:mfa_enabled" => Column::MfaEnabled,
            "updated_at" => Column::UpdatedAt,
            SUB_COLUMN => Column::Sub,
            HASH_COLUMN => Column::Hash,
            n if attributes::STANDARD.contains(&n) || pool.settings.custom(n).is_some() => {
                Column::Attribute
            }
            other => {
                let other: String = other.chars().take(64).collect();
                return Err(TransferError::Header(format!(
                    "unknown column {other:?} (Cognito's columns, this pool's custom: \
                     attributes, {SUB_COLUMN}, {HASH_COLUMN})"
                )));
            }
        };
        if cols.iter().any(|(_, n)| n == name) {
            return Err(TransferError::Header(format!(
                "column {name:?} appears twice"
            )));
        }
        cols.push((kind, name.to_string()));
    }
    let needed = match pool.settings.sign_in_identifier {
        SignInIdentifier::Email => "email",
        _ => "cognito:username",
    };
    if !cols.iter().any(|(_, n)| n == needed) {
        return Err(TransferError::Header(format!(
            "the column {needed} is required"
        )));
    }
    Ok(cols)
}

/// Cognito writes TRUE/FALSE; any case is accepted.
fn boolean(name: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{name} must be TRUE or FALSE")),
    }
}

fn check_sub(v: &str) -> Result<String, String> {
    if v.is_empty() || v.len() > 255 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{SUB_COLUMN} must be 1 to 255 visible ASCII characters"
        ));
    }
    Ok(v.to_string())
}

/// One line, checked: the user to create, whether its sub came from the file, and whether it
/// had MFA on (a factor that cannot travel in a CSV).
struct Parsed {
    user: NewUser,
    sub_given: bool,
    mfa: bool,
}

/// The fields of one line, before the pool's rules are applied.
#[derive(Default)]
struct Fields {
    username: Option<String>,
    email: Option<String>,
    email_verified: bool,
    phone_verified: bool,
    mfa: bool,
    sub: Option<String>,
    hash: Option<String>,
    attrs: BTreeMap<String, String>,
}

fn fields(cols: &[(Column, String)], rec: &csv::StringRecord) -> Result<Fields, String> {
    if rec.len() != cols.len() {
        return Err(format!(
            "{} fields, the header has {}",
            rec.len(),
            cols.len()
        ));
    }
    let mut f = Fields::default();
    for ((kind, name), value) in cols.iter().zip(rec) {
        let v = value.trim();
        if v.is_empty() {
            continue;
        }
        match kind {
            Column::Username => f.username = Some(v.to_string()),
            Column::Email => f.email = Some(v.to_string()),
            Column::EmailVerified => f.email_verified = boolean(name, v)?,
            Column::PhoneVerified => f.phone_verified = boolean(name, v)?,
            Column::MfaEnabled => f.mfa = boolean(name, v)?,
            Column::UpdatedAt => {}
            Column::Sub => f.sub = Some(check_sub(v)?),
            Column::Hash => f.hash = Some(schemes::importable(v)?),
            Column::Attribute => {
                f.attrs.insert(name.to_string(), v.to_string());
            }
        }
    }
    Ok(f)
}

/// Applies the pool's rules to one line's fields (formats, schema, required attributes, how
/// the user will sign in) and builds the user to insert.
fn parse(app: &AppState, pool: &Pool, f: Fields, now: DateTime<Utc>) -> Result<Parsed, String> {
    let Fields {
        username,
        email,
        email_verified,
        phone_verified,
        mfa,
        sub,
        hash,
        mut attrs,
    } = f;
    attributes::check(&pool.settings.custom_attributes, &attrs)?;
    for r in &pool.settings.required_attributes {
        let present = if r == "email" {
            email.is_some()
        } else {
            attrs.contains_key(r)
        };
        if !present {
            return Err(format!("{r} is required in this pool"));
        }
    }
    if let Some(e) = &email {
        check_email(e).map_err(|e| e.to_string())?;
    }
    if email_verified && email.is_none() {
        return Err("email_verified is TRUE but email is empty".into());
    }
    let phone_number = attrs.remove("phone_number");
    if phone_verified && phone_number.is_none() {
        return Err("phone_number_verified is TRUE but phone_number is empty".into());
    }
    if hash.is_none() && !email_verified {
        return Err(format!(
            "without {HASH_COLUMN} the user must reset the password by an emailed code: \
             give an email with email_verified TRUE"
        ));
    }
    let sub_given = sub.is_some();
    let sub = Sub::new(sub.unwrap_or_else(|| app.random.uuid_v7(now)));
    let username = if pool.settings.sign_in_identifier == SignInIdentifier::Email {
        if !email_verified {
            return Err("this pool signs in by email: email_verified must be TRUE".into());
        }
        sub.to_string()
    } else {
        let u = username.ok_or("cognito:username is empty")?;
        check_username(&u).map_err(|e| e.to_string())?;
        u.nfkc().collect()
    };
    let user = NewUser {
        username_norm: normalize_identifier(&username),
        username,
        email_norm: email.as_deref().map(normalize_identifier),
        email_verified,
        email,
        phone_number,
        phone_number_verified: phone_verified,
        status: if hash.is_some() {
            UserStatus::Confirmed
        } else {
            UserStatus::ResetRequired
        },
        password_hash: hash,
        attributes: attrs,
        // No plain password here: the verifier comes with the first password sign-in.
        srp_verifier: None,
        sub,
    };
    Ok(Parsed {
        user,
        sub_given,
        mfa,
    })
}

/// What a checked file would do.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Checked {
    pub rows: u64,
    /// Users the import would add.
    pub new: u64,
    /// Users already in the pool (from an earlier run): skipped.
    pub present: u64,
    /// Users marked `cognito:mfa_enabled`: their factor does not travel, they enroll again.
    pub mfa_dropped: u64,
}

/// Everything the check of a file collects.
#[derive(Default)]
struct Check {
    stats: Checked,
    errors: Vec<LineError>,
    more: u64,
    /// Keys seen earlier in the file (128-bit digests: a million users' strings would take
    /// hundreds of MiB) -> the line, for duplicates within it.
    seen: HashMap<[u32; 4], u32>,
    /// By row: already in the pool (the import skips it).
    present: Vec<bool>,
}

impl Check {
    fn fail(&mut self, line: u64, message: String) {
        if self.errors.len() < SHOWN_ERRORS {
            self.errors.push(LineError { line, message });
        } else {
            self.more += 1;
        }
    }

    /// A username, verified email or sub met before in the file?
    fn duplicate(&mut self, line: u64, p: &Parsed) -> Option<String> {
        let u = &p.user;
        let mut keys = vec![("username", digest('u', &u.username_norm))];
        if let (true, Some(e)) = (u.email_verified, &u.email_norm) {
            keys.push(("verified email", digest('e', e)));
        }
        if p.sub_given {
            keys.push((SUB_COLUMN, digest('s', u.sub.as_str())));
        }
        for (what, key) in &keys {
            if let Some(first) = self.seen.get(key) {
                return Some(format!("same {what} as line {first}"));
            }
        }
        for (_, key) in keys {
            self.seen
                .insert(key, u32::try_from(line).unwrap_or(u32::MAX));
        }
        None
    }
}

/// A 128-bit digest of a key of kind `kind` (a collision among a file's keys is ~2^-88),
/// as 4-byte words so a map entry with its line takes 20 bytes.
fn digest(kind: char, key: &str) -> [u32; 4] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update([kind as u8]);
    h.update(key.as_bytes());
    let d = h.finalize();
    let word = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    [word(0), word(4), word(8), word(12)]
}

fn reader<R: Read>(input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new().flexible(true).from_reader(input)
}

/// A file that passed [`check`]: what it would do, and which rows are already in the pool.
#[derive(Debug)]
pub struct Plan {
    pub checked: Checked,
    present: Vec<bool>,
}

/// Checks a whole file against `pool` and what it already holds, writing nothing.
/// `progress` hears the bytes read so far.
pub async fn check<R: Read>(
    app: &AppState,
    pool: &Pool,
    input: R,
    progress: &mut dyn FnMut(u64),
    now: DateTime<Utc>,
) -> Result<Plan, TransferError> {
    let mut rd = reader(input);
    let cols = columns(pool, &header_of(&mut rd)?)?;
    let mut check = Check::default();
    let mut batch: Vec<(u64, usize, Parsed)> = Vec::with_capacity(BATCH);
    let mut rec = csv::StringRecord::new();
    loop {
        let line = rd.position().line();
        let row = check.present.len();
        match rd.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                check.fail(line, csv_message(&e));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = rec.position().map_or(line, |p| p.line());
        check.stats.rows += 1;
        check.present.push(false);
        match fields(&cols, &rec).and_then(|f| parse(app, pool, f, now)) {
            Ok(p) => match check.duplicate(line, &p) {
                Some(m) => check.fail(line, m),
                None => batch.push((line, row, p)),
            },
            Err(m) => check.fail(line, m),
        }
        if batch.len() >= BATCH {
            against_pool(app, &pool.id, pool, std::mem::take(&mut batch), &mut check).await?;
            progress(rd.position().byte());
        }
    }
    against_pool(app, &pool.id, pool, batch, &mut check).await?;
    progress(rd.position().byte());
    if !check.errors.is_empty() {
        check.errors.sort_by_key(|e| e.line);
        return Err(TransferError::Lines {
            errors: check.errors,
            more: check.more,
        });
    }
    Ok(Plan {
        checked: check.stats,
        present: check.present,
    })
}

fn header_of<R: Read>(rd: &mut csv::Reader<R>) -> Result<csv::StringRecord, TransferError> {
    let h = rd
        .headers()
        .map_err(|e| TransferError::Header(csv_message(&e)))?;
    if h.is_empty() {
        return Err(TransferError::Header("the file is empty".into()));
    }
    Ok(h.clone())
}

/// A CSV reading error without the position (the caller names the line).
fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        csv::ErrorKind::Io(io) => format!("reading failed: {io}"),
        _ => "malformed CSV".into(),
    }
}

/// Sorts a batch into new, already present (an earlier run), and conflicting with someone else.
async fn against_pool(
    app: &AppState,
    id: &PoolId,
    pool: &Pool,
    batch: Vec<(u64, usize, Parsed)>,
    check: &mut Check,
) -> Result<(), TransferError> {
    if batch.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = batch
        .iter()
        .map(|(_, _, p)| p.user.username_norm.clone())
        .collect();
    let emails: Vec<String> = batch
        .iter()
        .filter(|(_, _, p)| p.user.email_verified)
        .filter_map(|(_, _, p)| p.user.email_norm.clone())
        .collect();
    let subs: Vec<String> = batch
        .iter()
        .filter(|(_, _, p)| p.sub_given)
        .map(|(_, _, p)| p.user.sub.to_string())
        .collect();
    let p = id.clone();
    let taken = app
        .sql
        .run(move |c| user_rows::taken(c, &p, &names, &emails, &subs))
        .await?;
    let by_email = pool.settings.sign_in_identifier == SignInIdentifier::Email;
    for (line, row, parsed) in batch {
        if parsed.mfa {
            check.stats.mfa_dropped += 1;
        }
        match classify(&taken, &parsed, by_email) {
            Ok(true) => {
                check.stats.present += 1;
                if let Some(p) = check.present.get_mut(row) {
                    *p = true;
                }
            }
            Ok(false) => check.stats.new += 1,
            Err(m) => check.fail(line, m),
        }
    }
    Ok(())
}

/// `Ok(true)`: the user is already in the pool (an earlier run of this import); `Ok(false)`:
/// new; `Err`: the line names someone else's username, email or sub.
fn classify(taken: &Taken, p: &Parsed, by_email: bool) -> Result<bool, String> {
    let u = &p.user;
    let verified = u.email_norm.as_ref().filter(|_| u.email_verified);
    let email_holder = verified.and_then(|e| taken.emails.get(e));
    let sub_holder = taken.subs.get(u.sub.as_str()).filter(|_| p.sub_given);
    if by_email {
        if let Some(holder) = email_holder {
            return match sub_holder {
                Some(h) if h != holder => Err(format!("{SUB_COLUMN} belongs to another user")),
                _ => Ok(true),
            };
        }
    } else if let Some(existing_sub) = taken.usernames.get(&u.username_norm) {
        if p.sub_given && existing_sub != u.sub.as_str() {
            return Err(format!("the username exists with another {SUB_COLUMN}"));
        }
        return Ok(true);
    } else if email_holder.is_some() {
        return Err("the email is another user's verified email".into());
    }
    match sub_holder {
        Some(_) => Err(format!("{SUB_COLUMN} belongs to another user")),
        None => Ok(false),
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Imported {
    pub added: u64,
    /// Already in the pool: left as they are.
    pub skipped: u64,
}

/// Imports a file that [`check`] passed: batches of one INSERT each (several at once on
/// PostgreSQL), leaving out the rows the check found in the pool. A batch that meets a user
/// created since the check is retried skipping whoever exists.
pub async fn import<R: Read>(
    app: &AppState,
    pool: &Pool,
    plan: &Plan,
    input: R,
    progress: &mut dyn FnMut(u64),
    now: DateTime<Utc>,
) -> Result<Imported, TransferError> {
    let mut rd = reader(input);
    let cols = columns(pool, &header_of(&mut rd)?)?;
    let streams = match app.sql.backend() {
        Backend::Postgres => INSERT_STREAMS,
        Backend::Sqlite => 1,
    };
    let mut done = Imported::default();
    let mut running = tokio::task::JoinSet::new();
    let mut batch: Vec<NewUser> = Vec::with_capacity(BATCH);
    let mut rec = csv::StringRecord::new();
    let mut row = 0usize;
    loop {
        let line = rd.position().line();
        let changed = |message: String, done: &Imported| TransferError::Changed {
            line,
            message,
            imported: done.added,
        };
        let more = rd
            .read_record(&mut rec)
            .map_err(|e| changed(csv_message(&e), &done))?;
        if more && plan.present.get(row).copied().unwrap_or(false) {
            done.skipped += 1;
        } else if more {
            let parsed = fields(&cols, &rec).and_then(|f| parse(app, pool, f, now));
            batch.push(parsed.map_err(|m| changed(m, &done))?.user);
        }
        row += 1;
        if batch.len() >= BATCH || (!more && !batch.is_empty()) {
            let (app, id, rows) = (app.clone(), pool.id.clone(), std::mem::take(&mut batch));
            running.spawn(async move { insert(&app, &id, rows, now).await });
            while running.len() >= streams {
                settle(running.join_next().await, &mut done)?;
            }
            progress(rd.position().byte());
        }
        if !more {
            break;
        }
    }
    while !running.is_empty() {
        settle(running.join_next().await, &mut done)?;
    }
    let detail = format!("{} added, {} already present", done.added, done.skipped);
    let ctx = audit::Context {
        detail: &detail,
        ..Default::default()
    };
    audit::record(app, &pool.id, audit::Kind::UsersImported, ctx, now).await;
    Ok(done)
}

/// Batches written at once on PostgreSQL: index upkeep is the cost, and it spreads over cores.
const INSERT_STREAMS: usize = 3;

/// A batch's counts: added, and skipped as existing.
type BatchCounts = Result<(u64, u64), StoreError>;

/// Adds a finished batch's counts to `done`.
fn settle(
    joined: Option<Result<BatchCounts, tokio::task::JoinError>>,
    done: &mut Imported,
) -> Result<(), TransferError> {
    match joined {
        None => Ok(()),
        Some(Ok(counts)) => {
            let (added, skipped) = counts?;
            done.added += added;
            done.skipped += skipped;
            Ok(())
        }
        Some(Err(e)) => Err(TransferError::Store(StoreError::Unavailable(format!(
            "an import batch stopped: {e}"
        )))),
    }
}

/// Writes one batch: a plain INSERT, or, if someone in it exists by now, one that skips them.
async fn insert(
    app: &AppState,
    pool: &PoolId,
    batch: Vec<NewUser>,
    now: DateTime<Utc>,
) -> Result<(u64, u64), StoreError> {
    let n = u64::try_from(batch.len()).unwrap_or(u64::MAX);
    let batch = std::sync::Arc::new(batch);
    let attempt = |skip_existing: bool| {
        let (p, rows) = (pool.clone(), batch.clone());
        app.sql
            .run(move |c| user_rows::insert_many(c, &p, &rows, skip_existing, now))
    };
    let added = match attempt(false).await {
        Err(StoreError::Conflict(_)) => attempt(true).await?,
        other => other?,
    };
    let added = u64::try_from(added).unwrap_or(u64::MAX);
    Ok((added, n.saturating_sub(added)))
}

/// What an export wrote.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Exported {
    pub written: u64,
    /// Users who sign in only through a federated provider: they have nothing to import.
    pub federated_skipped: u64,
    /// Sign-ups never confirmed: not accounts yet (they sign up again).
    pub unconfirmed_skipped: u64,
}

/// Writes every user of `pool` in the import format (page by page, in username order).
/// With `extended`, the sub and the password hash too: such a file is a secret.
pub async fn export(
    app: &AppState,
    pool: &Pool,
    extended: bool,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Exported, TransferError> {
    let cols = header(pool, extended);
    let mut w = csv::Writer::from_writer(out);
    let werr = |e: csv::Error| TransferError::Write(e.to_string());
    w.write_record(&cols).map_err(werr)?;
    let mut done = Exported::default();
    let mut after: Option<String> = None;
    loop {
        let p = pool.id.clone();
        let cursor = after.take();
        let page = app
            .sql
            .run(move |c| {
                let page = user_rows::page(c, &p, cursor.as_deref(), BATCH as i64)?;
                let subs: Vec<String> = page.users.iter().map(|u| u.sub.to_string()).collect();
                let mfa = mfa::with_factor(c, &p, &subs)?;
                Ok((page, mfa))
            })
            .await?;
        let (page, with_mfa) = page;
        for u in &page.users {
            match u.status {
                UserStatus::ExternalProvider => done.federated_skipped += 1,
                UserStatus::Unconfirmed => done.unconfirmed_skipped += 1,
                _ => {}
            }
            if matches!(
                u.status,
                UserStatus::ExternalProvider | UserStatus::Unconfirmed
            ) {
                continue;
            }
            let row = cols
                .iter()
                .map(|c| value(u, c, with_mfa.contains(u.sub.as_str())));
            w.write_record(row).map_err(werr)?;
            done.written += 1;
        }
        progress(done.written + done.federated_skipped + done.unconfirmed_skipped);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    w.flush().map_err(|e| TransferError::Write(e.to_string()))?;
    Ok(done)
}

fn flag(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_string()
}

/// The value of column `col` for `u`.
fn value(u: &User, col: &str, mfa: bool) -> String {
    match col {
        "cognito:username" => u.username.clone(),
        "email" => u.email.clone().unwrap_or_default(),
        "email_verified" => flag(u.email_verified),
        "phone_number" => u.phone_number.clone().unwrap_or_default(),
        "phone_number_verified" => flag(u.phone_number_verified),
        "cognito:mfa_enabled" => flag(mfa),
        "updated_at" => u.updated_at.timestamp().to_string(),
        SUB_COLUMN => u.sub.to_string(),
        HASH_COLUMN => u.password_hash.clone().unwrap_or_default(),
        attr => u.attributes.get(attr).cloned().unwrap_or_default(),
    }
}
