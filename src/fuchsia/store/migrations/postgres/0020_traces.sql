-- An execution's trace (fuchsia.observe.ids): its trace id (32 hex digits, derived from the
-- id; a sub-workflow's is its parent's), the span its own span sits under (a sub-workflow's
-- parent node attempt, 16 hex digits; NULL for a root) and the W3C traceparent it links to
-- (the API call, webhook or cron instant that started it). NULL trace_id: stored before
-- traces, derived from the id when read.
ALTER TABLE executions ADD COLUMN trace_id TEXT;
ALTER TABLE executions ADD COLUMN trace_parent TEXT;
ALTER TABLE executions ADD COLUMN trace_link TEXT;
