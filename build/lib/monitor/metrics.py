"""Prometheus metrics: what each job reported, counted for scraping.

Every figure comes from a report value the pipeline, the digest job and the
outbox already return (``CycleReport``, ``DigestRecord``, ``DeliveryReport``);
this module only adds them up. Only ``monitor run`` loads it: the worker it
builds reports to a ``Metrics``, the commands' workers to nobody. ``serve`` starts the endpoint that
``monitor run`` exposes when MONITOR_METRICS_PORT is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from monitor.errors import MonitorError

if TYPE_CHECKING:
    from monitor.types import CycleReport, DeliveryReport, DigestRecord

POLLS = Counter(
    "monitor_polls", "Feed polls, by outcome (updated, http_304, timeout…).", ["outcome"]
)
FETCH_SECONDS = Histogram(
    "monitor_fetch_seconds",
    "Time taken by one feed request, answer or failure.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
NEW_ITEMS = Counter("monitor_new_items", "Items stored for the first time.")
NEW_MATCHES = Counter("monitor_new_matches", "Matches stored, by watchlist.", ["watchlist"])
DIGESTS = Counter("monitor_digests_created", "Digests made, by watchlist.", ["watchlist"])
DELIVERIES = Counter(
    "monitor_deliveries",
    "Delivery attempts, by channel (email, file, notify) and status (sent, retrying, failed).",
    ["channel", "status"],
)
FEED_LEASES = Gauge("monitor_feed_leases_held", "Feeds this worker has claimed and not finished.")
OUTBOX_PENDING = Gauge("monitor_outbox_pending", "Messages waiting to be delivered (all workers).")


class Metrics:
    """What the worker reports, counted (monitor.app.Observer)."""

    def __init__(self, backlog: bool = True) -> None:
        self.backlog = backlog  # count the outbox's pending messages after each delivery

    def leases(self, change: int) -> None:
        """Feeds claimed (positive) or finished (negative) by this worker."""
        FEED_LEASES.inc(change)

    def polled(self, report: CycleReport) -> None:
        for feed in report.feeds:
            POLLS.labels(feed.outcome).inc()
            if feed.fetch_seconds is not None:
                FETCH_SECONDS.observe(feed.fetch_seconds)
            if feed.new_items:
                NEW_ITEMS.inc(feed.new_items)
            for watchlist, count in feed.matches_by_watchlist:
                NEW_MATCHES.labels(watchlist).inc(count)

    def digests(self, made: Iterable[DigestRecord | None]) -> None:
        for record in made:
            if record is not None:  # None: another worker made that slot's digest
                DIGESTS.labels(record.watchlist).inc()

    def delivered(self, report: DeliveryReport, pending: Callable[[], int]) -> None:
        for channel, status in report.outcomes:
            DELIVERIES.labels(channel, status).inc()
        if self.backlog:  # a count of the outbox: only when someone scrapes it
            OUTBOX_PENDING.set(pending())


def serve(port: int, address: str = "0.0.0.0") -> Any:
    """Serve /metrics on ``port``; returns the server (``shutdown()`` it)."""
    try:
        server, _thread = start_http_server(port, addr=address)
    except OSError as e:
        raise MonitorError(f"cannot serve metrics on port {port}: {e.strerror or e}") from e
    return server
