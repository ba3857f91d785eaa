-- Values above the store's inline limit live in an artifact (a content-addressed blob) and the
-- row names that artifact instead of holding the JSON; the JSON column is then NULL.
ALTER TABLE attempts ADD COLUMN inputs_artifact TEXT;
ALTER TABLE attempts ADD COLUMN output_artifact TEXT;
ALTER TABLE executions ADD COLUMN result_artifact TEXT;
