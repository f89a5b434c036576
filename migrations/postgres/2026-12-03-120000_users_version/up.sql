-- Bumped by every write to a pool's users: instances compare it to drop the users they cached
-- for userinfo and introspection (the pool's own `version` would reload keys and clients too).
ALTER TABLE pools ADD COLUMN users_version BIGINT NOT NULL DEFAULT 0;
