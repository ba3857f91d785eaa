"""`/metrics`: the Prometheus text format, rendered by `prometheus_client`.

Two halves. What the store holds is read on each scrape (`snapshot`, awaited by the route
so the event loop is never blocked on the database), so every server sharing a store
reports the same numbers: executions by status, open nodes, finished attempts' count and
total time, trigger fires, and what every worker reports through the store (alive, claim
latency, lease expiries). `StoreCollector` turns one snapshot into metric families. What
this process did (attempt and queue-wait histograms, executions started and finished,
retries, timeouts, component times, webhook deliveries, trigger lag) comes from the registry
of `fuchsia.observe.metrics`, when it is enabled (`fuchsia serve` enables it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fuchsia.observe import metrics as local

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from fuchsia.store.records import OwnerRecord
    from fuchsia.store.writer import Row

# what `generate_latest` writes (the media type newer clients call CONTENT_TYPE_PLAIN_0_0_4)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsSource(Protocol):
    """The part of the store a scrape reads."""

    async def metrics(self) -> dict[str, list[Row]]: ...
    async def counters(self) -> dict[str, int]: ...
    async def owners(self) -> list[OwnerRecord]: ...
    async def claimable(self) -> int: ...
    async def ready_work(self) -> int: ...


@dataclass(frozen=True)
class Snapshot:
    """What the store held at one scrape."""

    aggregates: dict[str, list[Row]]
    counters: dict[str, int]
    alive: int
    claimable: int
    ready_work: int


async def snapshot(store: MetricsSource) -> Snapshot:
    owners = await store.owners()
    return Snapshot(
        aggregates=await store.metrics(),
        counters=await store.counters(),
        alive=sum(1 for o in owners if o.alive and o.slots > 0),
        claimable=await store.claimable(),
        ready_work=await store.ready_work(),
    )


class StoreCollector:
    """The store's half of `/metrics` as metric families, from one snapshot."""

    def __init__(self, taken: Snapshot) -> None:
        self.taken = taken

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily

        data = self.taken.aggregates
        executions = GaugeMetricFamily(
            "fuchsia_executions", "Executions in the store by status.", labels=["status"]
        )
        for status, count in data["executions"]:
            executions.add_metric([str(status)], count)
        yield executions
        nodes = GaugeMetricFamily(
            "fuchsia_queue_nodes",
            "Nodes of open executions by status (queue depth).",
            labels=["status"],
        )
        for status, count in data["open_nodes"]:
            nodes.add_metric([str(status)], count)
        yield nodes
        attempts = SummaryMetricFamily(
            "fuchsia_attempt_duration_seconds",
            "Time spent in finished node attempts.",
            labels=["status"],
        )
        for status, count, total in data["attempts"]:
            attempts.add_metric([str(status)], count_value=count, sum_value=float(total))
        yield attempts
        yield self._fires()
        yield from self._workers()

    def _fires(self) -> Metric:
        from prometheus_client.core import CounterMetricFamily

        fires = CounterMetricFamily(
            "fuchsia_trigger_fires_total",
            "Executions started by cron, poll and webhook triggers.",
            labels=["workflow", "kind"],
        )
        for workflow, kind, count in self.taken.aggregates["fires"]:
            fires.add_metric([str(workflow), str(kind)], count)
        return fires

    def _workers(self) -> Iterator[Metric]:
        """What the engines sharing the store report through it (every worker's counts)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            SummaryMetricFamily,
        )

        from fuchsia.store.ownership import (
            CLAIM_LATENCY_US,
            CLAIMS,
            LEASE_EXPIRIES,
            REJECTED_COMPLETIONS,
        )

        taken, counters = self.taken, self.taken.counters
        yield GaugeMetricFamily(
            "fuchsia_workers_alive",
            "Engines taking executions from the store, lease held.",
            value=taken.alive,
        )
        yield GaugeMetricFamily(
            "fuchsia_work_ready",
            "Open executions nobody holds, ready for a worker to claim.",
            value=taken.claimable,
        )
        yield GaugeMetricFamily(
            "fuchsia_shared_attempts_ready",
            "Attempts left for any worker to run, not claimed yet.",
            value=taken.ready_work,
        )
        yield CounterMetricFamily(
            "fuchsia_lease_expiries_total",
            "Executions taken over after their owner's lease passed or its process ended.",
            value=counters.get(LEASE_EXPIRIES, 0),
        )
        yield CounterMetricFamily(
            "fuchsia_rejected_completions_total",
            "Attempt results not committed because their worker no longer held the execution.",
            value=counters.get(REJECTED_COMPLETIONS, 0),
        )
        yield SummaryMetricFamily(
            "fuchsia_claim_latency_seconds",
            "From an execution left for workers to its claim.",
            count_value=counters.get(CLAIMS, 0),
            sum_value=counters.get(CLAIM_LATENCY_US, 0) / 1e6,
        )


class _Scrape:
    """The store's families, then this process's."""

    def __init__(self, store: StoreCollector, process: CollectorRegistry | None) -> None:
        self.store, self.process = store, process

    def collect(self) -> Iterator[Metric]:
        yield from self.store.collect()
        if self.process is not None:
            yield from self.process.collect()


def render(taken: Snapshot) -> bytes:
    """The text exposition of one scrape: `taken` and this process's metrics."""
    from prometheus_client import generate_latest

    return generate_latest(_Scrape(StoreCollector(taken), local.registry()))
