DELETE FROM signing_keys WHERE pool_id NOT IN (SELECT id FROM pools);
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_pool_id_fkey
    FOREIGN KEY (pool_id) REFERENCES pools(id) ON DELETE CASCADE;
