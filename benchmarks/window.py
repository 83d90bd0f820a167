"""Digest window queries at 10,000 and 1,000,000 stored items.

A year of items (one match each) of which every one but the last day's was
already reported; the queries a digest and its figures run must cost about
the same whatever the history behind them (the indexes' job).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from monitor.migrations import upgrade
from monitor.store import Store
from monitor.store.tables import DigestRow, ItemRow, MatchRow

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
RECENT = 1_000  # items first seen in the last day, not reported yet
RULES = ("storm-corps", "kursk", "dprk", "putin", "dprk-troops-in-war")


def build(store: Store, items: int) -> None:
    """``items`` items spread over a year, the newest RECENT unreported."""
    with store.engine.begin() as connection:
        digest = connection.execute(
            insert(DigestRow.__table__).values(  # type: ignore[attr-defined]
                watchlist="w", scheduled_for=NOW - timedelta(days=1), window_start=NOW,
                window_end=NOW - timedelta(days=1), status="sent", match_count=0,
                created_at=NOW,
            )
        ).inserted_primary_key[0]  # fmt: skip
        step = timedelta(days=365) / items
        for start in range(0, items, 20_000):
            numbers = range(start, min(start + 20_000, items))
            seen = [NOW - step * (items - n) for n in numbers]
            connection.execute(
                insert(ItemRow.__table__),  # type: ignore[attr-defined]
                [
                    {"id": n + 1, "key": f"k{n}", "title": f"Title {n}", "text": "Text " * 40,
                     "url": f"https://news.example/{n}", "first_seen_at": at}
                    for n, at in zip(numbers, seen, strict=True)
                ],
            )  # fmt: skip
            connection.execute(
                insert(MatchRow.__table__),  # type: ignore[attr-defined]
                [
                    {"item_id": n + 1, "watchlist": "w", "rule": RULES[n % len(RULES)],
                     "kind": "entity", "terms": '["x"]', "fields": "title", "snippet": "x",
                     "spans": "[]", "alert": False, "first_seen_at": at,
                     "digest_id": None if n >= items - RECENT else digest}
                    for n, at in zip(numbers, seen, strict=True)
                ],
            )  # fmt: skip


def window_of_recent(store: Store) -> datetime:
    """When the newest RECENT matches begin: a window holding as many rows at
    any size, so only the history behind it differs."""
    recent = store.matches.unreported("w")
    return recent[0].first_seen_at - timedelta(microseconds=1)


# Each returns the same rows at every size: the RECENT newest matches.
QUERIES: dict[str, Callable[[Store, datetime], object]] = {
    "unreported matches (the next digest)": lambda s, _: s.matches.unreported("w"),
    "matches in a window (digest --since)": lambda s, start: s.matches.between("w", start, NOW),
    "counts per rule in a window (spikes, period table)": lambda s, start: s.matches.rule_counts(
        "w", start, NOW
    ),
    "15-minute buckets of a window (trend)": lambda s, start: s.matches.buckets("w", start, NOW),
}


def best_of(runs: int, query: Callable[[Store, datetime], object], store: Store) -> float:
    window = window_of_recent(store)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        query(store, window)
        best = min(best, time.perf_counter() - start)
    return best


def run(sizes: tuple[int, ...] = (10_000, 1_000_000)) -> list[tuple[str, float, float]]:
    """Rows of (query at size, milliseconds, ratio to the smallest size)."""
    timings: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="monitor-window-") as directory:
        for size in sizes:
            store = Store(f"sqlite:///{Path(directory) / f'w{size}.db'}")
            upgrade(store.engine)
            build(store, size)
            timings[size] = {name: best_of(5, query, store) for name, query in QUERIES.items()}
            store.close()
    base = timings[sizes[0]]
    return [
        (f"{name}, {size:,} items", timings[size][name] * 1000, timings[size][name] / base[name])
        for name in QUERIES
        for size in sizes
    ]


if __name__ == "__main__":
    for label, ms, ratio in run():
        print(f"{label:<68}{ms:>9.1f} ms{ratio:>8.2f}")
