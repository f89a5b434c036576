-- A group's role (Cognito's RoleArn): ID tokens name the roles of the user's groups
-- (cognito:roles, cognito:preferred_role), which identity pools' Token mappings read.
ALTER TABLE groups ADD COLUMN role_arn TEXT;
