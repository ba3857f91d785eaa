-- Every query the store runs, for both backends. Placeholders are `?`; the PostgreSQL
-- backend rewrites them to `%s`. Column lists are explicit because rows are read by position.

-- name: insert_workflow
INSERT INTO workflows (hash, name, version, document, created_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (hash) DO NOTHING;

-- name: select_workflow
SELECT document FROM workflows WHERE hash = ?;

-- name: insert_execution
INSERT INTO executions (id, workflow_hash, workflow_name, workflow_version, status, payload,
                        context, idempotency_key, owner, parent_id, created_at, updated_at,
                        trace_id, trace_parent, trace_link)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING;

-- name: select_execution
SELECT id, workflow_name, workflow_version, workflow_hash, status, payload, context,
       idempotency_key, result, error, owner, created_at, started_at, finished_at, parent_id,
       control, result_artifact, settled, claim, parked_until, trace_id, trace_parent,
       trace_link
FROM executions WHERE id = ?;

-- name: select_execution_by_key
SELECT id FROM executions WHERE idempotency_key = ?;

-- name: select_execution_exists
SELECT 1 FROM executions WHERE id = ?;

-- name: select_execution_ids_by_prefix
SELECT id FROM executions WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 2;

-- name: list_executions
SELECT id, workflow_name, workflow_version, workflow_hash, status, payload, context,
       idempotency_key, result, error, owner, created_at, started_at, finished_at, parent_id,
       control, result_artifact, settled, claim, parked_until, trace_id, trace_parent,
       trace_link
FROM executions ORDER BY created_at DESC, id DESC LIMIT ?;

-- name: list_executions_by_status
SELECT id, workflow_name, workflow_version, workflow_hash, status, payload, context,
       idempotency_key, result, error, owner, created_at, started_at, finished_at, parent_id,
       control, result_artifact, settled, claim, parked_until, trace_id, trace_parent,
       trace_link
FROM executions WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?;

-- name: select_execution_owner
-- the fence of every transition: the owner and its claim number; on PostgreSQL it also locks
-- the row until the commit, so a claim by another worker waits for this transition and then
-- sees it (NO KEY: foreign-key checks of other processes' inserts for this execution, a
-- signal say, need not wait); and its parent, which an end wakes
SELECT owner, claim, parent_id FROM executions WHERE id = ? {lock_row};

-- name: update_execution
UPDATE executions
SET status = COALESCE(?, status),
    context = COALESCE(?, context),
    result = CASE WHEN ? THEN ? ELSE result END,
    result_artifact = CASE WHEN ? THEN ? ELSE result_artifact END,
    error = COALESCE(?, error),
    settled = COALESCE(?, settled),
    started_at = CASE WHEN ? THEN COALESCE(started_at, ?) ELSE started_at END,
    finished_at = CASE WHEN ? THEN ? ELSE finished_at END,
    -- parked no more: taken again, or ended
    parked_until = CASE WHEN ? THEN NULL ELSE parked_until END,
    wake_signals = CASE WHEN ? THEN NULL ELSE wake_signals END,
    updated_at = ?
WHERE id = ?;

-- name: upsert_node
-- `item`: the foreach item's index, -1 for the node itself (migration 0016)
INSERT INTO node_runs (execution_id, node_id, item, status, attempts, ready_at, error,
                       updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (execution_id, node_id, item) DO UPDATE
SET status = excluded.status, attempts = excluded.attempts, ready_at = excluded.ready_at,
    error = excluded.error, updated_at = excluded.updated_at;

-- name: upsert_attempt
-- `worker`: the one that started the attempt ran it; a later write by another (the worker
-- that took the execution over and records the attempt interrupted) keeps that name
INSERT INTO attempts (execution_id, node_id, item, number, status, inputs, inputs_artifact,
                      output, output_artifact, error, started_at, finished_at, worker)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (execution_id, node_id, item, number) DO UPDATE
SET status = excluded.status,
    inputs = CASE WHEN excluded.inputs IS NULL AND excluded.inputs_artifact IS NULL
                  THEN attempts.inputs ELSE excluded.inputs END,
    inputs_artifact = CASE WHEN excluded.inputs IS NULL AND excluded.inputs_artifact IS NULL
                           THEN attempts.inputs_artifact ELSE excluded.inputs_artifact END,
    output = excluded.output, output_artifact = excluded.output_artifact,
    error = excluded.error, finished_at = excluded.finished_at,
    worker = COALESCE(attempts.worker, excluded.worker);

-- name: insert_event
INSERT INTO events (execution_id, node_id, item, type, data, at) VALUES (?, ?, ?, ?, ?, ?);

-- name: select_nodes
SELECT node_id, item, status, attempts, ready_at, error FROM node_runs
WHERE execution_id = ?;

-- name: select_attempts
SELECT node_id, item, number, status, inputs, output, error, started_at, finished_at,
       inputs_artifact, output_artifact, worker
FROM attempts WHERE execution_id = ? ORDER BY node_id, item, number;

-- name: select_events
SELECT seq, execution_id, node_id, type, data, at, item
FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq;

-- name: select_owner_lease
-- whether an owner's lease still held just before it renews it (false: it had passed)
SELECT COALESCE(lease_expires_at, heartbeat_at + 30) > {now} FROM owners WHERE id = ?;

-- name: upsert_owner
-- a heartbeat: the lease runs `lease` seconds from now on the database clock
INSERT INTO owners (id, host, pid, started_at, heartbeat_at, name, lease_expires_at, slots,
                    executions, running, draining, machine)
VALUES (?, ?, ?, ?, {now}, ?, {now} + ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE
SET heartbeat_at = excluded.heartbeat_at, lease_expires_at = excluded.lease_expires_at,
    slots = excluded.slots, executions = excluded.executions, running = excluded.running,
    draining = excluded.draining;

-- name: delete_owner
DELETE FROM owners WHERE id = ?;

-- name: fold_owner_counters
-- what a departing owner counted goes into the shared totals (once, as its row is deleted)
INSERT INTO counters (name, value)
SELECT name, SUM(value) FROM owner_counters WHERE owner = ? GROUP BY name
ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value;

-- name: delete_owner_counters
DELETE FROM owner_counters WHERE owner = ?;

-- name: select_stale_owners
-- owners whose lease passed long ago (what they owned is claimable either way)
SELECT id FROM owners WHERE COALESCE(lease_expires_at, heartbeat_at) < {now} - ?;

-- name: select_owners
SELECT id, host, pid, started_at, heartbeat_at, name, lease_expires_at, slots, executions,
       running, draining, COALESCE(lease_expires_at, heartbeat_at + 30) > {now}, machine
FROM owners ORDER BY started_at, id;

-- name: select_open_executions
SELECT e.id, e.owner, o.id, o.host, o.pid, o.started_at, o.heartbeat_at, o.name,
       o.lease_expires_at, o.slots, o.executions, o.running, o.draining,
       COALESCE(o.lease_expires_at, o.heartbeat_at + 30) > {now}, o.machine
FROM executions e LEFT JOIN owners o ON o.id = e.owner
WHERE e.status IN ('pending', 'running', 'waiting', 'paused')
ORDER BY e.created_at;

-- name: claim_execution
-- a takeover (`resume`): the compare-and-swap on the owner; a new owner, a new claim number
UPDATE executions SET owner = ?, claim = claim + 1, updated_at = ?
WHERE id = ? AND owner IS NOT DISTINCT FROM ? AND status IN ('pending', 'running', 'waiting', 'paused');

-- name: claim_claimable
-- a claim by `claim_open`: the compare-and-swap, and the owner it takes from must still be
-- gone or past its lease. The check is repeated here because on PostgreSQL a row that
-- `select_claimable` found locked, and that another worker claimed meanwhile, is re-checked
-- against its new owner while the joined owner row stays the one read before (none, for an
-- execution recorded detached): the SELECT hands back a live worker's execution, this refuses it.
-- A new owner, a new claim number; the row as `select_execution` reads it, claimed
UPDATE executions SET owner = ?, claim = claim + 1, updated_at = ?
WHERE id = ? AND owner IS NOT DISTINCT FROM ? AND status IN ('pending', 'running', 'waiting', 'paused')
  AND (parked_until IS NULL OR parked_until <= {now})
  AND (owner IS NULL OR NOT EXISTS (
      SELECT 1 FROM owners o
      WHERE o.id = executions.owner AND COALESCE(o.lease_expires_at, o.heartbeat_at + 30) > {now}))
RETURNING id, workflow_name, workflow_version, workflow_hash, status, payload, context,
          idempotency_key, result, error, owner, created_at, started_at, finished_at, parent_id,
          control, result_artifact, settled, claim, parked_until, trace_id, trace_parent,
          trace_link;

-- name: release_execution
UPDATE executions SET owner = NULL, updated_at = ? WHERE id = ? AND owner = ?;

-- name: select_claimable
-- open executions nobody holds: never owned (recorded detached), or whose owner is gone or
-- let its lease pass; oldest first, skipping rows another transaction holds (PostgreSQL);
-- and whether it has node rows yet (none: its driver reads none)
SELECT e.id, e.owner, {now} - COALESCE(o.lease_expires_at, e.updated_at),
       EXISTS (SELECT 1 FROM node_runs n WHERE n.execution_id = e.id)
FROM executions e LEFT JOIN owners o ON o.id = e.owner
WHERE e.status IN ('pending', 'running', 'waiting', 'paused')
  AND (e.owner IS NULL OR o.id IS NULL OR COALESCE(o.lease_expires_at, o.heartbeat_at + 30) <= {now})
  AND (e.parked_until IS NULL OR e.parked_until <= {now})  -- a parked one once it is woken
  AND e.owner IS DISTINCT FROM ?  -- never the claimer's own: it may still drive them
ORDER BY e.created_at LIMIT ? {skip_locked};

-- name: count_claimable
SELECT COUNT(*) FROM executions e LEFT JOIN owners o ON o.id = e.owner
WHERE e.status IN ('pending', 'running', 'waiting', 'paused')
  AND (e.owner IS NULL OR o.id IS NULL OR COALESCE(o.lease_expires_at, o.heartbeat_at + 30) <= {now})
  AND (e.parked_until IS NULL OR e.parked_until <= {now});

-- name: count_claimable_at_most
-- `count_claimable`, counting no further than a claim round needs (`outlook`)
SELECT COUNT(*) FROM (
    SELECT 1 FROM executions e LEFT JOIN owners o ON o.id = e.owner
    WHERE e.status IN ('pending', 'running', 'waiting', 'paused')
      AND (e.owner IS NULL OR o.id IS NULL OR COALESCE(o.lease_expires_at, o.heartbeat_at + 30) <= {now})
      AND (e.parked_until IS NULL OR e.parked_until <= {now})
    LIMIT ?
) AS up_to;

-- name: select_owned
SELECT id FROM executions
WHERE owner = ? AND status IN ('pending', 'running', 'waiting', 'paused');

-- name: add_owner_counter
-- an owner's own row: claims by different workers touch no row in common
INSERT INTO owner_counters (owner, name, value) VALUES (?, ?, ?)
ON CONFLICT (owner, name) DO UPDATE SET value = owner_counters.value + excluded.value;

-- name: select_counters
-- the totals: what departed owners counted (folded into `counters`) and what the others did
SELECT name, SUM(value) FROM (
    SELECT name, value FROM counters
    UNION ALL
    SELECT name, value FROM owner_counters
) AS every_count GROUP BY name;

-- name: insert_blob
INSERT INTO blobs (hash, size, data) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING;

-- name: upsert_blob_writer
INSERT INTO blob_writers (hash, execution_id, written_at) VALUES (?, ?, ?)
ON CONFLICT (hash, execution_id) DO UPDATE SET written_at = excluded.written_at;

-- name: delete_orphan_blobs
-- the blobs noted before the cutoff that no artifact names and no note keeps: a note of an
-- open execution (its attempt may still commit the artifact), or one younger than the cutoff
DELETE FROM blobs
WHERE hash IN (SELECT hash FROM blob_writers WHERE written_at < ?)
  AND NOT EXISTS (SELECT 1 FROM artifacts WHERE artifacts.hash = blobs.hash)
  AND NOT EXISTS (
    SELECT 1 FROM blob_writers w LEFT JOIN executions e ON e.id = w.execution_id
    WHERE w.hash = blobs.hash
      AND (w.written_at >= ? OR e.status IN ('pending', 'running', 'waiting', 'paused'))
  );

-- name: delete_old_blob_writers
DELETE FROM blob_writers
WHERE written_at < ?
  AND NOT EXISTS (
    SELECT 1 FROM executions e
    WHERE e.id = blob_writers.execution_id
      AND e.status IN ('pending', 'running', 'waiting', 'paused')
  );

-- name: insert_artifact
INSERT INTO artifacts (id, execution_id, node_id, hash, name, content_type, size, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: select_artifacts
SELECT id, hash, name, content_type, size FROM artifacts WHERE execution_id = ? ORDER BY created_at;

-- name: select_same_artifact
SELECT id FROM artifacts WHERE execution_id = ? AND name = ? AND hash = ?;

-- name: select_artifact
SELECT id, hash, name, content_type, size, execution_id FROM artifacts WHERE id = ?;

-- name: select_blob
SELECT data FROM blobs WHERE hash = ?;

-- name: select_kv
SELECT value FROM kv WHERE scope = ? AND key = ?;

-- name: upsert_kv
INSERT INTO kv (scope, key, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at;

-- name: delete_kv
DELETE FROM kv WHERE scope = ? AND key = ?;

-- name: set_control
-- a cancel stays until it is carried out: no later pause or resume replaces it; a parked
-- execution is woken to act on it
UPDATE executions SET control = ?, updated_at = ?,
    parked_until = CASE WHEN parked_until IS NULL THEN NULL ELSE {now} END
WHERE id = ? AND status IN ('pending', 'running', 'waiting', 'paused')
  AND (control IS NULL OR control <> 'cancel' OR ? = 'cancel');

-- name: select_controls
SELECT id, control FROM executions
WHERE owner = ? AND control IS NOT NULL AND status IN ('pending', 'running', 'waiting', 'paused');

-- name: select_parked
-- the row locked first (PostgreSQL), so a park committing meanwhile is seen, or sees this
SELECT parked_until, wake_signals FROM executions WHERE id = ? {lock_row};

-- name: wake_execution
UPDATE executions SET parked_until = {now} WHERE id = ? AND parked_until IS NOT NULL
RETURNING id;

-- name: park_execution
-- nobody holds it from now; woken at once when a request it has not acted on is waiting (a
-- cancel, a resume of a paused one, a pause of one not paused: a pause stays in `control`
-- while it holds)
UPDATE executions
SET owner = NULL, wake_signals = ?,
    parked_until = CASE
        WHEN control = 'cancel' OR (status = 'paused' AND control <> 'pause')
            OR (status <> 'paused' AND control = 'pause') OR ? THEN {now}
        ELSE COALESCE({now} + ?, ?) END  -- the delay on the database clock; none: never
WHERE id = ?
RETURNING parked_until <= {now};

-- name: lock_parent
-- a sub-workflow's execution ends: its parent's row is locked first (PostgreSQL), so a park
-- of the parent in flight is seen by `wake_parent` or sees this end (an UPDATE whose WHERE
-- does not match a row yet takes no lock on it)
SELECT id FROM executions WHERE id = ? {lock_row};

-- name: wake_parent
-- a sub-workflow's execution ended: its parent, parked on it, may go on
UPDATE executions SET parked_until = {now} WHERE id = ? AND parked_until IS NOT NULL
RETURNING id;

-- name: select_ended
SELECT COUNT(*) FROM executions
WHERE id = ? AND status NOT IN ('pending', 'running', 'waiting', 'paused');

-- name: insert_signal
INSERT INTO signals (execution_id, name, payload, created_at) VALUES (?, ?, ?, ?)
RETURNING id;

-- name: select_signal
SELECT id, payload FROM signals
WHERE execution_id = ? AND name = ? AND consumed_by IS NULL ORDER BY id LIMIT 1;

-- name: consume_signal
UPDATE signals SET consumed_by = ?, consumed_at = ? WHERE id = ? AND consumed_by IS NULL;

-- name: select_open_children
SELECT id FROM executions
WHERE parent_id = ? AND status IN ('pending', 'running', 'waiting', 'paused');

-- name: select_deployment_hash
SELECT hash FROM deployments WHERE name = ? AND version = ?;

-- name: insert_deployment
INSERT INTO deployments (name, version, hash, active, deployed_at) VALUES (?, ?, ?, ?, ?);

-- name: list_deployments
SELECT name, version, hash, active, deployed_at, pinned FROM deployments
ORDER BY name, version DESC;

-- name: select_deployments_named
SELECT name, version, hash, active, deployed_at, pinned FROM deployments
WHERE name = ? ORDER BY version DESC;

-- name: set_deployment_active
UPDATE deployments SET active = ? WHERE name = ? AND version = ?;

-- name: clear_deployment_pin
UPDATE deployments SET pinned = ? WHERE name = ?;

-- name: set_deployment_pin
UPDATE deployments SET pinned = ? WHERE name = ? AND version = ?;

-- name: insert_token
INSERT INTO tokens (id, name, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?);

-- name: list_tokens
SELECT id, name, scopes, created_at, revoked_at FROM tokens ORDER BY created_at;

-- name: select_token_by_hash
SELECT id, name, scopes, created_at, revoked_at FROM tokens WHERE hash = ?;

-- name: revoke_token
UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL;

-- name: insert_fire
INSERT INTO trigger_fires (workflow, instant, kind, execution_id, fired_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (workflow, instant) DO NOTHING;

-- name: select_last_fire
SELECT MAX(instant) FROM trigger_fires WHERE workflow = ? AND kind <> 'webhook';

-- name: metrics_executions
SELECT status, COUNT(*) FROM executions GROUP BY status;

-- name: metrics_open_nodes
SELECT n.status, COUNT(*) FROM node_runs n JOIN executions e ON e.id = n.execution_id
WHERE e.status IN ('pending', 'running', 'waiting', 'paused') GROUP BY n.status;

-- name: metrics_attempts
SELECT status, COUNT(*), COALESCE(SUM(finished_at - started_at), 0) FROM attempts
WHERE finished_at IS NOT NULL GROUP BY status;

-- name: metrics_fires
SELECT workflow, kind, COUNT(DISTINCT execution_id) FROM trigger_fires
WHERE execution_id IS NOT NULL GROUP BY workflow, kind;

-- name: list_executions_before
SELECT id, workflow_name, workflow_version, workflow_hash, status, payload, context,
       idempotency_key, result, error, owner, created_at, started_at, finished_at, parent_id,
       control, result_artifact, settled, claim, parked_until, trace_id, trace_parent,
       trace_link
FROM executions WHERE id < ? ORDER BY id DESC LIMIT ?;

-- name: list_executions_by_status_before
SELECT id, workflow_name, workflow_version, workflow_hash, status, payload, context,
       idempotency_key, result, error, owner, created_at, started_at, finished_at, parent_id,
       control, result_artifact, settled, claim, parked_until, trace_id, trace_parent,
       trace_link
FROM executions WHERE status = ? AND id < ? ORDER BY id DESC LIMIT ?;

-- name: list_executions_by_workflow_before
SELECT id, workflow_name, workflow_version, workflow_hash, status, payload, context,
       idempotency_key, result, error, owner, created_at, started_at, finished_at, parent_id,
       control, result_artifact, settled, claim, parked_until, trace_id, trace_parent,
       trace_link
FROM executions WHERE workflow_name = ? AND id < ? ORDER BY id DESC LIMIT ?;

-- name: list_executions_by_workflow_status_before
SELECT id, workflow_name, workflow_version, workflow_hash, status, payload, context,
       idempotency_key, result, error, owner, created_at, started_at, finished_at, parent_id,
       control, result_artifact, settled, claim, parked_until, trace_id, trace_parent,
       trace_link
FROM executions WHERE workflow_name = ? AND status = ? AND id < ? ORDER BY id DESC LIMIT ?;

-- name: select_children
-- a run's sub-workflow executions, newest first
SELECT id, workflow_name, workflow_version, workflow_hash, status, payload, context,
       idempotency_key, result, error, owner, created_at, started_at, finished_at, parent_id,
       control, result_artifact, settled, claim, parked_until, trace_id, trace_parent,
       trace_link
FROM executions WHERE parent_id = ? ORDER BY id DESC LIMIT ?;

-- name: count_errored_units
SELECT COUNT(*) FROM node_runs WHERE execution_id = ? AND status IN ('failed', 'timed_out');

-- name: select_last_events
SELECT seq, execution_id, node_id, type, data, at, item
FROM events WHERE execution_id = ? ORDER BY seq DESC LIMIT ?;

-- name: select_node_logs
SELECT seq, execution_id, node_id, type, data, at, item
FROM events WHERE execution_id = ? AND node_id = ? AND type = 'log' ORDER BY seq DESC LIMIT ?;

-- Re-encryption (`fuchsia keys rotate`): pages in primary-key order, the first page when the
-- first parameter is 0, and compare-and-set updates that leave a row written meanwhile alone.

-- name: rotate_page_executions
SELECT id, payload, context, result FROM executions
WHERE ? = 0 OR id > ? ORDER BY id LIMIT ?;

-- name: rotate_set_executions
UPDATE executions SET payload = ?, context = ?, result = ?
WHERE id = ? AND payload IS NOT DISTINCT FROM ? AND context IS NOT DISTINCT FROM ?
  AND result IS NOT DISTINCT FROM ?;

-- name: rotate_page_attempts
SELECT execution_id, node_id, item, number, inputs, output FROM attempts
WHERE ? = 0 OR (execution_id, node_id, item, number) > (?, ?, ?, ?)
ORDER BY execution_id, node_id, item, number LIMIT ?;

-- name: rotate_set_attempts
UPDATE attempts SET inputs = ?, output = ?
WHERE execution_id = ? AND node_id = ? AND item = ? AND number = ?
  AND inputs IS NOT DISTINCT FROM ? AND output IS NOT DISTINCT FROM ?;

-- name: rotate_page_signals
SELECT id, execution_id, name, payload FROM signals
WHERE ? = 0 OR id > ? ORDER BY id LIMIT ?;

-- name: rotate_set_signals
UPDATE signals SET payload = ? WHERE id = ? AND payload IS NOT DISTINCT FROM ?;

-- name: rotate_page_kv
SELECT scope, key, value FROM kv
WHERE ? = 0 OR (scope, key) > (?, ?) ORDER BY scope, key LIMIT ?;

-- name: rotate_set_kv
UPDATE kv SET value = ? WHERE scope = ? AND key = ? AND value = ?;

-- name: rotate_page_blobs
SELECT hash, data FROM blobs WHERE ? = 0 OR hash > ? ORDER BY hash LIMIT ?;

-- name: rotate_set_blobs
UPDATE blobs SET data = ? WHERE hash = ? AND data = ?;

-- name: insert_delivery
INSERT INTO webhook_deliveries (key, body_sha256, created_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO NOTHING;

-- name: select_delivery
SELECT body_sha256 FROM webhook_deliveries WHERE key = ?;

-- name: upsert_write_token
INSERT INTO write_tokens (writer, token, written_at) VALUES (?, ?, ?)
ON CONFLICT (writer) DO UPDATE SET token = excluded.token, written_at = excluded.written_at;

-- name: select_write_token
SELECT token FROM write_tokens WHERE writer = ?;

-- name: delete_write_token
DELETE FROM write_tokens WHERE writer = ?;

-- name: insert_work
-- an attempt its owner started and leaves for any worker with a free slot (`Sharing`)
INSERT INTO work (execution_id, node_id, item, attempt, owner, parent, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: delete_work
DELETE FROM work WHERE execution_id = ? AND node_id = ? AND item = ? AND attempt = ?;

-- name: delete_execution_work
DELETE FROM work WHERE execution_id = ?;

-- name: select_ready_work
-- shared attempts nobody runs, oldest first, skipping rows another claim holds (PostgreSQL);
-- never those of an execution that ended (its final transition deleted them, but a row
-- offered by a driver that lost the execution meanwhile is left to `delete_orphan_work`)
SELECT execution_id, node_id, item, attempt FROM work
WHERE worker IS NULL AND outcome IS NULL
ORDER BY created_at LIMIT ? {skip_locked_rows};

-- name: select_own_ready_work
-- an owner's own shared attempts no worker took for `?` seconds: it runs them itself
SELECT execution_id, node_id, item, attempt FROM work
WHERE owner = ? AND worker IS NULL AND outcome IS NULL AND created_at <= {now} - ?
ORDER BY created_at LIMIT ? {skip_locked_rows};

-- name: claim_work
-- the claim: one more claim number, which the claimer's completion is fenced by
UPDATE work SET worker = ?, claim = claim + 1, claimed_at = {now}
WHERE execution_id = ? AND node_id = ? AND item = ? AND attempt = ?
  AND worker IS NULL AND outcome IS NULL;

-- name: select_work_claim
SELECT claim, parent, {now} - created_at FROM work
WHERE execution_id = ? AND node_id = ? AND item = ? AND attempt = ?;

-- name: name_attempt_worker
-- the worker that runs a shared attempt is the one its record names
UPDATE attempts SET worker = ?
WHERE execution_id = ? AND node_id = ? AND item = ? AND number = ? AND status = 'running';

-- name: finish_work
-- a shared attempt's completion, fenced: only by the worker that holds it under that claim
UPDATE work SET outcome = ?
WHERE execution_id = ? AND node_id = ? AND item = ? AND attempt = ?
  AND worker = ? AND claim = ? AND outcome IS NULL;

-- name: select_finished_work
SELECT execution_id, node_id, item, attempt, outcome FROM work
WHERE owner = ? AND outcome IS NOT NULL;

-- name: select_held_work
SELECT execution_id, node_id, item, attempt, claim FROM work
WHERE worker = ? AND outcome IS NULL;

-- name: release_work
-- a draining worker hands back what it did not finish: ready again, under a new claim
UPDATE work SET worker = NULL, claim = claim + 1, claimed_at = NULL
WHERE worker = ? AND outcome IS NULL;

-- name: release_claim
-- one claim whose attempt stopped on its live worker without an outcome: ready again
UPDATE work SET worker = NULL, claim = claim + 1, claimed_at = NULL
WHERE execution_id = ? AND node_id = ? AND item = ? AND attempt = ? AND worker = ?
  AND claim = ? AND outcome IS NULL;

-- name: select_lost_work
-- shared attempts claimed by a worker that is gone or let its lease pass
SELECT w.execution_id, w.node_id, w.item, w.attempt, w.worker FROM work w
LEFT JOIN owners o ON o.id = w.worker
WHERE w.worker IS NOT NULL AND w.outcome IS NULL
  AND (o.id IS NULL OR COALESCE(o.lease_expires_at, o.heartbeat_at + 30) <= {now});

-- name: reclaim_work
UPDATE work SET worker = NULL, claim = claim + 1, claimed_at = NULL
WHERE execution_id = ? AND node_id = ? AND item = ? AND attempt = ? AND worker = ?
  AND outcome IS NULL;

-- name: delete_orphan_work
-- rows whose offering owner no longer holds the execution (another claimed it, and its start
-- deleted the rows it knew of; or it ended): nobody would fold their outcome
DELETE FROM work WHERE NOT EXISTS (
    SELECT 1 FROM executions e
    WHERE e.id = work.execution_id AND e.owner = work.owner
      AND e.status IN ('pending', 'running', 'waiting', 'paused'));

-- name: count_work
SELECT COUNT(*) FROM work WHERE worker IS NULL AND outcome IS NULL;
