-- What the runs list and the run page read without a scan of every execution: a run's
-- sub-workflows (also read by a cancel, to cancel them), the runs of one workflow, and the
-- runs in one status, each newest (greatest id) first.
CREATE INDEX executions_by_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX executions_by_workflow ON executions (workflow_name, id);
CREATE INDEX executions_by_status ON executions (status, id);
