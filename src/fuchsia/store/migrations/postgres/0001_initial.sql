-- Fuchsia schema, version 1 (PostgreSQL). Times are Unix seconds; JSON is stored as TEXT.
CREATE TABLE workflows (
    hash        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    document    TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL
);

CREATE TABLE owners (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    DOUBLE PRECISION NOT NULL,
    heartbeat_at  DOUBLE PRECISION NOT NULL
);

CREATE TABLE executions (
    id                TEXT PRIMARY KEY,
    workflow_hash     TEXT NOT NULL REFERENCES workflows (hash),
    workflow_name     TEXT NOT NULL,
    workflow_version  INTEGER NOT NULL,
    status            TEXT NOT NULL,
    payload           TEXT NOT NULL,
    context           TEXT NOT NULL,
    idempotency_key   TEXT UNIQUE,
    result            TEXT,
    error             TEXT,
    owner             TEXT,
    parent_id         TEXT,
    created_at        DOUBLE PRECISION NOT NULL,
    started_at        DOUBLE PRECISION,
    finished_at       DOUBLE PRECISION,
    updated_at        DOUBLE PRECISION NOT NULL
);
CREATE INDEX executions_by_created ON executions (created_at DESC);
CREATE INDEX executions_open ON executions (status) WHERE status IN ('pending', 'running');

CREATE TABLE node_runs (
    execution_id  TEXT NOT NULL REFERENCES executions (id),
    node_id       TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    ready_at      DOUBLE PRECISION,
    error         TEXT,
    updated_at    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (execution_id, node_id)
);

CREATE TABLE attempts (
    execution_id  TEXT NOT NULL,
    node_id       TEXT NOT NULL,
    number        INTEGER NOT NULL,
    status        TEXT NOT NULL,
    inputs        TEXT,
    output        TEXT,
    error         TEXT,
    started_at    DOUBLE PRECISION NOT NULL,
    finished_at   DOUBLE PRECISION,
    PRIMARY KEY (execution_id, node_id, number),
    FOREIGN KEY (execution_id, node_id) REFERENCES node_runs (execution_id, node_id)
);

CREATE TABLE events (
    seq           BIGSERIAL PRIMARY KEY,
    execution_id  TEXT NOT NULL,
    node_id       TEXT,
    type          TEXT NOT NULL,
    data          TEXT,
    at            DOUBLE PRECISION NOT NULL
);
CREATE INDEX events_by_execution ON events (execution_id, seq);

CREATE TABLE blobs (
    hash  TEXT PRIMARY KEY,
    size  INTEGER NOT NULL,
    data  BYTEA NOT NULL
);

CREATE TABLE artifacts (
    id            TEXT PRIMARY KEY,
    execution_id  TEXT NOT NULL,
    node_id       TEXT,
    hash          TEXT NOT NULL REFERENCES blobs (hash),
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL
);
CREATE INDEX artifacts_by_execution ON artifacts (execution_id);

CREATE TABLE kv (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, key)
);
