-- A pinned version is the one a workflow's triggers fire (and its name runs), even when newer
-- versions are deployed. At most one version per name is pinned.
ALTER TABLE deployments ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
