"""Pages without feeds: the links a CSS selector picks on a page become items.

A watchlist's ``page: URL`` with ``links: "article h2 a"`` is read like a
feed whose entries are the links the selector matches: the link's text is
the title, its absolute URL the identity. Pure functions of the fetched
bytes. The page is decoded as a browser would (BOM, Content-Type charset,
``<meta charset>``, else detection) and parsed by lxml, which repairs any
markup; a body that is no HTML page, or a selector that finds nothing, is a
``FeedFailure`` in words, so that a page whose layout changed is reported
and does not go silent. ``read_page`` (decoded and parsed) serves
monitor.article too.
"""

from __future__ import annotations

import codecs
import copy
import re
from dataclasses import dataclass
from typing import Any

import charset_normalizer
import lxml.etree
import lxml.html

from monitor.identity import absolute_link, identity_key, link_key, unique_keys
from monitor.jsonfeed import looks_like_json
from monitor.parse import MAX_TITLE
from monitor.selectors import selector_xpath
from monitor.text import clean_text, counted, html_to_text
from monitor.types import Entry, FeedFailure, Fetched, ParsedFeed

# A page's link list is tens of links; a selector that matches thousands
# (``a`` on a 5 MB page) would flood the store and every digest at once.
MAX_LINKS = 1000


@dataclass(frozen=True)
class Page:
    """A page decoded and parsed."""

    tree: Any  # lxml.html.HtmlElement: the document's root
    base_url: str  # what relative links resolve against: <base href>, else final_url
    encoding: str  # the codec it was decoded with


def parse_page(fetched: Fetched, selector: str, scope: str = "") -> ParsedFeed | FeedFailure:
    """The links ``selector`` picks on the page, as entries; ``scope`` is
    the source's name, as for feeds (links never need it: kept for symmetry)."""
    try:
        xpath = selector_xpath(selector)
    except ValueError as error:
        return FeedFailure(fetched.url, "bad_selector", str(error))
    page = read_page(fetched)
    if isinstance(page, FeedFailure):
        return page
    try:
        matched = page.tree.xpath(xpath)
    except lxml.etree.LxmlError as error:  # an XPath lxml cannot run on this tree
        return FeedFailure(fetched.url, "parse_error", f"{type(error).__name__}: {error}"[:500])
    elements = [m for m in matched if isinstance(m, lxml.html.HtmlElement)]
    entries = _entries(elements, page.base_url, fetched.final_url, scope)
    if not entries:
        return FeedFailure(fetched.url, "no_links", _no_links_message(selector, len(elements)))
    return ParsedFeed(title=_site_title(page.tree), entries=entries)


def _no_links_message(selector: str, matched: int) -> str:
    if not matched:
        return f"the selector {selector!r} matched no links on this page"
    return (
        f"the selector {selector!r} matched {counted(matched, 'element')} on this page, "
        "but no http(s) link with a title among them"
    )


# --- links into entries -------------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    url: str
    title: str
    from_text: bool  # the title is the link's text, not a title= or alt= stand-in


def _entries(elements: list[Any], base_url: str, page_url: str, scope: str) -> tuple[Entry, ...]:
    """One entry per distinct link, in page order; of two links to one
    article (its picture, then its headline) the one with text names it."""
    best: dict[str, _Link] = {}
    page_key = link_key(page_url)
    for element in elements:
        link = _link(element, base_url)
        if link is None or link_key(link.url) == page_key:
            continue
        key = identity_key(None, link.url, link.title, "", scope)
        kept = best.get(key)
        if kept is None and len(best) >= MAX_LINKS:
            break
        if kept is None or (link.from_text and not kept.from_text):
            best[key] = link
    made = (_entry(key, link) for key, link in best.items())
    return tuple(unique_keys(made))


def _entry(key: str, link: _Link) -> Entry:
    return Entry(key=key, title=link.title, text="", url=link.url, published_at=None)


def _link(element: Any, base_url: str) -> _Link | None:
    """The link an element the selector matched stands for: the element
    itself if it is an ``<a href>``, else the first inside it, else the
    ``<a href>`` around it (a card wrapped in its link), titled by the
    element matched rather than the whole card."""
    anchor, titled = element, element
    if element.tag != "a" or element.get("href") is None:
        inside = element.xpath(".//a[@href]")
        around = element.xpath("ancestor::a[@href][1]")
        if inside:
            anchor = titled = inside[0]
        elif around:
            anchor = around[0]
        else:
            return None
    url = absolute_link(anchor.get("href"), base_url)
    if url is None:
        return None
    text = _capped(_text(titled), MAX_TITLE)
    if text:
        return _Link(url, text, from_text=True)
    stand_in = _capped(_stand_in_title(titled), MAX_TITLE)
    return _Link(url, stand_in, from_text=False) if stand_in else None


def _text(element: Any) -> str:
    # Serialised and read by html_to_text: block elements inside the link
    # (a card's <h3> and <p>) stay words apart, scripts are dropped.
    markup = lxml.html.tostring(_without_other_items(element), encoding=str, with_tail=False)
    return html_to_text(markup)


_OTHER_ITEMS = "descendant::a | descendant::li"


def _without_other_items(element: Any) -> Any:
    """The element without the links and list items inside it. A link is
    never inside another in HTML; in a tree libxml2 repaired, an unclosed
    ``<li><a>`` holds every later item of its list, each with its own link."""
    if not element.xpath(_OTHER_ITEMS):
        return element
    element = copy.deepcopy(element)
    for inner in element.xpath(_OTHER_ITEMS):
        inner.drop_tree()
    return element


def _stand_in_title(element: Any) -> str:
    """A link without text (a picture, an icon) by its title=, aria-label=
    or its image's alt=."""
    for name in ("title", "aria-label"):
        value = clean_text(element.get(name) or "")
        if value:
            return value
    for alt in element.xpath(".//img/@alt"):
        value = clean_text(str(alt))
        if value:
            return value
    return ""


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _site_title(tree: Any) -> str:
    """og:site_name (the site, as a feed's title names it), else <title>."""
    names = tree.xpath("//meta[@property='og:site_name']/@content")
    for candidate in [*names, *tree.xpath("//title[1]//text()")]:
        title = clean_text(str(candidate))
        if title:
            return _capped(title, MAX_TITLE)
    return ""


# --- bytes into a tree --------------------------------------------------------------


def read_page(fetched: Fetched) -> Page | FeedFailure:
    """The body decoded and parsed; ``not_a_page`` when it is no HTML page."""
    problem = _not_html(fetched)
    if problem:
        return FeedFailure(fetched.url, "not_a_page", problem)
    text, encoding = decode_html(fetched.body, fetched.content_type)
    if not _MARKUP.search(text, 0, 65536):
        return FeedFailure(fetched.url, "not_a_page", "no HTML markup: plain text, not a page")
    # Parsed from UTF-8 bytes with the encoding said: lxml then ignores the
    # page's own <meta charset> (already applied, or overruled by the
    # header), and an <?xml encoding?> declaration cannot make it refuse.
    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:
        tree = lxml.html.document_fromstring(text.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.LxmlError, ValueError) as error:
        return FeedFailure(fetched.url, "not_a_page", f"no HTML document: {error}"[:500])
    return Page(tree=tree, base_url=_base_url(tree, fetched.final_url), encoding=encoding)


def _base_url(tree: Any, page_url: str) -> str:
    """The document's <base href> (itself relative to the page), if http(s)."""
    for href in tree.xpath("//base[@href][1]/@href"):
        base = absolute_link(str(href), page_url)
        if base:
            return base
    return page_url


_BINARY_TYPES = re.compile(
    r"^(image|audio|video|font)/|^application/(pdf|zip|gzip|octet-stream|x-|vnd\.|msword)"
)
_FEED_START = re.compile(rb"<(rss|feed|rdf:RDF)[\s>]", re.I)
_MARKUP = re.compile(r"<(!doctype|[a-zA-Z][a-zA-Z0-9]*[\s/>])", re.I)


def _not_html(fetched: Fetched) -> str | None:
    """Why the body is no HTML page, in words; None when it may be one."""
    body = fetched.body
    kind = fetched.content_type.split(";")[0].strip().lower()
    if not body.strip():
        return "the page is empty"
    if looks_like_json(body):
        return "a JSON document, not an HTML page"
    utf_16 = _bom(body) or "utf-16" in fetched.content_type.lower()
    if _BINARY_TYPES.search(kind) or (b"\x00" in body[:4096] and not utf_16):
        return f"binary content ({kind or 'no Content-Type'}), not an HTML page"
    if _FEED_START.search(body[:2048]):
        return "an RSS or Atom feed, not an HTML page: list it as a feed (url:)"
    return None


# --- decoding -----------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf_8"),
    (codecs.BOM_UTF16_LE, "utf_16"),
    (codecs.BOM_UTF16_BE, "utf_16"),
)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
# <meta charset="x">, <meta http-equiv="Content-Type" content="...; charset=x">,
# and XHTML's <?xml encoding="x"?>.
_META_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:+-]+)|<\?xml[^>]*encoding\s*=\s*["']([\w.:+-]+)""",
    re.I,
)
# Browsers read these labels as the supersets servers mean by them (WHATWG
# Encoding Standard): ISO-8859-1 pages hold cp1252 quotes, EUC-KR pages
# hold UHC syllables, GB2312 pages GBK characters.
_SUPERSETS = {
    "iso8859_1": "cp1252",
    "ascii": "cp1252",
    "iso8859_9": "cp1254",
    "iso8859_11": "cp874",
    "tis_620": "cp874",
    "euc_kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
}
# Codecs Python knows that no page is written in, or that no browser reads
# (UTF-7 smuggles markup past filters).
_REFUSED = {"utf_7", "idna", "punycode", "raw_unicode_escape", "unicode_escape", "undefined"}


def decode_html(body: bytes, content_type: str) -> tuple[str, str]:
    """(text, codec): a BOM, else the Content-Type charset, else the page's
    own <meta charset>, else UTF-8 if it is valid, else detection."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, "replace").removeprefix("\ufeff"), name
    declared = _HEADER_CHARSET.search(content_type)
    for label, from_meta in ((declared and declared.group(1), False), (_meta_label(body), True)):
        decoded = _decoded(body, label, from_meta)
        if decoded:
            return decoded
    try:
        return body.decode("utf_8"), "utf_8"
    except UnicodeDecodeError:
        pass
    return _decoded(body, _detected(body), False) or (body.decode("cp1252", "replace"), "cp1252")


def _meta_label(body: bytes) -> str | None:
    # Browsers look at the first 1024 bytes; pages with long <head>s put
    # it later and still work in them (the parser restarts), so look further.
    found = _META_CHARSET.search(body, 0, 16384)
    if not found:
        return None
    return (found.group(1) or found.group(2)).decode("ascii", "replace")


def _decoded(body: bytes, label: str | None, from_meta: bool) -> tuple[str, str] | None:
    codec = _codec(label)
    if codec is None:
        return None
    if from_meta and codec.startswith("utf_16"):
        codec = "utf_8"  # a page read as ASCII to find that meta is not UTF-16 (WHATWG)
    try:
        return body.decode(codec, "replace"), codec
    except (LookupError, UnicodeError):  # a codec that is no text encoding
        return None


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name.replace("-", "_")
    except LookupError:
        return None
    if name in _REFUSED:
        return None
    return _SUPERSETS.get(name, name)


def _detected(body: bytes) -> str | None:
    # The start of the page is enough to tell its script and spares a
    # detector's pass over megabytes.
    best = charset_normalizer.from_bytes(body[:65536]).best()
    return best.encoding if best else None


def _bom(body: bytes) -> bool:
    return any(body.startswith(bom) for bom, _ in _BOMS)
