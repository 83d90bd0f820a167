"""Table tests for what a poll's outcome does to its feed (monitor.decide)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.decide import MAX_BACKOFF, RetryPolicy, decide, next_poll_after_success
from monitor.types import (
    FeedFailure,
    FeedState,
    Fetched,
    Health,
    Move,
    NotModified,
    ParsedFeed,
    Validators,
)

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
EVERY = timedelta(minutes=15)
URL = "https://news.example/feed"
FEED = FeedState(URL, 900, '"v1"', None, "h0", 0, URL)


def _failing(errors: int) -> FeedState:
    """The feed after ``errors`` failures in a row, the first an hour ago."""
    return replace(FEED, consecutive_errors=errors, error_since=NOW - timedelta(hours=1))


@pytest.mark.parametrize(
    ("errors", "reason", "retry_after", "jitter", "next_in", "status", "stopped"),
    [
        (1, "timeout", None, 0.0, EVERY, "active", None),
        (2, "http_500", None, 0.0, 2 * EVERY, "active", None),
        (3, "http_500", None, 0.5, 4 * EVERY * 1.05, "active", None),
        (9, "http_500", None, 0.0, MAX_BACKOFF, "active", None),  # capped
        (1, "http_429", timedelta(hours=2), 0.0, timedelta(hours=2), "active", None),
        (1, "http_503", timedelta(days=3), 0.0, MAX_BACKOFF, "active", None),  # hint capped
        (1, "http_410", None, 0.0, None, "gone", "gone"),
        (10, "http_500", None, 0.0, None, "paused", "paused"),
        (11, "http_500", None, 0.0, None, "paused", None),  # told once, not every tick
    ],
)
def test_after_failure(
    errors: int,
    reason: str,
    retry_after: timedelta | None,
    jitter: float,
    next_in: timedelta | None,
    status: str,
    stopped: str | None,
) -> None:
    """``errors`` counts this failure."""
    failure = FeedFailure(URL, reason, "why", retry_after)
    change = decide(_failing(errors - 1), failure, NOW, RetryPolicy(10, jitter))
    expected = None if next_in is None else NOW + next_in
    assert (change.health.next_poll_at, change.health.status, change.stopped) == (
        expected,
        status,
        stopped,
    )
    assert change.health.consecutive_errors == errors
    assert (change.health.last_error, change.health.last_error_reason) == ("why", reason)
    # A failure leaves the last success, the validators and any move as they were.
    assert (change.succeeded_at, change.validators, change.move) == (None, None, None)


def test_a_first_failure_starts_the_error_period_and_later_ones_keep_it() -> None:
    first = decide(FEED, FeedFailure(URL, "timeout", "t"), NOW, RetryPolicy())
    assert first.health.error_since == NOW
    later = decide(_failing(3), FeedFailure(URL, "timeout", "t"), NOW, RetryPolicy())
    assert later.health.error_since == NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("hint", "next_in"),
    [
        (None, EVERY),
        (timedelta(minutes=5), EVERY),  # a server cannot make us poll faster
        (timedelta(hours=1), timedelta(hours=1)),
        (timedelta(days=2), MAX_BACKOFF),
    ],
)
def test_next_poll_after_success(hint: timedelta | None, next_in: timedelta) -> None:
    assert next_poll_after_success(NOW, EVERY, hint) == NOW + next_in


def test_an_unchanged_feed_is_healthy_again_and_keeps_its_validators() -> None:
    change = decide(_failing(4), NotModified(URL, "http_304"), NOW, RetryPolicy())
    assert change.health == Health("active", NOW + EVERY)
    assert (change.succeeded_at, change.validators, change.move) == (NOW, None, Move(None))


def test_a_changed_feed_leaves_its_validators_title_and_longest_hint() -> None:
    fetched = Fetched(URL, URL, b"<rss/>", "", '"v2"', "Tue", "h1", max_age=timedelta(minutes=20))
    parsed = ParsedFeed("Wire", (), ttl=timedelta(minutes=45))
    change = decide(FEED, fetched, NOW, RetryPolicy(), parsed)
    assert change.validators == Validators('"v2"', "Tue", "h1", "Wire")
    assert change.health.next_poll_at == NOW + timedelta(minutes=45)
    untitled = decide(FEED, fetched, NOW, RetryPolicy(), ParsedFeed("", ()))
    assert untitled.validators is not None and untitled.validators.title is None


NEW = "https://news.example/new"


@pytest.mark.parametrize(
    ("fetch_url", "moved_to", "moved_count", "observed", "move"),
    [
        (URL, None, 0, None, Move(None)),  # not redirected
        (URL, None, 0, NEW, Move(None, NEW, 1)),  # seen once: not yet
        (URL, NEW, 1, NEW, Move(NEW)),  # seen twice in a row: moved
        (URL, NEW, 1, None, Move(None)),  # a one-off: forgotten
        (URL, "https://other.example/", 1, NEW, Move(None, NEW, 1)),  # elsewhere: counted anew
        (NEW, None, 0, None, Move(NEW)),  # moved before: stays where it went
        (NEW, None, 0, NEW, Move(NEW)),
    ],
)
def test_a_permanent_redirect_moves_a_feed_once_it_repeats(
    fetch_url: str, moved_to: str | None, moved_count: int, observed: str | None, move: Move
) -> None:
    feed = replace(FEED, fetch_url=fetch_url, moved_to=moved_to, moved_count=moved_count)
    change = decide(feed, NotModified(URL, "http_304", moved_to=observed), NOW, RetryPolicy())
    assert change.move == move
