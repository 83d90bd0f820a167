"""Stories, not copies: near-duplicate items grouped into one story (pure).

The same wire copy carried by several outlets, an article re-issued under a
new URL and title, two outlets' near-identical headlines: each is one story
in a digest. Two reports are the same story when

- their normalised title and text share at least ``threshold`` of their word
  shingles (Jaccard similarity of unigrams and bigrams), both texts being
  long enough to say so; when both come from one outlet their headlines must
  also share something (``MIN_HEADLINE``): an outlet's boilerplate summary
  ("Read the full story at ...") does not make two of its unrelated
  headlines one story, while other outlets carrying its text are copies; or
- their headlines alone share at least ``headline_threshold(threshold)``
  (halfway between the threshold and identical), give no different numbers
  and were published within ``HEADLINE_WINDOW`` of each other: headlines
  are short, so one other word ("Kursk" for "Pokrovsk") or number ("day
  1,005" for "day 1,006") keeps two stories apart, and a recurring title
  ("Press Review", "Review of Rodong Sinmun") on another day is another
  day's news.

Candidate pairs come from MinHash LSH (rensa), so a large digest is not
compared pair by pair; each candidate is then checked on the exact shingle
sets, so the decision does not depend on hashing luck. Stories are the
connected groups of that relation.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from rensa import RMinHash, RMinHashLSH  # type: ignore[import-untyped]

from monitor.text import is_unspaced_script, normalise

DEFAULT_THRESHOLD = 0.5
NUM_PERM = 64
SEED = 1  # any fixed seed: the same words always hash alike
# Earlier reports compared in full with each report, at most.
MAX_CANDIDATES = 24
# A text shorter than this (in shingles) says too little to tie two items
# together; only their headlines can.
MIN_TEXT_SHINGLES = 12
MIN_HEADLINE = 0.2
# Headlines alone join reports only this close together: a state agency's
# "Press Review" or a live blog's title comes back every day over other news.
HEADLINE_WINDOW = timedelta(hours=18)

# Numbers stay whole ("1,005", "3.5"), so that they can be compared.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?!\w)|\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class Report:
    """One item as the clustering sees it."""

    title: str
    text: str  # the item's text (or the start of it)
    sources: tuple[str, ...] = ()  # the outlets that carried it
    when: datetime | None = None  # published (or first seen), aware; None: unknown


def headline_threshold(threshold: float) -> float:
    return (1.0 + threshold) / 2


def tokens(text: str) -> list[str]:
    """Normalised words; a run of a script written without spaces (Chinese,
    Japanese, Thai) becomes its character bigrams."""
    out: list[str] = []
    for word in _TOKEN.findall(normalise(text)):
        if len(word) > 2 and is_unspaced_script(word[0]):
            out += [a + b for a, b in pairwise(word)]
        else:
            out.append(word)
    return out


def shingles(text: str) -> frozenset[str]:
    """Words and pairs of neighbouring words."""
    return _shingles_of(tokens(text))


def _shingles_of(words: list[str]) -> frozenset[str]:
    return frozenset(words) | frozenset(f"{a} {b}" for a, b in pairwise(words))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a  # intersecting from the smaller set costs less
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)  # no union set built


@dataclass(frozen=True)
class _Shingled:
    title: frozenset[str]
    body: frozenset[str]  # title and text together
    text_size: int
    numbers: frozenset[str]  # the numbers in the headline
    sources: frozenset[str]
    when: datetime | None


def headline_numbers(report: Report) -> frozenset[str]:
    """The numbers in a report's headline, whole ("1,005", "3.5")."""
    return _numbers(tokens(report.title))


def _numbers(words: list[str]) -> frozenset[str]:
    return frozenset(w for w in words if _NUMBER.fullmatch(w))


def _shingled(report: Report) -> _Shingled:
    # Each text is split into words once: the body's shingles are the title's,
    # the text's and the pair that spans the two.
    title_words, text_words = tokens(report.title), tokens(report.text)
    title, text = _shingles_of(title_words), _shingles_of(text_words)
    across = {f"{title_words[-1]} {text_words[0]}"} if title_words and text_words else set()
    return _Shingled(
        title,
        title | text | across,
        len(text),
        _numbers(title_words),
        frozenset(report.sources),
        report.when,
    )


def _apart(a: datetime | None, b: datetime | None, window: timedelta) -> bool:
    """Published further apart than ``window``; unknown times are not apart."""
    return a is not None and b is not None and abs(a - b) > window


def same_story(a: _Shingled, b: _Shingled, threshold: float) -> bool:
    headlines = jaccard(a.title, b.title)
    numbers_differ = bool(a.numbers and b.numbers and a.numbers != b.numbers)
    same_headline = headlines >= headline_threshold(threshold) and not numbers_differ
    if same_headline and not _apart(a.when, b.when, HEADLINE_WINDOW):
        return True
    if min(a.text_size, b.text_size) < MIN_TEXT_SHINGLES:
        return False
    if a.sources & b.sources and headlines < MIN_HEADLINE:
        return False
    return jaccard(a.body, b.body) >= threshold


def group(reports: Sequence[Report], threshold: float = DEFAULT_THRESHOLD) -> list[list[int]]:
    """Indices of ``reports`` grouped into stories: each group in input order,
    groups in the order of their first member. ``threshold`` in (0, 1]."""
    if not 0 < threshold <= 1:
        raise ValueError(f"story threshold must be in (0, 1], not {threshold}")
    shingled = [_shingled(r) for r in reports]
    partition = Partition(len(reports))
    for i, j in _candidates(shingled, threshold):
        if not partition.together(i, j) and same_story(shingled[i], shingled[j], threshold):
            partition.join(i, j)
    return partition.groups()


class Partition:
    """Reports 0..count-1 in groups, joined two at a time (union-find): each
    group in input order, groups in the order of their first member."""

    def __init__(self, count: int) -> None:
        self._parent = list(range(count))

    def root(self, i: int) -> int:
        parent = self._parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def together(self, i: int, j: int) -> bool:
        return self.root(i) == self.root(j)

    def join(self, i: int, j: int) -> None:
        a, b = self.root(i), self.root(j)
        if a != b:
            self._parent[max(a, b)] = min(a, b)

    def groups(self) -> list[list[int]]:
        found: dict[int, list[int]] = {}
        for i in range(len(self._parent)):
            found.setdefault(self.root(i), []).append(i)
        return list(found.values())


def _bands(target: float) -> int:
    """How many LSH bands (of NUM_PERM / bands rows) put two sets whose
    similarity is ``target`` or more in one bucket, most of the time: the
    similarity at which that becomes likely is about (1 / bands) ** (rows⁻¹)."""
    bands = 1
    while bands < NUM_PERM and (1 / bands) ** (bands / NUM_PERM) > target:
        bands *= 2
    return bands


def _candidates(shingled: Sequence[_Shingled], threshold: float) -> set[tuple[int, int]]:
    """Pairs (i < j) that may be the same story: those that LSH puts in one
    bucket, on the whole text or on the headline. The index is built with a
    lower threshold than the decision, so pairs near it are not missed."""
    pairs: set[tuple[int, int]] = set()
    if len(shingled) < 2:
        return pairs
    for field, limit in (("body", threshold), ("title", headline_threshold(threshold))):
        sets = [getattr(s, field) for s in shingled]
        target = max(limit * 0.7, 0.05)
        index = RMinHashLSH(target, NUM_PERM, _bands(target))
        for i, words in enumerate(sets):
            if words:
                minhash = RMinHash(NUM_PERM, SEED)
                minhash.update(list(words))
                # In a flood of look-alike texts (a feed of boilerplate, a
                # tiny vocabulary) every report is a candidate of every other:
                # the nearest few in input order bound the work to O(n).
                nearest = heapq.nlargest(MAX_CANDIDATES, index.query(minhash))
                pairs.update((j, i) for j in nearest)
                index.insert(i, minhash)
    return pairs
