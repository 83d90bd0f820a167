"""When a report happened, and whether it is news (monitor.freshness)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.freshness import (
    StoryTime,
    is_backfill,
    mark_backfill,
    sane_published,
    story_time,
)
from monitor.types import Entry, Hit, Match, NewMatch, Snippet

SEEN = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("published", "believed"),
    [
        (SEEN - 3 * H, SEEN - 3 * H),  # the usual case
        (SEEN - timedelta(days=200), SEEN - timedelta(days=200)),  # an old report, found late
        (SEEN + 10 * timedelta(minutes=1), SEEN),  # the feed's clock a little ahead
        (SEEN + 2 * H, None),  # "published" in the future
        (datetime(1970, 1, 1, tzinfo=UTC), None),  # an epoch 0 of a broken feed
        (SEEN - timedelta(days=400), None),  # older than a year: not believed
        (None, None),
    ],
)
def test_a_publication_time_is_believed_only_when_sane(
    published: datetime | None, believed: datetime | None
) -> None:
    assert sane_published(published, SEEN) == believed


def test_a_report_without_a_sane_time_is_dated_when_first_seen_and_says_so() -> None:
    assert story_time(SEEN - H, SEEN) == StoryTime(SEEN - H, published=True)
    assert story_time(SEEN + 5 * H, SEEN) == StoryTime(SEEN, published=False)
    assert story_time(None, SEEN) == StoryTime(SEEN, published=False)


@pytest.mark.parametrize(
    ("published", "read_before", "old_news"),
    [
        (SEEN - H, False, True),  # a feed's first read: everything is backfill
        (None, False, True),
        (SEEN - H, True, False),  # news
        (None, True, False),  # no date: news, it just appeared
        (SEEN - 25 * H, True, True),  # older than the alert age
        (SEEN + 3 * H, True, False),  # a date in the future is not believed: news
    ],
)
def test_old_news_is_a_first_read_or_an_old_item(
    published: datetime | None, read_before: bool, old_news: bool
) -> None:
    assert is_backfill(published, SEEN, read_before, timedelta(hours=24)) is old_news


def test_only_the_matches_of_old_items_are_marked() -> None:
    entries = [
        Entry("old", "Storm Corps", "", None, SEEN - 48 * H),
        Entry("new", "Storm Corps", "", None, SEEN - H),
    ]
    match = Match("w", "storm", "entity", (Hit("Storm Corps", "title", 0, 11),), True)
    matches = [NewMatch(e.key, match, Snippet("")) for e in entries]
    marked = mark_backfill(matches, entries, SEEN, read_before=True)
    assert [(m.item_key, m.backfill) for m in marked] == [("old", True), ("new", False)]
