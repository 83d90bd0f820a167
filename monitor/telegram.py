"""Telegram channels read through their public web preview (t.me/s/NAME): pure.

A preview page lists a channel's latest posts, oldest first, each a
``div.tgme_widget_message`` with ``data-post="NAME/ID"``; ``?before=ID`` gives
the page of posts older than ID. Here a page's bytes become ``Entry`` values:
a post with text (a caption counts) is an entry; media alone, service
messages ("channel created", "pinned") and posts of no text are skipped. A
post's address is always https://t.me/NAME/ID, whichever mirror served the
page, so one post read from two places is one item.

A channel whose preview is off, or that does not exist, answers with its
"contact" page (``tgme_page``) instead: ``telegram_unavailable``. Anything
else is ``not_a_feed``. Broken markup is read as a browser would (lxml), never
an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from lxml import etree, html

from monitor.identity import identity_key
from monitor.pages import decode_html
from monitor.parse import MAX_TEXT, MAX_TITLE
from monitor.text import clean_text
from monitor.types import Entry, FeedFailure, Fetched, ParsedFeed

TELEGRAM = "https://t.me/"
# Posts have no titles: the first line stands for one, cut near a headline's length.
TITLE_WIDTH = 120
UNAVAILABLE = "the channel's public web preview is disabled or the channel does not exist"

# Public channel names: letters, digits, underscores (Telegram asks for 5 to 32).
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


@dataclass(frozen=True)
class _Post:
    channel: str
    id: int
    text: str  # plain, its lines kept
    published_at: datetime | None
    note: str | None  # "Forwarded from …"


@dataclass(frozen=True)
class _Page:
    title: str  # the channel's, "" when the page gives none
    posts: tuple[_Post, ...]


@dataclass(frozen=True)
class _NotPreview:
    reason: str  # telegram_unavailable | not_a_feed
    message: str


def parse_telegram(
    fetched: Fetched, scope: str = "", more: Sequence[bytes] = ()
) -> ParsedFeed | FeedFailure:
    """The posts of a preview page (``fetched.body``, the newest) and of the
    older pages in ``more``, one entry per post, newest first. The older
    pages came from the same server: ``fetched``'s Content-Type charset holds
    for them too. An older page that is no preview page adds nothing: the
    newest one decides."""
    name = _name_from_url(fetched.final_url) or _name_from_url(fetched.url)
    first = _read_page(fetched.body, fetched.content_type)
    if isinstance(first, _NotPreview):
        message = f"t.me/{name}: {first.message}" if name else first.message
        return FeedFailure(fetched.url, first.reason, message)
    pages = [first, *(_read_page(body, fetched.content_type) for body in more)]
    posts = _newest_first(p for page in pages if isinstance(page, _Page) for p in page.posts)
    name = posts[0].channel if posts else name
    entries = tuple(_entry(post, scope) for post in posts)
    return ParsedFeed(title=first.title or name, entries=entries)


def older_page_cursor(body: bytes) -> int | None:
    """The ``before=`` id of the page of older posts, None when there is none.
    Read from the raw bytes (its markup is ASCII), without parsing the page."""
    if b"tgme_channel_history" not in body:
        return None
    found = _PREV_LINK.search(body) or _MORE_LINK.search(body)
    if found:
        before = _BEFORE.search(found.group(0))
        if before:
            return _cursor(int(before.group(1)))
    ids = [int(m.group(1)) for m in _POST_ID.finditer(body)]
    return _cursor(min(ids)) if ids else None


def preview_url(base: str, channel: str, before: int | None = None) -> str:
    """A channel's preview page under ``base`` ("https://t.me/s/" or a mirror's)."""
    url = base.rstrip("/") + "/" + quote(channel.strip().lstrip("@"), safe="")
    return url if before is None else f"{url}?before={before}"


# --- the cursor, from bytes ---------------------------------------------------------

_PREV_LINK = re.compile(rb"<link\b[^>]*\brel=[\"']?prev\b[^>]*>", re.I)
_MORE_LINK = re.compile(rb"<a\b[^>]*\bjs-messages_more\b[^>]*>", re.I)
_BEFORE = re.compile(rb"(?:[?&;]before=|\bdata-before=[\"']?)(\d{1,18})")
_POST_ID = re.compile(rb"\bdata-post=[\"']?[A-Za-z0-9_]+/(\d{1,18})")


def _cursor(before: int) -> int | None:
    return before if before > 1 else None  # nothing comes before post 1


# --- a page -----------------------------------------------------------------------


def _read_page(body: bytes, content_type: str) -> _Page | _NotPreview:
    if not body.strip():
        return _NotPreview("not_a_feed", "empty body")
    root = _document(body, content_type)
    if root is None or not _with_class(root, "tgme_channel_history"):
        return _not_a_preview(root, content_type)
    posts = (_post(message) for message in root.xpath("//*[@data-post]"))
    return _Page(title=_channel_title(root), posts=tuple(p for p in posts if p is not None))


def _not_a_preview(root: Any, content_type: str) -> _NotPreview:
    if root is not None and any(_with_class(root, name) for name in _CONTACT_PAGE):
        return _NotPreview("telegram_unavailable", UNAVAILABLE)
    kind = content_type.split(";")[0].strip() or "unknown type"
    return _NotPreview("not_a_feed", f"not a Telegram channel preview page ({kind})")


# What t.me/NAME shows instead: the channel's card with "If you have Telegram…".
_CONTACT_PAGE = ("tgme_page", "tgme_page_extra")


def _document(body: bytes, content_type: str) -> Any:
    """The page's tree, or None when nothing in it parses. Decoded here and
    handed to lxml as UTF-8, so any codec Python knows works. huge_tree: a
    page of unclosed tags nests each post in the last, past libxml2's
    default depth of 256; the body's size is bounded by the fetch."""
    text, _ = decode_html(body, content_type)
    parser = html.HTMLParser(encoding="utf-8", huge_tree=True)
    try:
        return html.document_fromstring(text.encode("utf-8", errors="replace"), parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None


def _with_class(root: Any, name: str) -> list[Any]:
    return list(root.xpath(f"//*[{_HAS_CLASS.format(name)}]"))


_HAS_CLASS = "contains(concat(' ', normalize-space(@class), ' '), ' {} ')"


def _channel_title(root: Any) -> str:
    for header in _with_class(root, "tgme_channel_info_header_title"):
        title = clean_text(header.text_content())
        if title:
            return title
    for content in root.xpath("//meta[@property='og:title']/@content"):
        title = clean_text(str(content))
        if title:
            return title
    return ""


# --- a post -----------------------------------------------------------------------


@dataclass
class _Parts:
    """What a message holds of its own (not of a quoted reply or a nested post)."""

    text: Any = None
    time: Any = None
    note: str | None = None


def _post(message: Any) -> _Post | None:
    channel, _, number = str(message.get("data-post", "")).partition("/")
    if "service_message" in _classes(message) or not _NAME.fullmatch(channel):
        return None
    if not number.isdigit():
        return None
    parts = _parts(message)
    text = _text(parts.text) if parts.text is not None else ""
    if not text:  # media alone, or a poll, a sticker, "not supported"
        return None
    published = _utc(str(parts.time.get("datetime", ""))) if parts.time is not None else None
    return _Post(channel, int(number), text, published, parts.note)


def _parts(message: Any) -> _Parts:
    parts = _Parts()
    stack = list(reversed(message))
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str) or _outside(element):
            continue
        if not _take(parts, element):
            stack.extend(reversed(element))
    return parts


def _outside(element: Any) -> bool:
    """A post nested in this one by broken markup, or the post it replies to."""
    return element.get("data-post") is not None or "tgme_widget_message_reply" in _classes(element)


def _take(parts: _Parts, element: Any) -> bool:
    """Keep ``element`` if it is one of the parts; True when its subtree is done."""
    classes = _classes(element)
    if "tgme_widget_message_text" in classes:  # a reply's quote is pruned: _outside
        # Not done: a text left open by broken markup holds the footer and its time.
        parts.text = element if parts.text is None else parts.text
        return False
    if "tgme_widget_message_forwarded_from" in classes:
        parts.note = parts.note or _forwarded(element)
        return True
    if element.tag == "time" and element.get("datetime") and parts.time is None:
        parts.time = element
        return True
    return False


def _forwarded(element: Any) -> str | None:
    names = element.xpath(f".//*[{_HAS_CLASS.format('tgme_widget_message_forwarded_from_name')}]")
    name = clean_text(names[0].text_content()) if names else ""
    if name:
        return f"Forwarded from {name}"
    return clean_text(element.text_content()) or None


def _classes(element: Any) -> list[str]:
    return str(element.get("class", "")).split()


def _utc(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- a post's text ----------------------------------------------------------------

# Telegram's own markup uses few of them (blockquote, pre); a mirror may use more.
_BLOCKS = frozenset(("blockquote", "div", "p", "pre", "li", "ul", "ol", "table", "tr", "section"))
_BLOCKS |= {f"h{level}" for level in range(1, 7)}
_SKIPPED = frozenset(("script", "style", "template", "noscript"))
_SOFT = "\x1e"  # a block's edge: a line break unless one is there already
_SOFT_RUNS = re.compile(f"[ \t]*{_SOFT}[ \t{_SOFT}]*")
_BREAKS = re.compile(f"{_SOFT}?(\n+){_SOFT}?|{_SOFT}")
_BLANK_RUNS = re.compile(r"\n{3,}")


def _text(element: Any) -> str:
    """The text of a message: <br> and blocks make lines, a blank line
    between paragraphs, links and bold their words, emoji kept."""
    joined = _SOFT_RUNS.sub(_SOFT, "".join(_pieces(element)))
    joined = _BREAKS.sub(lambda m: m.group(1) or "\n", joined)
    lines = "\n".join(clean_text(line) for line in joined.split("\n"))
    text = _BLANK_RUNS.sub("\n\n", lines).strip()
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1].rstrip() + "…"


def _pieces(element: Any) -> Iterator[str]:
    """Its text, in order; whitespace in the markup is a space, as in a browser."""
    stack: list[Any] = [element]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
            continue
        tag = item.tag if isinstance(item.tag, str) else ""  # a comment: only its tail
        if tag == "br":
            yield "\n"
        block = tag in _BLOCKS
        if block:
            yield _SOFT
        if tag and tag not in _SKIPPED and not _beside_text(item):
            stack.extend(reversed(list(_inside(item, block))))


def _beside_text(element: Any) -> bool:
    """Swallowed by a text that broken markup left open: the footer (views,
    time), a post after it."""
    return element.get("data-post") is not None or not _FOOTER.isdisjoint(_classes(element))


_FOOTER = frozenset(
    ("tgme_widget_message_footer", "tgme_widget_message_info", "tgme_widget_message_meta")
)


def _inside(item: Any, block: bool) -> Iterator[Any]:
    if item.text:
        yield _spaced(item.text)
    for child in item:
        yield child
        if child.tail:
            yield _spaced(child.tail)
    if block:
        yield _SOFT


def _spaced(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ").replace(_SOFT, " ")


# --- entries ----------------------------------------------------------------------


def _newest_first(posts: Iterable[_Post]) -> list[_Post]:
    """One post once (the first page to show it wins), newest first."""
    seen: dict[tuple[str, int], _Post] = {}
    for post in posts:
        seen.setdefault((post.channel.lower(), post.id), post)
    return sorted(seen.values(), key=lambda p: p.id, reverse=True)


def _entry(post: _Post, scope: str) -> Entry:
    link = f"{TELEGRAM}{post.channel}/{post.id}"
    title = _headline(post.text)
    return Entry(
        key=identity_key(link, link, title, post.text, scope),
        title=title,
        text=post.text,
        url=link,
        published_at=post.published_at,
        note=post.note,
    )


def _headline(text: str, width: int = min(TITLE_WIDTH, MAX_TITLE)) -> str:
    """The first line, cut at the last word that fits."""
    line = next((line for line in text.split("\n") if line), "")
    if len(line) <= width:
        return line
    cut = line.rfind(" ", 0, width)
    cut = cut if cut > width // 2 else width - 1
    return line[:cut].rstrip(" ,;:–—-") + "…"


def _name_from_url(url: str) -> str:
    """NAME of .../s/NAME or t.me/NAME; "" when the URL names no channel."""
    try:
        segments = [s for s in urlsplit(url).path.split("/") if s]
    except ValueError:
        return ""
    name = segments[1] if len(segments) > 1 and segments[0] == "s" else "".join(segments[:1])
    return name if _NAME.fullmatch(name) else ""
