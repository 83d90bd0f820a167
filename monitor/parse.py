"""Feed bytes to ``Entry`` values through feedparser; identity keys; dates.

feedparser only ever receives a stream of bytes and the headers it needs to
pick the encoding, never a URL, a path or raw bytes (it would fetch or open
them: bytes that spell a file name are read from disk). Any exception
it raises is turned into a ``parse_error`` value, and a document that is not
a feed is ``not_a_feed`` rather than "0 new items".
"""

from __future__ import annotations

import calendar
import functools
import io
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import feedparser.mixin

from monitor.identity import absolute_link, identity_key, legacy_key, unique_keys
from monitor.jsonfeed import NotAJsonFeed, looks_like_json, parse_json_feed
from monitor.text import clean_text, html_to_text, strip_unsafe
from monitor.types import Entry, FeedFailure, Fetched, ParsedFeed

# feedparser joins the document's base URI with itself at every element
# start (to track xml:base), through urllib.parse: a quarter of its time on a
# typical feed, always with the same few arguments. Both functions are pure
# (their answer depends on their arguments alone), so a bounded cache answers
# the same; tests/test_corpus.py parses every corpus file with and without it
# and compares. Skipped, not broken, if a later feedparser renames them.
FEEDPARSER_URI_FUNCTIONS = ("make_safe_absolute_uri", "_urljoin")
UNCACHED_FEEDPARSER_FUNCTIONS = {
    name: getattr(feedparser.mixin, name)
    for name in FEEDPARSER_URI_FUNCTIONS
    if callable(getattr(feedparser.mixin, name, None))
}
for _name, _function in UNCACHED_FEEDPARSER_FUNCTIONS.items():
    setattr(feedparser.mixin, _name, functools.lru_cache(maxsize=4096)(_function))


def parse_feed(fetched: Fetched, scope: str = "") -> ParsedFeed | FeedFailure:
    """The feed's entries; ``scope`` (the feed's name) qualifies guids that
    mean something only in this feed (monitor.identity)."""
    if looks_like_json(fetched.body):
        return _json_feed(fetched, scope)
    try:
        parsed = _feedparser(fetched, fetched.body)
    except Exception as error:  # feedparser raises anything on hostile input
        # A character reference to no character (&#0;, &#xD800;, &#1114112;)
        # makes feedparser raise: drop those and try once more before
        # giving up the whole feed for one bad title.
        body = _INVALID_CHAR_REF.sub(_drop_invalid_reference, fetched.body)
        if body == fetched.body:
            return _parse_error(fetched, error)
        try:
            parsed = _feedparser(fetched, body)
        except Exception as again:
            return _parse_error(fetched, again)
    try:
        if not parsed.get("version") and not parsed.entries:
            return FeedFailure(fetched.url, "not_a_feed", _not_a_feed_message(parsed, fetched))
        entries = tuple(
            unique_keys(_entry(raw, fetched.final_url, scope) for raw in parsed.entries)
        )
    except Exception as error:  # the parsed structure can hold anything
        return _parse_error(fetched, error)
    feed = parsed.get("feed", {})
    title = clean_text(_plain(feed.get("title", "")))
    return ParsedFeed(title=title, entries=entries, ttl=_ttl(feed.get("ttl")))


def _json_feed(fetched: Fetched, scope: str) -> ParsedFeed | FeedFailure:
    try:
        title, raws = parse_json_feed(fetched.body)
    except NotAJsonFeed as error:
        return FeedFailure(fetched.url, "not_a_feed", str(error))
    try:
        entries = tuple(unique_keys(_entry(raw, fetched.final_url, scope) for raw in raws))
    except Exception as error:  # the document can hold anything
        return _parse_error(fetched, error)
    return ParsedFeed(title=clean_text(_plain(title)), entries=entries, ttl=None)


def _feedparser(fetched: Fetched, body: bytes) -> Any:
    # No content-location: feedparser would resolve a guid such as "1"
    # against it, and a guid means something only in its feed (links are
    # resolved in _entry).
    headers = {"content-type": fetched.content_type}
    # A stream, never bytes: given bytes that happen to name a file,
    # feedparser opens and reads that file.
    # Feed HTML is only ever turned into plain text here and escaped when
    # shown, so feedparser's HTML sanitiser and URI rewriting (a third of
    # its time) would be work thrown away; links are resolved in _entry.
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _parse_error(fetched: Fetched, error: Exception) -> FeedFailure:
    return FeedFailure(fetched.url, "parse_error", f"{type(error).__name__}: {error}"[:500])


_INVALID_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _drop_invalid_reference(found: re.Match[bytes]) -> bytes:
    hex_digits, decimal = found.groups()
    codepoint = int(hex_digits, 16) if hex_digits else int(decimal)
    valid = codepoint in (0x9, 0xA, 0xD) or (
        0x20 <= codepoint <= 0x10FFFF and not 0xD800 <= codepoint <= 0xDFFF
    )
    return found.group(0) if valid else b""


def _not_a_feed_message(parsed: Any, fetched: Fetched) -> str:
    if not fetched.body.strip():
        return "empty body"
    kind = fetched.content_type.split(";")[0].strip() or "unknown type"
    problem = parsed.get("bozo_exception")
    detail = f": {problem}" if problem else ""
    return f"not an RSS, Atom or JSON feed ({kind}){detail}"[:500]


def _plain(value: str) -> str:
    return html_to_text(value) if ("<" in value or "&" in value) else value


# A title or text past these is no report a person wrote: cut, it still
# matches and shows, and a 1 MB title can no longer make a 12 MB alert.
MAX_TITLE = 1000
MAX_TEXT = 100_000


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _entry(raw: Any, base_url: str, scope: str = "") -> Entry:
    title = _capped(clean_text(_plain(raw.get("title", ""))), MAX_TITLE)
    text = _capped(html_to_text(_body(raw)[: 4 * MAX_TEXT], lines=True), MAX_TEXT)
    link = absolute_link(raw.get("link"), base_url)
    guid = strip_unsafe(raw.get("id") or "") or None
    return Entry(
        key=identity_key(guid, link, title, text, scope),
        legacy_key=legacy_key(guid, base_url) if scope else None,
        title=title,
        text=text,
        url=link,
        published_at=_date(raw),
    )


def _body(raw: Any) -> str:
    summary = raw.get("summary", "") or ""
    contents = [c.get("value", "") for c in raw.get("content", []) or []]
    longest = max(contents, key=len, default="")
    return longest if len(longest) > len(summary) else summary


def _date(raw: Any) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(name)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _ttl(value: Any) -> timedelta | None:
    try:
        minutes = int(str(value).strip())
    except ValueError:
        return None
    return timedelta(minutes=minutes) if minutes > 0 else None
