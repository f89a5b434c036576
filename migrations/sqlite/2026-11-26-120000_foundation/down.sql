DROP TABLE signing_keys;
DROP TABLE users;
DROP TABLE app_clients;
DROP TABLE pools;
