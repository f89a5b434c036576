//! OpenID Connect provider: protocol rules with no HTTP types in them.

pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod introspect;
pub mod params;
pub mod redirect;
pub mod token;
pub mod tokens;
