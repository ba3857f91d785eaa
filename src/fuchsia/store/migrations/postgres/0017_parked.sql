-- A parked execution: one whose only open work is waits (a signal, a timer), handed back to
-- the store so no process holds it. It is claimable again once `parked_until` (on the
-- database clock) has passed: a signal named in `wake_signals` (a JSON list), a control
-- request or its timer sets it to now. NULL: not parked.
ALTER TABLE executions ADD COLUMN parked_until DOUBLE PRECISION;
ALTER TABLE executions ADD COLUMN wake_signals TEXT;
