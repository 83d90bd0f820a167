"""Frozen values passed between the stages of the pipeline.

Named by where they sit in the flow: a feed is claimed (``FeedState``),
fetched (``Fetched``), parsed into ``Entry`` values, matched into ``Match``
values (``NewMatch`` with its snippet), decided on (``FeedChange``), stored,
and read back as ``StoredMatch`` rows for a ``DigestPlan``; messages are
queued as ``OutboxDraft`` and delivered as ``OutboxMessage``. Database rows
never leave the store package; these do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True)
class FeedState:
    """A feed as a poll finds it when it claims it: what the request needs
    and what the decision after it starts from."""

    url: str  # its name: the URL in the watchlist
    every_seconds: int
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    consecutive_errors: int
    fetch_url: str  # where it is fetched from: url, or where it moved to
    error_since: datetime | None = None
    moved_to: str | None = None  # a permanent redirect seen, not yet confirmed
    moved_count: int = 0
    read_before: bool = False  # a poll has read it: its next items are news


@dataclass(frozen=True)
class Fetched:
    """A 200 response whose body is a candidate feed."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    body: bytes  # decompressed
    content_type: str  # the Content-Type header, "" when absent
    etag: str | None  # validators to send next time
    last_modified: str | None
    body_hash: str  # sha256 of body, to skip parsing an unchanged body
    max_age: timedelta | None = None  # from Cache-Control, uncapped
    moved_to: str | None = None  # final_url when every redirect on the way was permanent
    # Older pages of the same source read in the same poll (a Telegram
    # channel's first read pages back), oldest last.
    more: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class NotModified:
    """The server answered 304, or sent back the body we already had."""

    url: str
    reason: Literal["http_304", "same_body"]
    max_age: timedelta | None = None
    moved_to: str | None = None  # as in Fetched


@dataclass(frozen=True)
class FeedFailure:
    """A fetch or parse that failed; ``reason`` is a stable machine-readable code."""

    url: str
    reason: str  # timeout, too_large, http_404, not_a_feed, parse_error, ...
    message: str  # one line for a person
    retry_after: timedelta | None = None  # what the server asked for, if anything


FetchOutcome = Fetched | NotModified | FeedFailure


@dataclass(frozen=True)
class Entry:
    """One feed entry, parsed and normalised, ready to store and match."""

    key: str  # identity: guid, else canonical link, else content hash
    title: str  # plain text
    text: str  # plain text of the summary or content
    url: str | None
    published_at: datetime | None  # UTC; None when missing or unparseable
    legacy_key: str | None = None  # its key before guids were scoped to their feed
    # Where the item came from when not from the source itself: a Telegram
    # post's "Forwarded from …".
    note: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed says about itself and its entries."""

    title: str
    entries: tuple[Entry, ...]
    ttl: timedelta | None = None  # RSS <ttl>, uncapped


@dataclass(frozen=True)
class Parsed:
    """A changed body parsed and matched (in a parse process, or here)."""

    feed: ParsedFeed | FeedFailure
    matches: tuple[NewMatch, ...] = ()  # of every entry; the store keeps the new items' ones


Field = Literal["title", "text"]


@dataclass(frozen=True)
class Hit:
    """One occurrence of an alias or query term in an item."""

    term: str  # the alias or term as written in the watchlist
    field: Field
    start: int  # offsets into the field's plain text
    end: int


@dataclass(frozen=True)
class Match:
    """One rule of one watchlist matched one item, with the evidence."""

    watchlist: str
    rule: str
    kind: Literal["entity", "topic"]
    hits: tuple[Hit, ...]  # every alias/term occurrence that made it match
    alert: bool

    @property
    def terms(self) -> tuple[str, ...]:
        """Distinct terms that hit, in order of first appearance."""
        return tuple(dict.fromkeys(hit.term for hit in self.hits))

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(dict.fromkeys(hit.field for hit in self.hits))


@dataclass(frozen=True)
class Snippet:
    """A short excerpt of an item's text with the spans to highlight."""

    text: str
    spans: tuple[tuple[int, int], ...] = ()  # offsets into ``text``, sorted, disjoint

    def pieces(self) -> list[tuple[str, bool]]:
        """The text cut into (piece, highlighted) runs, for templates."""
        out: list[tuple[str, bool]] = []
        cursor = 0
        for start, end in self.spans:
            if start > cursor:
                out.append((self.text[cursor:start], False))
            out.append((self.text[start:end], True))
            cursor = end
        if cursor < len(self.text):
            out.append((self.text[cursor:], False))
        return out


@dataclass(frozen=True)
class NewMatch:
    """A match to store, with the snippet already cut."""

    item_key: str
    match: Match
    snippet: Snippet
    backfill: bool = False  # old news (monitor.freshness): no alert, no spike


@dataclass(frozen=True)
class ArticleWanted:
    """A stored item whose article its source reads (``full_text``)."""

    item_id: int
    entry: Entry  # as the feed gave it: the summary is matched with the article
    old_news: bool = False  # stored as old news: what the article adds is not alerted
    tries: int = 0  # failed reads so far (one retry, then it is left)


@dataclass(frozen=True)
class ArticleRead:
    """An article fetched and extracted in a parse process, and matched."""

    text: str | None  # the item's text: summary and article; None when nothing came out
    matches: tuple[NewMatch, ...] = ()
    reason: str = ""  # why nothing came out, in words


@dataclass(frozen=True)
class StoredMatch:
    """A match read back from the database for a digest or a listing."""

    id: int
    watchlist: str
    rule: str
    kind: str
    terms: tuple[str, ...]
    fields: tuple[str, ...]
    snippet: Snippet
    first_seen_at: datetime  # UTC
    item_title: str
    item_url: str | None
    published_at: datetime | None
    sources: tuple[str, ...]  # titles (or URLs) of the feeds that carried the item
    source_urls: tuple[str, ...] = ()  # those feeds' URLs, in the same order


@dataclass(frozen=True)
class FeedStatus:
    """A feed's health as ``monitor status`` and digests show it."""

    url: str
    title: str | None
    last_polled_at: datetime | None
    next_poll_at: datetime | None
    last_success_at: datetime | None
    consecutive_errors: int
    last_error: str | None
    last_error_reason: str | None
    items: int
    status: str = "active"  # active | paused | gone
    error_since: datetime | None = None


@dataclass(frozen=True)
class DigestPlan:
    """What one digest of one watchlist will contain; rendering is separate."""

    watchlist: str
    title: str
    scheduled_for: datetime  # UTC
    window_start: datetime  # exclusive, UTC
    window_end: datetime  # inclusive, UTC
    timezone: str
    matches: tuple[StoredMatch, ...]
    feeds: tuple[FeedStatus, ...] = field(default=())


# --- what a poll does to its feed (monitor.decide) -------------------------------


@dataclass(frozen=True)
class Health:
    """A feed's health after a poll."""

    status: str  # active | paused (too many failures) | gone (410)
    next_poll_at: datetime | None  # None: not polled on schedule until resumed
    consecutive_errors: int = 0
    last_error: str | None = None
    last_error_reason: str | None = None
    error_since: datetime | None = None


@dataclass(frozen=True)
class Move:
    """Where a feed is fetched from after a successful poll."""

    fetch_url: str | None  # None: its own URL
    moved_to: str | None = None  # a permanent redirect seen, not yet confirmed
    moved_count: int = 0


@dataclass(frozen=True)
class Validators:
    """What a changed feed's answer leaves for the next conditional request."""

    etag: str | None
    last_modified: str | None
    body_hash: str
    title: str | None  # the feed's own title; None keeps the one stored


@dataclass(frozen=True)
class FeedChange:
    """The values a poll's outcome gives its feed's row: decided first, then
    recorded as they are."""

    url: str
    health: Health
    succeeded_at: datetime | None = None  # None: a failure (last success unchanged)
    move: Move | None = None  # None: a failure leaves the move as it was
    validators: Validators | None = None  # only when the feed changed
    stopped: str | None = None  # "paused" or "gone" when this poll stopped it: tell someone


# --- what a poll cycle reports ------------------------------------------------------

UNCHANGED = ("http_304", "same_body")  # outcomes of a poll that found the feed as it was


@dataclass(frozen=True)
class FeedReport:
    url: str
    outcome: str  # "updated", "http_304", "same_body", or a failure reason
    new_items: int = 0
    new_matches: int = 0
    message: str = ""
    stopped: str | None = None  # "paused" or "gone" when this poll stopped the feed
    fetch_seconds: float | None = None  # how long the request took (None: none was made)
    matches_by_watchlist: tuple[tuple[str, int], ...] = ()  # new_matches, per watchlist

    @property
    def failed(self) -> bool:
        return self.outcome != "updated" and self.outcome not in UNCHANGED


@dataclass(frozen=True)
class CycleReport:
    feeds: tuple[FeedReport, ...]

    @property
    def new_items(self) -> int:
        return sum(f.new_items for f in self.feeds)

    @property
    def new_matches(self) -> int:
        return sum(f.new_matches for f in self.feeds)

    @property
    def failures(self) -> tuple[FeedReport, ...]:
        return tuple(f for f in self.feeds if f.failed)

    def summary(self) -> str:
        line = (
            f"{len(self.feeds)} feeds polled, {self.new_items} new items, "
            f"{self.new_matches} new matches, {len(self.failures)} failed"
        )
        reasons = sorted({f.outcome for f in self.failures})
        return line + (f" ({', '.join(reasons)})" if reasons else "")


# --- digests and messages ---------------------------------------------------------


@dataclass(frozen=True)
class StoredItem:
    id: int
    title: str
    text: str
    url: str | None
    first_seen_at: datetime


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
    kind: str  # digest | alert | feed
    watchlist: str
    channel: str  # file | email | notify
    recipient: str  # an address, a notification URL (or env:NAME), or a file path
    subject: str
    body_text: str
    body_html: str


@dataclass(frozen=True)
class OutboxMessage:
    """A queued message taken for sending."""

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
class DeliveryReport:
    sent: int
    retrying: int
    failed: int
    outcomes: tuple[tuple[str, str], ...] = ()  # (channel, sent|retrying|failed) per attempt

    def summary(self) -> str:
        return f"{self.sent} delivered, {self.retrying} to retry, {self.failed} failed"
