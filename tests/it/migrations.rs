//! Migration folders are mirrored between backends, and both apply.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use tessera::store::sql::SqlStore;

use crate::support::SqlBackend;

fn names(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn folders_have_identical_names_and_files() {
    let pg = names("migrations/postgres");
    let lite = names("migrations/sqlite");
    assert!(!pg.is_empty());
    assert_eq!(
        pg, lite,
        "migrations/postgres and migrations/sqlite must hold the same migration names"
    );
    for m in &pg {
        for f in ["up.sql", "down.sql"] {
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations/postgres")
                    .join(m)
                    .join(f)
                    .exists()
            );
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations/sqlite")
                    .join(m)
                    .join(f)
                    .exists()
            );
        }
    }
}

async fn apply(url: String) {
    let store = tokio::task::spawn_blocking(move || {
        SqlStore::connect(&url, Some(2), Duration::from_secs(5))
    })
    .await
    .unwrap()
    .unwrap();
    let first = store.migrate().await.unwrap();
    assert_eq!(first.applied.len(), first.total);
    let second = store.migrate().await.unwrap();
    assert!(second.applied.is_empty(), "migrations are idempotent");
}

#[actix_web::test]
async fn sqlite_migrations_apply() {
    let dir = tempfile::tempdir().unwrap();
    apply(format!("sqlite://{}", dir.path().join("m.db").display())).await;
}

#[actix_web::test]
async fn configured_backend_migrations_apply() {
    let db = SqlBackend::new();
    if !db.is_postgres() {
        println!("TEST_DATABASE_URL not set: PostgreSQL migrations not applied in this run");
    }
    apply(db.url.clone()).await;
}
