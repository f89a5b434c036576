ALTER TABLE groups DROP COLUMN role_arn;
