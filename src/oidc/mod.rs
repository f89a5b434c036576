//! OpenID Connect provider: protocol rules with no HTTP types in them.

pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod code;
pub mod discovery;
pub mod error;
pub mod introspect;
pub mod logout;
pub mod params;
pub mod pkce;
pub mod token;
pub mod tokens;
pub mod userinfo;
