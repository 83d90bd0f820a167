"""Storage, SQLite and PostgreSQL alike, by domain.

``Store`` opens the database and holds one part per domain: ``feeds``
(claims, leases and each poll's decided values), ``items`` (a changed
feed's entries and matches, retention), ``articles`` (full text read
or failed), ``matches`` (read back for digests,
alerts and listings), ``digests`` (and spikes), ``outbox`` and the running
services' ``heartbeats``. Each method
is one short transaction; none is held open across network I/O or
rendering. The store records the values it is given and never calls back
up: what a poll does to a feed is decided in monitor.decide, what a digest
says in monitor.digest. Its schema is made and checked by monitor.migrations.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import func, text
from sqlmodel import Session, select

from monitor.store.articles import Articles
from monitor.store.db import Database, sqlite_path
from monitor.store.digests import Digests, MatchesTaken
from monitor.store.feeds import DEFAULT_FEED_LEASE, Feeds, lease_owner_id
from monitor.store.heartbeats import Heartbeats
from monitor.store.items import Items, Saved
from monitor.store.matches import Matches
from monitor.store.outbox import Outbox
from monitor.store.tables import DigestRow, FeedRow, ItemRow, MatchRow

__all__ = [
    "DEFAULT_FEED_LEASE",
    "MatchesTaken",
    "Saved",
    "Store",
    "sqlite_path",
]


class Store:
    """The database, by domain: ``feeds``, ``items``, ``matches``, ``digests``,
    ``outbox``. ``create_directory`` False: a SQLite file's folder must exist
    (read-only commands never create a database)."""

    def __init__(self, url: str, create_directory: bool = True) -> None:
        self.url = url
        self.db = Database(url, create_directory)
        self.engine = self.db.engine
        self.owner = lease_owner_id()  # this process's name on the feed leases it holds
        self.feeds = Feeds(self.db, self.owner)
        self.items = Items(self.db, self.feeds)
        self.articles = Articles(self.db)
        self.matches = Matches(self.db)
        self.digests = Digests(self.db)
        self.outbox = Outbox(self.db)
        self.heartbeats = Heartbeats(self.db, self.owner)

    def session(self) -> AbstractContextManager[Session]:
        """An ORM session in one transaction (tests and benchmarks)."""
        return self.db.session()

    def counts(self) -> dict[str, int]:
        with self.db.connection() as c:
            return {
                name: c.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in (
                    ("feeds", FeedRow),
                    ("items", ItemRow),
                    ("matches", MatchRow),
                    ("digests", DigestRow),
                )
            }

    def ping(self) -> None:
        with self.db.connection() as c:
            c.execute(text("SELECT 1"))

    def close(self) -> None:
        self.db.close()
