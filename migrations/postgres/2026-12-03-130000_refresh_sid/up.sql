-- The SSO session (OIDC `sid`) a refresh family started in: ID tokens from a refresh carry it,
-- so back-channel logout tokens name a session the relying party knows.
ALTER TABLE refresh_tokens ADD COLUMN sid TEXT;
