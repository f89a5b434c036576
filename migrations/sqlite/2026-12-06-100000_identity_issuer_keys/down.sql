CREATE TABLE signing_keys_old (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    kid TEXT NOT NULL,
    alg TEXT NOT NULL,
    private_jwk TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    active_from TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, kid)
);
INSERT INTO signing_keys_old SELECT pool_id, kid, alg, private_jwk, public_jwk, created_at, active_from
    FROM signing_keys WHERE pool_id IN (SELECT id FROM pools);
DROP TABLE signing_keys;
ALTER TABLE signing_keys_old RENAME TO signing_keys;
CREATE INDEX signing_keys_pool_active ON signing_keys (pool_id, active_from);
