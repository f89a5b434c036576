-- Signing keys belong to an issuer: a user pool (pool_id = the pool's id) or the identity
-- issuer (pool_id = 'identity', never a pool id, which always holds '_'). The foreign key to
-- pools goes (SQLite rebuilds the table for that); deleting a pool deletes its keys
-- explicitly (store::sql::pools::delete).
CREATE TABLE signing_keys_new (
    pool_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    alg TEXT NOT NULL,
    private_jwk TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    active_from TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, kid)
);
INSERT INTO signing_keys_new SELECT pool_id, kid, alg, private_jwk, public_jwk, created_at, active_from FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;
CREATE INDEX signing_keys_pool_active ON signing_keys (pool_id, active_from);
