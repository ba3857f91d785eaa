"""Helpers shared by the integration and end-to-end tests (a real HTTP server on loopback)."""
