"""CSS selectors as the watchlist writes them (``links:``), as XPath for lxml.

Checked when the watchlist loads, so that a typo is a file:line message and
not a page that silently yields nothing.
"""

from __future__ import annotations

import functools

from cssselect import GenericTranslator, SelectorError


@functools.lru_cache(maxsize=256)
def selector_xpath(selector: str) -> str:
    """The selector as XPath; ValueError, in words, when it is not CSS."""
    try:
        return str(GenericTranslator().css_to_xpath(selector))
    except SelectorError as e:
        raise ValueError(f"not a CSS selector: {selector!r} ({e})") from None


def check_selector(selector: str) -> None:
    if not selector.strip():
        raise ValueError("links: is a CSS selector, such as 'article h2 a'")
    selector_xpath(selector)
