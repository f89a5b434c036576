//! Tessera: a self-hosted OAuth 2.0 / OpenID Connect identity provider with Cognito-style user pools.

pub mod accounts;
pub mod audit;
pub mod audit_log;
pub mod background;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod cognito;
pub mod config;
pub mod crypto;
pub mod error;
pub mod federation;
pub mod heap;
pub mod housekeeping;
pub mod http;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod login;
pub mod mail;
pub mod metrics;
pub mod mfa;
pub mod model;
pub mod oidc;
pub mod pools;
pub mod sched;
pub mod server;
pub mod sessions;
pub mod state;
pub mod store;

pub use server::build_app;
pub use state::{AppState, Deps};
pub mod ui;
