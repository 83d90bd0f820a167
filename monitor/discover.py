"""What source a pasted URL is, for ``monitor add`` (pure).

A Telegram link or ``@name`` is a channel, known without fetching. Anything
else is fetched by the caller and handed to ``discover`` with its
Content-Type: a body that is itself a feed (RSS, Atom, RDF, JSON Feed) is
recognised by its first element (sniffed, not parsed); an HTML page lists
its feeds in ``<link rel="alternate">``; a page without any becomes a
``page:`` source, with the CSS selector of its article links given or, by a
simple heuristic, suggested. ``choose`` turns what was found into the
``NewSource`` written to the file.
"""

from __future__ import annotations

import codecs
import html
import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import lxml.etree
import lxml.html

from monitor.errors import MonitorError
from monitor.identity import absolute_link
from monitor.jsonfeed import VERSION_PREFIX, looks_like_json
from monitor.selectors import check_selector, selector_xpath
from monitor.text import clean_text, html_to_text
from monitor.watchlist import TELEGRAM_PREVIEW, SourceKind

# --- sources as the file lists them ----------------------------------------------


@dataclass(frozen=True)
class NewSource:
    """A source to add to a watchlist's ``feeds:``."""

    kind: SourceKind
    target: str  # the feed's or the page's URL, or the channel's name
    title: str | None = None  # written as title: (the feed's own, or the OPML's)
    links: str | None = None  # page: the CSS selector of its article links

    @property
    def key(self) -> str:
        return source_key(self.kind, self.target)

    def entry(self) -> dict[str, str]:
        """The entry as the file writes it, its keys in this order."""
        first = {"feed": "url", "telegram": "telegram", "page": "page"}[self.kind]
        entry = {first: self.target}
        if self.links is not None:
            entry["links"] = self.links
        if self.title:
            entry["title"] = self.title
        return entry

    def describe(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.entry().items())


def source_key(kind: SourceKind, target: str) -> str:
    """What makes two sources the same: a channel's name in any case; a URL
    whatever its scheme (http/https), host case, default port, fragment or
    final slash."""
    if kind == "telegram":
        return "telegram:" + target.removeprefix(TELEGRAM_PREVIEW).lower()
    try:
        parts = urlsplit(target.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return target.strip()
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{netloc}{parts.path.rstrip('/')}{query}"


# --- Telegram --------------------------------------------------------------------------

_TELEGRAM_HOSTS = frozenset({"t.me", "www.t.me", "telegram.me", "www.telegram.me"})
_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")  # as monitor.watchlist checks it
# t.me paths that are Telegram's own pages, not channels.
_NOT_CHANNELS = frozenset(
    {"joinchat", "addstickers", "addemoji", "addtheme", "share", "proxy", "socks", "login",
     "setlanguage", "boost", "contact", "iv"}
)  # fmt: skip


def telegram_source(text: str) -> NewSource | None:
    """``@NAME``, ``t.me/NAME``, ``https://t.me/s/NAME`` (or a post's link,
    ``t.me/NAME/123``) as a channel; None when ``text`` is no Telegram link;
    MonitorError for a Telegram link that is no public channel."""
    text = text.strip()
    if text.startswith("@"):
        return _channel(text[1:], text)
    bare = re.sub(r"^https?://", "", text, flags=re.I)
    host, _, path = bare.partition("/")
    if host.lower() not in _TELEGRAM_HOSTS:
        return None
    parts = [p for p in re.split(r"[/?#]", path) if p]
    if parts[:1] == ["s"]:
        parts = parts[1:]
    return _channel(parts[0] if parts else "", text)


def _channel(name: str, text: str) -> NewSource:
    if not _CHANNEL.match(name) or name.lower() in _NOT_CHANNELS:
        raise MonitorError(
            f"{text} is not a public Telegram channel (t.me/NAME, @NAME: "
            "5 to 32 letters, digits or _)"
        )
    return NewSource("telegram", name)


# --- what a fetched body is ---------------------------------------------------------


@dataclass(frozen=True)
class FoundFeed:
    """A feed a page announces in ``<link rel="alternate">``."""

    url: str  # absolute
    title: str  # the link's title attribute, "" when none
    type: str  # its MIME type


@dataclass(frozen=True)
class Discovery:
    """What a fetched body is, as a source."""

    # feed: the body is a feed; alternates: a page that lists feeds; page: a
    # page without any (or --links given); neither: nothing to follow (reason).
    kind: Literal["feed", "alternates", "page", "neither"]
    url: str  # the URL the body came from
    title: str = ""  # the feed's or the page's own title
    feeds: tuple[FoundFeed, ...] = ()
    links: str | None = None  # the selector of the page's article links, given or suggested
    suggested: bool = False  # ``links`` is a guess to check
    link_count: int = 0  # the distinct links ``links`` picks on the page
    samples: tuple[str, ...] = ()  # the first few of their texts
    reason: str = ""


def discover(body: bytes, content_type: str, url: str, links: str | None = None) -> Discovery:
    """What ``body`` (fetched from ``url``) is; ``links``, a selector asked
    for, makes an HTML page a ``page:`` source even when it lists feeds."""
    head = _utf8(body[:65536])
    if _is_json_feed(body):
        return Discovery("feed", url, title=_json_title(body))
    if _FEED_START.match(head):
        return Discovery("feed", url, title=_xml_title(head))
    problem = _not_html(body, head, content_type)
    if problem:
        return Discovery("neither", url, reason=problem)
    tree = _html_tree(body, content_type)
    if tree is None:
        return Discovery("neither", url, reason="no HTML document could be read")
    base = _base_url(tree, url)
    title = _page_title(tree)
    feeds = _alternates(tree, base)
    if links is not None:
        return _page(tree, base, url, title, links, suggested=False)
    if feeds:
        return Discovery("alternates", url, title=title, feeds=feeds)
    suggestion = _suggest(tree, base)
    if suggestion is None:
        return Discovery("page", url, title=title)
    return _page(tree, base, url, title, suggestion, suggested=True)


def choose(discovery: Discovery, pick: int | None = None) -> NewSource:
    """The source to add: the feed itself, the ``pick``-th feed a page lists
    (the first by default), or the page with its selector; MonitorError, in
    words, when there is none."""
    if pick is not None and discovery.kind != "alternates":
        raise MonitorError("--pick chooses among the feeds a page lists; this URL lists none")
    if discovery.kind == "feed":
        return NewSource("feed", discovery.url, _useful_title(discovery.title))
    if discovery.kind == "alternates":
        return _picked(discovery, pick or 1)
    if discovery.kind == "page":
        return _page_source(discovery)
    raise MonitorError(f"{discovery.url} is neither a feed nor an HTML page: {discovery.reason}")


def _picked(discovery: Discovery, pick: int) -> NewSource:
    if not 1 <= pick <= len(discovery.feeds):
        raise MonitorError(f"--pick {pick}: the page lists {len(discovery.feeds)} feeds")
    found = discovery.feeds[pick - 1]
    return NewSource("feed", found.url, _useful_title(found.title))


def _page_source(discovery: Discovery) -> NewSource:
    if discovery.links is None:
        raise MonitorError(
            f"{discovery.url} lists no feed, and no selector of its article links stands out: "
            "pass --links SELECTOR (a CSS selector, such as 'article h2 a') to follow it as a page"
        )
    if not discovery.link_count:
        raise MonitorError(f"--links {discovery.links!r} matches no link on {discovery.url}")
    return NewSource("page", discovery.url, _useful_title(discovery.title), discovery.links)


# "RSS", "Atom feed", "RSS 2.0": a link's title that names the format, not the feed.
_GENERIC_TITLE = re.compile(r"^(rss|atom|json|rdf)?\s*(feed)?\s*[\d.]*\s*(feed)?$", re.I)


def _useful_title(title: str) -> str | None:
    return title if title and not _GENERIC_TITLE.match(title) else None


# --- sniffing ----------------------------------------------------------------------

# The document's first element, past an XML declaration, comments,
# processing instructions (xml-stylesheet) and a doctype.
_FEED_START = re.compile(
    rb"(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)*<(?:[\w.-]+:)?(rss|feed|RDF)[\s/>]",
    re.S,
)
_JSON_FEED_VERSION = re.compile(rb'"version"\s*:\s*"' + re.escape(VERSION_PREFIX.encode()))
_BINARY_TYPES = re.compile(
    r"^(image|audio|video|font)/|^application/(pdf|zip|gzip|octet-stream|x-|vnd\.|msword)"
)
_MARKUP = re.compile(rb"<(!doctype|[a-zA-Z][a-zA-Z0-9]*[\s/>])", re.I)


def _utf8(head: bytes) -> bytes:
    """The start of a body as UTF-8 bytes (a UTF-16 feed or page decoded), BOM removed."""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if head.startswith(bom):
            return head.decode(codec, errors="replace").encode("utf-8")
    return head.removeprefix(codecs.BOM_UTF8)


def _is_json_feed(body: bytes) -> bool:
    return looks_like_json(body) and bool(_JSON_FEED_VERSION.search(body))


def _json_title(body: bytes) -> str:
    try:
        document = json.loads(body.removeprefix(codecs.BOM_UTF8))
    except (ValueError, RecursionError):
        return ""
    title = document.get("title") if isinstance(document, dict) else None
    return clean_text(title) if isinstance(title, str) else ""


_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)""")
_XML_TITLE = re.compile(rb"<(?:[\w.-]+:)?title\b[^>]*>(.*?)</(?:[\w.-]+:)?title>", re.S)
_CDATA = re.compile(r"<!\[CDATA\[(.*)\]\]>", re.S)


def _xml_title(head: bytes) -> str:
    """The feed's title: its first <title> (the channel's or the feed's)."""
    found = _XML_TITLE.search(head)
    if not found:
        return ""
    declared = _XML_ENCODING.match(head.lstrip())
    codec = _codec(declared.group(1).decode()) if declared else "utf-8"
    raw = found.group(1).decode(codec, "replace").strip()
    cdata = _CDATA.fullmatch(raw)
    # The title's text, which may itself be HTML (Atom's type="html").
    return html_to_text(cdata.group(1) if cdata else html.unescape(raw))


def _codec(label: str) -> str:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return "utf-8"


def _not_html(body: bytes, head: bytes, content_type: str) -> str | None:
    """Why the body is no HTML page, in words; None when it may be one."""
    kind = content_type.split(";")[0].strip().lower()
    if not body.strip():
        return "the body is empty"
    if looks_like_json(head):
        return "a JSON document that is no JSON Feed"
    if _BINARY_TYPES.search(kind) or b"\x00" in head[:4096]:
        return f"binary content ({kind or 'no Content-Type'})"
    if not _MARKUP.search(head):
        return f"no HTML markup ({kind or 'no Content-Type'})"
    return None


_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
_META_CHARSET = re.compile(rb"<meta\b[^>]*charset", re.I)


def _html_tree(body: bytes, content_type: str) -> Any:
    """The page parsed by lxml, in the charset of its header, else of its
    <meta>, else UTF-8; None when lxml finds no document."""
    declared = _HEADER_CHARSET.search(content_type)
    encoding: str | None = _codec(declared.group(1)) if declared else "utf-8"
    if not declared and _META_CHARSET.search(body[:4096]):
        encoding = None  # lxml reads the <meta> itself
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8)):
        body, encoding = _utf8(body), "utf-8"
    try:
        parser = lxml.html.HTMLParser(encoding=encoding)
        return lxml.html.document_fromstring(body, parser=parser)
    except (lxml.etree.LxmlError, ValueError, LookupError):
        return None


# --- pages -------------------------------------------------------------------------

_FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml",
     "application/feed+json", "application/json"}
)  # fmt: skip


def _base_url(tree: Any, url: str) -> str:
    for href in tree.xpath("//base[@href][1]/@href"):
        return absolute_link(str(href), url) or url
    return url


def _page_title(tree: Any) -> str:
    for text in tree.xpath("//title[1]//text()"):
        if title := clean_text(str(text)):
            return title
    return ""


def _alternates(tree: Any, base: str) -> tuple[FoundFeed, ...]:
    """The feeds the page links to, in its order, each once. WordPress's
    ``application/json`` alternates are its REST API, not a feed."""
    found: dict[str, FoundFeed] = {}
    for link in tree.xpath("//link[@href][@rel][@type]"):
        rel = str(link.get("rel")).lower().split()
        kind = str(link.get("type")).split(";")[0].strip().lower()
        url = absolute_link(link.get("href"), base)
        if "alternate" not in rel or kind not in _FEED_TYPES or url is None:
            continue
        if kind == "application/json" and "/wp-json/" in url:
            continue
        found.setdefault(url, FoundFeed(url, clean_text(link.get("title") or ""), kind))
    return tuple(found.values())


# Where a news page's headlines usually are, the more specific first; the
# last is a fallback for pages whose headlines are no headings.
_HEADLINES = ("article h2 a", "article h3 a", "h2 a", "h3 a")
_FALLBACK = "article a"
MIN_LINKS = 3  # fewer is no list of articles
SAMPLES = 3


def _suggest(tree: Any, base: str) -> str | None:
    """The headline selector that picks the most links (at least MIN_LINKS;
    a tie goes to the more specific), else the fallback if it picks enough."""
    counts = {selector: len(_links(tree, selector, base)) for selector in _HEADLINES}
    best = max(_HEADLINES, key=lambda s: counts[s])  # the first of the largest
    if counts[best] >= MIN_LINKS:
        return best
    return _FALLBACK if len(_links(tree, _FALLBACK, base)) >= MIN_LINKS else None


def _page(
    tree: Any, base: str, url: str, title: str, selector: str, *, suggested: bool
) -> Discovery:
    try:
        check_selector(selector)
    except ValueError as e:
        raise MonitorError(f"--links: {e}") from None
    found = _links(tree, selector, base)
    samples = tuple(text for _, text in list(found.items())[:SAMPLES])
    return Discovery(
        "page", url, title=title, links=selector, suggested=suggested,
        link_count=len(found), samples=samples,
    )  # fmt: skip


def _links(tree: Any, selector: str, base: str) -> dict[str, str]:
    """URL -> text of the distinct http(s) links with a text that ``selector`` picks."""
    found: dict[str, str] = {}
    for element in tree.xpath(selector_xpath(selector)):
        if not isinstance(element, lxml.html.HtmlElement) or element.tag != "a":
            continue
        url = absolute_link(element.get("href"), base)
        text = clean_text(element.text_content())
        if url and text:
            found.setdefault(url, text)
    return found
