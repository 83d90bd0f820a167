"""How well the event grouping (monitor.events) joins the cross-outlet story
set, and where its weights come from: a measuring tool, not a test.

``python -m tests.storymeaning`` embeds each report's lead and title with
the ``EventEncoder`` (vectors cached under /tmp by the files' contents),
groups each file as one batch (as a digest groups its items) and prints the
pairwise precision and recall per file at a few confidences, beside the word
grouping (monitor.stories) on the same files. The bars are precision >= 0.9
and recall >= 0.7 on every file.

``--fit`` fits the logistic weights on the files whose errors have been read
(``FITTED_ON``) and prints them for monitor.events. heldout2.yaml was written
last, by a reader who saw neither the grouping nor the other files, and is
never fitted on: its row is the held-out figure.

``--lofo`` fits on all but one of the read files and scores that one, for
each: how the weights do on a file they did not see.

``--daily`` cuts each file into its days (the reports published on each UTC
day), as a daily digest sees them, for any of the above; the shipped
weights were fitted so (``--daily --fit``). ``--both`` fits on the days and
the whole files together.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import yaml

from monitor.events import BIAS, FEATURES, WEIGHTS, Told, average_linkage, pair_features
from monitor.meaning import EventEncoder, text_for_meaning
from monitor.stories import group
from tests.storyset import DIRECTORY, Score, reports, score, when

FILES: Final = ("war", "diplomacy", "dense", "samples", "heldout", "heldout2")
FITTED_ON: Final = ("war", "diplomacy", "dense", "samples", "heldout")
CONFIDENCES: Final = (0.8, 0.9, 0.95)
Matrix = npt.NDArray[np.float64]


class Batch:
    """One file's reports (or some of them: one day's) with their features,
    as a digest would see them."""

    def __init__(self, name: str, cases: list[dict[str, Any]] | None = None) -> None:
        self.name = name
        self.cases = load_file(name) if cases is None else cases
        told = [Told(r, c["lang"]) for r, c in zip(reports(self.cases), self.cases, strict=True)]
        leads, titles = vectors(name, [c["id"] for c in self.cases])
        self.features, self.allowed = pair_features(told, leads, titles)
        stories = [c["story"] for c in self.cases]
        self.same = np.array([[a == b for b in stories] for a in stories])

    def training_rows(self) -> tuple[Matrix, npt.NDArray[np.bool_]]:
        """The features and labels of the pairs that may join."""
        upper = np.triu(self.allowed, 1)
        return self.features[upper], self.same[upper]

    def score(self, weights: Matrix, bias: float, confidence: float) -> Score:
        scores = self.features @ weights + bias
        np.fill_diagonal(scores, -np.inf)
        threshold = float(np.log(confidence / (1 - confidence)))
        return score(self.cases, average_linkage(scores, self.allowed, threshold))


def fit(batches: Sequence[Batch], l2: float = 0.01, steps: int = 3000) -> tuple[Matrix, float]:
    """Logistic regression on the batches' pairs (true pairs weighted up to
    balance the classes), by gradient descent on standardised features;
    the weights returned are per unit of the raw features."""
    rows = [b.training_rows() for b in batches]
    x = np.concatenate([r[0] for r in rows])
    y = np.concatenate([r[1] for r in rows]).astype(np.float64)
    mean, spread = x.mean(axis=0), x.std(axis=0)
    spread[spread == 0] = 1.0
    xs = (x - mean) / spread
    balance = np.where(y == 1, (1 - y.mean()) / y.mean(), 1.0)
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xs @ w + b)))
        error = (p - y) * balance
        w -= 0.1 * (xs.T @ error / len(y) + l2 * w)
        b -= 0.1 * float(error.mean())
    raw = w / spread
    return raw, b - float(raw @ mean)


def vectors(name: str, ids: Sequence[str]) -> tuple[Matrix, Matrix]:
    """The lead and title vectors of some reports of a file (the whole file
    is embedded once)."""
    cases = load_file(name)
    row = {c["id"]: k for k, c in enumerate(cases)}
    leads = embed([text_for_meaning(c["title"], c["text"]) for c in cases])
    titles = embed([c["title"] for c in cases])
    rows = [row[i] for i in ids]
    return leads[rows], titles[rows]


def days(name: str) -> list[Batch]:
    """A file cut into the batches of daily digests: the reports published
    on each UTC day."""
    by_day: dict[str, list[dict[str, Any]]] = {}
    for case in load_file(name):
        by_day.setdefault(str(when(case).date()), []).append(case)
    return [Batch(name, cases) for _, cases in sorted(by_day.items())]


def pooled(scores: Sequence[Score]) -> Score:
    """The pairs of several batches counted together."""
    return Score(
        sum(s.true_pairs for s in scores),
        sum(s.grouped_pairs for s in scores),
        sum(s.labelled_pairs for s in scores),
    )


def embed(texts: list[str]) -> Matrix:
    """The encoder's vectors, cached on disk by the texts."""
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    cache = Path(f"/tmp/monitor-storymeaning-{key}.npy")
    if cache.exists():
        return np.load(cache)  # type: ignore[no-any-return]
    vectors = np.asarray(EventEncoder().embed(texts), dtype=np.float64)
    np.save(cache, vectors)
    return vectors


def load_file(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(
        (DIRECTORY / f"{name}.yaml").read_text(encoding="utf-8")
    )
    return cases


def _row(label: str, scores: dict[str, Score]) -> str:
    cells = "  ".join(
        f"{name} {s.precision:.2f}/{s.recall:.2f} "
        f"({s.true_pairs}/{s.grouped_pairs}/{s.labelled_pairs})"
        for name, s in scores.items()
    )
    return f"{label:16} {cells}"


def _main() -> None:  # pragma: no cover - a measuring tool
    daily = "--daily" in sys.argv
    batches = {name: days(name) if daily else [Batch(name)] for name in FILES}
    if "--both" in sys.argv:
        batches = {name: [*days(name), Batch(name)] for name in FILES}
    shipped = np.array([WEIGHTS[name] for name in FEATURES])
    print("P/R (true/grouped/labelled pairs) per file; bars: P >= 0.9, R >= 0.7")
    print("batches: " + ("each day of each file" if daily else "each file"))

    def scores(weights: Matrix, bias: float, confidence: float) -> dict[str, Score]:
        return {
            n: pooled([b.score(weights, bias, confidence) for b in bs]) for n, bs in batches.items()
        }

    if "--fit" in sys.argv:
        weights, bias = fit([b for name in FITTED_ON for b in batches[name]])
        pairs = zip(FEATURES, weights, strict=True)
        print("WEIGHTS = {" + ", ".join(f'"{n}": {w:.4f}' for n, w in pairs) + "}")
        print(f"BIAS = {bias:.4f}")
        for confidence in CONFIDENCES:
            print(_row(f"fitted {confidence}", scores(weights, bias, confidence)))
        return
    if "--lofo" in sys.argv:
        for confidence in CONFIDENCES:
            out = {}
            for name in FITTED_ON:
                others = [b for other in FITTED_ON if other != name for b in batches[other]]
                weights, bias = fit(others)
                out[name] = pooled([b.score(weights, bias, confidence) for b in batches[name]])
            print(_row(f"left out {confidence}", out))
        return
    words = {
        n: pooled([score(b.cases, group(reports(b.cases))) for b in bs])
        for n, bs in batches.items()
    }
    print(_row("words 0.5", words))
    for confidence in CONFIDENCES:
        print(_row(f"events {confidence}", scores(shipped, BIAS, confidence)))


if __name__ == "__main__":
    _main()
