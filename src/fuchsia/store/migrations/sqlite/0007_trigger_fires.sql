-- Every instant a cron or poll trigger fired (or skipped after downtime), once per workflow.
CREATE TABLE trigger_fires (
    workflow      TEXT NOT NULL,
    instant       REAL NOT NULL,
    kind          TEXT NOT NULL,
    execution_id  TEXT,
    fired_at      REAL NOT NULL,
    PRIMARY KEY (workflow, instant)
);
