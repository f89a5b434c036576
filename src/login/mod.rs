//! The hosted sign-in journey, below the pages and above the services: the login transaction
//! ([`tx`]), what the steps share ([`outcome`]), how a journey ends ([`finish`]), the steps
//! (password, new password, MFA, sign-up and confirmation, forgot password, consent, an
//! upstream identity provider), the conductor that routes between them ([`journey`]), and the
//! account page's actions ([`account`], with its sign-in methods in `connections`).
//!
//! A step receives the transaction, the submitted form and the browser, and returns a
//! [`StepResult`]: an outcome to show, or "authenticated", after which the journey decides the
//! next step. Steps import only `tx`, `outcome` and `finish`, never each other (the account
//! page's `connections` starts a round trip through the federated step's entry point).

pub mod account;
mod connections;
mod consent;
pub mod federated;
mod finish;
pub mod journey;
mod mfa;
mod new_password;
pub mod outcome;
mod password;
pub(crate) mod recovery;
pub(crate) mod signup;
pub mod tx;

pub use journey::Form;
pub use outcome::{Browser, Outcome, StepResult, Transition};
pub use recovery::RESET_TTL;
pub use tx::{LoginTx, Step};
