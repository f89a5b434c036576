-- Refresh tokens (stored as SHA-256, grouped in rotation families) and remembered consents.
CREATE TABLE refresh_tokens (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    family_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    PRIMARY KEY (pool_id, token_hash)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (pool_id, family_id);
CREATE INDEX refresh_tokens_sub ON refresh_tokens (pool_id, sub);

CREATE TABLE consents (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    sub TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, sub, client_id)
);
