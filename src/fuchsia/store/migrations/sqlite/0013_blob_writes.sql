-- Blobs stored by a running attempt before its artifact row, which waits for the attempt's
-- success (`Store.put_blob`): a failed or lost attempt leaves its blob named by no artifact.
-- `Store.sweep_blobs` deletes those once they are old, reading only the blobs noted here and
-- looking each up in `artifacts_by_hash`.
CREATE TABLE blob_writes (
    hash        TEXT PRIMARY KEY,
    written_at  REAL NOT NULL
);
CREATE INDEX blob_writes_by_time ON blob_writes (written_at);
CREATE INDEX artifacts_by_hash ON artifacts (hash);
