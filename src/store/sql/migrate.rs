//! Embedded migrations for both backends (mirrored folder names) and the newer-schema guard.

use diesel::migration::MigrationSource;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConn;
use crate::store::StoreError;

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// What a migration run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationReport {
    pub applied: Vec<String>,
    pub total: usize,
}

fn apply<C, B>(conn: &mut C, source: EmbeddedMigrations) -> Result<MigrationReport, StoreError>
where
    C: MigrationHarness<B>,
    B: diesel::backend::Backend,
    EmbeddedMigrations: MigrationSource<B>,
{
    let known: Vec<String> = source
        .migrations()
        .map_err(|e| StoreError::Schema(e.to_string()))?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let applied = conn
        .applied_migrations()
        .map_err(|e| StoreError::Schema(e.to_string()))?;
    if let Some(unknown) = applied
        .iter()
        .map(|v| v.to_string())
        .find(|v| !known.contains(v))
    {
        return Err(StoreError::Schema(format!(
            "the database has migration {unknown}, which this build of tessera does not know; \
             it was migrated by a newer version (upgrade tessera)"
        )));
    }
    let done = conn
        .run_pending_migrations(source)
        .map_err(|e| StoreError::Schema(e.to_string()))?;
    Ok(MigrationReport {
        applied: done.iter().map(|v| v.to_string()).collect(),
        total: known.len(),
    })
}

pub(super) fn run(conn: &mut DbConn) -> Result<MigrationReport, StoreError> {
    match conn {
        DbConn::Pg(c) => apply(c, POSTGRES),
        DbConn::Sqlite(c) => apply(c, SQLITE),
    }
}
