"""What a poll's outcome does to its feed: pure, values in and values out.

The pipeline hands ``decide`` the feed as it was claimed (``FeedState``), what
came of the poll and ``now``; it returns the ``FeedChange`` the store records
as it is. When the feed is polled next, whether it backs off, pauses or is
gone, and whether a permanent redirect moves it for good are all decided
here, and nowhere else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.redact import redact_url
from monitor.types import (
    FeedChange,
    FeedFailure,
    FeedState,
    Fetched,
    Health,
    Move,
    NotModified,
    ParsedFeed,
    Validators,
)

log = logging.getLogger(__name__)

# No wait a server asks for, and no backoff, is longer than this.
MAX_BACKOFF = timedelta(hours=6)

# A permanent redirect is adopted only when it is seen this many polls in a
# row: a misconfigured server answering 301 once must not move a feed for good.
MOVE_CONFIRMATIONS = 2


@dataclass(frozen=True)
class RetryPolicy:
    """How failures are answered."""

    pause_after: int = 10  # failures in a row that pause a feed
    jitter: float = 0.0  # in [0, 1): spreads retries by up to a tenth of the wait


def decide(
    feed: FeedState,
    outcome: NotModified | Fetched | FeedFailure,
    now: datetime,
    policy: RetryPolicy,
    parsed: ParsedFeed | None = None,
) -> FeedChange:
    """The feed's new values after a poll at ``now`` that found it unchanged,
    changed (``Fetched``, with what its body ``parsed`` to) or failed."""
    if isinstance(outcome, FeedFailure):
        return after_failure(feed, outcome, now, policy)
    hint = outcome.max_age
    validators = None
    if isinstance(outcome, Fetched):
        ttl = parsed.ttl if parsed is not None else None
        hint = max((h for h in (outcome.max_age, ttl) if h), default=None)
        title = parsed.title if parsed is not None and parsed.title else None
        validators = Validators(outcome.etag, outcome.last_modified, outcome.body_hash, title)
    every = timedelta(seconds=feed.every_seconds)
    return FeedChange(
        url=feed.url,
        health=Health("active", next_poll_after_success(now, every, hint)),
        succeeded_at=now,
        move=track_move(feed, outcome.moved_to),
        validators=validators,
    )


def after_failure(
    feed: FeedState, failure: FeedFailure, now: datetime, policy: RetryPolicy
) -> FeedChange:
    """410 Gone retires a feed at once; ``pause_after`` failures in a row pause
    it; anything less backs off and retries."""
    errors = feed.consecutive_errors + 1
    stopped = None
    if failure.reason == "http_410":
        status, next_poll, stopped = "gone", None, "gone"
    elif errors >= policy.pause_after:
        status, next_poll = "paused", None
        stopped = "paused" if errors == policy.pause_after else None
    else:
        every = timedelta(seconds=feed.every_seconds)
        status = "active"
        next_poll = next_poll_after_failure(now, every, errors, policy.jitter, failure.retry_after)
    health = Health(
        status, next_poll, errors, failure.message, failure.reason, feed.error_since or now
    )
    return FeedChange(feed.url, health, stopped=stopped)


def next_poll_after_success(
    now: datetime, every: timedelta, server_hint: timedelta | None = None
) -> datetime:
    """A feed's next poll: its own interval, stretched (never shortened) by
    the server's Cache-Control/ttl hint, up to a cap."""
    wait = every
    if server_hint is not None:
        wait = max(every, min(server_hint, MAX_BACKOFF))
    return now + wait


def next_poll_after_failure(
    now: datetime,
    every: timedelta,
    consecutive_errors: int,
    jitter: float,
    retry_after: timedelta | None = None,
) -> datetime:
    """Exponential backoff from the feed's interval, capped, with jitter in [0, 1)
    spreading retries by up to a tenth; a server's Retry-After wins if longer."""
    exponent = min(max(consecutive_errors - 1, 0), 16)
    wait = min(every * (1 << exponent), MAX_BACKOFF)
    wait += wait * 0.1 * jitter
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_BACKOFF))
    return now + wait


def track_move(feed: FeedState, observed: str | None) -> Move:
    """Where the feed is fetched from after a successful poll that was (or was
    not: ``None``) permanently redirected to ``observed``."""
    current = None if feed.fetch_url == feed.url else feed.fetch_url
    if observed is None or observed == feed.fetch_url:
        return Move(current)
    count = feed.moved_count + 1 if observed == feed.moved_to else 1
    if count >= MOVE_CONFIRMATIONS:
        log.info(
            "feed %s moved permanently to %s; now polling the new address",
            *(redact_url(feed.url), redact_url(observed)),
        )
        return Move(observed)
    return Move(current, observed, count)
