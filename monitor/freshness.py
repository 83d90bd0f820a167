"""When a story happened, and whether it is news (pure).

A feed's publication time is believed only when it is sane: not after the
item was first seen (a little clock skew aside) and not from long before it
(an epoch 0 or a year-old date on an item that just appeared is a broken
feed, not history). Otherwise the time the monitor first saw the item stands
in, and says so.

The first successful poll of a feed is a backfill: what it finds was
published before the monitor was watching, so it goes to the digest and
raises no alert and no spike. Later, an item published longer ago than the
alert age (a feed re-publishing its archive) is a backfill too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.types import Entry, NewMatch

# A feed's clock may run a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=15)
# A publication time further back than this from the first sighting is not
# believed (backfilled archives older than this show when they were found).
OLDEST_BELIEVED = timedelta(days=366)
ALERT_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class StoryTime:
    """When to say a report happened, and whether the feed said so."""

    at: datetime
    published: bool  # False: the time it was first seen, labelled as such


def sane_published(published: datetime | None, first_seen: datetime) -> datetime | None:
    """``published`` when it can be believed (a few minutes ahead is taken
    as ``first_seen``), else None."""
    if published is None or published > first_seen + CLOCK_SKEW:
        return None
    if published < first_seen - OLDEST_BELIEVED:
        return None
    return min(published, first_seen)


def story_time(published: datetime | None, first_seen: datetime) -> StoryTime:
    sane = sane_published(published, first_seen)
    return StoryTime(sane, True) if sane is not None else StoryTime(first_seen, False)


def is_backfill(
    published: datetime | None, now: datetime, read_before: bool, max_age: timedelta
) -> bool:
    """Whether an item found ``now`` is old news: every item of a feed's
    first read, and an item published more than ``max_age`` ago."""
    if not read_before:
        return True
    sane = sane_published(published, now)
    return sane is not None and now - sane > max_age


def mark_backfill(
    matches: Sequence[NewMatch],
    entries: Sequence[Entry],
    now: datetime,
    read_before: bool,
    max_age: timedelta = ALERT_MAX_AGE,
) -> list[NewMatch]:
    """The matches, those of old news marked as backfill (no alert, no spike)."""
    published = {e.key: e.published_at for e in entries}
    return [
        replace(m, backfill=True)
        if is_backfill(published.get(m.item_key), now, read_before, max_age)
        else m
        for m in matches
    ]
