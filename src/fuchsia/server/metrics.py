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
    lines += await _workers(store)
    return "\n".join(lines) + "\n"


async def _workers(store: Store) -> list[str]:
    """What the engines sharing the store report through it (every worker's counts)."""
    from fuchsia.store.ownership import (
        CLAIM_LATENCY_US,
        CLAIMS,
        LEASE_EXPIRIES,
        REJECTED_COMPLETIONS,
    )

    counters = await store.counters()
    owners = await store.owners()
    alive = sum(1 for o in owners if o.alive and o.slots > 0)
    return [
        "# HELP fuchsia_workers_alive Engines taking executions from the store, lease held.",
        "# TYPE fuchsia_workers_alive gauge",
        f"fuchsia_workers_alive {alive}",
        "# HELP fuchsia_work_ready Open executions nobody holds, ready for a worker to claim.",
        "# TYPE fuchsia_work_ready gauge",
        f"fuchsia_work_ready {await store.claimable()}",
        "# HELP fuchsia_shared_attempts_ready Attempts left for any worker to run, not "
        "claimed yet.",
        "# TYPE fuchsia_shared_attempts_ready gauge",
        f"fuchsia_shared_attempts_ready {await store.ready_work()}",
        "# HELP fuchsia_lease_expiries_total Executions taken over after their owner's lease "
        "passed or its process ended.",
        "# TYPE fuchsia_lease_expiries_total counter",
        f"fuchsia_lease_expiries_total {counters.get(LEASE_EXPIRIES, 0)}",
        "# HELP fuchsia_rejected_completions_total Attempt results not committed because "
        "their worker no longer held the execution.",
        "# TYPE fuchsia_rejected_completions_total counter",
        f"fuchsia_rejected_completions_total {counters.get(REJECTED_COMPLETIONS, 0)}",
        "# HELP fuchsia_claim_latency_seconds From an execution left for workers to its claim.",
        "# TYPE fuchsia_claim_latency_seconds summary",
        f"fuchsia_claim_latency_seconds_count {counters.get(CLAIMS, 0)}",
        f"fuchsia_claim_latency_seconds_sum {counters.get(CLAIM_LATENCY_US, 0) / 1e6:.6f}",
    ]
