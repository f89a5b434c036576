-- TOTP factors (secret sealed with the master key; last_step is the replay guard) and
-- single-use recovery codes (SHA-256 only).
CREATE TABLE mfa_totp (
    pool_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    last_step BIGINT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, sub),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);

CREATE TABLE mfa_recovery_codes (
    pool_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (pool_id, sub, code_hash),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
