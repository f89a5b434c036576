//! The error of start-up and the admin CLI: each layer's error, shown as one line.

use crate::accounts::AccountError;
use crate::clients::ClientError;
use crate::config::ConfigError;
use crate::crypto::CryptoError;
use crate::keys::KeyError;
use crate::pools::PoolError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Transfer(#[from] crate::accounts::transfer::TransferError),
    #[error(transparent)]
    Mfa(#[from] crate::mfa::MfaError),
    #[error(transparent)]
    AccessKey(#[from] crate::cognito::access_keys::AccessKeyError),
    #[error(transparent)]
    Federation(crate::federation::FederationError),
    #[error("{0}")]
    Startup(String),
    #[error("{0}")]
    Usage(String),
}
