"""Frozen values passed between the stages of the pipeline.

Named by where they sit in the flow: a feed is fetched (``Fetched``), parsed
into ``Entry`` values, matched into ``Match`` values, stored, and read back as
``StoredMatch`` rows for a ``DigestPlan``. Database rows never leave store.py;
these do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal


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


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed says about itself and its entries."""

    title: str
    entries: tuple[Entry, ...]
    ttl: timedelta | None = None  # RSS <ttl>, uncapped


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
