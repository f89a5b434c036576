//! Diesel table definitions shared by the PostgreSQL and SQLite backends.

diesel::table! {
    pools (id) {
        id -> Text,
        name -> Text,
        settings -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        users_version -> BigInt,
    }
}

diesel::table! {
    app_clients (pool_id, client_id) {
        pool_id -> Text,
        client_id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        logout_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        first_party -> Bool,
        settings -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        secret_sealed -> Nullable<Text>,
    }
}

diesel::table! {
    users (pool_id, sub) {
        pool_id -> Text,
        sub -> Text,
        username -> Text,
        username_norm -> Text,
        email -> Nullable<Text>,
        email_norm -> Nullable<Text>,
        email_verified -> Bool,
        phone_number -> Nullable<Text>,
        phone_number_verified -> Bool,
        status -> Text,
        enabled -> Bool,
        password_hash -> Nullable<Text>,
        attributes -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        tokens_revoked_at -> Nullable<Timestamp>,
        srp_verifier -> Nullable<Text>,
    }
}

diesel::table! {
    signing_keys (pool_id, kid) {
        pool_id -> Text,
        kid -> Text,
        alg -> Text,
        private_jwk -> Text,
        public_jwk -> Text,
        created_at -> Timestamp,
        active_from -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (pool_id, token_hash) {
        pool_id -> Text,
        token_hash -> Text,
        family_id -> Text,
        sub -> Text,
        client_id -> Text,
        scope -> Text,
        auth_time -> BigInt,
        amr -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        sid -> Nullable<Text>,
    }
}

diesel::table! {
    consents (pool_id, sub, client_id) {
        pool_id -> Text,
        sub -> Text,
        client_id -> Text,
        scopes -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    groups (pool_id, name) {
        pool_id -> Text,
        name -> Text,
        description -> Text,
        precedence -> BigInt,
        created_at -> Timestamp,
        role_arn -> Nullable<Text>,
    }
}

diesel::table! {
    user_groups (pool_id, sub, group_name) {
        pool_id -> Text,
        sub -> Text,
        group_name -> Text,
    }
}

diesel::table! {
    audit_events (pool_id, id) {
        pool_id -> Text,
        id -> Text,
        at -> Timestamp,
        kind -> Text,
        sub -> Nullable<Text>,
        client_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    mfa_totp (pool_id, sub) {
        pool_id -> Text,
        sub -> Text,
        secret_sealed -> Text,
        last_step -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    mfa_recovery_codes (pool_id, sub, code_hash) {
        pool_id -> Text,
        sub -> Text,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    identity_providers (pool_id, name) {
        pool_id -> Text,
        name -> Text,
        kind -> Text,
        client_id -> Text,
        client_secret_sealed -> Text,
        settings -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    federated_identities (pool_id, provider, subject) {
        pool_id -> Text,
        provider -> Text,
        subject -> Text,
        sub -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    access_keys (access_key_id) {
        access_key_id -> Text,
        secret_sealed -> Text,
        description -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    identity_pools (id) {
        id -> Text,
        name -> Text,
        settings -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    identities (id) {
        id -> Text,
        pool_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    identity_logins (pool_id, provider, subject) {
        pool_id -> Text,
        provider -> Text,
        subject -> Text,
        identity_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    pools,
    identity_pools,
    identities,
    identity_logins,
    access_keys,
    app_clients,
    users,
    signing_keys,
    refresh_tokens,
    consents,
    groups,
    user_groups,
    audit_events,
    mfa_totp,
    mfa_recovery_codes,
    identity_providers,
    federated_identities
);
