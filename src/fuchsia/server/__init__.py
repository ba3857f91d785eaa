"""`fuchsia serve`: the HTTP API over one engine, behind token auth."""
