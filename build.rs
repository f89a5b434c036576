//! Rebuilds when a migration changes: they are embedded into the binary by `embed_migrations!`.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
