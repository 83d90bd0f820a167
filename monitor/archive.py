"""The digest archive of a watchlist: its index's entries and its Atom feed (pure).

``digests/<watchlist>/index.html`` lists every digest file with the counts
and top headline its page carries as ``<meta name="monitor:...">`` in its
head. An archive holds thousands of pages, each anyone may have edited: only
a bounded prefix of each is read (HEAD_BYTES), and a missing or bad value is
None, never an error. Pages from before those meta are listed by the time in
their file name.

``digests/<watchlist>/feed.xml`` lists the latest digest files, so a digest
can be read in any feed reader. Each entry's content is the digest's body
cleaned by nh3 (no style, script, SVG or event handler), escaped into XML by
ElementTree: the feed is well-formed whatever the feeds said.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 20
FILE_TIME = "%Y%m%dT%H%M%SZ"
# The meta sit in the first KB of a digest page; the rest of its head is CSS.
HEAD_BYTES = 8192
TOP_CHARS = 300  # an edited page could put the whole prefix in its headline

_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)
_HEAD_END = re.compile(r"</head\s*>", re.I)
_META = re.compile(r"""<meta\s(?:[^>"']|"[^"]*"|'[^']*')*>""", re.I)
_ATTRIBUTE = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_COUNT = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class DigestSummary:
    """One line of the archive's index, read back from a digest page's head."""

    file_name: str  # relative to the index, e.g. 20261125T050000Z.html
    scheduled_for: datetime | None  # UTC; None for a file that is not a digest's
    matches: int | None  # None on pages written before the meta, or edited badly
    stories: int | None
    top: str  # the top story's headline, "" when there is none

    def local(self, zone: str) -> datetime | None:
        """The digest's time in ``zone`` (an IANA name)."""
        return self.scheduled_for.astimezone(ZoneInfo(zone)) if self.scheduled_for else None


def page_summary(file_name: str, head: bytes) -> DigestSummary:
    """The summary of one digest page from the start of its file (any bytes:
    a prefix cut mid-character or mid-tag, garbage or nothing at all)."""
    text = head.decode("utf-8", errors="replace")
    end = _HEAD_END.search(text)
    meta = _monitor_meta(text[: end.start()] if end else text)
    top = " ".join(meta.get("top", "").split())
    return DigestSummary(
        file_name,
        _moment(meta.get("scheduled-for")) or _in_range(file_time(file_name)),
        _count(meta.get("matches")),
        _count(meta.get("stories")),
        top[:TOP_CHARS] + "…" if len(top) > TOP_CHARS else top,
    )


def newest_first(summaries: Sequence[DigestSummary]) -> list[DigestSummary]:
    """Digests by time, newest first; files with no time last, by name."""
    undated = datetime.min.replace(tzinfo=UTC)
    return sorted(
        summaries,
        key=lambda s: (s.scheduled_for is not None, s.scheduled_for or undated, s.file_name),
        reverse=True,
    )


def _monitor_meta(head: str) -> dict[str, str]:
    """``monitor:<name>`` meta of a head, unescaped; the first of each name wins."""
    found: dict[str, str] = {}
    for tag in _META.finditer(head):
        attributes = {m.group(1).lower(): _value(m) for m in _ATTRIBUTE.finditer(tag.group(0))}
        name = html.unescape(attributes.get("name") or "").lower()
        content = attributes.get("content")
        if name.startswith("monitor:") and content is not None:
            found.setdefault(name.removeprefix("monitor:"), html.unescape(content))
    return found


def _value(attribute: re.Match[str]) -> str:
    """An attribute's value, however it was quoted."""
    return next((v for v in attribute.group(2, 3, 4) if v is not None), "")


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None or _in_range(moment) is None:  # no zone: no known moment
        return None
    return moment.astimezone(UTC)


def _in_range(moment: datetime | None) -> datetime | None:
    """None for a year at datetime's limits: shown in a zone, it would overflow."""
    return moment if moment is not None and 1 < moment.year < 9999 else None


def _count(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if _COUNT.fullmatch(value) else None


@dataclass(frozen=True)
class ArchiveEntry:
    file_name: str  # relative to the feed, e.g. 20261125T050000Z.html
    title: str
    updated: datetime  # UTC
    content_html: str  # sanitised


def file_time(file_name: str) -> datetime | None:
    """The slot a digest file is named after, or None for another file."""
    try:
        return datetime.strptime(file_name.removesuffix(".html"), FILE_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def archive_entry(file_name: str, page: str, fallback: datetime) -> ArchiveEntry:
    """An entry for one digest file, from its HTML."""
    import nh3  # only when an archive is written

    title = _TITLE.search(page)
    body = _BODY.search(page)
    return ArchiveEntry(
        file_name,
        " ".join(html.unescape(title.group(1)).split()) if title else file_name,
        file_time(file_name) or fallback,
        nh3.clean(body.group(1) if body else page, url_schemes={"http", "https", "mailto"}),
    )


def atom_feed(watchlist_id: str, title: str, entries: Sequence[ArchiveEntry], now: datetime) -> str:
    """The Atom document (RFC 4287) of ``entries``, newest first."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", _tag_uri(watchlist_id, "feed"))
    _text(feed, "title", f"{title} — digests")
    updated = max((e.updated for e in entries), default=now)
    _text(feed, "updated", _rfc3339(updated))
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", "monitor")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href="feed.xml")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href="index.html")
    _text(feed, "generator", "monitor")
    for entry in entries:
        element = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(element, "id", _tag_uri(watchlist_id, entry.file_name))
        _text(element, "title", entry.title)
        _text(element, "updated", _rfc3339(entry.updated))
        # Quoted: a file named "javascript:….html" stays a relative link.
        ET.SubElement(element, f"{{{ATOM}}}link", rel="alternate", href=quote(entry.file_name))
        _text(element, "content", entry.content_html).set("type", "html")
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"


def _text(parent: ET.Element, name: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{name}")
    element.text = _xml_safe(value)
    return element


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_safe(value: str) -> str:
    """Characters XML 1.0 cannot carry, dropped (ElementTree would write them)."""
    return _NOT_XML.sub("", value)


def _tag_uri(watchlist_id: str, name: str) -> str:
    return f"tag:monitor,2024:digests/{quote(watchlist_id)}/{quote(name)}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
