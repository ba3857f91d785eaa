"""What Fuchsia tells an operator: `metrics` (Prometheus and OpenTelemetry metrics)."""
