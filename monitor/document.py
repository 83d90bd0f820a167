"""An item as the matcher reads it, and where each of its offsets sits.

``Document`` holds an item's title and text normalised and joined for one
pass of the automaton, and answers, for an offset of that joined text, which
field it is in, where it came from in the original, which sentence and
paragraph it belongs to and whether it is inside the text's leading
dateline. Sentences and the dateline are found only when first asked for.
``veto`` decides which of an entity's mentions its exclude phrases remove.
Pure: values in, values out.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from monitor import sentences
from monitor.text import (
    Normalised,
    normalise,
    normalise_with_offsets,
    normalised_offsets,
    word_index,
    word_starts,
)
from monitor.types import Field, Hit


@dataclass(frozen=True)
class Occurrence:
    """A pattern found in a document, in normalised document offsets."""

    pattern: int
    start: int
    end: int


class Document:
    """An item's title and text, normalised and joined for one pass of the automaton."""

    def __init__(self, title: str, text: str) -> None:
        self.originals: dict[Field, str] = {"title": title, "text": text}
        self.normal_title = normalise(title)
        # A newline never survives normalisation, so no pattern spans the join.
        self.normal = self.normal_title + "\n" + normalise(text)
        self.text_start = len(self.normal_title) + 1  # where the text begins in ``normal``
        self._offsets: dict[Field, Normalised] = {}
        # Found when first asked for (plain attributes: cached_property locks on 3.11).
        self._dateline: tuple[int, int] | None = None  # its end in the text, in ``normal``
        self._scopes: tuple[list[int], list[int]] | None = None

    def field_of(self, start: int) -> tuple[Field, int]:
        """Which field a document offset falls in, and the offset inside it."""
        if start < len(self.normal_title):
            return "title", start
        return "text", start - len(self.normal_title) - 1

    def original_span(self, start: int, end: int) -> tuple[Field, int, int]:
        name, local = self.field_of(start)
        if name not in self._offsets:
            self._offsets[name] = normalise_with_offsets(self.originals[name])
        first, last = self._offsets[name].original_span(local, local + end - start)
        return name, first, last

    def hit(self, occurrence: Occurrence, term: str) -> Hit:
        name, start, end = self.original_span(occurrence.start, occurrence.end)
        return Hit(term, name, start, end)

    @cached_property
    def word_starts(self) -> list[int]:
        return word_starts(self.normal)

    def word_range(self, occurrence: Occurrence) -> tuple[int, int]:
        starts = self.word_starts
        return word_index(starts, occurrence.start), word_index(starts, occurrence.end - 1)

    def _find_dateline(self) -> tuple[int, int]:
        if self._dateline is None:
            text = self.originals["text"]
            end = sentences.dateline_end(text)
            normal_end = self.text_start + len(normalise(text[:end])) if end else 0
            self._dateline = end, normal_end
        return self._dateline

    @property
    def dateline_end(self) -> int:
        """Where the text's leading dateline ends in ``normal`` (0: no dateline)."""
        return self._find_dateline()[1]

    def in_dateline(self, start: int) -> bool:
        # A dateline is short: a mention far into the text spares the search.
        if not self.text_start <= start < self.text_start + _DATELINE_REACH:
            return False
        return start < self._find_dateline()[1]

    def _find_scopes(self) -> tuple[list[int], list[int]]:
        """Where the text's sentences and paragraphs start in ``normal``."""
        if self._scopes is None:
            original = self.originals["text"]
            layout = sentences.layout(original, self._find_dateline()[0])
            normal = normalised_offsets(original, layout.sentences)
            starts = {s: self.text_start + n for s, n in zip(layout.sentences, normal, strict=True)}
            self._scopes = list(starts.values()), [starts[p] for p in layout.paragraphs]
        return self._scopes

    def scope_of(self, start: int) -> tuple[int, int]:
        """The sentence and paragraph of an offset of ``normal``: the title is
        sentence and paragraph 0, the text's are numbered from 1."""
        if start < self.text_start:
            return 0, 0
        sentence_starts, paragraph_starts = self._find_scopes()
        return bisect_right(sentence_starts, start), bisect_right(paragraph_starts, start)

    def sentence_of(self, start: int) -> int:
        return self.scope_of(start)[0]


# Characters of normalised text past which no dateline reaches (it is at most
# 160 characters as written, which NFKC rarely lengthens).
_DATELINE_REACH = 400


@dataclass(frozen=True)
class Vetoed:
    """An entity's mentions after its exclude phrases: kept, or vetoed and by what."""

    counted: list[Occurrence]
    vetoed: list[Occurrence]
    vetoes: list[Occurrence]  # the exclude occurrences that vetoed a mention


def veto(
    document: Document,
    mentions: list[Occurrence],
    excludes: list[Occurrence],
    scope: Literal["sentence", "item"],
) -> Vetoed:
    """Which ``mentions`` (an entity's alias occurrences, by start) the
    ``excludes`` (its exclude phrases' occurrences, by start) leave standing.

    ``item``: any exclude vetoes every mention. ``sentence``: an exclude
    vetoes the mentions in its own sentence, and two kinds reach further.
    The headline (sentence 0) says what the whole item is about, so an
    exclude in it vetoes every mention and a mention in it is vetoed by an
    exclude anywhere ("Divers recall the Kursk" over a text about the sunken
    submarine). An exclude that covers a mention is a look-alike name
    ("Kirill Lavrov", "Kursk submarine"), and the bare mentions of that alias
    after it refer back to it ("Lavrov appeared in 60 films"): it vetoes them
    too, but not the entity's other aliases (a banquet's 평양냉면 says nothing
    of 북한 further down). Mentions before it, in other sentences, stand (a
    live blog's first paragraph on troops in the Kursk region, the submarine
    further down)."""
    if not excludes or not mentions:
        return Vetoed(mentions, [], [])
    if scope == "item":
        return Vetoed([], mentions, excludes)
    by_sentence: dict[int, list[Occurrence]] = defaultdict(list)
    for exclude in excludes:
        by_sentence[document.sentence_of(exclude.start)].append(exclude)
    # Each look-alike with the aliases (patterns) it covers.
    lookalikes = {
        e: covered
        for e in excludes
        if (covered := frozenset(m.pattern for m in mentions if _overlap(e, m)))
    }
    counted: list[Occurrence] = []
    vetoed: list[Occurrence] = []
    blamed: dict[Occurrence, None] = {}
    for mention in mentions:
        blame = _blame(document.sentence_of(mention.start), mention, by_sentence, lookalikes)
        (vetoed if blame else counted).append(mention)
        blamed.update(dict.fromkeys(blame))
    return Vetoed(counted, vetoed, sorted(blamed, key=lambda o: o.start))


def _blame(
    sentence: int,
    mention: Occurrence,
    by_sentence: dict[int, list[Occurrence]],
    lookalikes: dict[Occurrence, frozenset[int]],
) -> list[Occurrence]:
    """The exclude occurrences that veto a mention in ``sentence`` (none: it counts)."""
    if 0 in by_sentence:
        return by_sentence[0]
    if sentence == 0:
        return [e for excludes in by_sentence.values() for e in excludes]
    return by_sentence.get(sentence) or [
        e
        for e, covered in lookalikes.items()
        if e.start <= mention.start and mention.pattern in covered
    ]


def _overlap(a: Occurrence, b: Occurrence) -> bool:
    return a.start < b.end and b.start < a.end
