//! A pool's settings as stored (JSON): password policy, MFA mode, sign-in identifier, sign-up
//! mode and the attribute schema. New fields get defaults so old rows keep loading.

use serde::{Deserialize, Serialize};

use super::attributes::{self, CustomAttribute};

/// Password rules of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_digit: bool,
    pub require_symbol: bool,
    /// Days a temporary password (an administrator's) works before it must be replaced by an
    /// administrator (Cognito's TemporaryPasswordValidityDays).
    pub temporary_password_validity_days: u32,
}

/// Cognito's default and bounds for [`PasswordPolicy::temporary_password_validity_days`].
pub const TEMPORARY_PASSWORD_DAYS: u32 = 7;
pub const TEMPORARY_PASSWORD_DAYS_RANGE: std::ops::RangeInclusive<u32> = 1..=365;

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            require_lowercase: false,
            require_uppercase: false,
            require_digit: false,
            require_symbol: false,
            temporary_password_validity_days: TEMPORARY_PASSWORD_DAYS,
        }
    }
}

/// Multi-factor authentication mode of a pool (Cognito's OFF / OPTIONAL / ON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MfaMode {
    #[default]
    Off,
    Optional,
    Required,
}

/// What users type to sign in (Cognito's username attributes and aliases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignInIdentifier {
    /// The username only.
    Username,
    /// The email is the username: sign-up asks for no username and the stored username is the
    /// user's `sub` (as Cognito does for email-as-username pools).
    Email,
    /// The username, or the email once it is verified (an alias).
    #[default]
    UsernameOrEmail,
}

/// Per-pool settings, stored as JSON; new fields get defaults so old rows keep loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoolSettings {
    pub password_policy: PasswordPolicy,
    /// Only administrators create users (Cognito's AllowAdminCreateUserOnly); otherwise
    /// anyone may sign up on the hosted page.
    pub admin_only_signup: bool,
    pub mfa: MfaMode,
    pub sign_in_identifier: SignInIdentifier,
    /// Standard attributes sign-up asks for and requires (email is always asked for).
    pub required_attributes: Vec<String>,
    /// The pool's `custom:` attributes, typed and bounded.
    pub custom_attributes: Vec<CustomAttribute>,
    /// A first federated sign-in whose email matches a local account links to it without a
    /// password, but only when the provider and the local account both hold the email as
    /// verified. Off by default: a provider that says `email_verified` wrongly (or a stale
    /// local email) would hand the account over.
    pub auto_link_verified_email: bool,
    /// Requests per second per category (Cognito's quotas); over it, 429 with `Retry-After`.
    pub rate_limits: RateLimits,
    /// UNCONFIRMED self-sign-ups older than this many days are deleted (0 keeps them).
    pub unconfirmed_expiry_days: u32,
    /// Keep an SRP verifier per user so the Cognito API's `USER_SRP_AUTH` works (as Amplify
    /// signs in). A verifier is cheaper to attack offline than the argon2 hash; off, none is
    /// kept (and those kept are dropped) and only password flows remain.
    pub srp: bool,
}

/// Cognito deletes nothing; a week is long enough to find a confirmation mail.
pub const DEFAULT_UNCONFIRMED_EXPIRY_DAYS: u32 = 7;

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::default(),
            admin_only_signup: false,
            mfa: MfaMode::default(),
            sign_in_identifier: SignInIdentifier::default(),
            required_attributes: Vec::new(),
            custom_attributes: Vec::new(),
            auto_link_verified_email: false,
            rate_limits: RateLimits::default(),
            unconfirmed_expiry_days: DEFAULT_UNCONFIRMED_EXPIRY_DAYS,
            srp: true,
        }
    }
}

/// The request categories a pool limits, as Cognito groups its quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateCategory {
    /// Sign-up and its confirmation (Cognito's UserCreation).
    UserCreation,
    /// Password, MFA and federated sign-in steps (UserAuthentication).
    SignIn,
    /// Forgot password and reset (UserAccountRecovery).
    AccountRecovery,
    /// The token endpoint, every grant.
    Token,
}

impl RateCategory {
    pub const ALL: [Self; 4] = [
        Self::UserCreation,
        Self::SignIn,
        Self::AccountRecovery,
        Self::Token,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreation => "user_creation",
            Self::SignIn => "sign_in",
            Self::AccountRecovery => "account_recovery",
            Self::Token => "token",
        }
    }
}

/// Requests per second per category; 0 means no limit. The defaults are Cognito's default
/// quotas (user creation 50, authentication 120, account recovery 30) and, for the token
/// endpoint, a ceiling well above them (the token endpoint is cheap and machine-driven).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimits {
    pub user_creation: u32,
    pub sign_in: u32,
    pub account_recovery: u32,
    pub token: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            user_creation: 50,
            sign_in: 120,
            account_recovery: 30,
            token: 2000,
        }
    }
}

impl RateLimits {
    pub fn of(&self, c: RateCategory) -> u32 {
        match c {
            RateCategory::UserCreation => self.user_creation,
            RateCategory::SignIn => self.sign_in,
            RateCategory::AccountRecovery => self.account_recovery,
            RateCategory::Token => self.token,
        }
    }

    /// Sets one category from `NAME=N`.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (name, n) = spec
            .split_once('=')
            .ok_or_else(|| format!("rate limit {spec:?}: expected CATEGORY=N"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("rate limit {spec:?}: {n:?} is not a whole number"))?;
        let slot = match name.trim() {
            "user_creation" => &mut self.user_creation,
            "sign_in" => &mut self.sign_in,
            "account_recovery" => &mut self.account_recovery,
            "token" => &mut self.token,
            other => {
                return Err(format!(
                    "rate limit category {other:?}: one of user_creation, sign_in, \
                     account_recovery, token"
                ));
            }
        };
        *slot = n;
        Ok(())
    }
}

/// The password minimum lengths a pool may set.
pub const PASSWORD_MIN_LENGTH_RANGE: std::ops::RangeInclusive<usize> = 6..=256;

impl PoolSettings {
    /// The rules every settings change must keep, whoever makes it: a sane password minimum
    /// length, at most [`attributes::MAX_CUSTOM`] custom attributes, and required attributes
    /// that are standard ones or `custom:NAME` of a defined custom attribute (never `email`,
    /// which is always asked for).
    pub fn check(&self) -> Result<(), String> {
        if !PASSWORD_MIN_LENGTH_RANGE.contains(&self.password_policy.min_length) {
            return Err(format!(
                "password minimum length must be between {} and {}",
                PASSWORD_MIN_LENGTH_RANGE.start(),
                PASSWORD_MIN_LENGTH_RANGE.end()
            ));
        }
        if !TEMPORARY_PASSWORD_DAYS_RANGE
            .contains(&self.password_policy.temporary_password_validity_days)
        {
            return Err(format!(
                "temporary passwords must be valid between {} and {} days",
                TEMPORARY_PASSWORD_DAYS_RANGE.start(),
                TEMPORARY_PASSWORD_DAYS_RANGE.end()
            ));
        }
        if self.custom_attributes.len() > attributes::MAX_CUSTOM {
            return Err(format!(
                "at most {} custom attributes",
                attributes::MAX_CUSTOM
            ));
        }
        for name in &self.required_attributes {
            if !self.is_requirable(name) {
                return Err(format!(
                    "required attribute {name:?} is not a standard attribute or a custom \
                     attribute of this pool"
                ));
            }
        }
        Ok(())
    }

    /// May users set `name` on themselves (the account page, and clients' default write
    /// list)? Standard attributes yes; custom ones only when marked writable and mutable.
    pub fn user_may_write(&self, name: &str) -> bool {
        match name.strip_prefix("custom:") {
            Some(c) => self
                .custom_attributes
                .iter()
                .any(|d| d.name == c && d.user_may_write()),
            None => attributes::STANDARD.contains(&name),
        }
    }

    /// The custom attribute `name` (`custom:NAME`), if defined.
    pub fn custom(&self, name: &str) -> Option<&CustomAttribute> {
        let c = name.strip_prefix("custom:")?;
        self.custom_attributes.iter().find(|d| d.name == c)
    }

    /// Whether sign-up may require `name`: a standard attribute or `custom:NAME` of a defined
    /// custom attribute (`email` is not: it is always asked for).
    pub fn is_requirable(&self, name: &str) -> bool {
        attributes::STANDARD.contains(&name)
            || name
                .strip_prefix("custom:")
                .is_some_and(|c| self.custom_attributes.iter().any(|d| d.name == c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> CustomAttribute {
        CustomAttribute::parse("team:string:1:32").unwrap()
    }

    #[test]
    fn accepts_defaults() {
        assert_eq!(PoolSettings::default().check(), Ok(()));
    }

    #[test]
    fn refuses_password_min_length_out_of_range() {
        for (n, ok) in [(5, false), (6, true), (256, true), (257, false)] {
            let mut s = PoolSettings::default();
            s.password_policy.min_length = n;
            assert_eq!(s.check().is_ok(), ok, "min_length {n}");
        }
    }

    #[test]
    fn refuses_unknown_required_attribute() {
        let s = PoolSettings {
            required_attributes: vec!["shoe_size".into()],
            ..PoolSettings::default()
        };
        assert!(s.check().is_err());
        let s = PoolSettings {
            required_attributes: vec!["custom:team".into()],
            ..PoolSettings::default()
        };
        assert!(s.check().is_err(), "custom:team without a definition");
    }

    #[test]
    fn refuses_email_as_required_attribute() {
        let s = PoolSettings {
            required_attributes: vec!["email".into()],
            ..PoolSettings::default()
        };
        assert!(s.check().is_err());
    }

    #[test]
    fn accepts_defined_custom_and_standard_required_attributes() {
        let s = PoolSettings {
            required_attributes: vec!["given_name".into(), "custom:team".into()],
            custom_attributes: vec![team()],
            ..PoolSettings::default()
        };
        assert_eq!(s.check(), Ok(()));
    }

    #[test]
    fn refuses_too_many_custom_attributes() {
        let s = PoolSettings {
            custom_attributes: vec![team(); attributes::MAX_CUSTOM + 1],
            ..PoolSettings::default()
        };
        assert!(s.check().is_err());
    }
}
