"""The web UI `fuchsia serve` serves at `/`: runs, each run's live graph, nodes' inputs,
outputs, attempts, logs and artifacts, and the actions on them (`routes.install`)."""
