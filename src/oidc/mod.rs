//! OpenID Connect provider: protocol rules with no HTTP types in them.

pub mod account;
pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod code;
pub mod discovery;
pub mod error;
pub mod flow;
pub mod introspect;
pub mod logout;
pub mod mfa_step;
pub mod params;
pub mod pkce;
pub mod recovery;
pub mod redirect;
pub mod session;
pub mod signin;
pub mod signup;
pub mod token;
pub mod tokens;
pub mod userinfo;
