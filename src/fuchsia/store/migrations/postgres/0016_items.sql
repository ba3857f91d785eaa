-- Foreach items as their own records: a node run, an attempt and an event name their node
-- and, for one item of a foreach, its index in `item`. Until now an item was keyed by the
-- string `node[3]` in `node_id`; those rows are split here. In `node_runs` and `attempts`,
-- which `item` keys, a node's own row holds -1 (a key column cannot be NULL, and a NULL
-- would escape the foreign key from `attempts`); in `events` it is NULL.
ALTER TABLE attempts DROP CONSTRAINT attempts_execution_id_node_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_pkey;
ALTER TABLE node_runs DROP CONSTRAINT node_runs_pkey;
ALTER TABLE node_runs ADD COLUMN item INTEGER NOT NULL DEFAULT -1;
ALTER TABLE attempts ADD COLUMN item INTEGER NOT NULL DEFAULT -1;
UPDATE node_runs
SET item = substring(node_id from '\[([0-9]+)\]$')::integer,
    node_id = substring(node_id from '^(.+)\[[0-9]+\]$')
WHERE node_id ~ '.\[[0-9]+\]$';
UPDATE attempts
SET item = substring(node_id from '\[([0-9]+)\]$')::integer,
    node_id = substring(node_id from '^(.+)\[[0-9]+\]$')
WHERE node_id ~ '.\[[0-9]+\]$';
ALTER TABLE node_runs ADD PRIMARY KEY (execution_id, node_id, item);
ALTER TABLE attempts ADD PRIMARY KEY (execution_id, node_id, item, number);
ALTER TABLE attempts ADD FOREIGN KEY (execution_id, node_id, item)
    REFERENCES node_runs (execution_id, node_id, item);
ALTER TABLE events ADD COLUMN item INTEGER;
UPDATE events
SET item = substring(node_id from '\[([0-9]+)\]$')::integer,
    node_id = substring(node_id from '^(.+)\[[0-9]+\]$')
WHERE node_id ~ '.\[[0-9]+\]$'
