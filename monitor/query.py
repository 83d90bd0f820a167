"""The topic query language's tree and its evaluation against occurrences
(``monitor.queryparse`` reads a query into the tree).

Pure: no I/O, no matching. The caller supplies, for each leaf, where it occurs
(``Occurrence`` values: words, sentence, paragraph), and ``evaluate``
returns the truth of every node, which doubles as the explanation of a match.

Scope: ``SENTENCE(q)`` holds when ``q`` holds within one sentence (NOT
inside included: ``SENTENCE(missile* -test)`` is a sentence with a missile
and no test), ``PARAGRAPH(q)`` within one paragraph; ``a NEAR/n b`` needs
both sides in one sentence; ``a AFTER/n b`` needs ``a`` to follow ``b``.
``a NOT NEAR/n b`` holds where ``a`` occurs with no ``b`` within n words of
it in its sentence, ``a NOT AFTER/n b`` where no ``b`` comes just before it
(its evidence is those occurrences of ``a``): "troops" that are not "Russian
troops", where a NOT would veto the whole sentence. The caller decides what
a sentence is (the matcher: the title is one, and the text's are
``monitor.sentences``').
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    text: str  # as written, without quotes or the trailing *
    prefix: bool  # `word*`
    phrase: bool  # written in quotes
    position: int  # offset in the query, for messages

    def __str__(self) -> str:
        body = f'"{self.text}"' if self.phrase else self.text
        return body + ("*" if self.prefix else "")


@dataclass(frozen=True)
class EntityRef:
    entity: str
    position: int

    def __str__(self) -> str:
        return f"@{self.entity}"


@dataclass(frozen=True)
class Not:
    child: Node

    def __str__(self) -> str:
        return f"NOT {self.child}"


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " AND ".join(map(str, self.children)) + ")"


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"


@dataclass(frozen=True)
class _Proximity:
    left: Node
    right: Node
    distance: int  # at most this many words between the two sides
    after: bool = False  # AFTER/n: the left side follows the right

    _PREFIX = ""  # a class constant, not a field: it has no annotation

    @property
    def operator(self) -> str:
        return f"{self._PREFIX}{'AFTER' if self.after else 'NEAR'}/{self.distance}"

    def __str__(self) -> str:
        return f"({self.left} {self.operator} {self.right})"


class Near(_Proximity):
    """Both sides, within ``distance`` words of each other in one sentence."""


class NotNear(_Proximity):
    """The occurrences of ``left`` with no ``right`` within ``distance`` words
    of them (before them, with ``after``) in their sentence."""

    _PREFIX = "NOT "


@dataclass(frozen=True)
class Sentence:
    """The child holds within one sentence."""

    child: Node
    position: int

    def __str__(self) -> str:
        return "SENTENCE" + _grouped(self.child)


@dataclass(frozen=True)
class Paragraph:
    """The child holds within one paragraph."""

    child: Node
    position: int

    def __str__(self) -> str:
        return "PARAGRAPH" + _grouped(self.child)


def _grouped(node: Node) -> str:
    text = str(node)
    return text if isinstance(node, And | Or | Near | NotNear) else f"({text})"


Leaf = Term | EntityRef
Scope = Sentence | Paragraph
Node = Term | EntityRef | Not | And | Or | Near | NotNear | Sentence | Paragraph


def leaves(node: Node) -> list[Leaf]:
    """Every term and entity reference in the tree, left to right."""
    if isinstance(node, Term | EntityRef):
        return [node]
    if isinstance(node, Not | Sentence | Paragraph):
        return leaves(node.child)
    if isinstance(node, Near | NotNear):
        return leaves(node.left) + leaves(node.right)
    return [leaf for child in node.children for leaf in leaves(child)]


@dataclass(frozen=True)
class Occurrence:
    """Where a leaf occurs: a word range (for NEAR), its sentence and
    paragraph (for scope, NEAR) and an opaque payload."""

    first_word: int
    last_word: int  # inclusive
    payload: object = None
    sentence: int = 0  # any numbering, one number per sentence of the item
    paragraph: int = 0


@dataclass(frozen=True)
class Evaluation:
    """The truth of one node of the tree, with the evidence and its children."""

    node: Node
    value: bool
    occurrences: tuple[Occurrence, ...]  # the evidence that made it true
    children: tuple[Evaluation, ...] = ()


Lookup = Callable[[Leaf], Sequence[Occurrence]]


def evaluate(node: Node, lookup: Lookup) -> Evaluation:
    """Evaluate ``node`` given where each leaf occurs."""
    return _evaluate(node, lookup)


def _evaluate(node: Node, lookup: Lookup) -> Evaluation:
    if isinstance(node, Term | EntityRef):
        found = tuple(lookup(node))
        return Evaluation(node, bool(found), found)
    if isinstance(node, Not):
        inner = _evaluate(node.child, lookup)
        return Evaluation(node, not inner.value, (), (inner,))
    if isinstance(node, Near):
        return _evaluate_near(node, lookup)
    if isinstance(node, NotNear):
        return _evaluate_not_near(node, lookup)
    if isinstance(node, Sentence | Paragraph):
        return _evaluate_scope(node, lookup)
    children = tuple(_evaluate(child, lookup) for child in node.children)
    combine = all if isinstance(node, And) else any
    value = combine(child.value for child in children)
    evidence = tuple(o for c in children if c.value for o in c.occurrences) if value else ()
    return Evaluation(node, value, evidence, children)


def _evaluate_near(node: Near, lookup: Lookup) -> Evaluation:
    left, right = _evaluate(node.left, lookup), _evaluate(node.right, lookup)
    pairs = [
        (a, b)
        for a in left.occurrences
        for b in right.occurrences
        if _close(a, b, node.distance, node.after)
    ]
    evidence = tuple(dict.fromkeys(o for pair in pairs for o in pair))
    return Evaluation(node, bool(pairs), evidence, (left, right))


def _evaluate_not_near(node: NotNear, lookup: Lookup) -> Evaluation:
    left, right = _evaluate(node.left, lookup), _evaluate(node.right, lookup)
    alone = tuple(
        a
        for a in left.occurrences
        if not any(_close(a, b, node.distance, node.after) for b in right.occurrences)
    )
    return Evaluation(node, bool(alone), alone, (left, right))


def _close(a: Occurrence, b: Occurrence, distance: int, after: bool) -> bool:
    """``a`` within ``distance`` words of ``b`` in one sentence (and after it)."""
    if a.sentence != b.sentence or words_between(a, b) > distance:
        return False
    return not after or b.last_word < a.first_word


def _unit(node: Scope, occurrence: Occurrence) -> int:
    return occurrence.sentence if isinstance(node, Sentence) else occurrence.paragraph


def _evaluate_scope(node: Scope, lookup: Lookup) -> Evaluation:
    """True when the child holds with only one sentence's (paragraph's)
    occurrences; the evidence is every such unit's, the child shown is the
    first unit's, or, when none holds, the child over the whole item."""
    known = {leaf: tuple(lookup(leaf)) for leaf in leaves(node.child)}  # asked once each
    # Each leaf's occurrences by unit, sorted out once rather than per unit.
    by_unit: dict[int, dict[Leaf, list[Occurrence]]] = {}
    for leaf, found in known.items():
        for o in found:
            by_unit.setdefault(_unit(node, o), {}).setdefault(leaf, []).append(o)
    held = []
    for unit in sorted(by_unit):
        here = by_unit[unit]

        def within(leaf: Leaf, here: dict[Leaf, list[Occurrence]] = here) -> list[Occurrence]:
            return here.get(leaf, [])

        inner = _evaluate(node.child, within)
        if inner.value:
            held.append(inner)
    if not held:
        return Evaluation(node, False, (), (_evaluate(node.child, known.__getitem__),))
    evidence = tuple(dict.fromkeys(o for inner in held for o in inner.occurrences))
    return Evaluation(node, True, evidence, (held[0],))


def may_match(node: Node, present: Callable[[Leaf], bool], scoped: bool = False) -> bool:
    """False only when ``node`` cannot match, knowing just which leaves occur
    (not where): a cheap test that spares most items a full evaluation.
    NEAR is read as AND, which it implies. Inside a scope (``scoped``) a NOT
    may hold whatever occurs: its word elsewhere in the item is not in the
    sentence that counts."""
    if isinstance(node, Term | EntityRef):
        return present(node)
    if isinstance(node, Not):
        return scoped or not must_match(node.child, present)
    if isinstance(node, Near):
        return may_match(node.left, present, True) and may_match(node.right, present, True)
    if isinstance(node, NotNear):
        return may_match(node.left, present, True)
    if isinstance(node, Sentence | Paragraph):
        return may_match(node.child, present, True)
    combine = all if isinstance(node, And) else any
    return combine(may_match(child, present, scoped) for child in node.children)


def must_match(node: Node, present: Callable[[Leaf], bool]) -> bool:
    """True only when ``node`` matches whatever the positions: the dual of may_match."""
    if isinstance(node, Term | EntityRef):
        return present(node)
    if isinstance(node, Not):
        return not may_match(node.child, present)
    if isinstance(node, Near | NotNear | Sentence | Paragraph):
        return False  # depends on positions
    combine = all if isinstance(node, And) else any
    return combine(must_match(child, present) for child in node.children)


def words_between(a: Occurrence, b: Occurrence) -> int:
    """How many words lie strictly between two occurrences (0 when they overlap)."""
    if a.last_word < b.first_word:
        return b.first_word - a.last_word - 1
    if b.last_word < a.first_word:
        return a.first_word - b.last_word - 1
    return 0


def is_scoped(node: Node) -> bool:
    """Whether evaluating ``node`` needs sentences and paragraphs (scope or NEAR)."""
    if isinstance(node, Near | NotNear | Sentence | Paragraph):
        return True
    if isinstance(node, Term | EntityRef):
        return False
    if isinstance(node, Not):
        return is_scoped(node.child)
    return any(is_scoped(child) for child in node.children)


def can_match_nothing(node: Node) -> bool:
    """True when the query is satisfied by an item with no hits at all (pure negation)."""
    return evaluate(node, lambda leaf: ()).value
