"""Feeds: which are due, claiming them for a poll (a lease), and recording
the values decided after it (monitor.decide). Nothing here decides."""

from __future__ import annotations

import functools
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Integer, Text, bindparam, case, func, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlmodel import col, select

from monitor.store.db import Database, UTCDateTime, core, grouped
from monitor.store.tables import FeedRow, ItemSourceRow
from monitor.types import FeedChange, FeedState, FeedStatus

# How long a feed taken for polling is kept from other workers when the
# caller names no lease (MONITOR_FEED_LEASE_SECONDS in the service).
DEFAULT_FEED_LEASE = timedelta(minutes=2)


def lease_owner_id() -> str:
    """Who holds a lease: host and process (an operator can find it), and a
    random part (a restarted process with a reused pid is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Feeds:
    def __init__(self, db: Database, owner: str) -> None:
        self.db = db
        self.owner = owner  # this process's name on the leases it holds

    def sync(self, feeds: Iterable[tuple[str, int]], now: datetime) -> None:
        """Make sure every watchlist feed has a row; new ones are due at once."""
        wanted = dict(feeds)
        feed = core(FeedRow).c
        with self.db.connection() as c:
            rows: dict[str, int] = dict(c.execute(select(feed.url, feed.every_seconds)).all())
            if changed := [
                {"changed_url": url, "changed_every": every}
                for url, every in wanted.items()
                if url in rows and rows[url] != every
            ]:
                c.execute(
                    update(core(FeedRow))
                    .where(feed.url == bindparam("changed_url"))
                    .values(every_seconds=bindparam("changed_every")),
                    changed,
                )
            # Workers starting together add the same new feeds: the first wins.
            if new := [(url, every) for url, every in wanted.items() if url not in rows]:
                defaults = FeedRow(url="").model_dump(exclude={"id", "url"})
                c.execute(
                    self.db.insert_ignoring_duplicates(FeedRow),
                    [{**defaults, "url": url, "every_seconds": every, "next_poll_at": now}
                     for url, every in new],
                )  # fmt: skip

    def due(
        self, now: datetime, urls: Sequence[str], force: bool = False, revive: bool = False
    ) -> list[str]:
        """Those of ``urls`` that ``claim`` would take now, most overdue first;
        nothing is claimed (a cycle reads this once, then claims a few at a time)."""
        feed = core(FeedRow).c
        query = select(feed.url).where(feed.url.in_(list(urls)), _due(now, force, revive))
        with self.db.connection() as c:
            return list(c.scalars(query.order_by(feed.next_poll_at, feed.id)))

    def claim(
        self,
        now: datetime,
        urls: Sequence[str],
        force: bool = False,
        *,
        revive: bool = False,
        limit: int | None = None,
        lease: timedelta = DEFAULT_FEED_LEASE,
        claimed_at: datetime | None = None,
    ) -> list[FeedState]:
        """Claim up to ``limit`` of ``urls`` that are due (with ``force``, all
        but those gone; with ``revive`` too, those gone as well)
        for a lease: this store's owner and an expiry ``lease`` after
        ``claimed_at`` (default ``now``). The lease is the attempt recorded
        before anything is fetched: a feed whose poll crashed the worker is
        not due again until the lease runs out.

        A feed another worker holds is skipped (on PostgreSQL the rows are
        taken with FOR UPDATE SKIP LOCKED, so workers claiming at the same
        moment never wait for or take each other's); a lease that ran out
        without being cleared belongs to a worker that died, and the feed is
        due again at once. Recording the poll clears the lease. On SQLite the
        claim runs under BEGIN IMMEDIATE, one writer at a time."""
        until = (claimed_at or now) + lease
        with self.db.connection() as c:
            found = c.execute(
                _claimable(force, revive),
                {"urls": list(urls), "at": now, "limit": len(urls) if limit is None else limit},
            )
            states = [_state_of(row) for row in found]
            if states:
                claim = {"at": now, "owner": self.owner, "until": until}
                c.execute(_claim(), {**claim, "urls": [s.url for s in states]})
            return states

    def renew(self, now: datetime, lease: timedelta) -> int:
        """Extend the leases this owner still holds to ``now + lease`` (a long
        cycle keeps the feeds it has claimed and not yet finished). Returns how many."""
        feed = core(FeedRow).c
        with self.db.connection() as c:
            renewed = c.execute(
                update(core(FeedRow))
                .where(feed.lease_owner == self.owner)
                .where(feed.lease_until > now)
                .values(lease_until=now + lease)
            )
            return cast(CursorResult[Any], renewed).rowcount

    def take_back(self) -> int:
        """Clear every lease: only for a worker that knows it is alone (SQLite's
        file lock), whose predecessor was killed holding some. Returns how many."""
        feed = core(FeedRow).c
        with self.db.connection() as c:
            taken = c.execute(
                update(core(FeedRow))
                .where(feed.lease_owner.is_not(None))
                .values(lease_owner=None, lease_until=None)
            )
            return cast(CursorResult[Any], taken).rowcount

    def record(self, changes: Sequence[FeedChange]) -> None:
        """Record polls that stored nothing (unchanged, or failed), all in one
        transaction: on a quiet cycle these are most feeds, and a commit each
        would cost more than the requests themselves."""
        if changes:
            with self.db.connection() as c:
                self.apply(c, changes)

    def apply(self, c: Connection, changes: Sequence[FeedChange]) -> None:
        """Write ``changes`` in the caller's transaction: the feeds that share
        their new values (most of a batch of 304s) in one statement each, and
        each lease released if this owner still holds it (else it ran out and
        another worker holds it now)."""
        feed = core(FeedRow).c
        mine = feed.lease_owner == _OWNER
        release = {
            "lease_owner": case((mine, None), else_=feed.lease_owner),
            "lease_until": case((mine, None), else_=feed.lease_until),
        }
        pairs = ((change.url, _hashable(feed_values(change))) for change in changes)
        for values, urls in grouped(pairs):
            c.execute(
                update(core(FeedRow)).where(feed.url.in_(_URLS)).values(**dict(values), **release),
                {"urls": urls, "owner": self.owner},
            )

    def statuses(self) -> list[FeedStatus]:
        with self.db.session() as s:
            counts = dict(
                s.exec(
                    select(ItemSourceRow.feed_id, func.count()).group_by(col(ItemSourceRow.feed_id))
                ).all()
            )
            rows = s.exec(select(FeedRow).order_by(col(FeedRow.url))).all()
            return [_feed_status(r, counts.get(r.id or 0, 0)) for r in rows]

    def fetch_urls(self) -> dict[str, str]:
        """Each feed's URL and the address it is fetched from (they differ after a move)."""
        with self.db.connection() as c:
            rows = c.execute(select(FeedRow.url, FeedRow.fetch_url)).all()
            return {url: fetch_url or url for url, fetch_url in rows}


def feed_values(change: FeedChange) -> dict[str, Any]:
    """The columns a FeedChange sets."""
    health = change.health
    values: dict[str, Any] = {
        "status": health.status,
        "next_poll_at": health.next_poll_at,
        "consecutive_errors": health.consecutive_errors,
        "last_error": health.last_error,
        "last_error_reason": health.last_error_reason,
        "error_since": health.error_since,
    }
    if change.succeeded_at is not None:
        values["last_success_at"] = change.succeeded_at
    if change.move is not None:
        move = change.move
        values |= {"fetch_url": move.fetch_url, "moved_to": move.moved_to}
        values["moved_count"] = move.moved_count
    if change.validators is not None:
        v = change.validators
        values |= {"etag": v.etag, "last_modified": v.last_modified, "body_hash": v.body_hash}
        if v.title:
            values["title"] = v.title
    return values


def _hashable(values: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(values.items()))


# The parameters of the statements below: a poll's time, this worker's
# lease owner id, and the feeds' URLs.
_AT = bindparam("at", type_=UTCDateTime())
_OWNER = bindparam("owner", type_=Text())
_URLS: BindParameter[list[str]] = bindparam("urls", expanding=True)


def _due(
    now: datetime | BindParameter[Any], force: bool, revive: bool = False
) -> ColumnElement[bool]:
    """Feeds a worker may claim: due and not leased (with ``force``, any not
    leased but those gone, which ``revive`` takes too), or leased by a worker
    whose lease ran out (it died)."""
    feed = core(FeedRow).c
    free = feed.lease_until.is_(None)
    abandoned = feed.lease_until <= now
    if force:
        return (free | abandoned) if revive else (feed.status != "gone") & (free | abandoned)
    return (feed.status == "active") & ((free & (feed.next_poll_at <= now)) | abandoned)


# What a poll needs to know of its feed, as columns (see ``_state_of``).
_STATE = (
    "url", "every_seconds", "etag", "last_modified", "body_hash", "consecutive_errors",
    "fetch_url", "error_since", "moved_to", "moved_count", "last_success_at",
)  # fmt: skip


@functools.cache
def _claimable(force: bool, revive: bool) -> Any:
    """The rows ``claim`` may take among ``urls``, most overdue first, up to
    ``limit`` (FOR UPDATE SKIP LOCKED where the database has it). Built once:
    on a quiet cycle of 304s, building statements would cost more than the
    requests."""
    feed = core(FeedRow).c
    return (
        select(*(feed[name] for name in _STATE))
        .where(feed.url.in_(_URLS), _due(_AT, force, revive))
        .order_by(feed.next_poll_at)
        .limit(bindparam("limit", type_=Integer()))
        .with_for_update(skip_locked=True)
    )


@functools.cache
def _claim() -> Any:
    """A lease on ``urls`` for ``owner`` until ``until``, polled at ``at``."""
    feed = core(FeedRow).c
    return (
        update(core(FeedRow))
        .where(feed.url.in_(_URLS))
        .values(
            last_polled_at=_AT,
            lease_owner=_OWNER,
            lease_until=bindparam("until", type_=UTCDateTime()),
        )
    )


def _state_of(row: Any) -> FeedState:
    """The FeedState of a row of _STATE's columns."""
    return FeedState(
        url=row.url,
        every_seconds=row.every_seconds,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        consecutive_errors=row.consecutive_errors,
        fetch_url=row.fetch_url or row.url,
        error_since=row.error_since,
        moved_to=row.moved_to,
        moved_count=row.moved_count,
        read_before=row.last_success_at is not None,
    )


def _feed_status(row: FeedRow, items: int) -> FeedStatus:
    return FeedStatus(
        url=row.url,
        title=row.title,
        last_polled_at=row.last_polled_at,
        next_poll_at=row.next_poll_at,
        last_success_at=row.last_success_at,
        consecutive_errors=row.consecutive_errors,
        status=row.status,
        error_since=row.error_since,
        last_error=row.last_error,
        last_error_reason=row.last_error_reason,
        items=items,
    )
