-- The verdict an execution settled on when its outcome hooks started ({"status", "error"}),
-- so a restart while the hooks run finishes with that verdict instead of recomputing one from
-- node states the settling changed (cancelled or timed-out nodes).
ALTER TABLE executions ADD COLUMN settled TEXT;
