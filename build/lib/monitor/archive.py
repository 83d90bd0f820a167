"""The digest archive of a watchlist as an Atom feed (pure).

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

ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 20
FILE_TIME = "%Y%m%dT%H%M%SZ"

_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)


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
        ET.SubElement(element, f"{{{ATOM}}}link", rel="alternate", href=entry.file_name)
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
