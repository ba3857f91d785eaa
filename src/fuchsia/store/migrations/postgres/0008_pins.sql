-- A pinned version is the one a workflow's triggers fire (and its name runs), even when newer
-- versions are deployed. At most one version per name is pinned.
ALTER TABLE deployments ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE;
