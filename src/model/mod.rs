//! Value types that stored rows carry and every layer shares (the store included): pool
//! settings, the attribute schema, client settings and user status. Pure data with its own
//! format rules; no I/O, no service logic.

pub mod attributes;
pub mod client;
pub mod federation;
pub mod identity_pool;
pub mod pool;
pub mod static_doc;
pub mod user;

pub use client::{ClientSettings, GrantType};
pub use federation::{ProviderKind, ProviderSettings};
pub use identity_pool::IdentityPoolSettings;
pub use pool::{MfaMode, PasswordPolicy, PoolSettings, SignInIdentifier};
pub use static_doc::{DocSlot, StaticDoc};
pub use user::UserStatus;
