-- Requests to a running execution from any process (cancel now; pause and resume later).
ALTER TABLE executions ADD COLUMN control TEXT;
