"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1) read like RSS and
Atom (pure): its items become the entry values feedparser gives for those,
so the one entry path (monitor.parse) cleans, caps and keys them alike.

A JSON Feed is a document from anyone: any field may be missing, of another
type or absurd; such a field is left out, and an item that is not an object
is skipped, never a crash.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

VERSION_PREFIX = "https://jsonfeed.org/version/"
_BOM = b"\xef\xbb\xbf"


class NotAJsonFeed(ValueError):
    """The body is JSON (or meant to be) but not a JSON Feed."""


def looks_like_json(body: bytes) -> bool:
    """Whether a body is JSON rather than XML: an RSS or Atom feed never
    starts with "{" or "["."""
    return body.removeprefix(_BOM).lstrip()[:1] in (b"{", b"[")


def parse_json_feed(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """(the feed's title, its items as feedparser-shaped entries)."""
    try:
        document = json.loads(body.removeprefix(_BOM))
    except (ValueError, RecursionError) as error:
        raise NotAJsonFeed(f"not valid JSON: {error}"[:300]) from None
    if not isinstance(document, dict):
        raise NotAJsonFeed("JSON, but not an object")
    version = document.get("version")
    items = document.get("items")
    if not (isinstance(version, str) and version.startswith(VERSION_PREFIX)):
        raise NotAJsonFeed("JSON without a JSON Feed version")
    if not isinstance(items, list):
        raise NotAJsonFeed("a JSON Feed without a list of items")
    entries = [_entry(item) for item in items if isinstance(item, dict)]
    return _text(document.get("title")), entries


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    """What monitor.parse reads of a feedparser entry: title, link, id,
    summary, content, and the dates as UTC struct_time."""
    contents = [_text(item.get(k)) for k in ("content_html", "content_text")]
    entry: dict[str, Any] = {
        "title": _text(item.get("title")),
        "link": _text(item.get("url")) or _text(item.get("external_url")),
        "id": _identifier(item.get("id")),
        "summary": _text(item.get("summary")),
        "content": [{"value": c} for c in contents if c],
    }
    for field, name in (
        ("date_published", "published_parsed"),
        ("date_modified", "updated_parsed"),
    ):
        moment = _date(item.get(field))
        if moment is not None:
            entry[name] = moment
    return entry


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _identifier(value: Any) -> str:
    """The item's id: a string by the spec, a number in many feeds."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | float | str):
        return str(value)
    return ""


def _date(value: Any) -> time.struct_time | None:
    """An RFC 3339 date as UTC; None when it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # RFC 3339 requires an offset; take it as UTC
    try:
        return moment.astimezone(UTC).timetuple()
    except (OverflowError, ValueError):
        return None
