-- Foreach items as their own records: a node run, an attempt and an event name their node
-- and, for one item of a foreach, its index in `item`. Until now an item was keyed by the
-- string `node[3]` in `node_id`; those rows are split here. In `node_runs` and `attempts`,
-- which `item` keys, a node's own row holds -1 (a key column cannot be NULL on PostgreSQL,
-- and a NULL would escape the foreign key from `attempts`); in `events` it is NULL. SQLite
-- cannot change a primary key in place, so both tables are rebuilt.
CREATE TABLE node_runs_items (
    execution_id  TEXT NOT NULL REFERENCES executions (id),
    node_id       TEXT NOT NULL,
    item          INTEGER NOT NULL DEFAULT -1,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    ready_at      REAL,
    error         TEXT,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (execution_id, node_id, item)
);
INSERT INTO node_runs_items
SELECT execution_id,
       CASE WHEN node_id GLOB '*?[[][0-9]*]' THEN substr(node_id, 1, instr(node_id, '[') - 1)
            ELSE node_id END,
       CASE WHEN node_id GLOB '*?[[][0-9]*]'
            THEN CAST(substr(node_id, instr(node_id, '[') + 1) AS INTEGER) ELSE -1 END,
       status, attempts, ready_at, error, updated_at
FROM node_runs;
CREATE TABLE attempts_items (
    execution_id     TEXT NOT NULL,
    node_id          TEXT NOT NULL,
    item             INTEGER NOT NULL DEFAULT -1,
    number           INTEGER NOT NULL,
    status           TEXT NOT NULL,
    inputs           TEXT,
    output           TEXT,
    error            TEXT,
    started_at       REAL NOT NULL,
    finished_at      REAL,
    inputs_artifact  TEXT,
    output_artifact  TEXT,
    worker           TEXT,
    PRIMARY KEY (execution_id, node_id, item, number),
    FOREIGN KEY (execution_id, node_id, item)
        REFERENCES node_runs_items (execution_id, node_id, item)
);
INSERT INTO attempts_items
SELECT execution_id,
       CASE WHEN node_id GLOB '*?[[][0-9]*]' THEN substr(node_id, 1, instr(node_id, '[') - 1)
            ELSE node_id END,
       CASE WHEN node_id GLOB '*?[[][0-9]*]'
            THEN CAST(substr(node_id, instr(node_id, '[') + 1) AS INTEGER) ELSE -1 END,
       number, status, inputs, output, error, started_at, finished_at, inputs_artifact,
       output_artifact, worker
FROM attempts;
DROP TABLE attempts;
DROP TABLE node_runs;
ALTER TABLE node_runs_items RENAME TO node_runs;
ALTER TABLE attempts_items RENAME TO attempts;
ALTER TABLE events ADD COLUMN item INTEGER;
UPDATE events
SET item = CAST(substr(node_id, instr(node_id, '[') + 1) AS INTEGER),
    node_id = substr(node_id, 1, instr(node_id, '[') - 1)
WHERE node_id GLOB '*?[[][0-9]*]'
