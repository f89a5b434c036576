-- Pools, app clients, users and signing keys. Every tenant table is keyed by pool_id first.
CREATE TABLE pools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE app_clients (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    logout_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    first_party BOOLEAN NOT NULL,
    settings TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, client_id)
);

CREATE TABLE users (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    sub TEXT NOT NULL,
    username TEXT NOT NULL,
    username_norm TEXT NOT NULL,
    email TEXT,
    email_norm TEXT,
    email_verified BOOLEAN NOT NULL,
    phone_number TEXT,
    phone_number_verified BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    password_hash TEXT,
    attributes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, sub)
);
CREATE UNIQUE INDEX users_pool_username ON users (pool_id, username_norm);
CREATE UNIQUE INDEX users_pool_email ON users (pool_id, email_norm);

CREATE TABLE signing_keys (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    kid TEXT NOT NULL,
    alg TEXT NOT NULL,
    private_jwk TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    active_from TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, kid)
);
CREATE INDEX signing_keys_pool_active ON signing_keys (pool_id, active_from);
