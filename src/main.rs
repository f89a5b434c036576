//! The `tessera` binary: parses the command line and hands over to `tessera::cli`.

use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    tessera::cli::main().await
}
