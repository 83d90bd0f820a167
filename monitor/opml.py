"""OPML, the feed lists feed readers exchange, in and out (pure).

Reading takes OPML 1.0 and 2.0: every ``<outline>`` with an ``xmlUrl`` is a
feed, however deep in categories, named by its ``title`` (else ``text``).
An outline of ``type="link"`` to a Telegram channel is that channel (as
``export`` writes one); other links are no feeds and are reported skipped.
The file is read by expat with every entity declaration refused: an OPML
file needs none, and this is what a billion-laughs file or an external
entity would need. Nothing is ever fetched.

Writing gives OPML 2.0: one category outline per watchlist, holding its
feeds (``type="rss"`` with ``xmlUrl``, which readers follow). Telegram
channels and pages are no feeds a reader could follow: they are written as
``type="link"`` outlines with their ``url`` (the channel's public preview,
the page), which readers ignore and which keep the list complete.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from monitor.discover import NewSource, telegram_source
from monitor.errors import MonitorError
from monitor.text import clean_text, strip_unsafe
from monitor.watchlist import FeedRef, Watchlist

MAX_BYTES = 10 * 1024 * 1024
MAX_OUTLINES = 50_000
_HTTP_URL = re.compile(r"^https?://[^/\s]+\S*$", re.I)


class OpmlError(MonitorError):
    """The file is no OPML that can be read."""

    default = "not an OPML file"


@dataclass(frozen=True)
class Skipped:
    what: str  # the outline's URL, else its title
    reason: str


@dataclass(frozen=True)
class OpmlSources:
    sources: tuple[NewSource, ...]  # in the file's order, duplicates included
    skipped: tuple[Skipped, ...]


# --- reading -------------------------------------------------------------------------


def read_opml(data: bytes) -> OpmlSources:
    """The sources an OPML file lists; OpmlError when it cannot be read."""
    if len(data) > MAX_BYTES:
        raise OpmlError(f"larger than {MAX_BYTES // (1024 * 1024)} MB: not read")
    outlines: list[dict[str, str]] = []
    root: list[str] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        if not root:
            root.append(name)
            if name != "opml":
                raise OpmlError(f"not an OPML file: its root element is <{name}>, not <opml>")
        elif name == "outline":
            if len(outlines) >= MAX_OUTLINES:
                raise OpmlError(f"more than {MAX_OUTLINES} outlines: not read")
            outlines.append({k.lower(): v for k, v in attributes.items()})

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse_entities
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        where = f"line {e.lineno}, column {e.offset + 1}"
        raise OpmlError(f"not well-formed XML: {expat.ErrorString(e.code)} ({where})") from None
    return _sources(outlines)


def _refuse_entities(name: str, *_: Any) -> None:
    raise OpmlError(
        f"the file declares an XML entity ({name!r}): refused, as an OPML file needs none "
        "(entities are how billion-laughs files and external entities attack a reader)"
    )


def _sources(outlines: list[dict[str, str]]) -> OpmlSources:
    sources: list[NewSource] = []
    skipped: list[Skipped] = []
    for outline in outlines:
        found = _source(outline)
        if isinstance(found, NewSource):
            sources.append(found)
        elif found is not None:
            skipped.append(found)
    return OpmlSources(tuple(sources), tuple(skipped))


def _source(outline: dict[str, str]) -> NewSource | Skipped | None:
    """A feed, a Telegram channel, a link that is skipped, or None for a
    category (or a note) that is no source."""
    title = clean_text(outline.get("title") or outline.get("text") or "")
    kind = outline.get("type", "").strip().lower()
    if "xmlurl" in outline:
        url = outline["xmlurl"].strip()
        if not _HTTP_URL.match(url):
            reason = "no feed URL (xmlUrl is empty)" if not url else "not an http(s) URL"
            return Skipped(url or title, reason)
        return NewSource("feed", url, title if title and title != url else None)
    if kind == "link" and outline.get("url", "").strip():
        return _link(outline["url"].strip(), title)
    if kind in ("rss", "atom"):
        return Skipped(title or "(untitled)", f"type={kind} without an xmlUrl")
    return None


def _link(url: str, title: str) -> NewSource | Skipped:
    try:
        channel = telegram_source(url)
    except MonitorError as e:
        return Skipped(url, e.message)
    if channel is None:
        how = "add it as a page with `monitor add WATCHLIST URL --links SELECTOR`"
        return Skipped(url, f"a link, not a feed: {how}")
    return NewSource("telegram", channel.target, title or None)


# --- writing -------------------------------------------------------------------------


def write_opml(watchlists: Sequence[Watchlist], title: str = "monitor watchlists") -> str:
    """OPML 2.0 of the watchlists' sources, one category outline each."""
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = _xml_text(title)
    body = ET.SubElement(root, "body")
    for watchlist in watchlists:
        name = _xml_text(watchlist.title)
        group = ET.SubElement(body, "outline", text=name, title=name)
        for feed in watchlist.feeds:
            ET.SubElement(group, "outline", _attributes(feed))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _attributes(feed: FeedRef) -> dict[str, str]:
    url = _xml_text(feed.url)
    if feed.kind == "feed":
        name = _xml_text(feed.title or feed.url)
        return {"text": name, "title": name, "type": "rss", "xmlUrl": url}
    default = f"Telegram: @{feed.channel}" if feed.kind == "telegram" else feed.url
    name = _xml_text(feed.title or default)
    return {"text": name, "title": name, "type": "link", "url": url}


def _xml_text(text: str) -> str:
    """Text XML can hold: control characters (which it cannot) removed;
    ElementTree escapes the rest."""
    return strip_unsafe(text)
