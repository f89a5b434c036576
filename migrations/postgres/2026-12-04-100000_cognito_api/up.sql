-- Access keys for the Cognito API's signed (SigV4) operations: deployment-wide, like IAM
-- users' keys. SigV4 verification needs the secret itself, so it is sealed with the master
-- key, not hashed.
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY NOT NULL,
    secret_sealed TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
-- A client secret sealed with the master key: SECRET_HASH and DescribeUserPoolClient need it
-- in plain. Clients created before keep only their hash (OAuth still works) until rotated.
ALTER TABLE app_clients ADD COLUMN secret_sealed TEXT;
-- GlobalSignOut / AdminUserGlobalSignOut: access tokens issued at or before this time are
-- refused (read with the user, so the user cache makes the check free).
ALTER TABLE users ADD COLUMN tokens_revoked_at TIMESTAMP;
-- The SRP verifier of the user's password (Cognito's USER_SRP_AUTH): "salt_hex:verifier_hex".
ALTER TABLE users ADD COLUMN srp_verifier TEXT;
