"""Matches read back: for a digest's window, for alerts, listings and the
figures beside a digest (counts per rule, trend buckets, item texts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Integer, func
from sqlmodel import Session, col, select

from monitor.store.db import Database, chunks, core
from monitor.store.tables import FeedRow, ItemRow, ItemSourceRow, MatchRow
from monitor.types import Snippet, StoredMatch


class Matches:
    def __init__(self, db: Database) -> None:
        self.db = db

    def between(self, watchlist: str, start: datetime, end: datetime) -> list[StoredMatch]:
        """Matches first seen in (start, end], oldest first."""
        match = core(MatchRow).c
        return self._read(
            (match.watchlist == watchlist) & (match.first_seen_at > start)
            & (match.first_seen_at <= end)
        )  # fmt: skip

    def unreported(self, watchlist: str, until: datetime | None = None) -> list[StoredMatch]:
        """Matches no digest has reported yet (what the next digest will hold),
        first seen up to ``until`` when given."""
        match = core(MatchRow).c
        condition = (match.watchlist == watchlist) & match.digest_id.is_(None)
        if until is not None:
            condition &= match.first_seen_at <= until
        return self._read(condition)

    def count_unreported(self, watchlist: str) -> int:
        match = core(MatchRow).c
        query = select(func.count()).where(match.watchlist == watchlist, match.digest_id.is_(None))
        with self.db.connection() as c:
            return int(c.execute(query).scalar_one())

    def unqueued_alerts(self) -> list[StoredMatch]:
        """Matches of alert rules not yet queued as an alert."""
        match = core(MatchRow).c
        return self._read(match.alert.is_(True) & match.alert_queued_at.is_(None))

    def _read(self, condition: Any) -> list[StoredMatch]:
        with self.db.session() as s:
            return read_matches(s, condition)

    def rule_counts(
        self, watchlist: str, start: datetime, end: datetime, news_only: bool = False
    ) -> dict[str, int]:
        """Matches per rule first seen in (start, end]; with ``news_only``,
        old news (a feed's first read, an old item) left out."""
        match = core(MatchRow).c
        query = (
            select(match.rule, func.count())
            .where(match.watchlist == watchlist)
            .where(match.first_seen_at > start, match.first_seen_at <= end)
            .group_by(match.rule)
        )
        if news_only:
            query = query.where(match.backfill.is_(False))
        with self.db.connection() as c:
            rows = c.execute(query)
            return {key: count for key, count in rows}

    def buckets(
        self, watchlist: str, start: datetime, end: datetime, seconds: int = 900
    ) -> list[tuple[str, datetime, int]]:
        """Matches per rule first seen in (start, end], counted in buckets of
        ``seconds`` of UTC time, as (rule, bucket start, count). Every zone's
        UTC offset is a multiple of 15 minutes, so the default buckets add up
        exactly into local days."""
        match = core(MatchRow).c
        # Counted by when the story happened (monitor.freshness), chosen
        # among those first seen in the window: none is published after.
        column = func.coalesce(match.dated_at, match.first_seen_at)
        seen = match.first_seen_at
        if self.db.dialect == "sqlite":
            epoch: Any = func.cast(func.strftime("%s", column), Integer)
        else:
            epoch = func.cast(func.floor(func.extract("epoch", column)), BigInteger)
        bucket = (epoch // seconds).label("bucket")
        with self.db.connection() as c:
            rows = c.execute(
                select(match.rule, bucket, func.count())
                .where(match.watchlist == watchlist, seen > start, seen <= end)
                .group_by(match.rule, bucket)
            ).all()
        return [(rule, datetime.fromtimestamp(int(b) * seconds, UTC), n) for rule, b, n in rows]

    def texts(
        self, watchlist: str, since: datetime | None = None, chars: int = 2000
    ) -> dict[int, tuple[int, str]]:
        """For each match no digest has reported yet (or, given ``since``, each
        first seen after it): its item's id and the start of the item's text,
        what a digest groups stories on."""
        match, item = core(MatchRow).c, core(ItemRow).c
        condition = match.digest_id.is_(None) if since is None else match.first_seen_at > since
        with self.db.connection() as c:
            rows = c.execute(
                select(match.id, item.id, func.substr(item.text, 1, chars))
                .join(core(ItemRow), item.id == match.item_id)
                .where(match.watchlist == watchlist, condition)
            )
            return {m: (i, text or "") for m, i, text in rows if m and i}

    def rules_of_items(self, watchlist: str, start: datetime) -> set[tuple[int, str]]:
        """(item id, rule) of the stored matches of items first seen after ``start``."""
        match, item = core(MatchRow).c, core(ItemRow).c
        with self.db.connection() as c:
            rows = c.execute(
                select(match.item_id, match.rule)
                .join(core(ItemRow), item.id == match.item_id)
                .where(match.watchlist == watchlist, item.first_seen_at > start)
            )
            return {(item_id, rule) for item_id, rule in rows}


def read_matches(s: Session, condition: Any) -> list[StoredMatch]:
    """The matches meeting ``condition``, oldest first, with their items and sources."""
    query = (
        select(MatchRow, ItemRow)
        .join(ItemRow, col(ItemRow.id) == col(MatchRow.item_id))
        .where(condition)
        .order_by(col(MatchRow.first_seen_at), col(MatchRow.id))
    )
    rows = s.exec(query).all()
    sources = _sources(s.connection(), [item.id for _, item in rows if item.id is not None])
    return [_stored_match(m, i, sources.get(i.id or 0, ())) for m, i in rows]


def _sources(c: Connection, item_ids: Sequence[int]) -> dict[int, tuple[tuple[str, str], ...]]:
    """Each item's feeds, as (title or URL, URL), the first to carry it first."""
    out: dict[int, list[tuple[str, str]]] = {}
    source, feed = core(ItemSourceRow).c, core(FeedRow).c
    for chunk in chunks(item_ids):
        rows = c.execute(
            select(source.item_id, feed.title, feed.url)
            .join(core(FeedRow), feed.id == source.feed_id)
            .where(source.item_id.in_(chunk))
            .order_by(source.first_seen_at)
        )
        for item_id, title, url in rows:
            out.setdefault(item_id, []).append((title or url, url))
    return {k: tuple(v) for k, v in out.items()}


def _stored_match(
    row: MatchRow, item: ItemRow, sources: tuple[tuple[str, str], ...]
) -> StoredMatch:
    spans = tuple((int(a), int(b)) for a, b in json.loads(row.spans))
    return StoredMatch(
        id=row.id or 0,
        watchlist=row.watchlist,
        rule=row.rule,
        kind=row.kind,
        terms=tuple(json.loads(row.terms)),
        fields=tuple(f for f in row.fields.split(",") if f),
        snippet=Snippet(row.snippet, spans),
        first_seen_at=row.first_seen_at,
        item_title=item.title,
        item_url=item.url,
        published_at=item.published_at,
        sources=tuple(name for name, _ in sources),
        source_urls=tuple(url for _, url in sources),
    )
