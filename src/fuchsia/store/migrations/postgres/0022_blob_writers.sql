-- Each blob a running attempt stores (`Store.put_blob`) is noted with the execution that
-- stored it: `Store.sweep_blobs` keeps a blob while any execution that stored it is open,
-- however old the note, so an attempt running for longer than the sweep's age still finds
-- its blob when its success commits the artifact that names it.
CREATE TABLE blob_writers (
    hash          TEXT NOT NULL,
    execution_id  TEXT NOT NULL,
    written_at    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hash, execution_id)
);
-- the notes of before this migration name no execution: '' is none that is open
INSERT INTO blob_writers (hash, execution_id, written_at) SELECT hash, '', written_at FROM blob_writes;
DROP TABLE blob_writes;
CREATE INDEX blob_writers_by_time ON blob_writers (written_at);
