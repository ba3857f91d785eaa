-- Paused executions are open too: index them with the others.
DROP INDEX executions_open;
CREATE INDEX executions_open ON executions (status)
    WHERE status IN ('pending', 'running', 'waiting', 'paused');
