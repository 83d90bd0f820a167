"""One event told by several outlets in several languages: reports joined
into one story by what they say, not by the words they share (pure; the
vectors come from the caller, made by monitor.meaning's ``EventEncoder``).

Word shingles join copies. Outlets that write their own reports share few
words (a median overlap of 0.12 on real coverage of one day's events), and a
Korean and an English report share none. Closeness of meaning alone is not
enough either: one event told in Korean and in English comes out less close
than two events of one beat told in English (a missile on Kharkiv and one on
Zaporizhzhia, a day apart). So each pair of reports is scored on what tells
one event from another event of the same beat:

- the cosine of their leads (title and first lines) and of their titles,
  each in standard deviations above the batch's pairs of the same two
  languages;
- the rank: whether each is the other's nearest report in its language. The
  Korean report of an English report's event is the Korean report closest
  to it, whatever the cosine;
- the days between them, the numbers they share ("3,000", "3천", "3 тыс."
  are one number) and the words they share, and one language or two.

A logistic model turns these into the odds that two reports tell one event;
its weights were fitted on the labelled story sets in tests/data/stories,
cut into days as daily digests see them (``python -m tests.storymeaning
--daily --fit`` prints them): fitted on whole files, they joined too much
in a day's smaller batch, where a report's nearest neighbour is more often
another event. Reports of one outlet,
or more than ``WINDOW`` apart, never join. Groups join by average linkage
(the mean score of all their pairs), so one close pair does not chain two
events together; the linkage runs inside the connected parts of the pairs
that reach the threshold, which are small.
"""

from __future__ import annotations

import logging
import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from monitor.meaning import Encoder, text_for_meaning
from monitor.stories import Partition, Report, tokens

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Matrix: TypeAlias = "npt.NDArray[np.float64]"
Mask: TypeAlias = "npt.NDArray[np.bool_]"

log = logging.getLogger(__name__)

WINDOW: Final = timedelta(hours=48)
# Embedding costs about 0.15 s a report on two cores: a digest of more
# reports than this (a minute and a half) is grouped by words alone.
DEFAULT_MAX_REPORTS: Final = 600
# The odds two reports must reach to be one story: 0.9 keeps every labelled
# file's precision near or above 0.9, a day at a time (tests.storymeaning).
DEFAULT_CONFIDENCE: Final = 0.9
# A language pair with fewer pairs than this in a batch is measured against
# all of the batch's pairs: a few pairs make no mean and spread.
MIN_PAIRS: Final = 12

FEATURES: Final = (
    "lead",
    "title",
    "lead_rank",
    "title_rank",
    "days",
    "numbers",
    "words",
    "same_language",
)
# Fitted by ``python -m tests.storymeaning --daily --fit`` on the days of war,
# diplomacy, dense, samples and heldout (heldout2 is kept out, to be scored):
# the change in log-odds per unit of each feature, and the log-odds with
# every feature 0.
WEIGHTS: Final[dict[str, float]] = {
    "lead": 0.6262,
    "title": -0.1348,
    "lead_rank": -2.7491,
    "title_rank": -0.9692,
    "days": -2.0345,
    "numbers": 1.7629,
    "words": 0.6570,
    "same_language": -2.3601,
}
BIAS: Final = 2.8657

# A number with its unit: "3,000", "4,7 тис.", "3천", "4천700", "1.5 million".
_NUMBER: Final = re.compile(
    r"(?<![\w-])(\d{1,3}(?:[ ,.\u00a0]\d{3})+|\d+)(?:[.,](\d))?\s*"
    r"(тыс|тис|tys|thousand|천|만|млн|mln|million)?(\d{3})?"
)
_THOUSANDS: Final = frozenset({"тыс", "тис", "tys", "thousand", "천"})
_MILLIONS: Final = frozenset({"млн", "mln", "million"})
# Days of the month and model names ("KN-23") say nothing about the event;
# years tie every report of a period together.
_SMALLEST: Final = 32


@dataclass(frozen=True)
class Told:
    """One report as the event grouping sees it."""

    report: Report
    language: str  # ISO 639-1, "" when unknown


def numbers_in(text: str) -> frozenset[int]:
    """The numbers a report gives, as values: "about 3,000", "3천여 명" and
    "около 3 тыс." are all 3000. Not days of the month, years or the
    numbers of model names."""
    found: set[int] = set()
    for match in _NUMBER.finditer(text):
        whole, decimal, unit, hundreds = match.groups()
        value = int(re.sub(r"\D", "", whole)) + (int(decimal) / 10 if decimal else 0.0)
        if unit in _THOUSANDS:
            value = value * 1000 + (int(hundreds) if unit == "천" and hundreds else 0)
        elif unit == "만":
            value *= 10_000
        elif unit in _MILLIONS:
            value *= 1_000_000
        number = round(value)
        if number >= _SMALLEST and not 1900 <= number <= 2100:
            found.add(number)
    return frozenset(found)


def group_events(
    told: Sequence[Told],
    leads: npt.ArrayLike,
    titles: npt.ArrayLike,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[list[int]]:
    """Indices of the reports grouped into events: each group in input
    order, groups in the order of their first member. ``leads`` and
    ``titles`` hold one unit vector per report (of its title and first
    lines, and of its title alone)."""
    import numpy as np

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    count = len(told)
    if count < 2:
        return [[i] for i in range(count)]
    scores, allowed = pair_scores(told, np.asarray(leads), np.asarray(titles))
    threshold = math.log(confidence / (1 - confidence))
    groups: list[list[int]] = []
    for part in _connected((scores >= threshold) & allowed):
        if len(part) == 1:
            groups.append(part)
            continue
        index = np.array(part)
        for members in average_linkage(
            scores[np.ix_(index, index)], allowed[np.ix_(index, index)], threshold
        ):
            groups.append(sorted(part[k] for k in members))
    return sorted(groups)


def pair_scores(
    told: Sequence[Told], leads: npt.ArrayLike, titles: npt.ArrayLike
) -> tuple[Matrix, Mask]:
    """Each pair's log-odds of being one event, and whether it may join at
    all (different outlets, within ``WINDOW``)."""
    import numpy as np

    features, allowed = pair_features(told, leads, titles)
    weights = np.array([WEIGHTS[name] for name in FEATURES])
    scores: Matrix = features @ weights + BIAS
    np.fill_diagonal(scores, -np.inf)
    return scores, allowed


def pair_features(
    told: Sequence[Told], leads: npt.ArrayLike, titles: npt.ArrayLike
) -> tuple[Matrix, Mask]:
    """The features of every pair, shape (n, n, len(FEATURES)), symmetric,
    and the pairs that may join."""
    import numpy as np

    count = len(told)
    lead_vectors = np.asarray(leads, dtype=np.float64)
    title_vectors = np.asarray(titles, dtype=np.float64)
    if lead_vectors.shape[0] != count or title_vectors.shape[0] != count:
        raise ValueError(f"one lead and one title vector per report: {count} reports")
    languages = [t.language for t in told]
    days = _days_apart(told)
    near = days <= WINDOW.total_seconds() / 86400
    lead_cosine = lead_vectors @ lead_vectors.T
    title_cosine = title_vectors @ title_vectors.T
    same_language = np.array([[a == b for b in languages] for a in languages])
    allowed = near & ~_one_outlet(told)
    np.fill_diagonal(allowed, False)
    numbers, words = _shared(told, allowed)
    columns = {
        "lead": standardised(lead_cosine, languages),
        "title": standardised(title_cosine, languages),
        "lead_rank": _log_rank(lead_cosine, languages, near),
        "title_rank": _log_rank(title_cosine, languages, near),
        "days": days,
        "numbers": numbers,
        "words": words,
        "same_language": same_language.astype(np.float64),
    }
    return np.stack([columns[name] for name in FEATURES], axis=-1), allowed


def standardised(cosine: Matrix, languages: Sequence[str]) -> Matrix:
    """Each pair's cosine in standard deviations above the mean of the
    batch's pairs of the same two languages (of all its pairs, where those
    are few)."""
    import numpy as np

    count = len(languages)
    upper = np.triu(np.ones((count, count), dtype=bool), 1)
    codes = {code: k for k, code in enumerate(sorted(set(languages)))}
    index = np.array([codes[code] for code in languages])
    low = np.minimum.outer(index, index)
    high = np.maximum.outer(index, index)
    overall = _mean_and_spread(cosine[upper])
    z = np.zeros_like(cosine)
    for a in range(len(codes)):
        for b in range(a, len(codes)):
            kind = (low == a) & (high == b)
            values = cosine[kind & upper]
            mean, spread = _mean_and_spread(values) if len(values) >= MIN_PAIRS else overall
            z[kind] = (cosine[kind] - mean) / spread
    return z


def average_linkage(similar: Matrix, allowed: Mask, threshold: float) -> list[list[int]]:
    """Merge the two closest groups (the mean of their pairs) until none is
    as close as ``threshold``; two groups with a pair not ``allowed`` never
    merge."""
    import numpy as np

    sums = np.where(allowed, similar, _NEVER).astype(np.float64)
    np.fill_diagonal(sums, -np.inf)
    size = np.ones(len(similar))
    members = {i: [i] for i in range(len(similar))}
    while len(members) > 1:
        alive = np.array(sorted(members))
        mean = sums[np.ix_(alive, alive)] / np.outer(size[alive], size[alive])
        np.fill_diagonal(mean, -np.inf)
        a, b = divmod(int(np.argmax(mean)), len(alive))
        if mean[a, b] < threshold:
            break
        keep, gone = int(alive[a]), int(alive[b])
        members[keep] += members.pop(gone)
        sums[keep, :] += sums[gone, :]
        sums[:, keep] += sums[:, gone]
        sums[keep, keep] = -np.inf
        size[keep] += size[gone]
    return list(members.values())


# A pair that may not join: no mean of other pairs can make up for it.
_NEVER: Final = -1e9


def _mean_and_spread(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    import numpy as np

    if not len(values):
        return 0.0, 1.0
    spread = float(np.std(values))
    # Identical cosines (a batch of copies) give no spread: every pair then
    # stands at 0, and the other features decide.
    return float(np.mean(values)), spread if spread > 1e-9 else 1.0


def _log_rank(cosine: Matrix, languages: Sequence[str], near: Mask) -> Matrix:
    """For each pair, the log of the worse of two ranks: b among a's nearby
    reports in b's language, and a among b's in a's (0: each the other's
    nearest)."""
    import numpy as np

    count = len(languages)
    rank = np.full((count, count), float(count))
    codes = np.array(languages)
    for language in set(languages):
        columns = np.flatnonzero(codes == language)
        candidates = np.where(near[:, columns], cosine[:, columns], -np.inf)
        candidates[columns, np.arange(len(columns))] = -np.inf  # not itself
        order = np.argsort(-candidates, axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(1, len(columns) + 1)[None, :], axis=1)
        rank[:, columns] = ranks
    worse = np.maximum(rank, rank.T)
    logged: Matrix = np.log(worse)
    return logged


def _days_apart(told: Sequence[Told]) -> Matrix:
    """Days between each pair's publication; an unknown time is near all."""
    import numpy as np

    known = np.array([t.report.when is not None for t in told])
    seconds = np.array([t.report.when.timestamp() if t.report.when else 0.0 for t in told])
    days: Matrix = np.abs(seconds[:, None] - seconds[None, :]) / 86400
    days[~known, :] = 0.0
    days[:, ~known] = 0.0
    return days


def _one_outlet(told: Sequence[Told]) -> Mask:
    """Pairs carried by one outlet: an outlet does not report one event twice
    in its own words (its copies are for the word grouping)."""
    import numpy as np

    sources = [frozenset(t.report.sources) for t in told]
    return np.array([[bool(a & b) for b in sources] for a in sources])


def _shared(told: Sequence[Told], allowed: Mask) -> tuple[Matrix, Matrix]:
    """For the pairs that may join: how many numbers they share (two at
    most) and the Jaccard overlap of their words."""
    import numpy as np

    texts = [f"{t.report.title} {t.report.text}" for t in told]
    numbers = [numbers_in(text) for text in texts]
    words = [frozenset(tokens(text)) for text in texts]
    count = len(told)
    shared_numbers = np.zeros((count, count))
    overlap = np.zeros((count, count))
    for i, j in zip(*np.nonzero(np.triu(allowed, 1)), strict=True):
        shared_numbers[i, j] = shared_numbers[j, i] = min(len(numbers[i] & numbers[j]), 2)
        union = len(words[i] | words[j])
        overlap[i, j] = overlap[j, i] = len(words[i] & words[j]) / union if union else 0.0
    return shared_numbers, overlap


def _connected(linked: Mask) -> list[list[int]]:
    """The connected parts of a graph given as a symmetric boolean matrix."""
    import numpy as np

    partition = Partition(len(linked))
    for i, j in zip(*np.nonzero(np.triu(linked, 1)), strict=True):
        partition.join(int(i), int(j))
    return partition.groups()


class EventGrouping:
    """``group_events`` with the vectors made by ``encoder``, each distinct
    text embedded once per process: a digest's preview and the digest
    itself, or two digests of overlapping watchlists, ask for the same
    reports' vectors."""

    def __init__(
        self,
        encoder: Encoder,
        confidence: float = DEFAULT_CONFIDENCE,
        max_reports: int = DEFAULT_MAX_REPORTS,
        remembered: int = 20_000,
    ) -> None:
        self.encoder = encoder
        self.confidence = confidence
        self.max_reports = max_reports
        self._remembered = remembered
        self._vectors: OrderedDict[str, Any] = OrderedDict()

    def groups(self, told: Sequence[Told]) -> list[list[int]]:
        """The events of ``told``; each report alone when there are more
        than ``max_reports`` (the copies are still joined by words)."""
        if len(told) > self.max_reports:
            log.warning(
                "%d reports in one digest, more than MONITOR_STORIES_MAX_REPORTS=%d: "
                "its stories join copies only, not each outlet's own report",
                len(told), self.max_reports,
            )  # fmt: skip
        if not 2 <= len(told) <= self.max_reports:
            return [[i] for i in range(len(told))]
        leads = self.vectors([text_for_meaning(t.report.title, t.report.text) for t in told])
        titles = self.vectors([t.report.title for t in told])
        return group_events(told, leads, titles, self.confidence)

    def vectors(self, texts: Sequence[str]) -> Matrix:
        """One vector per text, the new ones embedded in one batch."""
        import numpy as np

        new = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        if new:
            for text, vector in zip(new, self.encoder.embed(new), strict=True):
                self._vectors[text] = vector
        for text in texts:
            self._vectors.move_to_end(text)
        rows: Matrix = np.stack([self._vectors[text] for text in texts]).astype(np.float64)
        while len(self._vectors) > self._remembered:
            self._vectors.popitem(last=False)
        return rows


def joined(*groupings: Sequence[Sequence[int]]) -> list[list[int]]:
    """The groups of several groupings of the same reports joined where they
    share a report (a copy of one report and another outlet's telling of
    it are one story), in the order of their first member."""
    count = 1 + max(
        (i for grouping in groupings for members in grouping for i in members), default=-1
    )
    partition = Partition(count)
    for grouping in groupings:
        for members in grouping:
            for other in members[1:]:
                partition.join(members[0], other)
    return partition.groups()
