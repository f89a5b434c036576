ALTER TABLE pools DROP COLUMN users_version;
