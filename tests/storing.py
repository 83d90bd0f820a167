"""Store calls as the pipeline and the digest maker make them, for the tests
that drive the store directly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from monitor.store import Store
from monitor.types import (
    DigestRecord,
    Entry,
    FeedChange,
    Health,
    Move,
    NewMatch,
    OutboxDraft,
    StoredMatch,
)


def save(
    store: Store,
    url: str,
    entries: Sequence[Entry],
    matches: Sequence[NewMatch],
    seen: datetime,
    next_poll: datetime,
) -> tuple[int, int]:
    """A successful poll of ``url`` stored at ``seen``: (new items, new matches)."""
    change = FeedChange(url, Health("active", next_poll), succeeded_at=seen, move=Move(None))
    saved = store.items.save(change, entries, matches, seen)
    return saved.new_items, saved.new_matches


def make_digest(
    store: Store,
    record: DigestRecord,
    compose: Callable[[DigestRecord, list[StoredMatch]], Sequence[OutboxDraft]],
    now: datetime,
) -> DigestRecord | None:
    """The digest of ``record``'s slot: its unreported matches read, composed, recorded."""
    found = store.matches.unreported(record.watchlist, until=record.window_end)
    return store.digests.record(record, [m.id for m in found], compose(record, found), now)
