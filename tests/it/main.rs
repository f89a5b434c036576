//! The one integration-test binary: every suite drives the in-process app through public paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod account;
mod accounts;
mod architecture;
mod bad_input;
mod browser;
mod cli;
mod cli_users;
mod client_credentials;
mod code_flow;
mod cognito_api;
mod cognito_groups;
mod cognito_pools;
mod cognito_srp;
mod consents;
mod cors;
mod discovery;
mod federation;
mod federation_links;
mod health;
mod housekeeping;
mod introspection;
mod keys;
mod kv;
mod limits;
mod logout;
mod metrics;
mod mfa;
mod mfa_core;
mod migrations;
mod recovery;
mod signup;
mod support;
mod token_lifecycle;
mod transfer;
