//! The HTTP edge's shared parts and its JSON endpoints: extractors (`PoolCtx`, `Body`), the one
//! form parser, JSON error mapping, request logging, health, discovery/JWKS and the
//! back-channel OAuth endpoints. The hosted pages are `ui`; the route table is `server`.

mod body;
pub mod client_ip;
pub mod cognito;
pub mod cors;
pub mod discovery;
pub mod error;
pub mod form;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod oauth;
mod pool_ctx;

pub use body::{Body, MAX_BODY};
pub use error::ApiError;
pub use pool_ctx::PoolCtx;
