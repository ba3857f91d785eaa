-- API tokens for `fuchsia serve`: only a hash of each token is kept.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
