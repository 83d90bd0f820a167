"""The poll cycle's wiring, with a fake fetcher behind its Protocol: no HTTP,
a real SQLite store, the parse in this process. What each outcome does to a
feed is decided in monitor.decide (tests/test_decide.py); these check that
the cycle claims, hands over, records and reports it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.matcher import Matcher
from monitor.migrations import upgrade
from monitor.parsepool import InlineParser
from monitor.pipeline import Poller
from monitor.store import Store
from monitor.types import FeedFailure, Fetched, FetchOutcome, NotModified
from monitor.watchlist import parse_watchlist
from tests.conftest import rss

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
KURSK = parse_watchlist("entities:\n  kursk:\n    aliases: [Kursk]\n", "w.yaml", "w", "UTC")


@dataclass
class FakeFetcher:
    """Answers each URL from a script, and remembers what it was asked."""

    answers: dict[str, Callable[[str], FetchOutcome]]
    asked: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def fetch(
        self,
        url: str,
        now: datetime,
        etag: str | None = None,
        last_modified: str | None = None,
        known_hash: str | None = None,
    ) -> FetchOutcome:
        self.asked.append((url, etag, known_hash))
        return self.answers[url](url)


def feed(*titles: str, etag: str = '"1"') -> Callable[[str], FetchOutcome]:
    body = rss(*((title, title, "text") for title in titles))
    return lambda url: Fetched(url, url, body, "application/rss+xml", etag, None, f"h{titles}")


def unchanged(url: str) -> FetchOutcome:
    return NotModified(url, "http_304")


def failing(reason: str) -> Callable[[str], FetchOutcome]:
    return lambda url: FeedFailure(url, reason, f"it answered {reason}")


def broken(url: str) -> FetchOutcome:
    raise RuntimeError("a bug in the fetcher")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'cycle.db'}")
    upgrade(store.engine)
    return store


def poller(store: Store, fetcher: FakeFetcher, **options: object) -> Poller:
    return Poller(store, fetcher, InlineParser(), Matcher([KURSK]), **options)  # type: ignore[arg-type]


def urls(count: int) -> list[str]:
    return [f"https://feeds.example/{n}" for n in range(count)]


def test_a_changed_feed_is_stored_and_its_validators_go_out_next_time(store: Store) -> None:
    [url] = urls(1)
    store.feeds.sync([(url, 900)], NOW)
    fetcher = FakeFetcher({url: feed("Kursk one", "Weather")})
    report = poller(store, fetcher).cycle(NOW, [url])
    assert [(f.outcome, f.new_items, f.new_matches) for f in report.feeds] == [("updated", 2, 1)]
    assert [m.item_title for m in store.matches.unreported("w")] == ["Kursk one"]
    fetcher.answers[url] = unchanged
    later = NOW + timedelta(minutes=15)
    assert [f.outcome for f in poller(store, fetcher).cycle(later, [url]).feeds] == ["http_304"]
    assert fetcher.asked[-1] == (url, '"1"', "h('Kursk one', 'Weather')")


def test_every_due_feed_is_polled_once_in_batches_and_released(store: Store) -> None:
    many = urls(10)
    store.feeds.sync([(url, 900) for url in many], NOW)
    fetcher = FakeFetcher(dict.fromkeys(many, unchanged))
    leases: list[int] = []
    report = poller(store, fetcher, workers=1, on_lease=leases.append).cycle(NOW, many)
    assert sorted(f.url for f in report.feeds) == many
    assert sorted(url for url, _, _ in fetcher.asked) == many  # each once
    assert sum(leases) == 0 and max(leases) <= 4  # claimed four at a time, all released
    with store.db.connection() as c:
        held = c.exec_driver_sql("SELECT count(*) FROM feed WHERE lease_owner IS NOT NULL")
        assert held.scalar() == 0
    # Not due again before their interval.
    assert poller(store, fetcher).cycle(NOW + timedelta(minutes=14), many).feeds == ()


def test_failures_back_off_and_a_410_stops_a_feed_for_good(store: Store) -> None:
    flaky, gone = urls(2)
    store.feeds.sync([(flaky, 900), (gone, 900)], NOW)
    fetcher = FakeFetcher({flaky: failing("http_500"), gone: failing("http_410")})
    report = poller(store, fetcher, jitter=lambda: 0.0).cycle(NOW, [flaky, gone])
    assert {(f.url, f.outcome, f.stopped) for f in report.feeds} == {
        (flaky, "http_500", None),
        (gone, "http_410", "gone"),
    }
    statuses = {s.url: s for s in store.feeds.statuses()}
    assert statuses[flaky].next_poll_at == NOW + timedelta(minutes=15)
    assert (statuses[gone].status, statuses[gone].next_poll_at) == ("gone", None)
    # A second failure waits twice as long; the gone feed is never due again.
    second = NOW + timedelta(minutes=15)
    assert [
        f.url for f in poller(store, fetcher, jitter=lambda: 0.0).cycle(second, [flaky, gone]).feeds
    ] == [flaky]
    assert {s.url: s for s in store.feeds.statuses()}[flaky].next_poll_at == second + timedelta(
        minutes=30
    )


def test_a_bug_on_one_feed_is_its_internal_error_and_the_others_go_on(store: Store) -> None:
    bad, good = urls(2)
    store.feeds.sync([(bad, 900), (good, 900)], NOW)
    fetcher = FakeFetcher({bad: broken, good: feed("Kursk")})
    report = poller(store, fetcher).cycle(NOW, [bad, good])
    outcomes = {f.url: (f.outcome, f.message) for f in report.feeds}
    assert outcomes == {
        bad: ("internal_error", "RuntimeError: a bug in the fetcher"),
        good: ("updated", ""),
    }
    with pytest.raises(RuntimeError):  # tests ask for bugs to fail loudly
        poller(store, fetcher, raise_errors=True).cycle(NOW, [bad], force=True)
