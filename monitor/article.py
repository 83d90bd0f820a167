"""The article of a page, for sources with ``full_text: true`` (pure).

trafilatura finds the main text among a page's menus, "Trending" and "Most
read" boxes, related-article lists, cookie banners, share buttons, comments
and footer, which must never reach matching: a word in a sidebar would make
every article on the site a match. So extraction favours precision (a
paragraph too few over a menu too many) and leaves comments out; layout
tables are unwrapped first, so that only data tables come through. The
result is plain text, one paragraph per block, blank lines between.

The page is decoded and parsed as monitor.pages reads pages (Content-Type,
``<meta charset>``, detection) and trafilatura is given the tree: its own
decoding ignores the Content-Type header. trafilatura imports justext,
which needs ``lxml.html.clean``: since lxml 5.2 that is the separate
``lxml_html_clean`` package, without which ``import trafilatura`` fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import trafilatura

from monitor.pages import read_page
from monitor.parse import MAX_TEXT
from monitor.text import clean_text
from monitor.types import FeedFailure, Fetched

# An item's text is capped at MAX_TEXT for a feed's summary; an article is
# longer by nature. A long investigation or a speech transcript runs to
# 100-200k characters, and cutting it would hide what its end says, while
# 400k characters (400 KB of Latin text, 1.2 MB of Korean in UTF-8) still
# bounds what one item can cost to store, match and show.
MAX_ARTICLE_TEXT = 4 * MAX_TEXT


@dataclass(frozen=True)
class ArticleText:
    """A page's article, or why there is none."""

    text: str | None  # plain text, paragraphs apart by blank lines; None: nothing came out
    reason: str = ""  # why nothing came out, in words
    code: str = ""  # the same, as a stable code: not_a_page | no_article | extract_error


def extract_article(fetched: Fetched) -> ArticleText:
    """The page's article as plain text, paragraphs separated by blank lines
    and capped at MAX_ARTICLE_TEXT; a ``text`` of None, with the reason,
    when there is none. Never raises on what the page holds."""
    page = read_page(fetched)
    if isinstance(page, FeedFailure):
        return ArticleText(None, page.message, page.reason)
    _unwrap_layout_tables(page.tree)
    try:
        extracted = trafilatura.extract(
            page.tree,
            url=fetched.final_url,
            output_format="txt",
            favor_precision=True,
            include_comments=False,
            # The tables left are data (losses by category): words to match.
            include_tables=True,
            include_images=False,
            include_links=False,
            with_metadata=False,
            deduplicate=False,
        )
    except Exception as error:  # trafilatura raises anything on hostile input
        message = f"{type(error).__name__}: {error}"[:500]
        return ArticleText(None, message, "extract_error")
    text = _paragraphs(extracted or "")
    if not text:
        return ArticleText(None, "no article text found on this page", "no_article")
    return ArticleText(_capped(text, MAX_ARTICLE_TEXT))


# What makes a table cell a part of a page's layout rather than a datum: a
# heading, a list, a form, another table, a section of the page.
_LAYOUT_CELL = (
    "descendant::*[self::table or self::h1 or self::h2 or self::h3 or self::h4 or self::h5"
    " or self::h6 or self::ul or self::ol or self::form or self::nav or self::header"
    " or self::footer or self::article or self::section or self::aside or self::iframe]"
    " or count(descendant::*[self::p or self::div]) > 1"
)
_OWN_CELLS = "(./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr)/*[self::td or self::th]"
_TABLE_PARTS = {"table", "thead", "tbody", "tfoot", "tr", "td", "th"}


def _unwrap_layout_tables(tree: Any) -> None:
    """Layout tables made into plain blocks, in place. Older sites (many
    Korean and government ones) lay the whole page out in one table:
    trafilatura then either finds no article (tables left out) or takes the
    menu cell beside it (tables in). As blocks, the menu cell is a box of
    links it leaves out and the article cell an article; data tables stay."""
    layouts = [t for t in tree.iter("table") if _is_layout(t)]
    for table in layouts:
        for part in [table, *table.xpath("(./thead | ./tbody | ./tfoot)"), *_rows_and_cells(table)]:
            if part.tag in _TABLE_PARTS:
                part.tag = "div"


def _is_layout(table: Any) -> bool:
    if table.get("role") == "presentation":
        return True
    return any(cell.xpath(_LAYOUT_CELL) for cell in table.xpath(_OWN_CELLS))


def _rows_and_cells(table: Any) -> list[Any]:
    rows = table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
    return [*rows, *table.xpath(_OWN_CELLS)]


# trafilatura draws a table's header rule as markdown: no words in it.
_TABLE_RULE = re.compile(r"^[|:\- ]+$")


def _paragraphs(extracted: str) -> str:
    """trafilatura's text (a block per line) as paragraphs apart by blank lines."""
    lines = (clean_text(line) for line in extracted.splitlines())
    return "\n\n".join(line for line in lines if line and not _TABLE_RULE.match(line))


def _capped(text: str, limit: int) -> str:
    """Cut at the last paragraph that fits, when that keeps most of it."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n\n", 0, limit)
    end = cut if cut > limit // 2 else limit - 1
    return text[:end].rstrip() + "…"
