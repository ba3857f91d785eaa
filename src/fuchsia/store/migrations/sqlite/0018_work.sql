-- Shared attempts: an attempt its execution's owner started but left for any worker with a
-- free slot to run (the owner's own were full, another worker's were not), so one big
-- foreach spreads over the workers. The owner inserts the row with the attempt's start; a
-- worker claims it (`worker`, and one more `claim`, which fences its completion), runs
-- it and stores the finished attempt in `outcome`; the owner folds that outcome into the
-- execution and deletes the row in the same transition. A claim whose worker let its lease
-- pass goes back to ready (`worker` NULL) with a new claim number.
CREATE TABLE work (
    execution_id  TEXT NOT NULL REFERENCES executions (id),
    node_id       TEXT NOT NULL,
    item          INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    owner         TEXT NOT NULL,
    parent        INTEGER NOT NULL DEFAULT 0,
    worker        TEXT,
    claim         INTEGER NOT NULL DEFAULT 0,
    outcome       TEXT,
    created_at    REAL NOT NULL,
    claimed_at    REAL,
    PRIMARY KEY (execution_id, node_id, item, attempt)
);
CREATE INDEX work_ready ON work (created_at) WHERE worker IS NULL AND outcome IS NULL;
CREATE INDEX work_finished ON work (owner) WHERE outcome IS NOT NULL;
CREATE INDEX work_claimed ON work (worker) WHERE worker IS NOT NULL;
