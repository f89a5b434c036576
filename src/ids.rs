//! Newtype identifiers (pools, clients, users, keys) and the redacting `Secret` wrapper.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an already-validated value (from storage or a generator).
            pub fn new(v: impl Into<String>) -> Self {
                Self(v.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Maps keyed by the id are looked up by `&str` without building one.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A user pool id, Cognito-shaped: `{region}_{9 base62}`.
    PoolId
);
id_type!(
    /// An app client id (26 lowercase alphanumerics, like Cognito's).
    ClientId
);
id_type!(
    /// A user's stable subject identifier (UUID v7).
    Sub
);
id_type!(
    /// A signing key id as published in JWKS.
    Kid
);

impl PoolId {
    /// True when `s` has the shape of a pool id (`{region}_{9 base62}`); says nothing about existence.
    pub fn is_well_formed(s: &str) -> bool {
        match s.rsplit_once('_') {
            Some((region, rest)) => {
                !region.is_empty()
                    && region.len() <= 32
                    && region
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && rest.len() == 9
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            }
            None => false,
        }
    }
}

/// A secret value (client secret, password, key material) that never prints or serializes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(v: impl Into<String>) -> Self {
        Self(v.into())
    }
    /// The secret itself; call sites are the places that really need it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_id_shape() {
        assert!(PoolId::is_well_formed("local_Ab3dE5gH7"));
        assert!(PoolId::is_well_formed("us-east-1_Ab3dE5gH7"));
        assert!(!PoolId::is_well_formed("local_Ab3dE5gH"));
        assert!(!PoolId::is_well_formed("_Ab3dE5gH7"));
        assert!(!PoolId::is_well_formed("Local_Ab3dE5gH7"));
        assert!(!PoolId::is_well_formed("local_Ab3dE5g-7"));
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }
}
