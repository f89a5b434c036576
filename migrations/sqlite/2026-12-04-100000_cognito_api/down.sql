ALTER TABLE users DROP COLUMN srp_verifier;
ALTER TABLE users DROP COLUMN tokens_revoked_at;
ALTER TABLE app_clients DROP COLUMN secret_sealed;
DROP TABLE access_keys;
