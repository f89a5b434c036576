-- Groups with precedence (lower first, as Cognito orders cognito:groups) and audit events.
CREATE TABLE groups (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    precedence BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, name)
);

CREATE TABLE user_groups (
    pool_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    group_name TEXT NOT NULL,
    PRIMARY KEY (pool_id, sub, group_name),
    FOREIGN KEY (pool_id, group_name) REFERENCES groups(pool_id, name) ON DELETE CASCADE,
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);

CREATE TABLE audit_events (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    sub TEXT,
    client_id TEXT,
    ip TEXT,
    detail TEXT NOT NULL,
    PRIMARY KEY (pool_id, id)
);
CREATE INDEX audit_events_pool_at ON audit_events (pool_id, at);
CREATE INDEX audit_events_pool_sub ON audit_events (pool_id, sub, at);
