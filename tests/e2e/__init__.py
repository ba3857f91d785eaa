"""End-to-end tests: the `fuchsia` command in real subprocesses against a loopback server."""
