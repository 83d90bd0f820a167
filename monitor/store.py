"""Storage: the SQLModel tables and every query. SQLite and PostgreSQL alike.

Table classes stay in this module; callers get the frozen values of
monitor.types. Each public method is one short transaction; none is held
open across network I/O (the pipeline fetches and matches between calls).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Index,
    Integer,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    case,
    delete,
    event,
    func,
    text,
    update,
)
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlmodel import Field, Session, SQLModel, UniqueConstraint, col, create_engine, select

from monitor.schedule import FailureDecision
from monitor.text import strip_unsafe
from monitor.types import Entry, FeedFailure, FeedStatus, Match, Snippet, StoredMatch

log = logging.getLogger(__name__)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (naive storage) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


class FeedRow(SQLModel, table=True):
    __tablename__ = "feed"
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True)  # as the watchlist names it
    # Where the feed lives after a permanent redirect that repeated; the
    # watchlist's URL stays the feed's identity.
    fetch_url: str | None = None
    moved_to: str | None = None  # a permanent redirect seen, not yet confirmed
    moved_count: int = 0
    title: str | None = None
    every_seconds: int = 900
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    next_poll_at: datetime | None = _when(index=True)
    last_polled_at: datetime | None = _when()
    last_success_at: datetime | None = _when()
    consecutive_errors: int = 0
    status: str = "active"  # active | paused (too many failures) | gone (410)
    last_error: str | None = None
    last_error_reason: str | None = None
    error_since: datetime | None = _when()
    lease_owner: str | None = None
    lease_until: datetime | None = _when()


class ItemRow(SQLModel, table=True):
    __tablename__ = "item"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    title: str = Field(sa_type=Text)
    text: str = Field(sa_type=Text)
    url: str | None = None
    published_at: datetime | None = _when()
    first_seen_at: datetime = _when(index=True, nullable=False)


class ItemSourceRow(SQLModel, table=True):
    __tablename__ = "item_source"
    item_id: int = Field(foreign_key="item.id", primary_key=True)
    feed_id: int = Field(foreign_key="feed.id", primary_key=True)
    first_seen_at: datetime = _when(nullable=False)


class PrunedKeyRow(SQLModel, table=True):
    """The identity of an item removed by retention: seen again in a feed, it
    is recognised as old news rather than stored, matched and alerted again."""

    __tablename__ = "pruned_key"
    key: str = Field(primary_key=True)
    pruned_at: datetime = _when(nullable=False)


class MatchRow(SQLModel, table=True):
    __tablename__ = "match"
    __table_args__ = (
        UniqueConstraint("item_id", "watchlist", "rule"),
        # Digest figures (counts per rule and day, spikes) read only this index.
        Index("ix_match_watchlist_seen_rule", "watchlist", "first_seen_at", "rule"),
        # What the next digest holds: a handful of rows among years of
        # reported ones, found without reading the others.
        Index(
            "ix_match_unreported",
            "watchlist",
            "first_seen_at",
            sqlite_where=text("digest_id IS NULL"),
            postgresql_where=text("digest_id IS NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    watchlist: str = Field(index=True)
    rule: str
    kind: str
    terms: str = Field(sa_type=Text)  # JSON list
    fields: str  # comma-separated
    snippet: str = Field(sa_type=Text)
    spans: str  # JSON list of [start, end]
    alert: bool = False
    alert_queued_at: datetime | None = _when()
    # The digest that reported this match: assigned when the digest is made,
    # so a match committed late is in the next digest rather than in none.
    digest_id: int | None = Field(default=None, foreign_key="digest.id", index=True)
    first_seen_at: datetime = _when(index=True, nullable=False)


class SpikeRow(SQLModel, table=True):
    """A burst of mentions of one rule, alerted once: while it lasts (it was
    seen again within one spike window) it is extended, not alerted again."""

    __tablename__ = "spike"
    __table_args__ = (UniqueConstraint("watchlist", "rule", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    watchlist: str
    rule: str
    started_at: datetime = _when(nullable=False)
    last_seen_at: datetime = _when(nullable=False)
    mentions: int  # in the window when it was first raised
    usual: float  # the rule's usual count in one window then


class DigestRow(SQLModel, table=True):
    __tablename__ = "digest"
    __table_args__ = (UniqueConstraint("watchlist", "scheduled_for"),)
    id: int | None = Field(default=None, primary_key=True)
    watchlist: str = Field(index=True)
    scheduled_for: datetime = _when(nullable=False)
    window_start: datetime = _when(nullable=False)
    window_end: datetime = _when(nullable=False)
    status: str = "queued"
    match_count: int = 0
    created_at: datetime = _when(nullable=False)


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)
    kind: str  # digest | alert
    watchlist: str
    channel: str  # file | email
    recipient: str  # an address, or a file path
    subject: str
    body_text: str = Field(sa_type=Text)
    body_html: str = Field(sa_type=Text)
    digest_id: int | None = Field(default=None, foreign_key="digest.id")
    status: str = Field(default="pending", index=True)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = _when(nullable=False)
    last_error: str | None = None
    created_at: datetime = _when(nullable=False)
    sent_at: datetime | None = _when()


class WatchlistRow(SQLModel, table=True):
    __tablename__ = "watchlist"
    id: str = Field(primary_key=True)
    first_loaded_at: datetime = _when(nullable=False)


@dataclass(frozen=True)
class FeedState:
    """What the pipeline needs to poll a feed."""

    url: str
    every_seconds: int
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    consecutive_errors: int
    fetch_url: str  # url, or where it moved to


@dataclass(frozen=True)
class Unchanged:
    """A poll that found the feed as it was (304, or the same body)."""

    url: str
    next_poll_at: datetime
    moved_to: str | None = None


@dataclass(frozen=True)
class StoredItem:
    id: int
    title: str
    text: str
    url: str | None
    first_seen_at: datetime


@dataclass(frozen=True)
class NewMatch:
    """A match to store, with the snippet already cut."""

    item_key: str
    match: Match
    snippet: Snippet


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    kind: str
    watchlist: str
    channel: str
    recipient: str
    subject: str
    body_text: str
    body_html: str
    idempotency_key: str
    attempts: int


@dataclass(frozen=True)
class DigestRecord:
    id: int
    watchlist: str
    scheduled_for: datetime
    window_start: datetime
    window_end: datetime
    status: str
    match_count: int


@dataclass(frozen=True)
class OutboxDraft:
    """A message to queue; the key makes queueing it twice harmless."""

    idempotency_key: str
    kind: str
    watchlist: str
    channel: str
    recipient: str
    subject: str
    body_text: str
    body_html: str


def engine_for(url: str) -> Engine:
    """An engine with the settings each backend needs for a long-running worker."""
    if url.startswith("sqlite"):
        _ensure_sqlite_directory(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _ensure_sqlite_directory(url: str) -> None:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # The driver's own transaction handling starts transactions late (at the
    # first write), so reads before it see other commits; we begin ourselves.
    connection.isolation_level = None
    cursor = connection.cursor()
    # WAL lets readers (monitor status) work while the worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock up front: a transaction that reads then writes
    # cannot fail half-way because another writer got in between.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _core(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel class."""
    return model.__table__  # type: ignore[attr-defined,no-any-return]


# The advisory lock that serialises schema creation on PostgreSQL ("monitor").
SCHEMA_LOCK = 0x6D6F6E69746F72

# PostgreSQL cannot index a value of more than ~2700 bytes (a b-tree entry is at
# most a third of a page), so an identity key longer than this (a hostile
# feed's guid) is stored as its start and a hash of the whole, on every backend.
MAX_KEY_CHARS = 512


def stored_key(key: str) -> str:
    """The item key as stored: ``key``, or a bounded stand-in when it is long."""
    if len(key) <= MAX_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: MAX_KEY_CHARS - 72]}#sha256:{digest}"


def _storable(values: dict[str, Any]) -> dict[str, Any]:
    """Text without NUL (PostgreSQL refuses it) and the other characters that
    strip_unsafe drops: rendered messages carry watchlist titles, and YAML can
    spell a NUL ("\\0"). Stored the same on every backend."""
    return {k: strip_unsafe(v) if isinstance(v, str) else v for k, v in values.items()}


def _insert_ignoring_duplicates(engine: Engine, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the engine's dialect, on the Core
    table (the ORM's bulk path costs more than the insert itself)."""
    table = _core(table)
    if engine.dialect.name == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return sa_insert(table)


def lease_owner_id() -> str:
    """Who holds a lease: host and process (an operator can find it), and a
    random part (a restarted process with a reused pid is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# How long a feed taken for polling is kept from other workers when the
# caller names no lease (MONITOR_FEED_LEASE_SECONDS in the service).
DEFAULT_FEED_LEASE = timedelta(minutes=2)


class _TakenMeanwhile(Exception):
    """Rolls back a transaction whose rows another worker changed first."""


class Store:
    """Every read and write of the database, one short transaction per method."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)
        self.owner = lease_owner_id()  # this process's name on the feed leases it holds

    def create_schema(self) -> tuple[str | None, str]:
        """Create or upgrade the schema to the code's (alembic migrations, see
        monitor.migrations); the revisions before and after. Workers starting
        together would race to migrate: on PostgreSQL they take the advisory
        lock SCHEMA_LOCK one at a time, and the later ones find it done."""
        from monitor.migrations.schema import upgrade_schema

        with self.engine.connect() as connection:
            found, now = upgrade_schema(connection, lock=SCHEMA_LOCK)
        if found != now:
            log.info("database schema upgraded from %s to %s", found or "nothing", now)
        return found, now

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    # --- feeds -------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[tuple[str, int]], now: datetime) -> None:
        """Make sure every watchlist feed has a row; new ones are due at once."""
        wanted = dict(feeds)
        feed = _core(FeedRow).c
        with self.session() as s:
            # Every cycle calls this: plain rows, not ORM instances.
            found = s.execute(select(feed.url, feed.every_seconds))
            rows: dict[str, int] = {url: every for url, every in found}
            if changed := [
                {"changed_url": url, "changed_every": every}
                for url, every in wanted.items()
                if url in rows and rows[url] != every
            ]:
                s.execute(
                    update(_core(FeedRow))
                    .where(feed.url == bindparam("changed_url"))
                    .values(every_seconds=bindparam("changed_every")),
                    changed,
                )
            # Workers starting together add the same new feeds: the first wins.
            if new := [(url, every) for url, every in wanted.items() if url not in rows]:
                s.execute(
                    _insert_ignoring_duplicates(self.engine, FeedRow),
                    [{**_new_feed(), "url": url, "every_seconds": every, "next_poll_at": now}
                     for url, every in new],
                )  # fmt: skip

    def start_polls(
        self,
        now: datetime,
        urls: Sequence[str],
        next_poll: Callable[[FeedState], datetime],
        force: bool = False,
        *,
        limit: int | None = None,
        lease: timedelta = DEFAULT_FEED_LEASE,
        claimed_at: datetime | None = None,
    ) -> list[FeedState]:
        """Claim up to ``limit`` of ``urls`` that are due (all with ``force``)
        for a lease: this store's owner and an expiry ``lease`` after
        ``claimed_at`` (default ``now``). In the same short transaction their
        next check moves forward before anything is fetched, so a feed that
        crashes the worker is not retried every tick.

        A feed another worker holds is skipped (on PostgreSQL the rows are
        taken with FOR UPDATE SKIP LOCKED, so workers claiming at the same
        moment never wait for or take each other's); a lease that ran out
        without being cleared belongs to a worker that died, and the feed is
        due again at once. Finishing the poll (``save_poll``,
        ``record_not_modified``, ``record_failure``) clears the lease. On
        SQLite the claim runs under BEGIN IMMEDIATE, one writer at a time."""
        # Core statements built once, not ORM objects: on a quiet cycle of
        # 304s, building and flushing those cost more than the requests.
        claim = {"at": now, "owner": self.owner, "until": (claimed_at or now) + lease}
        with self.engine.begin() as s:  # a Connection: no Session to set up
            found = s.execute(
                _claimable(force),
                {"urls": list(urls), "at": now, "limit": len(urls) if limit is None else limit},
            )
            states = [_state_of(row) for row in found]
            for next_poll_at, urls_due in _by_value((st.url, next_poll(st)) for st in states):
                s.execute(_claim(), {**claim, "urls": urls_due, "next": next_poll_at})
            return states

    def due_urls(self, now: datetime, urls: Sequence[str], force: bool = False) -> list[str]:
        """Those of ``urls`` that ``start_polls`` would claim now, most overdue
        first; nothing is claimed (a cycle reads this once, then claims a
        few at a time)."""
        feed = _core(FeedRow).c
        query = select(feed.url).where(feed.url.in_(list(urls)), _due(now, force))
        with self.session() as s:
            return list(s.scalars(query.order_by(feed.next_poll_at, feed.id)))

    def renew_leases(self, now: datetime, lease: timedelta) -> int:
        """Extend the leases this store's owner still holds to ``now + lease``
        (a long cycle keeps the feeds it has claimed and not yet finished,
        however long they wait for a connection). Returns how many."""
        feed = _core(FeedRow).c
        with self.session() as s:
            renewed = s.execute(
                update(_core(FeedRow))
                .where(feed.lease_owner == self.owner)
                .where(feed.lease_until > now)
                .values(lease_until=now + lease)
            )
            return cast(CursorResult[Any], renewed).rowcount

    def _release(self, row: FeedRow) -> None:
        """Clear the lease of a finished poll, unless it ran out and another
        worker holds it now."""
        if row.lease_owner == self.owner:
            row.lease_owner, row.lease_until = None, None

    def fetch_urls(self) -> dict[str, str]:
        """Each feed's URL and the address it is fetched from (they differ after a move)."""
        with self.session() as s:
            rows = s.exec(select(FeedRow.url, FeedRow.fetch_url)).all()
            return {url: fetch_url or url for url, fetch_url in rows}

    def record_not_modified(self, now: datetime, polls: Sequence[Unchanged]) -> None:
        """Record polls that found nothing new, all in one transaction: on a
        quiet cycle these are most feeds, and one commit each would cost more
        than the requests themselves."""
        if not polls:
            return
        feed = _core(FeedRow).c
        known = {"at": now, "owner": self.owner}
        with self.engine.begin() as s:  # a Connection: no Session to set up
            # The feeds that were not redirected (nearly all) share a few next
            # polls: one statement for each (Core, built once: on a quiet
            # cycle ORM instances would cost more than the 304s).
            plain = ((p.url, p.next_poll_at) for p in polls if p.moved_to is None)
            for next_poll_at, urls in _by_value(plain):
                s.execute(_unchanged(), {**known, "urls": urls, "next": next_poll_at})
            for poll in (p for p in polls if p.moved_to is not None):
                row = s.execute(
                    select(feed.url, feed.fetch_url, feed.moved_to, feed.moved_count).where(
                        feed.url == poll.url
                    )
                ).one()
                s.execute(
                    update(_core(FeedRow))
                    .where(feed.url == poll.url)
                    .values({**_finished(), **track_move(row, poll.moved_to)}),
                    {**known, "next": poll.next_poll_at},
                )

    def record_failure(
        self,
        url: str,
        failure: FeedFailure,
        now: datetime,
        decide: Callable[[int], FailureDecision],
    ) -> FailureDecision:
        """Record a failed poll of the feed ``url``; ``decide`` maps the new
        count of consecutive failures to what happens next. Nothing stored
        before is touched."""
        with self.session() as s:
            row = _feed(s, url)
            row.consecutive_errors += 1
            row.last_error, row.last_error_reason = failure.message, failure.reason
            row.error_since = row.error_since or now
            decision = decide(row.consecutive_errors)
            row.next_poll_at, row.status = decision.next_poll_at, decision.status
            self._release(row)
            return decision

    def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` stored now or before retention removed them."""
        given = {stored_key(k): k for k in keys}
        with self.session() as s:
            found = s.exec(select(ItemRow.key).where(col(ItemRow.key).in_(list(given))))
            return {given[k] for k in set(found) | self._pruned(s, list(given))}

    @staticmethod
    def _pruned(s: Session, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        query = select(PrunedKeyRow.key).where(col(PrunedKeyRow.key).in_(list(keys)))
        return set(s.exec(query))

    def prune(self, now: datetime, keep: timedelta, batch: int = 2000) -> int:
        """Remove items first seen before ``now - keep`` whose matches every
        digest and alert has reported, keeping their keys. Returns how many."""
        cutoff, removed = now - keep, 0
        pending = select(MatchRow.item_id).where(
            (col(MatchRow.digest_id).is_(None))
            | (col(MatchRow.alert) & col(MatchRow.alert_queued_at).is_(None))
        )
        while True:
            with self.session() as s:
                rows = s.exec(
                    select(ItemRow.id, ItemRow.key)
                    .where(col(ItemRow.first_seen_at) < cutoff)
                    .where(col(ItemRow.id).not_in(pending))
                    .limit(batch)
                ).all()
                if not rows:
                    return removed
                ids = [item_id for item_id, _ in rows]
                s.execute(
                    _insert_ignoring_duplicates(self.engine, PrunedKeyRow),
                    [{"key": key, "pruned_at": now} for _, key in rows],
                )
                for table, column in (
                    (MatchRow, MatchRow.item_id),
                    (ItemSourceRow, ItemSourceRow.item_id),
                    (ItemRow, ItemRow.id),
                ):
                    s.execute(delete(_core(table)).where(col(column).in_(ids)))
                removed += len(rows)

    def save_poll(
        self,
        url: str,
        validators: dict[str, str | None],
        entries: Sequence[Entry],
        matches: Sequence[NewMatch],
        now: datetime,
        next_poll_at: datetime,
        moved_to: str | None = None,
        by_watchlist: dict[str, int] | None = None,
    ) -> tuple[int, int]:
        """Store one successful poll in one transaction: new items, the links
        from the feed to all its items, the matches of the items this call
        created and the feed's new state (its lease cleared). Returns (new
        items, new matches); ``by_watchlist``, if given, gets the new matches
        counted per watchlist."""
        if any(len(e.key) > MAX_KEY_CHARS for e in entries):
            entries = [replace(e, key=stored_key(e.key)) for e in entries]
            matches = [replace(m, item_key=stored_key(m.item_key)) for m in matches]
        with self.session() as s:
            feed = _feed(s, url)
            feed_id, move = feed.id, track_move(feed, moved_to)
            if feed.lease_owner == self.owner:
                move = {**move, "lease_owner": None, "lease_until": None}
            keys = [e.key for e in entries]
            known, old_news = self._item_ids(s, keys), self._pruned(s, keys)
            entries = [e for e in entries if e.key not in old_news]
            created: dict[str, int] = {}
            if fresh := [e for e in entries if e.key not in known]:
                # RETURNING yields only the rows this statement inserted: an
                # item another feed or worker stored first is linked, not re-matched.
                inserted = s.execute(
                    _insert_ignoring_duplicates(self.engine, ItemRow).returning(
                        _core(ItemRow).c.key, _core(ItemRow).c.id
                    ),
                    [_item_values(e, now) for e in fresh],
                )
                created = {key: item_id for key, item_id in inserted}
            ids = {**known, **created}
            if missing := [e.key for e in entries if e.key not in ids]:
                ids.update(self._item_ids(s, missing))  # stored concurrently by another worker
            self._link_sources(s, feed_id, ids.values(), now)
            stored = self._insert_matches(s, created, matches, now, by_watchlist)
            state = {k: v for k, v in validators.items() if k != "title" or v}
            s.execute(
                update(_core(FeedRow))
                .where(_core(FeedRow).c.id == feed_id)
                .values(**state, **move, **_healthy(now, next_poll_at))
            )
            return len(created), stored

    @staticmethod
    def _item_ids(s: Session, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        rows = s.exec(select(ItemRow.key, ItemRow.id).where(col(ItemRow.key).in_(list(keys))))
        return {key: item_id for key, item_id in rows if item_id is not None}

    def _link_sources(
        self, s: Session, feed_id: int | None, item_ids: Iterable[int], now: datetime
    ) -> None:
        values = [{"item_id": i, "feed_id": feed_id, "first_seen_at": now} for i in item_ids]
        if values:
            s.execute(_insert_ignoring_duplicates(self.engine, ItemSourceRow), values)

    def _insert_matches(
        self,
        s: Session,
        created: dict[str, int],
        matches: Sequence[NewMatch],
        now: datetime,
        by_watchlist: dict[str, int] | None = None,
    ) -> int:
        # Only items this transaction created get matches: an item that
        # another feed (or worker) stored first was matched there.
        values = [
            _match_values(created[m.item_key], m, now) for m in matches if m.item_key in created
        ]
        if values:
            s.execute(_insert_ignoring_duplicates(self.engine, MatchRow), values)
        if by_watchlist is not None:
            for value in values:
                by_watchlist[value["watchlist"]] = by_watchlist.get(value["watchlist"], 0) + 1
        return len(values)

    def feed_statuses(self) -> list[FeedStatus]:
        with self.session() as s:
            counts = dict(
                s.exec(
                    select(ItemSourceRow.feed_id, func.count()).group_by(col(ItemSourceRow.feed_id))
                ).all()
            )
            rows = s.exec(select(FeedRow).order_by(col(FeedRow.url))).all()
            return [_feed_status(r, counts.get(r.id or 0, 0)) for r in rows]

    # --- matches and digests ----------------------------------------------

    def matches_between(self, watchlist: str, start: datetime, end: datetime) -> list[StoredMatch]:
        """Matches first seen in (start, end], oldest first."""
        with self.session() as s:
            return self._matches(
                s,
                (col(MatchRow.watchlist) == watchlist)
                & (col(MatchRow.first_seen_at) > start)
                & (col(MatchRow.first_seen_at) <= end),
            )

    def _matches(self, s: Session, condition: Any) -> list[StoredMatch]:
        query = (
            select(MatchRow, ItemRow)
            .join(ItemRow, col(ItemRow.id) == col(MatchRow.item_id))
            .where(condition)
            .order_by(col(MatchRow.first_seen_at), col(MatchRow.id))
        )
        rows = s.exec(query).all()
        sources = self._sources(s, [item.id for _, item in rows if item.id is not None])
        return [_stored_match(m, i, sources.get(i.id or 0, ())) for m, i in rows]

    @staticmethod
    def _sources(s: Session, item_ids: list[int]) -> dict[int, tuple[str, ...]]:
        out: dict[int, list[str]] = {}
        for chunk_start in range(0, len(item_ids), 500):
            chunk = item_ids[chunk_start : chunk_start + 500]
            rows = s.exec(
                select(ItemSourceRow.item_id, FeedRow.title, FeedRow.url)
                .join(FeedRow, col(FeedRow.id) == col(ItemSourceRow.feed_id))
                .where(col(ItemSourceRow.item_id).in_(chunk))
                .order_by(col(ItemSourceRow.first_seen_at))
            )
            for item_id, title, url in rows:
                out.setdefault(item_id, []).append(title or url)
        return {k: tuple(v) for k, v in out.items()}

    def watchlist_anchor(self, watchlist: str, now: datetime) -> datetime:
        """When digests of a watchlist start counting: its previous digest's
        slot, or when it was first loaded."""
        last = self.last_digest(watchlist)
        if last is not None:
            return last.scheduled_for
        with self.session() as s:
            row = s.get(WatchlistRow, watchlist)
            if row is not None:
                return row.first_loaded_at
            # Workers loading a new watchlist together: the first one's time counts.
            s.execute(
                _insert_ignoring_duplicates(self.engine, WatchlistRow),
                [{"id": watchlist, "first_loaded_at": now}],
            )
            return s.get_one(WatchlistRow, watchlist, populate_existing=True).first_loaded_at

    def last_digest(self, watchlist: str) -> DigestRecord | None:
        with self.session() as s:
            row = s.exec(
                select(DigestRow)
                .where(DigestRow.watchlist == watchlist)
                .order_by(col(DigestRow.scheduled_for).desc())
                .limit(1)
            ).first()
            return _digest_record(row) if row else None

    def create_digest(
        self,
        record: DigestRecord,
        compose: Callable[[DigestRecord, list[StoredMatch]], Sequence[OutboxDraft]],
        now: datetime,
        before_commit: Callable[[], None] = lambda: None,
    ) -> DigestRecord | None:
        """Record a digest, give it every match of its watchlist that no digest
        has reported yet, and queue the messages ``compose`` makes of them, all
        in one transaction. None if this (watchlist, slot) already has a digest.
        ``before_commit`` runs last inside the transaction (fault injection)."""
        with self.session() as s:
            inserted = s.execute(
                _insert_ignoring_duplicates(self.engine, DigestRow).returning(
                    _core(DigestRow).c.id
                ),
                [_digest_values(record, now)],
            ).first()
            if inserted is None:
                return None
            digest_id = int(inserted[0])
            s.execute(
                update(MatchRow)
                .where(col(MatchRow.watchlist) == record.watchlist)
                .where(col(MatchRow.digest_id).is_(None))
                .where(col(MatchRow.first_seen_at) <= record.window_end)
                .values(digest_id=digest_id)
            )
            matches = self._matches(s, col(MatchRow.digest_id) == digest_id)
            stored = replace(record, id=digest_id, match_count=len(matches))
            s.execute(
                update(DigestRow)
                .where(col(DigestRow.id) == digest_id)
                .values(match_count=len(matches))
            )
            self._queue(s, compose(stored, matches), now, digest_id)
            before_commit()
            return stored

    def unreported_matches(self, watchlist: str) -> list[StoredMatch]:
        """Matches no digest has reported yet (what the next digest will hold)."""
        with self.session() as s:
            return self._matches(
                s, (col(MatchRow.watchlist) == watchlist) & col(MatchRow.digest_id).is_(None)
            )

    def queue(
        self, messages: Sequence[OutboxDraft], now: datetime, not_before: datetime | None = None
    ) -> None:
        """Queue messages that belong to no digest (their keys make it idempotent),
        to be sent from ``not_before`` on (quiet hours), else at once."""
        with self.session() as s:
            self._queue(s, messages, now, None, not_before or now)

    def _queue(
        self,
        s: Session,
        messages: Sequence[OutboxDraft],
        now: datetime,
        digest_id: int | None,
        not_before: datetime | None = None,
    ) -> None:
        if not messages:
            return
        values = [
            {**_storable(m.__dict__), "digest_id": digest_id, "status": "pending", "attempts": 0,
             "next_attempt_at": not_before or now, "created_at": now}
            for m in messages
        ]  # fmt: skip
        s.execute(_insert_ignoring_duplicates(self.engine, OutboxRow), values)

    def items_since(self, start: datetime, batch: int = 1000) -> Iterator[StoredItem]:
        """Items first seen after ``start``, oldest first, read in batches."""
        last_id = 0
        while True:
            with self.session() as s:
                rows = s.exec(
                    select(ItemRow)
                    .where(col(ItemRow.first_seen_at) > start)
                    .where(col(ItemRow.id) > last_id)
                    .order_by(col(ItemRow.id))
                    .limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield StoredItem(row.id or 0, row.title, row.text, row.url, row.first_seen_at)
            last_id = rows[-1].id or last_id

    def matched_rules(self, watchlist: str, start: datetime) -> set[tuple[int, str]]:
        """(item id, rule) of the stored matches of items first seen after ``start``."""
        with self.session() as s:
            rows = s.exec(
                select(MatchRow.item_id, MatchRow.rule)
                .join(ItemRow, col(ItemRow.id) == col(MatchRow.item_id))
                .where(MatchRow.watchlist == watchlist)
                .where(col(ItemRow.first_seen_at) > start)
            )
            return set(rows.all())

    # --- digest figures and spikes -------------------------------------------

    def rule_counts(self, watchlist: str, start: datetime, end: datetime) -> dict[str, int]:
        """Matches per rule first seen in (start, end]."""
        with self.session() as s:
            rows = s.exec(
                select(MatchRow.rule, func.count())
                .where(MatchRow.watchlist == watchlist)
                .where(col(MatchRow.first_seen_at) > start)
                .where(col(MatchRow.first_seen_at) <= end)
                .group_by(col(MatchRow.rule))
            )
            return dict(rows.all())

    def match_buckets(
        self, watchlist: str, start: datetime, end: datetime, seconds: int = 900
    ) -> list[tuple[str, datetime, int]]:
        """Matches per rule first seen in (start, end], counted in buckets of
        ``seconds`` of UTC time, as (rule, bucket start, count). Every zone's
        UTC offset is a multiple of 15 minutes, so the default buckets add up
        exactly into local days."""
        column = _core(MatchRow).c.first_seen_at
        if self.engine.dialect.name == "sqlite":
            epoch: Any = func.cast(func.strftime("%s", column), Integer)
        else:
            epoch = func.cast(func.floor(func.extract("epoch", column)), BigInteger)
        bucket = (epoch // seconds).label("bucket")
        with self.session() as s:
            rows = s.execute(
                select(_core(MatchRow).c.rule, bucket, func.count())
                .where(_core(MatchRow).c.watchlist == watchlist)
                .where(column > start)
                .where(column <= end)
                .group_by(_core(MatchRow).c.rule, bucket)
            ).all()
        return [(rule, datetime.fromtimestamp(int(b) * seconds, UTC), n) for rule, b, n in rows]

    def match_texts(
        self, watchlist: str, since: datetime | None = None, chars: int = 2000
    ) -> dict[int, tuple[int, str]]:
        """For each match no digest has reported yet (or, given ``since``, each
        first seen after it): its item's id and the start of the item's text,
        what a digest groups stories on."""
        condition = (
            col(MatchRow.digest_id).is_(None)
            if since is None
            else col(MatchRow.first_seen_at) > since
        )
        with self.session() as s:
            rows = s.exec(
                select(MatchRow.id, ItemRow.id, func.substr(ItemRow.text, 1, chars))
                .join(ItemRow, col(ItemRow.id) == col(MatchRow.item_id))
                .where(MatchRow.watchlist == watchlist)
                .where(condition)
            )
            return {m: (i, text or "") for m, i, text in rows.all() if m and i}

    def ongoing_spikes(self, watchlist: str, since: datetime) -> set[str]:
        """Rules of the watchlist with a spike seen after ``since``."""
        with self.session() as s:
            rows = s.exec(
                select(SpikeRow.rule)
                .where(SpikeRow.watchlist == watchlist)
                .where(col(SpikeRow.last_seen_at) > since)
            )
            return set(rows.all())

    def record_spikes(
        self,
        watchlist: str,
        new: Sequence[tuple[str, int, float]],
        ongoing: Sequence[str],
        messages: Sequence[OutboxDraft],
        now: datetime,
        since: datetime,
        not_before: datetime | None = None,
    ) -> None:
        """In one transaction: extend the spikes of ``ongoing`` rules (seen
        after ``since``), record the ``new`` (rule, mentions, usual) ones and
        queue their alert messages."""
        with self.session() as s:
            if ongoing:
                s.execute(
                    update(_core(SpikeRow))
                    .where(_core(SpikeRow).c.watchlist == watchlist)
                    .where(_core(SpikeRow).c.rule.in_(list(ongoing)))
                    .where(_core(SpikeRow).c.last_seen_at > since)
                    .values(last_seen_at=now)
                )
            if new:
                values = [
                    {"watchlist": watchlist, "rule": rule, "started_at": now,
                     "last_seen_at": now, "mentions": mentions, "usual": usual}
                    for rule, mentions, usual in new
                ]  # fmt: skip
                s.execute(_insert_ignoring_duplicates(self.engine, SpikeRow), values)
            self._queue(s, messages, now, None, not_before or now)

    # --- alerts ------------------------------------------------------------

    def unqueued_alerts(self) -> list[StoredMatch]:
        with self.session() as s:
            return self._matches(
                s, col(MatchRow.alert).is_(True) & col(MatchRow.alert_queued_at).is_(None)
            )

    def queue_alerts(
        self,
        match_ids: Sequence[int],
        messages: Sequence[OutboxDraft],
        now: datetime,
        before_commit: Callable[[], None] = lambda: None,
    ) -> bool:
        """Queue alert messages and mark their matches, in one transaction.
        False (nothing done) when another worker has queued any of them since
        they were read: the rest come round at the next cycle."""
        try:
            with self.session() as s:
                marked = s.execute(
                    update(MatchRow)
                    .where(col(MatchRow.id).in_(list(match_ids)))
                    .where(col(MatchRow.alert_queued_at).is_(None))
                    .values(alert_queued_at=now)
                )
                if cast(CursorResult[Any], marked).rowcount != len(set(match_ids)):
                    raise _TakenMeanwhile
                self._queue(s, messages, now, None)
                before_commit()
        except _TakenMeanwhile:
            return False
        return True

    # --- outbox ------------------------------------------------------------

    def claim_message(self, now: datetime, lease: timedelta) -> OutboxMessage | None:
        """Take the oldest due message for ``lease``: its next attempt moves past
        the lease in this short transaction, so no other thread or worker sends
        it meanwhile, and if this process dies it is due again once the lease ends."""
        with self.session() as s:
            row = s.exec(
                select(OutboxRow)
                .where(OutboxRow.status == "pending")
                .where(col(OutboxRow.next_attempt_at) <= now)
                .order_by(col(OutboxRow.next_attempt_at), col(OutboxRow.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            row.next_attempt_at = now + lease
            return _outbox_message(row)

    def mark_sent(self, message_id: int, now: datetime) -> None:
        with self.session() as s:
            row = s.get_one(OutboxRow, message_id)
            if row.status != "pending":
                return  # settled already (a lease ran out and another worker sent it)
            row.status, row.sent_at, row.attempts = "sent", now, row.attempts + 1
            row.last_error = None
            self._settle_digest(s, row)

    def mark_failed(
        self, message_id: int, error: str, now: datetime, retry_at: datetime | None
    ) -> int:
        """A failed attempt: retried at ``retry_at``, or failed for good when None.
        Returns the number of attempts made so far."""
        with self.session() as s:
            row = s.get_one(OutboxRow, message_id)
            if row.status != "pending":
                return row.attempts
            row.attempts += 1
            row.last_error = error
            if retry_at is None:
                row.status = "failed"
                self._settle_digest(s, row)
            else:
                row.next_attempt_at = retry_at
            return row.attempts

    @staticmethod
    def _settle_digest(s: Session, row: OutboxRow) -> None:
        if row.digest_id is None:
            return
        statuses = set(s.exec(select(OutboxRow.status).where(OutboxRow.digest_id == row.digest_id)))
        if "pending" not in statuses:
            digest = s.get_one(DigestRow, row.digest_id)
            digest.status = "failed" if statuses == {"failed"} else "delivered"

    def requeue_failed(self, now: datetime, recipient: str | None = None) -> int:
        """Put messages given up on back in the queue (the cause, such as a
        wrong SMTP password, was fixed), with their attempts counted afresh;
        they keep their Message-ID. Returns how many."""
        with self.session() as s:
            query = select(OutboxRow).where(OutboxRow.status == "failed")
            if recipient is not None:
                query = query.where(OutboxRow.recipient == recipient)
            rows = s.exec(query).all()
            for row in rows:
                row.status, row.attempts, row.next_attempt_at = "pending", 0, now
                if row.digest_id is not None:
                    s.get_one(DigestRow, row.digest_id).status = "queued"
            return len(rows)

    def failed_messages(self, limit: int = 20) -> list[tuple[OutboxMessage, str]]:
        """The latest messages given up on, with the reason, newest first."""
        with self.session() as s:
            rows = s.exec(
                select(OutboxRow)
                .where(OutboxRow.status == "failed")
                .order_by(col(OutboxRow.id).desc())
                .limit(limit)
            ).all()
            return [(_outbox_message(r), r.last_error or "") for r in rows]

    def outbox_counts(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.exec(select(OutboxRow.status, func.count()).group_by(col(OutboxRow.status)))
            return dict(rows.all())

    # --- listings ------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self.session() as s:
            return {
                name: s.exec(select(func.count()).select_from(table)).one()
                for name, table in (
                    ("feeds", FeedRow),
                    ("items", ItemRow),
                    ("matches", MatchRow),
                    ("digests", DigestRow),
                )
            }

    def ping(self) -> None:
        with self.session() as s:
            s.execute(text("SELECT 1"))


def _feed(s: Session, url: str) -> FeedRow:
    row = s.exec(select(FeedRow).where(FeedRow.url == url)).first()
    if row is None:
        row = FeedRow(url=url)
        s.add(row)
        s.flush()
    return row


# URLs in one IN list at most (SQLite before 3.32 allows 999 parameters).
IN_LIST = 500


def _by_value(pairs: Iterable[tuple[str, datetime]]) -> Iterator[tuple[datetime, list[str]]]:
    """The URLs of ``(url, value)`` pairs grouped by value, in lists of at
    most IN_LIST: the feeds of one claim or of one batch of unchanged polls
    share a few next-poll times, so one UPDATE per value costs much less
    than an executemany of a row each (bound and converted one by one)."""
    grouped: dict[datetime, list[str]] = {}
    for url, value in pairs:
        grouped.setdefault(value, []).append(url)
    for value, urls in grouped.items():
        for start in range(0, len(urls), IN_LIST):
            yield value, urls[start : start + IN_LIST]


def _new_feed() -> dict[str, Any]:
    """The column defaults of a feed row, for a Core insert."""
    return FeedRow(url="").model_dump(exclude={"id", "url"})


# The parameters of the statements below: a poll's time, this worker's
# lease owner id, and a next poll.
_AT = bindparam("at", type_=UTCDateTime())
_OWNER = bindparam("owner", type_=Text())
_NEXT = bindparam("next", type_=UTCDateTime())
_URLS: BindParameter[list[str]] = bindparam("urls", expanding=True)


@functools.cache
def _claimable(force: bool) -> Any:
    """The rows start_polls may claim among ``urls``, most overdue first, up
    to ``limit`` (FOR UPDATE SKIP LOCKED where the database has it)."""
    feed = _core(FeedRow).c
    return (
        select(*_STATE_COLUMNS)
        .where(feed.url.in_(_URLS), _due(_AT, force))
        .order_by(feed.next_poll_at)
        .limit(bindparam("limit", type_=Integer()))
        .with_for_update(skip_locked=True)
    )


@functools.cache
def _claim() -> Any:
    """A lease on ``urls`` for ``owner`` until ``until``, their next poll at ``next``."""
    feed = _core(FeedRow).c
    return (
        update(_core(FeedRow))
        .where(feed.url.in_(_URLS))
        .values(
            last_polled_at=_AT,
            next_poll_at=_NEXT,
            lease_owner=_OWNER,
            lease_until=bindparam("until", type_=UTCDateTime()),
        )
    )


def _finished() -> dict[str, Any]:
    """A feed's fields after a poll at ``at`` that found it as it was, next
    polled at ``next``: healthy, and released if ``owner`` still holds it
    (else the lease ran out and another worker holds it now)."""
    feed = _core(FeedRow).c
    mine = feed.lease_owner == _OWNER
    return {
        **_healthy(_AT, _NEXT),
        "lease_owner": case((mine, None), else_=feed.lease_owner),
        "lease_until": case((mine, None), else_=feed.lease_until),
    }


@functools.cache
def _unchanged() -> Any:
    """record_not_modified's statement for the ``urls`` that were not redirected."""
    feed = _core(FeedRow).c
    return update(_core(FeedRow)).where(feed.url.in_(_URLS)).values(**_finished(), **NO_MOVE)


def _healthy(
    now: datetime | BindParameter[Any], next_poll_at: datetime | BindParameter[Any]
) -> dict[str, Any]:
    """A feed's fields after a successful poll (times as values, or as
    parameters of a statement built once)."""
    return {
        "status": "active",
        "consecutive_errors": 0,
        "last_error": None,
        "last_error_reason": None,
        "error_since": None,
        "last_success_at": now,
        "next_poll_at": next_poll_at,
    }


def _due(now: datetime | BindParameter[Any], force: bool) -> ColumnElement[bool]:
    """Feeds a worker may claim: due and not leased (any not leased, with
    ``force``), or leased by a worker whose lease ran out (it died)."""
    feed = _core(FeedRow).c
    free = feed.lease_until.is_(None)
    abandoned = feed.lease_until <= now
    if force:
        return free | abandoned
    return (feed.status == "active") & ((free & (feed.next_poll_at <= now)) | abandoned)


# What a poll needs to know of its feed, as columns (see ``_state_of``).
_STATE_COLUMNS = tuple(
    _core(FeedRow).c[name]
    for name in (
        "url", "every_seconds", "etag", "last_modified", "body_hash",
        "consecutive_errors", "fetch_url",
    )
)  # fmt: skip


def _state_of(row: Any) -> FeedState:
    """The FeedState of a row of _STATE_COLUMNS."""
    return FeedState(
        row.url,
        row.every_seconds,
        row.etag,
        row.last_modified,
        row.body_hash,
        row.consecutive_errors,
        row.fetch_url or row.url,
    )


# A permanent redirect is adopted only when it is seen this many polls in a
# row: a misconfigured server answering 301 once must not move a feed for good.
MOVE_CONFIRMATIONS = 2


# The move fields of a feed whose last poll was not redirected.
NO_MOVE: dict[str, Any] = {"moved_to": None, "moved_count": 0}


class _MoveState(Protocol):
    """What track_move reads of a feed: a FeedRow, or a row of those columns."""

    url: str
    fetch_url: str | None
    moved_to: str | None
    moved_count: int


def track_move(row: _MoveState, observed: str | None) -> dict[str, Any]:
    """The feed's new move fields after a successful poll that was (or was
    not: ``None``) permanently redirected to ``observed``."""
    if observed is None or observed == row.fetch_url:
        return dict(NO_MOVE)
    count = row.moved_count + 1 if observed == row.moved_to else 1
    if count >= MOVE_CONFIRMATIONS:
        log.info("feed %s moved permanently to %s; now polling the new address", row.url, observed)
        return {"fetch_url": observed, "moved_to": None, "moved_count": 0}
    return {"moved_to": observed, "moved_count": count}


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


def _item_values(entry: Entry, now: datetime) -> dict[str, Any]:
    return {
        "key": entry.key,
        "title": entry.title,
        "text": entry.text,
        "url": entry.url,
        "published_at": entry.published_at,
        "first_seen_at": now,
    }


def _match_values(item_id: int, new: NewMatch, now: datetime) -> dict[str, Any]:
    match = new.match
    return {
        "item_id": item_id,
        "watchlist": match.watchlist,
        "rule": match.rule,
        "kind": match.kind,
        "terms": json.dumps(list(match.terms), ensure_ascii=False),
        "fields": ",".join(match.fields),
        "snippet": new.snippet.text,
        "spans": json.dumps([list(span) for span in new.snippet.spans]),
        "alert": match.alert,
        "first_seen_at": now,
    }


def _stored_match(row: MatchRow, item: ItemRow, sources: tuple[str, ...]) -> StoredMatch:
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
        sources=sources,
    )


def _digest_record(row: DigestRow) -> DigestRecord:
    return DigestRecord(
        row.id or 0,
        row.watchlist,
        row.scheduled_for,
        row.window_start,
        row.window_end,
        row.status,
        row.match_count,
    )


def _digest_values(record: DigestRecord, now: datetime) -> dict[str, Any]:
    return {
        "watchlist": record.watchlist,
        "scheduled_for": record.scheduled_for,
        "window_start": record.window_start,
        "window_end": record.window_end,
        "status": "queued",
        "match_count": 0,
        "created_at": now,
    }


def _outbox_message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        row.id or 0,
        row.kind,
        row.watchlist,
        row.channel,
        row.recipient,
        row.subject,
        row.body_text,
        row.body_html,
        row.idempotency_key,
        row.attempts,
    )
