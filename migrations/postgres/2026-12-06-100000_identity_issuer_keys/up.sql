-- Signing keys belong to an issuer: a user pool (pool_id = the pool's id) or the identity
-- issuer (pool_id = 'identity', never a pool id, which always holds '_'). The foreign key to
-- pools goes; deleting a pool deletes its keys explicitly (store::sql::pools::delete).
ALTER TABLE signing_keys DROP CONSTRAINT IF EXISTS signing_keys_pool_id_fkey;
