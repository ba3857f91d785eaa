-- Claims take the oldest open executions (`select_claimable`): an index of the open ones by
-- age, so a claim reads what it may take, not every execution that ended before them.
CREATE INDEX executions_claimable ON executions (created_at)
    WHERE status IN ('pending', 'running', 'waiting', 'paused');
