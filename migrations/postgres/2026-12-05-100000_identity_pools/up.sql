-- Identity pools (Cognito's second half): configuration as JSON (model::identity_pool).
CREATE TABLE identity_pools (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- A stable id for one end user (or one guest device) in one identity pool.
CREATE TABLE identities (
    id TEXT PRIMARY KEY NOT NULL,
    pool_id TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX identities_pool ON identities (pool_id, id);
-- Logins linked to identities: a login belongs to one identity; an identity has at most one
-- login per provider (Cognito's rule).
CREATE TABLE identity_logins (
    pool_id TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, provider, subject)
);
CREATE UNIQUE INDEX identity_logins_one_per_provider ON identity_logins (identity_id, provider);
