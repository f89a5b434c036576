//! A user's account status, named as Cognito names them.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Account states, named as Cognito names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    Unconfirmed,
    Confirmed,
    ForceChangePassword,
    /// An administrator reset the password: the user must choose a new one with an emailed code.
    ResetRequired,
    /// Created by a first sign-in with an upstream identity provider; has no password.
    ExternalProvider,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconfirmed => "UNCONFIRMED",
            Self::Confirmed => "CONFIRMED",
            Self::ForceChangePassword => "FORCE_CHANGE_PASSWORD",
            Self::ResetRequired => "RESET_REQUIRED",
            Self::ExternalProvider => "EXTERNAL_PROVIDER",
        }
    }
}

impl FromStr for UserStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "UNCONFIRMED" => Ok(Self::Unconfirmed),
            "CONFIRMED" => Ok(Self::Confirmed),
            "FORCE_CHANGE_PASSWORD" => Ok(Self::ForceChangePassword),
            "RESET_REQUIRED" => Ok(Self::ResetRequired),
            "EXTERNAL_PROVIDER" => Ok(Self::ExternalProvider),
            _ => Err(()),
        }
    }
}
