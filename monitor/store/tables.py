"""The tables (SQLModel). They never leave the store package: the rest of the
code sees the frozen values of monitor.types."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, false, text
from sqlmodel import Field, SQLModel, UniqueConstraint

from monitor.store.db import when as _when


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
    # The canonical form of url (monitor.identity.link_key, bounded as keys
    # are): how the entries of two feeds are found to be one item.
    link_key: str | None = Field(default=None, index=True)
    published_at: datetime | None = _when()
    first_seen_at: datetime = _when(index=True, nullable=False)
    # Where it came from when not from its source itself ("Forwarded from …").
    note: str | None = Field(default=None, sa_type=Text)
    # full_text: its article read ("done"), to read ("wanted"), or failed
    # ("failed": retried once, then left); None where no one asked for it.
    article_state: str | None = Field(default=None, index=True)
    article_tries: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    article_error: str | None = Field(default=None, sa_type=Text)
    # Stored as old news (monitor.freshness): what its article adds later is
    # no more alerted than the item was.
    old_news: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class ItemSourceRow(SQLModel, table=True):
    __tablename__ = "item_source"
    item_id: int = Field(foreign_key="item.id", primary_key=True)
    # Indexed on its own: a feed's items are looked up on every save (is
    # this link another feed's item?), which would otherwise scan the table.
    feed_id: int = Field(foreign_key="feed.id", primary_key=True, index=True)
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
    # Old news (monitor.freshness): in the digest, never alerted, no spike.
    backfill: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The feed's publication time where it is sane, else NULL (first_seen_at
    # stands in): what the trend counts by.
    dated_at: datetime | None = _when()
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


class RuleWatchRow(SQLModel, table=True):
    """Since when a rule of a watchlist has been watched: a spike needs the
    rule's usual count, so its baseline must have been observed."""

    __tablename__ = "rule_watch"
    watchlist: str = Field(primary_key=True)
    rule: str = Field(primary_key=True)
    since: datetime = _when(nullable=False)


class HeartbeatRow(SQLModel, table=True):
    """The last sign of life of each running service (``monitor run --check``
    reads its host's): written every few seconds, so a service that stopped,
    hangs or cannot write falls silent."""

    __tablename__ = "heartbeat"
    worker: str = Field(primary_key=True)  # its lease owner id: host:pid:random
    host: str = Field(index=True)
    beat_at: datetime = _when(nullable=False)
