//! Persistence: durable records in SQL (`sql`), short-lived state in a key-value store (`kv`).

pub mod kv;
pub mod sql;

/// Errors of the storage layer. Messages name what failed, never the data or credentials.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] diesel::result::Error),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("key-value store error: {0}")]
    Kv(String),
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A bounded collection is full: nothing was written.
    #[error("too many {0}")]
    AtLimit(&'static str),
    /// What the write was about is gone (deleted meanwhile): nothing was written.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database schema: {0}")]
    Schema(String),
    #[error("a storage task was cancelled")]
    Cancelled,
}

impl StoreError {
    /// Maps a unique-constraint violation to `Conflict(what)`, keeping other errors as they are.
    pub fn conflict_on_unique(e: diesel::result::Error, what: &'static str) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::Conflict(what),
            other => Self::Sql(other),
        }
    }
}
