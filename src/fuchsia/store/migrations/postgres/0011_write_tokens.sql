-- The token of the last transaction each store writer committed, written in that transaction.
-- When a commit's outcome is unknown (the connection dropped while COMMIT was in flight, an
-- I/O error after it), the writer reads its token back: the transaction committed exactly when
-- the token is there, so a write is neither lost nor applied twice.
CREATE TABLE write_tokens (
    writer        TEXT PRIMARY KEY,
    token         TEXT NOT NULL,
    written_at    DOUBLE PRECISION NOT NULL
);
