"""A watchlist scored against labelled items, rule by rule (pure).

The core of ``monitor tune WATCHLIST --labels FILE``. A labels file is a YAML
list of items, each with the rules it must hit::

    - id: a-en-001
      title: "N. Korean troops in Kursk suffer heavy casualties"
      summary: |
        SEOUL, Dec. 19 (Yonhap) -- ...
      expect: [dprk, kursk, dprk-troops-in-war]   # [] when no rule should hit
      must_not: [putin]                            # optional, see below

Without ``must_not`` an item's ``expect`` is complete: every other rule of the
watchlist must not hit it. With ``must_not`` only the rules named in either
list are judged on that item; the rest are left out of its scores (for sets
that do not label every rule).

Per rule: the ids of the items it hit rightly (true positives), wrongly
(false positives) and missed (false negatives), and precision, recall and F1
from them. ``best_threshold`` picks, for a topic with a meaning check, the
similarity threshold that maximises F1 over its candidates.

A bad labels file is a ``LabelsError`` carrying every problem found, each at
its file:line:column.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from monitor.errors import Diagnostic, MonitorError
from monitor.matcher import Matcher
from monitor.meaning import Encoder, text_for_meaning
from monitor.meaningcheck import judged
from monitor.meaningcheck import score as score_meaning
from monitor.watchlist import Watchlist

KEYS = ("id", "title", "summary", "expect", "must_not")
# libyaml's parser where PyYAML was built with it: the same nodes and marks.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL = "tag:yaml.org,2002:null"


class LabelsError(MonitorError):
    """A labels file is invalid; carries every problem found, not just the first."""

    default = "invalid labels file"

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics) or self.default)


@dataclass(frozen=True)
class LabelledItem:
    """One labelled item: its text and the rules it must and must not hit."""

    id: str
    title: str
    summary: str
    expect: frozenset[str]
    # None: `expect` is complete, every other rule must not hit.
    must_not: frozenset[str] | None = None
    line: int = 0  # 1-based line of the item in its file; 0 when built in code

    def judges(self, rule: str) -> bool:
        """Whether this item counts in the rule's scores at all."""
        return self.must_not is None or rule in self.expect or rule in self.must_not


@dataclass
class RuleScore:
    """One rule's verdicts over a labelled set, as item ids."""

    rule: str
    true_positives: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)
    false_negatives: list[str] = field(default_factory=list)

    @property
    def positives(self) -> int:
        """Items labelled as hits of this rule."""
        return len(self.true_positives) + len(self.false_negatives)

    @property
    def precision(self) -> float:
        return _precision(len(self.true_positives), len(self.false_positives))

    @property
    def recall(self) -> float:
        return _recall(len(self.true_positives), self.positives)

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)


class Threshold(NamedTuple):
    """The best similarity threshold for a rule and what it scores."""

    threshold: float  # keep a candidate when its similarity >= threshold
    precision: float
    recall: float
    f1: float


def _precision(true_positives: int, false_positives: int) -> float:
    found = true_positives + false_positives
    return true_positives / found if found else 1.0


def _recall(true_positives: int, positives: int) -> float:
    return true_positives / positives if positives else 1.0


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


# --- reading a labels file ------------------------------------------------------


def parse_labels(
    source: str, name: str, rules: Collection[str] | None = None
) -> list[LabelledItem]:
    """The labelled items of a labels file's text; ``name`` is the file's name
    in messages. With ``rules`` (the watchlist's rule ids), a label naming
    any other rule is an error. Raises LabelsError with every problem."""
    try:
        root = yaml.compose(source, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = e.problem or e.context or "syntax error"
        raise LabelsError([Diagnostic(name, line, column, f"not YAML: {reason}")]) from e
    except yaml.YAMLError as e:
        raise LabelsError([Diagnostic(name, 1, 1, f"not YAML: {e}")]) from e
    if root is None or (isinstance(root, yaml.SequenceNode) and not root.value):
        raise LabelsError([Diagnostic(name, 1, 1, "no labelled items")])
    if not isinstance(root, yaml.SequenceNode):
        message = "a labels file is a YAML list of items (- id: ...)"
        raise LabelsError([_at(name, root, message)])
    reader = _Reader(name, None if rules is None else frozenset(rules))
    items = [item for node in root.value if (item := reader.item(node)) is not None]
    if reader.problems:
        raise LabelsError(sorted(reader.problems, key=lambda d: (d.line, d.column)))
    return items


def _at(name: str, node: yaml.Node, message: str) -> Diagnostic:
    mark = node.start_mark
    return Diagnostic(name, mark.line + 1, mark.column + 1, message)


class _Reader:
    """Builds items from nodes, collecting every problem on the way."""

    def __init__(self, name: str, rules: frozenset[str] | None) -> None:
        self.name = name
        self.rules = rules
        self.problems: list[Diagnostic] = []
        self.first_line: dict[str, int] = {}  # item id -> line of its first use

    def problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(_at(self.name, node, message))

    def item(self, node: yaml.Node) -> LabelledItem | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, "an item is a mapping (id: ..., title: ..., expect: [...])")
            return None
        fields = self._fields(node)
        where = f"item at line {node.start_mark.line + 1}"
        item_id = self._text(fields, "id", node, where, required=True)
        if item_id is not None:
            where = f"item {item_id!r}"
            self._unique(item_id, fields["id"])
        title = self._text(fields, "title", node, where, required=True)
        summary = self._text(fields, "summary", node, where, required=False)
        must_not = self._rules(fields.get("must_not"), "must_not", where)
        if "expect" not in fields and must_not is None:
            self.problem(node, f"{where}: expect: missing (use [] when no rule should hit)")
        expect = self._rules(fields.get("expect"), "expect", where) or frozenset()
        for rule in sorted(expect & (must_not or frozenset())):
            self.problem(fields["must_not"], f"{where}: {rule!r} is in both expect and must_not")
        if item_id is None or title is None:
            return None
        line = node.start_mark.line + 1
        return LabelledItem(item_id, title, summary or "", expect, must_not, line)

    def _fields(self, node: yaml.MappingNode) -> dict[str, yaml.Node]:
        fields: dict[str, yaml.Node] = {}
        for key, value in node.value:
            label = key.value if isinstance(key, yaml.ScalarNode) else None
            if label not in KEYS:
                known = ", ".join(KEYS)
                self.problem(key, f"unknown key {label or '(not text)'!r} (known: {known})")
            elif label in fields:
                self.problem(key, f"key {label!r} given twice")
            else:
                fields[label] = value
        return fields

    def _text(
        self,
        fields: dict[str, yaml.Node],
        key: str,
        node: yaml.Node,
        where: str,
        *,
        required: bool,
    ) -> str | None:
        value = fields.get(key)
        if value is None or (isinstance(value, yaml.ScalarNode) and value.tag == _NULL):
            if required:
                self.problem(node if value is None else value, f"{where}: {key}: missing")
            return None
        if not isinstance(value, yaml.ScalarNode):
            self.problem(value, f"{where}: {key}: must be text")
            return None
        text = str(value.value)
        if required and not text.strip():
            self.problem(value, f"{where}: {key}: empty")
            return None
        return text

    def _unique(self, item_id: str, node: yaml.Node) -> None:
        line = node.start_mark.line + 1
        first = self.first_line.setdefault(item_id, line)
        if first != line:
            self.problem(node, f"duplicate id {item_id!r} (first at line {first})")

    def _rules(self, node: yaml.Node | None, key: str, where: str) -> frozenset[str] | None:
        if node is None:
            return None
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return frozenset()
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{where}: {key}: must be a list of rule ids, e.g. [dprk, kursk]")
            return frozenset()
        rules: set[str] = set()
        for entry in node.value:
            rule = entry.value if isinstance(entry, yaml.ScalarNode) else None
            if not isinstance(rule, str) or not rule.strip():
                self.problem(entry, f"{where}: {key}: a rule id is text")
            elif rule in rules:
                self.problem(entry, f"{where}: {key}: {rule!r} listed twice")
            elif self.rules is not None and rule not in self.rules:
                self.problem(entry, f"{where}: {key}: no rule {rule!r} in the watchlist")
            else:
                rules.add(rule)
        return frozenset(rules)


# --- scoring --------------------------------------------------------------------


def rule_ids(watchlist: Watchlist) -> list[str]:
    """The watchlist's rules in file order: entities, then topics."""
    return [*(entity.id for entity in watchlist.entities), *(t.id for t in watchlist.topics)]


def tally(
    rules: Iterable[str],
    items: Iterable[LabelledItem],
    hits: Callable[[LabelledItem], Collection[str]],
) -> dict[str, RuleScore]:
    """Each rule's score, given the rules that hit each item."""
    scores = {rule: RuleScore(rule) for rule in rules}
    for item in items:
        found = hits(item)
        for rule, rule_score in scores.items():
            if rule in item.expect:
                bucket = rule_score.true_positives if rule in found else rule_score.false_negatives
                bucket.append(item.id)
            elif rule in found and item.judges(rule):
                rule_score.false_positives.append(item.id)
    return scores


def score(
    watchlist: Watchlist, items: Sequence[LabelledItem], encoder: Encoder | None = None
) -> dict[str, RuleScore]:
    """Each rule of the watchlist scored by its matcher over the items; given
    an ``encoder``, with its about-topics' meaning check applied as the
    service applies it (monitor.meaningcheck)."""
    matcher = Matcher([watchlist])
    found = [_rules_hit(matcher, item) for item in items]
    if encoder is not None and matcher.about_topics:
        found = _meaning_checked(matcher, items, found, encoder)
    rules = {
        item.id: {hit.split(":", 1)[1] for hit in hits}
        for item, hits in zip(items, found, strict=True)
    }
    return tally(rule_ids(watchlist), items, lambda item: rules[item.id])


def _meaning_checked(
    matcher: Matcher, items: Sequence[LabelledItem], found: list[set[str]], encoder: Encoder
) -> list[set[str]]:
    """``found`` with each about-topic's keyword hits below its threshold
    dropped, and the topic added to items that name an entity and reach it."""
    about = matcher.about_topics
    rows = [
        row for row, (item, hits) in enumerate(zip(items, found, strict=True))
        if any(_is_candidate(hits, topic.id) for _, topic in about)
        and judged(_meaning_text(item))
    ]  # fmt: skip
    if not rows:
        return found
    scores = score_meaning(about, [_meaning_text(items[row]) for row in rows], encoder)
    checked = [set(hits) for hits in found]
    for column, (_, topic) in enumerate(about):
        threshold = topic.min_similarity
        assert threshold is not None  # an about-topic has one (monitor.watchlist)
        rule = f"topic:{topic.id}"
        for position, row in enumerate(rows):
            close = scores[column][position] >= threshold
            if rule in checked[row] and not close:
                checked[row].discard(rule)
            elif close and _is_candidate(checked[row], topic.id):
                checked[row].add(rule)
    return checked


def overall(scores: Iterable[RuleScore]) -> RuleScore:
    """Every rule's verdicts pooled into one score (micro-averaged)."""
    pooled = RuleScore("all rules")
    for rule_score in scores:
        pooled.true_positives += rule_score.true_positives
        pooled.false_positives += rule_score.false_positives
        pooled.false_negatives += rule_score.false_negatives
    return pooled


def table(scores: Iterable[RuleScore], *, cap: int | None = 10) -> str:
    """Per rule: positives, precision, recall and F1, a pooled row, then the
    ids each rule wrongly hit and missed (at most ``cap`` per line)."""
    rows = list(scores)
    width = max([len("all rules"), *(len(row.rule) for row in rows)])
    lines = [f"{'rule':<{width}}  {'positives':>9}  {'precision':>9}  {'recall':>6}  {'F1':>5}"]
    for row in [*rows, overall(rows)]:
        lines.append(
            f"{row.rule:<{width}}  {row.positives:>9}  {row.precision:>9.3f}  "
            f"{row.recall:>6.3f}  {row.f1:>5.3f}"
        )
    errors = [
        f"{row.rule} {label} ({len(ids)})" + (f": {_capped(ids, cap)}" if cap != 0 else "")
        for row in rows
        for label, ids in (("wrongly hit", row.false_positives), ("missed", row.false_negatives))
        if ids
    ]
    return "\n".join(lines + (["", *errors] if errors else []))


def _capped(ids: Sequence[str], cap: int | None) -> str:
    if cap is None or len(ids) <= cap:
        return ", ".join(ids)
    return ", ".join(ids[:cap]) + f", ... and {len(ids) - cap} more"


# --- the threshold of a meaning check ----------------------------------------------


def best_threshold(scored: Sequence[tuple[float, bool]]) -> Threshold:
    """The similarity threshold that maximises F1 over a rule's candidates.

    ``scored`` holds one (similarity, is_positive) pair per candidate: the
    items its keywords matched and those that only name one of the
    watchlist's entities. A candidate is kept when its similarity is at
    least the threshold, which is always one of the similarities given (the
    lowest one kept); candidates with equal similarities are kept or
    dropped together. A tie in F1 goes to the higher precision. With no
    positive candidates at all, the best is to keep none: a threshold just
    above the highest similarity."""
    if not scored:
        raise ValueError("no scored candidates to pick a threshold from")
    if any(math.isnan(similarity) for similarity, _ in scored):
        raise ValueError("a similarity is NaN")
    positives = sum(1 for _, positive in scored if positive)
    ordered = sorted(scored, key=lambda pair: pair[0], reverse=True)
    if not positives:
        return Threshold(math.nextafter(ordered[0][0], math.inf), 1.0, 1.0, 1.0)
    best: Threshold | None = None
    kept_true = kept_false = 0
    for index, (similarity, positive) in enumerate(ordered):
        kept_true += positive
        kept_false += not positive
        if index + 1 < len(ordered) and ordered[index + 1][0] == similarity:
            continue  # equal similarities are kept or dropped together
        precision = _precision(kept_true, kept_false)
        recall = _recall(kept_true, positives)
        candidate = Threshold(similarity, precision, recall, _f1(precision, recall))
        if best is None or (candidate.f1, candidate.precision) > (best.f1, best.precision):
            best = candidate
    assert best is not None
    return best


def about_thresholds(
    watchlist: Watchlist, items: Sequence[LabelledItem], encoder: Encoder
) -> dict[str, Threshold]:
    """For each topic with ``about:``, the threshold that maximises F1 over
    its candidates: items its keywords match or that name one of the
    watchlist's entities (Ukrainian ones aside: the model does not judge them)."""
    matcher = Matcher([watchlist])
    about = matcher.about_topics
    found = [(item, _rules_hit(matcher, item)) for item in items]
    candidates = [
        (item, hits) for item, hits in found
        if any(_is_candidate(hits, topic.id) for _, topic in about)
        and judged(_meaning_text(item))
    ]  # fmt: skip
    if not candidates:
        return {}
    scores = score_meaning(about, [_meaning_text(item) for item, _ in candidates], encoder)
    best: dict[str, Threshold] = {}
    for column, (_, topic) in enumerate(about):
        scored = [
            (scores[column][row], topic.id in item.expect)
            for row, (item, hits) in enumerate(candidates)
            if item.judges(topic.id) and _is_candidate(hits, topic.id)
        ]
        if scored:
            best[topic.id] = best_threshold(scored)
    return best


def thresholds_table(watchlist: Watchlist, best: dict[str, Threshold]) -> str:
    """One line per about-topic: its threshold now, and the best on the labels."""
    now = {t.id: t.min_similarity for t in watchlist.topics}
    return "\n".join(
        f"{rule}: min_similarity {now[rule]:.2f} now; best {b.threshold:.2f} "
        f"(precision {b.precision:.2f}, recall {b.recall:.2f} of its candidates, F1 {b.f1:.2f})"
        for rule, b in best.items()
    )


def _rules_hit(matcher: Matcher, item: LabelledItem) -> set[str]:
    """ "entity:ID" and "topic:ID" for each rule the keywords hit."""
    return {f"{m.kind}:{m.rule}" for m in matcher.match(item.title, item.summary)}


def _is_candidate(hits: set[str], topic: str) -> bool:
    return f"topic:{topic}" in hits or any(hit.startswith("entity:") for hit in hits)


def _meaning_text(item: LabelledItem) -> str:
    return text_for_meaning(item.title, item.summary)
