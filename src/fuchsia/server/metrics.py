"""Prometheus text format for /metrics, computed from the store on each scrape (so every
server sharing a store reports the same numbers)."""

from __future__ import annotations

from typing import Any

from fuchsia.store.base import Store


def _label(value: Any) -> str:
    """A label value escaped as the text format wants (backslash, quote, newline)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def render(store: Store) -> str:
    data = await store.metrics()
    lines = [
        "# HELP fuchsia_executions Executions in the store by status.",
        "# TYPE fuchsia_executions gauge",
        *(f'fuchsia_executions{{status="{_label(s)}"}} {n}' for s, n in data["executions"]),
        "# HELP fuchsia_queue_nodes Nodes of open executions by status (queue depth).",
        "# TYPE fuchsia_queue_nodes gauge",
        *(f'fuchsia_queue_nodes{{status="{_label(s)}"}} {n}' for s, n in data["open_nodes"]),
        "# HELP fuchsia_attempt_duration_seconds Time spent in finished node attempts.",
        "# TYPE fuchsia_attempt_duration_seconds summary",
    ]
    for status, count, total in data["attempts"]:
        label = f'{{status="{_label(status)}"}}'
        lines.append(f"fuchsia_attempt_duration_seconds_count{label} {count}")
        lines.append(f"fuchsia_attempt_duration_seconds_sum{label} {float(total):.6f}")
    lines += [
        "# HELP fuchsia_trigger_fires_total Executions started by cron, poll and webhook triggers.",
        "# TYPE fuchsia_trigger_fires_total counter",
        *(
            f'fuchsia_trigger_fires_total{{workflow="{_label(w)}",kind="{_label(k)}"}} {n}'
            for w, k, n in data["fires"]
        ),
    ]
    return "\n".join(lines) + "\n"
