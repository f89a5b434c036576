//! OpenID Connect provider: protocol rules with no HTTP types in them.

pub mod discovery;
pub mod redirect;
