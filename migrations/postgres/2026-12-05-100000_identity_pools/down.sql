DROP TABLE identity_logins;
DROP TABLE identities;
DROP TABLE identity_pools;
