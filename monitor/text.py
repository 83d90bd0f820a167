"""Text normalisation for matching: pure functions, no I/O.

Feed HTML becomes plain text (``html_to_text``); plain text becomes the
normalised form that aliases and query terms are matched against
(``normalise``). The normalised form is NFKC, case-folded, with every dash
and quote unified, invisible characters removed and whitespace collapsed.

Matching runs on the normalised form, but people read the original, so
``normalise_with_offsets`` also returns, for each normalised character, the
offset of the original character it came from. That slower path is only
taken for items that matched.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

DASHES = "\u002d\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2e3a\u2e3b"
# Everything people (and keyboards, and transliteration) type for an
# apostrophe: quotes, primes, accents and modifier letters. Several are
# letters to Unicode (U+02BC, the Ukrainian apostrophe) or become a space and
# a combining mark under NFKC (U+00B4, U+1FBF): all are unified before NFKC.
SINGLE_QUOTES = (
    "\u0027\u2018\u2019\u201a\u201b\u2032\u2035\u0060\u00b4\uff07"  # quotes, primes, accents
    "\u02b9\u02bb\u02bc\u02bd\u02ca\u02cb\ua78b\ua78c"  # modifier letters, saltillo
    "\u1fbd\u1fbf\u1fef\u1ffd\u055a\u05f3"  # Greek spacing accents, Armenian, geresh
)
DOUBLE_QUOTES = (
    "\u0022\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a\uff02"  # quotes, guillemets
    "\u2033\u2036\u02ba\u02dd\u301d\u301e\u301f\u05f4"  # double primes and accents
)

_BLOCK_TAGS = (
    "address|article|aside|blockquote|br|dd|div|dl|dt|figcaption|figure|footer|h[1-6]|"
    "header|hr|li|main|nav|ol|p|pre|section|table|td|th|tr|ul"
)
_DROPPED_ELEMENTS = re.compile(
    r"<(script|style|template|noscript|iframe|object)\b[^>]*>.*?</\1\s*>", re.I | re.S
)
_COMMENTS = re.compile(r"<!--.*?-->|<!\[CDATA\[|\]\]>", re.S)
_BLOCK_TAG = re.compile(rf"</?(?:{_BLOCK_TAGS})\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_SPACES = re.compile(r"\s+")
# Control characters and lone surrogates (PostgreSQL refuses NUL); bidi
# overrides and isolates, which can make a title read backwards (U+202E);
# zero-width spaces, word joiners and BOMs, which hide inside words; and
# non-characters. Joiners (U+200C, U+200D) and direction marks stay: scripts
# and emoji need them.
_UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\u200b\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\ufdd0-\ufdef\ufffe\uffff\U0001fffe\U0001ffff\U0010fffe\U0010ffff]"
)


def html_to_text(markup: str, *, lines: bool = False) -> str:
    """Plain text of a feed's HTML: scripts dropped, block tags become spaces,
    or with ``lines`` line breaks, so that paragraphs survive (``clean_lines``)."""
    if "<" in markup:
        markup = _DROPPED_ELEMENTS.sub(" ", markup)
        markup = _COMMENTS.sub(" ", markup)
        if lines:  # in HTML a line break is a space; block elements make the lines
            markup = _BLOCK_TAG.sub("\n", markup.translate(_BREAKS_TO_SPACES))
        else:
            markup = _BLOCK_TAG.sub(" ", markup)
        markup = _ANY_TAG.sub("", markup)
    if "&" in markup:
        markup = html.unescape(markup)
    return clean_lines(markup) if lines else clean_text(markup)


def strip_unsafe(text: str) -> str:
    """Control, bidi-override, zero-width and non-characters removed (_UNSAFE_CHARS)."""
    return _UNSAFE_CHARS.sub("", text)


def clean_text(text: str) -> str:
    """NFC, control characters and lone surrogates removed, whitespace collapsed."""
    text = strip_unsafe(text)
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def clean_lines(text: str) -> str:
    """``clean_text`` line by line: line breaks kept (one between two lines of
    text), blank lines dropped, whitespace inside each line collapsed."""
    text = unicodedata.normalize("NFC", strip_unsafe(text))
    # str methods, not regexes: this runs on every entry's text. A "\r\n"
    # becomes an empty line, dropped with the other blank ones.
    lines = (" ".join(line.split()) for line in text.translate(_BREAKS_TO_NEWLINES).split("\n"))
    return "\n".join(line for line in lines if line)


# Line breaks as HTML reads them: whitespace like any other.
_BREAKS_TO_SPACES = str.maketrans(dict.fromkeys("\n\r\x85\u2028\u2029", " "))
_BREAKS_TO_NEWLINES = str.maketrans(dict.fromkeys("\r\x85\u2028\u2029", "\n"))


def _is_invisible(char: str) -> bool:
    # Format characters (ZWSP, ZWJ, soft hyphen, BOM, bidi marks) hide inside
    # words and defeat matching; they carry no meaning for it.
    return unicodedata.category(char) == "Cf"


class _NormalisingTable(dict[int, str | None]):
    """A ``str.translate`` table that fills itself: each character once."""

    def __missing__(self, codepoint: int) -> str | None:
        value = _normalise_char(chr(codepoint))
        if value is None or len(value) != 1:
            _RESIZING.add(codepoint)
        self[codepoint] = value
        return value


# Characters whose normal form is not exactly one character (removed, or
# expanded like "ß" -> "ss"); text without them keeps its offsets.
_RESIZING: set[int] = set()


def _normalise_char(char: str) -> str | None:
    if char.isspace():
        return " "
    if _is_invisible(char):
        return None
    if char in SINGLE_QUOTES or char in DOUBLE_QUOTES or char in DASHES:
        # Before NFKC, which turns the acute accent typed for an apostrophe
        # (U+00B4) into a space and a combining mark.
        return _unify_punctuation(char)
    out = unicodedata.normalize("NFKC", char).casefold()
    return "".join(_unify_punctuation(c) for c in out)


def _unify_punctuation(char: str) -> str:
    if char in DASHES:
        return "-"
    if char in SINGLE_QUOTES:
        return "'"
    if char in DOUBLE_QUOTES:
        return '"'
    return char


_TABLE = _NormalisingTable()
_SPACE_RUNS = re.compile(" {2,}")


def normalise(text: str) -> str:
    """The form aliases are matched in. ``text`` should be NFC (``clean_text``)."""
    return _SPACE_RUNS.sub(" ", text.translate(_TABLE))


@dataclass(frozen=True)
class Normalised:
    """Normalised text plus, per character, the original offset it came from."""

    text: str
    # len(text) + 1 entries, the last is len(original); None when every
    # offset is unchanged (the common case: no character resized, no spaces collapsed)
    origin: tuple[int, ...] | None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of ``text`` back to the original text."""
        if self.origin is None:
            return start, end
        if end <= start:
            return self.origin[start], self.origin[start]
        return self.origin[start], self.origin[end - 1] + 1


def normalise_with_offsets(text: str) -> Normalised:
    """``normalise`` that also remembers where each character came from."""
    translated = text.translate(_TABLE)
    if "  " not in translated and _RESIZING.isdisjoint(map(ord, text)):
        return Normalised(translated, None)
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for out in char.translate(_TABLE):
            if out == " " and chars and chars[-1] == " ":
                continue
            chars.append(out)
            origin.append(index)
    origin.append(len(text))
    return Normalised("".join(chars), tuple(origin))


def normalised_offsets(text: str, offsets: Sequence[int]) -> list[int]:
    """Where each of the ascending ``offsets`` of ``text`` falls in ``normalise(text)``.

    The text is normalised piece by piece between the offsets, which is exact
    (the table maps each character alone; only a run of spaces across a cut
    needs joining) and costs one ``normalise``, without a map per character."""
    out: list[int] = []
    length, previous, space_before = 0, 0, False
    for offset in offsets:
        piece = _SPACE_RUNS.sub(" ", text[previous:offset].translate(_TABLE))
        if space_before and piece.startswith(" "):
            piece = piece[1:]
        if piece:
            space_before = piece.endswith(" ")
        length += len(piece)
        out.append(length)
        previous = offset
    return out


def case_preserving(text: str) -> str:
    """The normalised form without case folding, for case-sensitive aliases."""
    out = "".join(_unify_punctuation(c) for c in text if not _is_invisible(c))
    out = unicodedata.normalize("NFKC", out)
    return _SPACES.sub(" ", out)


def is_word_char(char: str) -> bool:
    """Letters, digits, combining marks and the underscore form words."""
    return char == "_" or unicodedata.category(char)[0] in "LNM"


# Scripts written without spaces between words (and Hangul, whose particles
# attach to the word): aliases in them match without word boundaries.
# Kept in order of their starts: is_unspaced_script bisects them.
_UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B-H
)
_UNSPACED_STARTS = tuple(start for start, _ in _UNSPACED_RANGES)


@lru_cache(maxsize=4096)
def is_unspaced_script(char: str) -> bool:
    code = ord(char)
    index = bisect_right(_UNSPACED_STARTS, code) - 1
    return index >= 0 and code <= _UNSPACED_RANGES[index][1]


def joins_word(char: str) -> bool:
    """Whether ``char`` is a letter or digit of a script written with spaces
    between words. An alias that starts or ends with one must sit on a word
    boundary; beside one, a term is part of a longer word. Hangul or Han
    beside a Latin or Cyrillic term is a particle or another word ("KN-23이",
    "NATO는", "반NATO")."""
    return is_word_char(char) and not is_unspaced_script(char)


needs_boundary = joins_word


def is_hangul(char: str) -> bool:
    """A Hangul syllable or letter (after NFKC, compatibility jamo are jamo)."""
    return (
        "\uac00" <= char <= "\ud7af" or "\u1100" <= char <= "\u11ff" or "\u3130" <= char <= "\u318f"
    )


_WORD = re.compile(r"\w+")


def word_starts(text: str) -> list[int]:
    """Offsets where words start, for measuring distances in words."""
    return [m.start() for m in _WORD.finditer(text)]


def word_index(starts: list[int], offset: int) -> int:
    """The index of the word containing (or preceding) ``offset``."""
    return max(bisect_right(starts, offset) - 1, 0)


def make_snippet(
    text: str, spans: list[tuple[int, int]], width: int = 240
) -> tuple[str, list[tuple[int, int]]]:
    """A window of ``text`` around the first span, cut at word boundaries,
    with the spans that fall inside it re-based onto the window, on one line."""
    # A snippet is one line in a digest or an alert; a character for a
    # character, so that the spans still point at their words.
    text = text.translate(_ONE_LINE)
    if not spans or len(text) <= width:
        return _shorten(text, width), _disjoint(sorted(spans)) if len(text) <= width else []
    first = min(start for start, _ in spans)
    start = max(first - width // 3, 0)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(start + width, len(text))
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > first else end
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start
    inside = sorted((a + shift, b + shift) for a, b in spans if a >= start and b <= end)
    return prefix + text[start:end] + suffix, _disjoint(inside)


_ONE_LINE = str.maketrans("\n\r\t", "   ")


def _shorten(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    return text[: cut if cut > 0 else width] + "…"


def _disjoint(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def counted(n: int, noun: str) -> str:
    """'1 feed', '2 feeds': for messages a person reads (regular plurals only)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
