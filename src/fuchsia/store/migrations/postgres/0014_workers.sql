-- Engines as workers. An owner holds its executions under a lease on the database clock
-- (`lease_expires_at`), renewed by its heartbeat; once the lease has passed, any worker may
-- claim them. `slots`: how many executions it drives at once when it takes work from the
-- store (0: it drives only what it starts itself, as `fuchsia run` does); `executions`: how
-- many it drives now; `running`: its attempts running now; `draining`: it is shutting down
-- and takes nothing new.
ALTER TABLE owners ADD COLUMN name TEXT;
ALTER TABLE owners ADD COLUMN lease_expires_at DOUBLE PRECISION;
ALTER TABLE owners ADD COLUMN slots INTEGER NOT NULL DEFAULT 0;
ALTER TABLE owners ADD COLUMN executions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE owners ADD COLUMN running INTEGER NOT NULL DEFAULT 0;
ALTER TABLE owners ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;
-- The name of the worker that ran each attempt.
ALTER TABLE attempts ADD COLUMN worker TEXT;
-- Totals every process adds to: rejected_completions, lease_expiries, claims,
-- claim_latency_us (the sum of the seconds from an execution becoming claimable to its claim).
CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
