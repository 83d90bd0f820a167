"""Sentences, paragraphs and the leading dateline of a text: pure, no I/O.

``layout(text)`` says where each sentence and each paragraph of an item's
text starts and where its dateline ends, in offsets of the text as written:
case, line breaks and the punctuation people type are the evidence, and
normalisation would lose the first two. The matcher maps these offsets onto
the normalised text (``text.normalised_offsets``) and only for the items one
of its rules needs them for (``SENTENCE(…)``, ``PARAGRAPH(…)``, ``NEAR/n``,
an exclude vetoing one sentence, a dateline to leave out).

- A paragraph starts after every line break, except a soft wrap: one line
  break inside a sentence that goes on in lower case on the next line.
- A sentence ends at ``.``, ``!``, ``?``, ``…`` (and closing quotes or
  brackets after them) followed by a space or a line break, at CJK ``。！？``
  whatever follows, and at a Korean ending (했다.그리고) with no space after;
  every paragraph starts a sentence. A full stop
  does not end a sentence after an abbreviation (Nov., Gen., U.S., т.е., ул.),
  after an initial (N. Korea, V. Putin, В. Путин), inside a number (1.5), or
  when the next word starts in lower case (etc. and, "Why?" he asked).
- A dateline ("PYONGYANG, June 14 (KCNA) --", "SEOUL (Yonhap) --",
  "МОСКВА, 5 ноября. /ТАСС/.", "Київ, 10 лютого. Укрінформ.",
  "Kijów, 5 listopada (PAP) -", "(서울=연합뉴스) 김철수 기자 =", "(평양 6월 14일발
  조선중앙통신)") is recognised at
  the start of the text only; it joins the first sentence and paragraph.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """Where a text's sentences and paragraphs start (offsets into the text)."""

    sentences: tuple[int, ...]  # start of each sentence; the first is 0
    paragraphs: tuple[int, ...]  # start of each paragraph; a subset of sentences
    dateline: int  # end of the leading dateline, 0 when there is none

    def sentence_of(self, offset: int) -> int:
        return bisect_right(self.sentences, offset) - 1

    def paragraph_of(self, offset: int) -> int:
        return bisect_right(self.paragraphs, offset) - 1


# --- datelines -------------------------------------------------------------

_MONTH = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"  # English
    r"|(?:янв|фев|мар|апр|ма[йя]|июн|июл|авг|сен|окт|ноя|дек)[а-я]*"  # Russian
    r"|(?:січ|лют|берез|квіт|трав|черв|лип|серп|верес|жовт|листопад|груд)[а-яіїєґ]*"  # Ukrainian
    r"|(?:stycz|lut|mar|kwie|maj|czerw|lip|sierp|wrze|pa[źz]dzier|listopad|grud)[a-ząćęłńóśźż]*"
)
_DATE = rf"(?:(?:{_MONTH})\.?\s+\d{{1,2}}|\d{{1,2}}\.?\s+(?:{_MONTH})\.?)(?:,?\s+\d{{4}})?"
# A place: one to four words that start with a capital (checked in code).
_PLACE = r"[^\W\d_][\w'’.-]*(?:\s[^\W\d_][\w'’.-]*){0,3}"
_AGENCY = r"\([^()\n]{1,40}\)"
# After a city in capitals, its country or state in title case: one or two words.
_COUNTRY = r"[^\W\d_][\w'’.-]*(?:\s[^\W\d_][\w'’.-]*)?"
_DASH = r"(?:--|[-–—])"
_SOURCE = r"[^\W\d_][\w-]*(?:\s[^\W\d_][\w-]*)?"  # "РИА Новости", "Укрінформ"
_DATELINE = re.compile(
    rf"""\s*(?:
        (?P<place>{_PLACE})(?:,\s*(?P<country>{_COUNTRY}))?(?:    # KURSK, Russia, May 14 (wire) —
            (?P<dated>,\s*{_DATE})?\s*{_AGENCY}\s*(?:{_DASH}|(?=\n))
                                            # KYIV (Reuters) -, SEOUL, Nov. 5 (Yonhap) --
          | ,\s*{_DATE}(?:
                \s*{_DASH}(?:\s*{_SOURCE}\.(?=\s))?       # Москва, 12 авг — РИА Новости.
              | \.(?:\s*/[^/\n]{{1,20}}/\.?|\s+{_SOURCE}\.(?=\s))?
                                            # МОСКВА, 5 ноября. /ТАСС/.
                                            # Київ, 10 лютого. Укрінформ.
            )(?P<dated_too>)
          | \s+{_DASH}(?=\s)                # SEOUL — South Korea's
        )
      | [【\[(]\s*[가-힣]+\s*=\s*[^】\])\n]{{1,20}}[】\])]
        (?:\s*[가-힣]+(?:\s[가-힣]+)?\s*(?:기자|특파원)\s*=)?    # (서울=연합뉴스) 김철수 기자 =
      | [【\[(（]\s*[가-힣]+\s*(?:\d{{4}}년\s*)?\d{{1,2}}월\s*\d{{1,2}}일발
        \s*[^()【】\[\]（）\n]{{1,20}}[】\])）]    # 【평양 11월 4일발 조선중앙통신】
    )\s*""",
    re.VERBOSE | re.IGNORECASE,
)
_MAX_DATELINE = 160  # characters: longer is a sentence, not a dateline


def dateline_end(text: str) -> int:
    """Where the text's leading dateline ends (after its dash and spaces), or 0."""
    found = _DATELINE.match(text, 0, _MAX_DATELINE)
    if found is None:
        return 0
    place = found["place"]
    if place is not None:
        if not all(word[0].isupper() for word in place.split()):
            return 0
        if found["country"] is not None and not _city_and_country(place, found["country"]):
            return 0
        # Undated, a place is written in capitals (KYIV (Reuters) -, SEOUL —):
        # "Kim Jong Un (pictured) —" and "Putin —" open sentences.
        dated = found["dated"] is not None or found["dated_too"] is not None
        if not dated and not place.isupper():
            return 0
    return found.end()


def _city_and_country(city: str, country: str) -> bool:
    """A wire's "KURSK, Russia": the city in capitals (not an acronym or a
    label), the country in title case."""
    words = country.split()
    return (
        city.isupper()
        and len(city) > 2
        and city.casefold() not in _NOT_PLACES
        and all(word[0].isupper() and not word.isupper() for word in words)
    )


# --- sentences -------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Capitals that open a headline or a list, not a dateline: "DPRK, Russia (and Iran) —".
_NOT_PLACES = _words(
    """
    dprk usa us uk eu un nato update updated exclusive breaking watch video live analysis opinion
    factbox explainer correction
    """
)
# Words after which a full stop does not end a sentence (lower case, without
# the stop). Dotted ones (u.s) are matched with their inner dots.
ABBREVIATIONS = _words(
    """
    mr mrs ms dr st gen lt col sgt capt cpt maj adm cmdr gov sen rep prof jr sr rev
    pres amb no nos vs etc approx est inc corp co ltd dept fig vol pp ed eds ft mt
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    u.s u.k u.n u.s.a e.u e.g i.e a.m p.m d.c
    г гг т.е т.к т.д т.п т.н ул им пр просп др см стр тыс млн млрд руб обл р-н ген полк подп
    вул пл буд тис грн ім о р ст кв д
    ul al im tys mln mld gen płk ppłk np tj m.in itd itp godz ok ks prof dr
    """
)
# Words that start an English sentence, after a dotted abbreviation or an
# initial that ends it: "…arrived in the U.S. The talks…".
_STARTERS = _words("the a an but and it he she they this that these those we in on at however")
# A stop or a line break, the stops and closing quotes or brackets after it,
# and the spaces: one character class first, so the search skips text fast.
_CANDIDATE = re.compile(r"[.!?…。！？｡\n][.!?…。！？｡\"'”’»)\]】」』›）]*\s*")
_STOPS = ".!?…。！？｡"
_CJK_STOPS = frozenset("。！？｡")
_KOREAN_ENDINGS = frozenset("다요죠까니")  # 했다.그리고: a sentence ends with no space
_NEXT_WORD = re.compile(r"[\W_]*([^\W_]*)")
_SENTENCE_PUNCTUATION = ".!?…:;。！？"


def layout(text: str, dateline: int | None = None) -> Layout:
    """Sentence and paragraph starts of ``text`` (``dateline``: its end if known)."""
    if dateline is None:
        dateline = dateline_end(text)
    sentences, paragraphs = [0], [0]
    for found in _CANDIDATE.finditer(text):
        start = found.end()
        if start >= len(text) or start <= dateline:
            continue
        kind = _boundary(text, found.start(), found[0], start)
        if kind is None:
            continue
        sentences.append(start)
        if kind == "paragraph":
            paragraphs.append(start)
    return Layout(tuple(sentences), tuple(paragraphs), dateline)


def _boundary(text: str, at: int, found: str, next_at: int) -> str | None:
    """What the candidate ``found`` at ``at`` ends: "sentence", "paragraph" or None."""
    if found[0] == "\n":
        return None if _soft_wrap(text, at, found, next_at) else "paragraph"
    gap = found[len(found.rstrip()) :]
    if "\n" in gap:
        return "paragraph"
    stop = found[: len(found) - len(found.lstrip(_STOPS))]
    if any(char in _CJK_STOPS for char in stop):
        return "sentence"
    if not gap:  # 1.5, U.S, example.com; but Korean 했다.그리고
        korean = at > 0 and text[at - 1] in _KOREAN_ENDINGS and "가" <= text[next_at] <= "힣"
        return "sentence" if korean and found == stop else None
    return "sentence" if _ends_sentence(text, at, stop, next_at) else None


def _soft_wrap(text: str, at: int, found: str, next_at: int) -> bool:
    """One line break inside a sentence that goes on in lower case."""
    if found.count("\n") > 1:
        return False
    last = at - 1
    while last >= 0 and text[last].isspace():
        last -= 1
    return last >= 0 and text[last] not in _SENTENCE_PUNCTUATION and text[next_at].islower()


def _ends_sentence(text: str, stop_at: int, stop: str, next_at: int) -> bool:
    following = _next_word(text, next_at)
    if following[:1].islower():
        return False  # "etc. and", "“Why?” he asked", "… and then"
    if stop != ".":
        return True  # ! ? … ?! and runs of dots
    word = _word_before(text, stop_at)
    if not word or word.isdigit():
        return True  # "(…). Next", "in 2024. Next"
    lowered = word.lower()
    starter = following.lower() in _STARTERS
    if len(word) == 1 and (word.isupper() or word.islower()):
        return starter  # an initial: "N. Korea", "V. Putin"; not Hangul's 다.
    if lowered in ABBREVIATIONS:
        # A title never ends a sentence; a month or a dotted acronym may.
        return starter and (lowered in _MAY_END or "." in lowered)
    return True


# Abbreviations that often end a sentence too: months, days, acronyms, etc.
_MAY_END = _words(
    "etc inc corp co ltd jan feb mar apr jun jul aug sep sept oct nov dec "
    "mon tue tues wed thu thur thurs fri sat sun"
)


def _word_before(text: str, stop_at: int) -> str:
    """The word before a full stop, with its inner dots and hyphens (U.S, т.е, р-н)."""
    start, limit = stop_at, max(0, stop_at - 24)
    while start > limit and (text[start - 1].isalnum() or text[start - 1] in ".-"):
        start -= 1
    return text[start:stop_at].lstrip(".-")


def _next_word(text: str, at: int) -> str:
    """The word the next sentence would start with, past opening quotes and brackets."""
    found = _NEXT_WORD.match(text, at, at + 40)
    return found[1] if found else ""


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped (for tests and explanations)."""
    starts = layout(text).sentences
    return _pieces(text, starts)


def paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text``, stripped."""
    starts = layout(text).paragraphs
    return _pieces(text, starts)


def _pieces(text: str, starts: tuple[int, ...]) -> list[str]:
    ends = (*starts[1:], len(text))
    return [text[a:b].strip() for a, b in zip(starts, ends, strict=True) if text[a:b].strip()]
