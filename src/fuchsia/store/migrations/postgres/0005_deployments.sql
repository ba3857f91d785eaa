-- Deployed workflows: locked workflows stored under their name and version, side by side.
CREATE TABLE deployments (
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    hash         TEXT NOT NULL REFERENCES workflows (hash),
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    deployed_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, version)
);
