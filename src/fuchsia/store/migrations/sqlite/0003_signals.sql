-- Signals sent to executions (`fuchsia runs signal`). Kept until a wait node consumes one, so
-- a signal sent before the node starts waiting is not lost.
CREATE TABLE signals (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id  TEXT NOT NULL REFERENCES executions (id),
    name          TEXT NOT NULL,
    payload       TEXT,
    created_at    REAL NOT NULL,
    consumed_by   TEXT,
    consumed_at   REAL
);
CREATE INDEX signals_waiting ON signals (execution_id, name, id) WHERE consumed_by IS NULL;
DROP INDEX executions_open;
CREATE INDEX executions_open ON executions (status) WHERE status IN ('pending', 'running', 'waiting');
