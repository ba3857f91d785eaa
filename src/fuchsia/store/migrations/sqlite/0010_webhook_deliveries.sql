-- The first body seen under each webhook delivery key (its sha256), so that a redelivery of the
-- same body is told from a different body sent under the same delivery id (a conflict).
CREATE TABLE webhook_deliveries (
    key           TEXT PRIMARY KEY,
    body_sha256   TEXT NOT NULL,
    created_at    REAL NOT NULL
);
