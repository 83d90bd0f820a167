"""Which entries are one item (pure).

Within a feed, an entry is its guid, else its canonical link, else a hash of
its title and text. Across feeds, only the canonical link or the content
decides that two entries are one item: a guid such as ``1`` or ``post-123``
means something only in the feed that gave it, so it is scoped to that feed
(``guid:<feed>|123``), while a guid that is itself a URL, a ``tag:`` or a
``urn:`` names the item everywhere and is kept as it is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from monitor.text import strip_unsafe
from monitor.types import Entry

_TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|at_\w+)$", re.I)
# A guid that is an absolute URI (http:, https:, tag:, urn:, ...) is unique
# across feeds by construction; anything else is unique only in its feed.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def identity_key(guid: str | None, link: str | None, title: str, text: str, scope: str = "") -> str:
    """guid, else canonical link, else a hash of title and text. ``scope``
    (the feed's name) qualifies a guid that is not a URI."""
    if guid and guid.strip():
        guid = guid.strip()
        if guid.startswith(("http:", "https:")):
            # A guid that changes only from http to https is the same item.
            return "guid:" + canonical_url(guid)
        if _URI.match(guid) or not scope:
            return "guid:" + guid
        return f"guid:{canonical_url(scope)}|{guid}"
    if link and link.strip():
        return "link:" + canonical_url(link.strip())
    return "hash:" + content_hash(title, text)


def legacy_key(guid: str | None, base_url: str) -> str | None:
    """The key a guid scoped to its feed had before it was: feedparser
    resolved it against the feed's address, and that address kept it. The
    store finds an item stored so by it, once, and gives it its new key."""
    if not guid or not guid.strip() or _URI.match(guid.strip()):
        return None
    return "guid:" + canonical_url(urljoin(base_url, guid.strip()))


def link_key(link: str | None) -> str | None:
    """The canonical form of an item's link, by which two feeds' entries
    are found to be one item."""
    return canonical_url(link.strip()) if link and link.strip() else None


def content_hash(title: str, text: str) -> str:
    # Whitespace-blind: an item's text keeps its paragraphs' line breaks now,
    # and must keep the key it had when they were spaces.
    flat = " ".join(text.split())
    return hashlib.sha256(f"{title}\n{flat}".encode()).hexdigest()[:32]


def canonical_url(url: str) -> str:
    """Scheme dropped, host lower-cased, fragment and tracking parameters removed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed URL (bad port, broken IPv6) is still an identity
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = urlencode([(k, v) for k, v in query if not _TRACKING_PARAMS.match(k)])
    host = (parts.hostname or "") + (f":{port}" if port else "")
    return urlunsplit(("", host.lower(), parts.path or "/", kept, "")).removeprefix("//")


def unique_keys(entries: Iterable[Entry]) -> Iterable[Entry]:
    """Keep two different entries that share a key (a broken guid) as two items."""
    seen: dict[str, Entry] = {}
    for entry in entries:
        previous = seen.get(entry.key)
        if previous is None:
            seen[entry.key] = entry
            yield entry
        elif (previous.title, previous.url) != (entry.title, entry.url):
            suffix = f"#{content_hash(entry.title, entry.text)}"
            key = entry.key + suffix
            if key not in seen:
                seen[key] = entry
                legacy = entry.legacy_key + suffix if entry.legacy_key else None
                yield replace(entry, key=key, legacy_key=legacy)


def absolute_link(href: str | None, base_url: str) -> str | None:
    """``href`` made absolute; None unless it is a well-formed http(s) URL.
    A fragment alone (``#top``) is a place on this page, not an article;
    javascript:, mailto: and data: links never reach a digest's href."""
    href = strip_unsafe(href or "").strip()
    if not href or href.startswith("#"):
        return None
    try:
        absolute = urljoin(base_url, href)
        parts = urlsplit(absolute)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return None
    return absolute if parts.scheme in ("http", "https") and parts.hostname else None
