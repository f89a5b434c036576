-- Upstream identity providers of a pool (Google, Facebook, Login with Amazon, any OpenID
-- provider): the client secret is sealed with the master key; the rest of the configuration
-- (endpoints, scopes, attribute mapping, home-realm identifiers) is JSON.
CREATE TABLE identity_providers (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret_sealed TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, name)
);

-- Upstream identities linked to local users: one user per (provider, subject).
CREATE TABLE federated_identities (
    pool_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    sub TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, provider, subject),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX federated_identities_user ON federated_identities (pool_id, sub);
