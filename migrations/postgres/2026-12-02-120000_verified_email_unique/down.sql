DROP INDEX users_pool_status_created;
DROP INDEX users_pool_email_any;
DROP INDEX users_pool_email;
CREATE UNIQUE INDEX users_pool_email ON users (pool_id, email_norm);
