"""Digests and spikes: where a watchlist's digests start counting, recording a
digest with the matches it reported and its messages, and the spikes already
alerted. Digests are composed before they are recorded, outside any
transaction: recording one takes only its matches and queues its messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult

from monitor.store.db import Database, core
from monitor.store.outbox import TakenMeanwhile, queue_drafts
from monitor.store.tables import DigestRow, MatchRow, RuleWatchRow, SpikeRow, WatchlistRow
from monitor.types import DigestRecord, OutboxDraft


class MatchesTaken(Exception):
    """Another digest reported some of these matches since they were read:
    read them again and compose anew."""


class Digests:
    def __init__(self, db: Database) -> None:
        self.db = db

    def anchor(self, watchlist: str, now: datetime) -> datetime:
        """When digests of a watchlist start counting: its previous digest's
        slot, or when it was first loaded (recorded now if never)."""
        last = self.last(watchlist)
        if last is not None:
            return last.scheduled_for
        return self.first_loaded(watchlist, now)

    def first_loaded(self, watchlist: str, now: datetime) -> datetime:
        """When the watchlist was first loaded; ``now`` is recorded if never.
        Workers loading a new watchlist together: the first one's time counts."""
        row = core(WatchlistRow).c
        query = select(row.first_loaded_at).where(row.id == watchlist)
        with self.db.connection() as c:
            found = c.execute(query).scalar()
            if found is not None:
                return cast(datetime, found)
            c.execute(
                self.db.insert_ignoring_duplicates(WatchlistRow),
                [{"id": watchlist, "first_loaded_at": now}],
            )
            return cast(datetime, c.execute(query).scalar_one())

    def watched_since(
        self, watchlist: str, rules: Sequence[str], now: datetime
    ) -> dict[str, datetime]:
        """Since when each rule of the watchlist has been watched; ``now`` is
        recorded for a rule never seen, and for the watchlist if new."""
        self.first_loaded(watchlist, now)
        row = core(RuleWatchRow).c
        with self.db.connection() as c:
            if rules:
                c.execute(
                    self.db.insert_ignoring_duplicates(RuleWatchRow),
                    [{"watchlist": watchlist, "rule": rule, "since": now} for rule in rules],
                )
            found = c.execute(select(row.rule, row.since).where(row.watchlist == watchlist))
            return {rule: since for rule, since in found if rule in rules}

    def last(self, watchlist: str) -> DigestRecord | None:
        digest = core(DigestRow).c
        with self.db.connection() as c:
            row = c.execute(
                select(core(DigestRow))
                .where(digest.watchlist == watchlist)
                .order_by(digest.scheduled_for.desc())
                .limit(1)
            ).first()
            return _record(row) if row else None

    def record(
        self,
        record: DigestRecord,
        match_ids: Sequence[int],
        drafts: Sequence[OutboxDraft],
        now: datetime,
        before_commit: Callable[[], None] = lambda: None,
    ) -> DigestRecord | None:
        """Record a digest composed of the matches ``match_ids`` (read as not
        yet reported), mark them reported by it and queue its messages, all
        in one transaction. None if this (watchlist, slot) already has a
        digest; MatchesTaken (nothing done) if another digest took any of the
        matches since they were read. ``before_commit`` runs last inside the
        transaction (fault injection)."""
        ids = sorted(set(match_ids))
        match = core(MatchRow).c
        try:
            with self.db.connection() as c:
                inserted = c.execute(
                    self.db.insert_ignoring_duplicates(DigestRow).returning(core(DigestRow).c.id),
                    [_digest_values(record, len(ids), now)],
                ).first()
                if inserted is None:
                    return None
                digest_id = int(inserted[0])
                marked = 0
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marked += cast(
                        CursorResult[Any],
                        c.execute(
                            update(core(MatchRow))
                            .where(match.id.in_(chunk), match.digest_id.is_(None))
                            .values(digest_id=digest_id)
                        ),
                    ).rowcount
                if marked != len(ids):
                    raise TakenMeanwhile
                queue_drafts(self.db, c, drafts, now, digest_id)
                before_commit()
        except TakenMeanwhile:
            raise MatchesTaken from None
        return replace(record, id=digest_id, match_count=len(ids))

    def ongoing_spikes(self, watchlist: str, since: datetime) -> set[str]:
        """Rules of the watchlist with a spike seen after ``since``."""
        spike = core(SpikeRow).c
        with self.db.connection() as c:
            rows = c.execute(
                select(spike.rule).where(spike.watchlist == watchlist, spike.last_seen_at > since)
            )
            return set(rows.scalars())

    def record_spikes(
        self,
        watchlist: str,
        new: Sequence[tuple[str, int, float]],
        ongoing: Sequence[str],
        drafts: Sequence[OutboxDraft],
        now: datetime,
        since: datetime,
        not_before: datetime | None = None,
    ) -> None:
        """In one transaction: extend the spikes of ``ongoing`` rules (seen
        after ``since``), record the ``new`` (rule, mentions, usual) ones and
        queue their alert messages."""
        spike = core(SpikeRow).c
        with self.db.connection() as c:
            if ongoing:
                c.execute(
                    update(core(SpikeRow))
                    .where(spike.watchlist == watchlist, spike.rule.in_(list(ongoing)))
                    .where(spike.last_seen_at > since)
                    .values(last_seen_at=now)
                )
            if new:
                values = [
                    {"watchlist": watchlist, "rule": rule, "started_at": now,
                     "last_seen_at": now, "mentions": mentions, "usual": usual}
                    for rule, mentions, usual in new
                ]  # fmt: skip
                c.execute(self.db.insert_ignoring_duplicates(SpikeRow), values)
            queue_drafts(self.db, c, drafts, now, None, not_before)


def _record(row: Any) -> DigestRecord:
    return DigestRecord(
        row.id,
        row.watchlist,
        row.scheduled_for,
        row.window_start,
        row.window_end,
        row.status,
        row.match_count,
    )


def _digest_values(record: DigestRecord, matches: int, now: datetime) -> dict[str, Any]:
    return {
        "watchlist": record.watchlist,
        "scheduled_for": record.scheduled_for,
        "window_start": record.window_start,
        "window_end": record.window_end,
        "status": "queued",
        "match_count": matches,
        "created_at": now,
    }
