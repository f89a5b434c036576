-- An email is an alias only once verified (as Cognito treats it): an UNCONFIRMED sign-up no
-- longer reserves its address against the account that proves it owns it.
DROP INDEX users_pool_email;
CREATE UNIQUE INDEX users_pool_email ON users (pool_id, email_norm) WHERE email_verified;
CREATE INDEX users_pool_email_any ON users (pool_id, email_norm);
CREATE INDEX users_pool_status_created ON users (pool_id, status, created_at);
