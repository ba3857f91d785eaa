"""What Fuchsia tells an operator: `ids` (one trace per execution, derived from what is
stored), `telemetry` (the engine's door to OpenTelemetry, a no-op by default), `otel` (the
door that reports), `setup` (which one, from providers or `OTEL_*`), `metrics` (Prometheus
and OpenTelemetry metrics)."""
