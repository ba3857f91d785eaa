-- Deployed workflows: locked workflows stored under their name and version, side by side.
CREATE TABLE deployments (
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    hash         TEXT NOT NULL REFERENCES workflows (hash),
    active       INTEGER NOT NULL DEFAULT 1,
    deployed_at  REAL NOT NULL,
    PRIMARY KEY (name, version)
);
