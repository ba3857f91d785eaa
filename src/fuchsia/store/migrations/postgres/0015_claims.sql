-- Claim numbers: every statement that gives an execution a new owner (a claim by a worker,
-- a takeover by `resume`) adds one to `claim`, and every transition is fenced by the owner
-- AND the claim number its driver took. An owner that lost an execution and claimed it back
-- (A, then B, then A again) is refused what its first tenure still had in flight.
ALTER TABLE executions ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;
-- The machine an owner runs on: the kernel's boot id and the inode of its pid namespace
-- (NULL where /proc is missing). Only an owner on the same machine as ours can be known
-- gone by its pid; two hosts with one hostname, or containers sharing a hostname, cannot.
ALTER TABLE owners ADD COLUMN machine TEXT;
-- What each owner counted (claims, lease expiries, rejected completions, claim latency), a
-- row per owner and name, so concurrent claims touch no shared row. The totals are these
-- plus `counters`, where an owner's rows are folded when its row is deleted.
CREATE TABLE owner_counters (
    owner  TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  BIGINT NOT NULL,
    PRIMARY KEY (owner, name)
);
